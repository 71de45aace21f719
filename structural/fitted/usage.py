"""Usage: tokens per request, prefix-cache reuse and reasoning tokens, and the cost per request.

Request-level context (input) and generated (output) token counts of production traces are fitted
by maximum likelihood with discretised lognormal mixtures of K = 1, 2, 3 components,

    P(X = x) = Σ_k w_k [Φ((ln(x + ½) − μ_k)/σ_k) − Φ((ln(x − ½) − μ_k)/σ_k)],

ordered μ_1 < μ_2 < … (μ_k = μ_1 + Σ_{j≤k} Δ_j, Δ_j > 0) with stick-breaking weights; a count at a
trace's output cap (Mooncake: 2,000) is right-censored, P(X ≥ cap − ½). Integer counts with many
ties make a continuous density unbounded on a repeated value; the interval probability is not.
The family is chosen by AIC and BIC; K = 1 is the single lognormal.

Prefix-cache reuse (Mooncake trace): the share r of input tokens whose prefix KV cache an earlier
request already computed, the ratio estimator r = Σ c_i / Σ x_i, obtained as the M-estimator of
Σ (c_i − r x_i)² / x_i with sandwich SEs.

Reasoning tokens per task (``eval_tokens``): ln y_i ~ N(μ_task, σ_task²) over models; the median
exp(μ_task) is the typical number of output (reasoning + answer) tokens a model spends per question.

Cost per request at prices (p_in, p_cache, p_out) in $/Mtok, tokens drawn from the fitted laws
(input and output independent, an assumption) and reasoning tokens r_i:

    cost = [x (1 − r) p_in + x r p_cache + y p_out + r_i p_out] / 10^6,

split into context (the input terms), output and reasoning.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.special import log_ndtr, logsumexp

import estimation
from data.traces import TRACE_NAMES
from structural.fitted import Collector, CommandLine
from structural.fitted.distributions import normal_logpdf, stick_breaking
from structural.fitted.inputs import Field, FitInputError, check_table

__all__ = ["cost_per_request", "fit_cache_reuse", "fit_reasoning_tokens", "fit_tokens",
           "reasoning_medians", "select_family"]

#: ``llmecon fit usage`` and this model's place in the registry (literals: read without
#: importing this module; ``<bundled trace names>`` is filled in when the help prints).
COMMAND = {
    "order": 4,
    "summary": "tokens per request: lognormal mixtures chosen by AIC/BIC",
    "section": "usage traces",
    "arguments": [
        # A wrong name is also refused with the list when the command runs.
        ["--traces", {"help": "CSV with the token column (and optionally trace)"}],
        ["--trace", {"default": "azure_code_2023",
                     "help": "which bundled trace to fit: <bundled trace names> (default "
                             "azure_code_2023); with --traces, a value of its trace column"}],
        ["--column", {"default": "output_tokens", "choices": ("input_tokens", "output_tokens"),
                      "help": "token count to fit (default output_tokens)"}],
        ["--components", {"default": "1,2",
                          "help": "comma-separated numbers of mixture components (default 1,2)"}],
        ["--prices", {"dest": "token_prices",
                      "help": "IN,OUT[,CACHE] $/Mtok: also print the cost per request, fitting "
                              "the other token column of the same trace"}],
    ],
}
#: Example prices ($/Mtok) for the cost-per-request rows of ``llm_costs``: DeepSeek-V3's list
#: prices at release (api_price_history, 2024-12-26: input 0.27, output 1.10) with a cache read
#: at a quarter of the input price (an assumption).
EXAMPLE_PRICES = {"input": 0.27, "output": 1.10, "cache_read": 0.0675}

TRACES = TRACE_NAMES
COLUMNS = ("input_tokens", "output_tokens")
#: Output lengths are capped at 2,000 in the Mooncake trace (its datasheet).
OUTPUT_CAP = {"mooncake_conv": 2000}


def mixture_params(K: int) -> list[str]:
    """Parameter names of the K-component mixture."""
    names = ["mu_1"] + [f"gap_{k}" for k in range(2, K + 1)]
    names += [f"sigma_{k}" for k in range(1, K + 1)]
    names += [f"v_{k}" for k in range(1, K)]
    return names


def mixture_spec(K: int) -> estimation.ParamSpec:
    ps = [estimation.Param("mu_1")]
    ps += [estimation.Param(f"gap_{k}", transform="log") for k in range(2, K + 1)]
    ps += [estimation.Param(f"sigma_{k}", transform="log") for k in range(1, K + 1)]
    ps += [estimation.Param(f"v_{k}", transform="logit") for k in range(1, K)]
    return estimation.ParamSpec(ps)


def components(p: dict[str, Any], K: int) -> tuple[Any, Any, Any]:
    """(weights, μ, σ) of the K components from the named parameters."""
    mu = jnp.cumsum(jnp.stack([p["mu_1"]] + [p[f"gap_{k}"] for k in range(2, K + 1)]))
    sigma = jnp.stack([p[f"sigma_{k}"] for k in range(1, K + 1)])
    w = stick_breaking(jnp.stack([p[f"v_{k}"] for k in range(1, K)])) if K > 1 else jnp.ones(1)
    return w, mu, sigma


def log_interval_prob(lo: Any, hi: Any) -> Any:
    """ln(Φ(hi) − Φ(lo)) for lo < hi, in log space and in the tail where it is accurate:
    ln Φ(B) + ln(1 − exp(ln Φ(A) − ln Φ(B))) with (A, B) = (lo, hi), or (−hi, −lo) when lo > 0.

    Working with ln Φ keeps the derivatives finite when the interval lies far in a tail (a
    probability of 1e-200 has a Hessian p''/p − (p'/p)², which underflows if formed from p).
    """
    upper = lo > 0
    A = jnp.where(upper, -hi, lo)
    B = jnp.where(upper, -lo, hi)
    lA, lB = log_ndtr(A), log_ndtr(B)
    return lB + jnp.log(-jnp.expm1(lA - lB))


def mixture_logpmf(x: Any, censored: Any, w: Any, mu: Any, sigma: Any) -> Any:
    """log P(X = x) (or log P(X ≥ x − ½) where ``censored``) under the discretised mixture."""
    llo = jnp.log(jnp.maximum(x - 0.5, 0.5))[:, None]
    lhi = jnp.log(x + 0.5)[:, None]
    zlo = (llo - mu[None, :]) / sigma[None, :]
    zhi = (lhi - mu[None, :]) / sigma[None, :]
    # x = 1 covers (0, 1.5): the lower end is 0 on the raw scale, −∞ on the log scale; z_hi − 40
    # stands in for −∞ (Φ(z_hi − 40)/Φ(z_hi) < e^-800) because ∞ times a zero derivative is NaN
    # in the Hessian.
    zlo = jnp.where(x[:, None] <= 1.0, zhi - 40.0, zlo)
    logp = jnp.where(censored[:, None] > 0, log_ndtr(-zlo), log_interval_prob(zlo, zhi))
    return logsumexp(logp + jnp.log(w)[None, :], axis=1)


_CONTRIBUTIONS: dict[int, Any] = {}


def make_contributions(K: int):
    """The per-request log-likelihood of the K-component discretised lognormal mixture (one
    function object per K, so the engine reuses its compiled code across traces)."""
    if K in _CONTRIBUTIONS:
        return _CONTRIBUTIONS[K]

    def contributions(p: dict[str, Any], d: dict[str, Any]) -> Any:
        w, mu, sigma = components(p, K)
        return d["count"] * mixture_logpmf(d["x"], d["censored"], w, mu, sigma)

    contributions.__doc__ = (f"Discretised {K}-component lognormal mixture log-likelihood of each "
                             "distinct count, times the number of requests with that count.")
    _CONTRIBUTIONS[K] = contributions
    return contributions


def token_data(trace: str, column: str, table: pd.DataFrame | None = None) -> dict[str, Any]:
    """The counts of ``column`` in ``trace`` with a censoring flag at the trace's output cap
    (of a bundled trace, counted once per process: a command reads them for every K)."""
    if table is None:
        return {k: v.copy() for k, v in _bundled_token_data(trace, column).items()}
    return _token_data(trace, column, table)


@functools.cache
def _bundled_token_data(trace: str, column: str) -> dict[str, Any]:
    return _token_data(trace, column, None)


def _token_data(trace: str, column: str, table: pd.DataFrame | None) -> dict[str, Any]:
    if column not in COLUMNS:
        raise FitInputError(f"column must be one of {COLUMNS}, got {column!r}")
    t = _traces() if table is None else table
    if "trace" in t.columns:
        if trace not in set(t["trace"]):
            raise FitInputError(f"trace {trace!r} not in the table; known: "
                                f"{', '.join(sorted(set(t['trace'])))}")
        t = t[t["trace"] == trace]
    t = check_table(t.reset_index(drop=True), [Field(column, "tokens", 1, 1e7, positive=True)],
                    f"request trace {trace}")
    x = t[column].to_numpy(np.float64)
    if np.unique(x).size < 3:
        raise FitInputError(
            f"request trace {trace}: column {column!r} has {np.unique(x).size} distinct "
            "value(s); a lognormal (mixture) needs at least 3 to estimate its spread")
    cap = OUTPUT_CAP.get(trace) if column == "output_tokens" else None
    return aggregate(x, cap)


def aggregate(x: np.ndarray, cap: float | None = None) -> dict[str, np.ndarray]:
    """Distinct counts with their frequencies (a sufficient statistic for an i.i.d. law), and a
    censoring flag at ``cap``. The likelihood is Σ_u n_u ℓ(u): exact, and its per-row scores stay
    cheap on traces of tens of thousands of requests. Standard errors from the Hessian are exact;
    OPG/sandwich SEs or a bootstrap over these rows would treat a distinct value as one unit."""
    values, counts = np.unique(np.asarray(x, np.float64), return_counts=True)
    censored = (values >= cap).astype(np.float64) if cap else np.zeros_like(values)
    return {"x": values, "censored": censored, "count": counts.astype(np.float64)}


def _traces() -> pd.DataFrame:
    import data

    return data.load("request_traces")


def mixture_starts(x: np.ndarray, K: int, count: np.ndarray | None = None) -> pd.DataFrame:
    """Starts for a K-component fit: components at quantiles of ln x (two spreads)."""
    lx = np.log(x) if count is None else np.repeat(np.log(x), count.astype(np.int64))
    rows = []
    for spread in (1.0, 0.6):
        qs = np.quantile(lx, (np.arange(K) + 0.5) / K)
        qs = np.median(lx) + spread * (qs - np.median(lx))
        gaps = np.maximum(np.diff(qs), 0.3)
        s = max(float(np.std(lx)) / K, 0.1)
        row = {"mu_1": qs[0]}
        row.update({f"gap_{k}": gaps[k - 2] for k in range(2, K + 1)})
        row.update({f"sigma_{k}": s for k in range(1, K + 1)})
        row.update({f"v_{k}": 1.0 / (K - k + 1) for k in range(1, K)})
        rows.append(row)
    return pd.DataFrame(rows)


def fit_tokens(trace: str, column: str, K: int, table: pd.DataFrame | None = None,
               progress: bool = False, **kwargs: Any) -> Any:
    """Fit the K-component mixture to one trace's token counts.

    Each start of :func:`mixture_starts` is fitted by BFGS with exact JAX gradients (mixture
    likelihoods have narrow ridges on which a damped Newton step can stall); the converged fit
    with the highest log-likelihood is returned, with every start's outcome in ``.start_fits``.
    Raises :class:`estimation.EstimationError` if no start converges.

    Examples
    --------
    >>> from structural.fitted.usage import fit_tokens
    >>> res = fit_tokens("mooncake_conv", "input_tokens", K=1)
    >>> res.converged
    True
    """
    d = token_data(trace, column, table)
    kwargs.setdefault("name", f"{trace} {column} (lognormal mixture K={K}; observations are "
                              f"{len(d['x']):,} distinct counts of {int(d['count'].sum()):,} "
                              "requests)")
    kwargs.setdefault("method", "bfgs")
    tried = []
    for _, row in mixture_starts(d["x"], K, d["count"]).iterrows():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", estimation.NotConvergedWarning)
                r = estimation.fit(make_contributions(K), d, mixture_spec(K), kind="mle",
                                   start=row.to_dict(), progress=progress, **kwargs)
        except (np.linalg.LinAlgError, estimation.EstimationError, ValueError) as exc:
            tried.append((None, str(exc)))
            continue
        tried.append((r, r.diagnostics.status))
    ok = [r for r, _ in tried if r is not None and r.converged and np.isfinite(r.llf)]
    if not ok:
        raise estimation.EstimationFailed(
            f"{kwargs['name']}: no start converged ({'; '.join(m for _, m in tried)})")
    best = max(ok, key=lambda r: r.llf)
    best.start_fits = tried
    best.requests = int(d["count"].sum())
    return best


def select_family(trace: str, column: str, Ks: tuple[int, ...] = (1, 2, 3),
                  table: pd.DataFrame | None = None,
                  pad_to: int | None = None) -> tuple[pd.DataFrame, dict[int, Any]]:
    """Fit each K; return a table of N, log-likelihood, AIC, BIC, convergence and the fits.
    ``pad_to``: pad the distinct counts to at least this many rows (:func:`estimation.fit`), so
    that several traces share one compiled likelihood per K.

    Examples
    --------
    >>> from structural.fitted.usage import select_family
    >>> table, fits = select_family("mooncake_conv", "input_tokens", Ks=(1,))
    >>> list(table.columns), sorted(fits)
    (['trace', 'column', 'family', 'K', 'N', 'parameters', 'llf', 'aic', 'bic', 'converged',
    'best_aic', 'best_bic'], [1])
    """
    n = int(token_data(trace, column, table)["count"].sum())
    fits, rows = {}, []
    for K in Ks:
        try:
            r = fit_tokens(trace, column, K, table, rows=pad_to)
        except estimation.EstimationError:
            rows.append({"trace": trace, "column": column, "family": f"lognormal mixture K={K}",
                         "K": K, "N": n, "parameters": len(mixture_params(K)), "llf": np.nan,
                         "aic": np.nan, "bic": np.nan, "converged": False})
            continue
        fits[K] = r
        k = len(r.params)
        rows.append({"trace": trace, "column": column, "family": f"lognormal mixture K={K}",
                     "K": K, "N": n, "parameters": k, "llf": r.llf, "aic": 2 * k - 2 * r.llf,
                     "bic": k * np.log(n) - 2 * r.llf, "converged": True})
    tab = pd.DataFrame(rows)
    tab["best_aic"] = tab["aic"] == tab["aic"].min()
    tab["best_bic"] = tab["bic"] == tab["bic"].min()
    return tab, fits


# --- prefix-cache reuse ------------------------------------------------------------------------

REUSE_PARAMS = estimation.ParamSpec([estimation.Param("reuse_rate", start=0.3,
                                                      transform="logit")])


def _reuse_residuals(p: dict[str, Any], d: dict[str, Any]) -> Any:
    return (d["cached"] - p["reuse_rate"] * d["x"]) / jnp.sqrt(d["x"])


def fit_cache_reuse(trace: str = "mooncake_conv", table: pd.DataFrame | None = None,
                    progress: bool = False) -> Any:
    """The share of input tokens served from the prefix cache (ratio estimator, sandwich SE).

    Examples
    --------
    >>> from structural.fitted.usage import fit_cache_reuse
    >>> res = fit_cache_reuse("mooncake_conv")
    >>> res.params.round(3)
    reuse_rate    0.374
    Name: estimate, dtype: float64
    """
    t = _traces() if table is None else table
    if "trace" in t.columns:
        t = t[t["trace"] == trace]
    t = check_table(t.reset_index(drop=True),
                    [Field("input_tokens", "tokens", 1, 1e7, positive=True),
                     Field("cached_tokens", "tokens", 0, 1e7)], f"request trace {trace}")
    d = {"x": t["input_tokens"].to_numpy(np.float64),
         "cached": t["cached_tokens"].to_numpy(np.float64)}
    if np.any(d["cached"] > d["x"]):
        i = int(np.flatnonzero(d["cached"] > d["x"])[0])
        raise FitInputError(f"request trace {trace}: column 'cached_tokens' row {i}: "
                            f"{d['cached'][i]:g} exceeds input_tokens {d['x'][i]:g}")
    return estimation.fit(None, d, REUSE_PARAMS, residuals=_reuse_residuals,
                          loss=estimation.Squared(), kind="m", progress=progress,
                          name=f"{trace} prefix-cache reuse")


# --- reasoning tokens per task -----------------------------------------------------------------

def reasoning_data(table: pd.DataFrame | None = None) -> tuple[dict[str, Any], list[str]]:
    """Output tokens per sample of each (model, task) from ``eval_tokens`` with task codes."""
    import data

    e = data.load("eval_tokens") if table is None else table
    e = check_table(e.reset_index(drop=True),
                    [Field("output_tokens_per_sample", "tokens", 1, 1e7, positive=True)],
                    "eval tokens")
    tasks = sorted(e["task"].unique())
    code = e["task"].map({t: i for i, t in enumerate(tasks)}).to_numpy(np.int64)
    return {"y": np.log(e["output_tokens_per_sample"].to_numpy()), "task": code}, tasks


def reasoning_spec(n_tasks: int) -> estimation.ParamSpec:
    return estimation.ParamSpec(
        [estimation.Param(f"mu_{j}") for j in range(n_tasks)]
        + [estimation.Param(f"sigma_{j}", transform="log") for j in range(n_tasks)])


def fit_reasoning_tokens(table: pd.DataFrame | None = None, progress: bool = False) -> Any:
    """Lognormal law of output tokens per question for each task; params ``mu_j``, ``sigma_j`` in
    the order of ``result.tasks``.

    Examples
    --------
    >>> from structural.fitted.usage import fit_reasoning_tokens
    >>> res = fit_reasoning_tokens()
    >>> res.converged
    True
    """
    d, tasks = reasoning_data(table)
    J = len(tasks)

    def contributions(p: dict[str, Any], dd: dict[str, Any]) -> Any:
        mu = jnp.stack([p[f"mu_{j}"] for j in range(J)])[dd["task"]]
        s = jnp.stack([p[f"sigma_{j}"] for j in range(J)])[dd["task"]]
        return normal_logpdf(dd["y"], mu, s)

    start = {f"mu_{j}": float(d["y"][d["task"] == j].mean()) for j in range(J)}
    start.update({f"sigma_{j}": float(d["y"][d["task"] == j].std()) + 0.05 for j in range(J)})
    res = estimation.fit(contributions, d, reasoning_spec(J), kind="mle", start=start,
                         progress=progress, name="reasoning tokens per question")
    res.tasks = tasks
    return res


def reasoning_medians(res: Any) -> pd.DataFrame:
    """Median output tokens per question by task, exp(μ_task), with delta-method CIs.

    Examples
    --------
    >>> from structural.fitted.usage import fit_reasoning_tokens, reasoning_medians
    >>> reasoning_medians(fit_reasoning_tokens()).round(0)
                                                        estimate  ...  ci_high
    median output tokens per question: GPQA Diamond        600.0  ...    716.0
    median output tokens per question: MATH level 5        737.0  ...    854.0
    median output tokens per question: OTIS Mock AI...    1329.0  ...   1716.0
    <BLANKLINE>
    [3 rows x 4 columns]
    """
    J = len(res.tasks)
    return res.delta_method(lambda p: jnp.exp(jnp.stack([p[f"mu_{j}"] for j in range(J)])),
                            [f"median output tokens per question: {t}" for t in res.tasks])


# --- simulation and cost per request -----------------------------------------------------------

_components_jit = jax.jit(components, static_argnums=1)


def simulate_mixture(params: dict[str, float], K: int, n: int, seed: int = 0,
                     cap: int | None = None) -> np.ndarray:
    """Integer token counts from the discretised mixture (rounded lognormal draws, ≥ 1)."""
    rng = np.random.default_rng(seed)
    # One compiled call per K rather than an eager compile per operation.
    w, mu, sigma = (np.asarray(a) for a in _components_jit(
        {k: np.float64(v) for k, v in params.items()}, K))
    k = rng.choice(K, size=n, p=w / w.sum())
    x = np.maximum(np.round(np.exp(mu[k] + sigma[k] * rng.standard_normal(n))), 1.0)
    return np.minimum(x, cap) if cap else x


def cost_per_request(input_fit: Any, output_fit: Any, prices: dict[str, float],
                     reuse_rate: float = 0.0, reasoning: tuple[float, float] | None = None,
                     draws: int = 100_000, seed: int = 0) -> pd.DataFrame:
    """Distribution of the dollar cost per request at ``prices`` ($/Mtok: ``input``, ``output``
    and optionally ``cache_read``), split into context, output and reasoning.

    ``reasoning`` is (μ, σ) of ln reasoning tokens per request (e.g. from
    :func:`fit_reasoning_tokens`), or None for no reasoning.

    Examples
    --------
    Cost per request at $3 / $15 per million input / output tokens, for lognormal input and output
    lengths (one component each; any fit with ``params`` works, e.g. :func:`fit_tokens`'s):

    >>> from types import SimpleNamespace
    >>> import pandas as pd
    >>> from structural.fitted.usage import cost_per_request
    >>> inp = SimpleNamespace(params=pd.Series({"mu_1": 7.0, "sigma_1": 1.0}))
    >>> out = SimpleNamespace(params=pd.Series({"mu_1": 5.0, "sigma_1": 0.8}))
    >>> cost = cost_per_request(inp, out, {"input": 3.0, "output": 15.0}, draws=1000)
    >>> cost.round(4)
                 mean  median     p90     p99  share_of_mean
    component
    total      0.0086  0.0063  0.0170  0.0369         1.0000
    context    0.0054  0.0033  0.0122  0.0314         0.6281
    output     0.0032  0.0022  0.0066  0.0165         0.3719
    reasoning  0.0000  0.0000  0.0000  0.0000         0.0000
    """
    for key in ("input", "output"):
        if key not in prices:
            raise FitInputError(f"prices: missing {key!r} ($/Mtok)")
        if not 0.0005 <= prices[key] <= 2000:
            raise FitInputError(f"prices: {key!r} = {prices[key]!r} is outside [0.0005, 2000] "
                                "$/Mtok (wrong units?)")
    cache = prices.get("cache_read", prices["input"])
    Kx = _k_of(input_fit)
    Ky = _k_of(output_fit)
    x = simulate_mixture(dict(input_fit.params), Kx, draws, seed)
    y = simulate_mixture(dict(output_fit.params), Ky, draws, seed + 1)
    rng = np.random.default_rng(seed + 2)
    r = (np.exp(reasoning[0] + reasoning[1] * rng.standard_normal(draws)) if reasoning
         else np.zeros(draws))
    parts = {
        "context": x * ((1 - reuse_rate) * prices["input"] + reuse_rate * cache) / 1e6,
        "output": y * prices["output"] / 1e6,
        "reasoning": r * prices["output"] / 1e6,
    }
    total = sum(parts.values())
    rows = {"total": total, **parts}
    out = pd.DataFrame({name: {"mean": v.mean(), "median": np.median(v),
                               "p90": np.quantile(v, 0.9), "p99": np.quantile(v, 0.99),
                               "share_of_mean": v.mean() / total.mean()}
                        for name, v in rows.items()}).T
    out.index.name = "component"
    return out


def _k_of(res: Any) -> int:
    return sum(1 for n in res.params.index if n.startswith("sigma_"))


def _token_prices(text: str) -> dict[str, float]:
    """``IN,OUT[,CACHE]`` in $/Mtok, range-checked like the price tables (0.0005 to 2000)."""
    bad = f"--prices {text!r}: expected IN,OUT[,CACHE] in $/Mtok"
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise FitInputError(bad) from None
    if len(vals) not in (2, 3):
        raise FitInputError(bad)
    names = ("input", "output", "cache_read")
    for name, v in zip(names, vals, strict=False):
        if not 0.0005 <= v <= 2000:
            raise FitInputError(f"--prices {name} = {v:g} is outside [0.0005, 2000] $/Mtok "
                                "(wrong units?)")
    return dict(zip(names, vals, strict=False))


def command(args: Any, cli: CommandLine) -> int:
    """``llmecon fit usage``: mixtures of ``--components`` for one token column of a trace,
    the best by AIC, and with ``--prices`` the cost per request."""
    table = cli.read(args.traces, "request trace", "--traces") if args.traces else None
    try:
        Ks = tuple(int(k) for k in args.components.split(","))
    except ValueError:
        raise FitInputError(f"--components {args.components!r}: expected e.g. 1,2,3") from None
    if not Ks or min(Ks) < 1 or max(Ks) > 4:
        raise FitInputError(f"--components {args.components!r}: each between 1 and 4")
    prices = _token_prices(args.token_prices) if args.token_prices else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab, fits = select_family(args.trace, args.column, Ks, table)
    best = tab.loc[tab["aic"].idxmin(), "K"] if tab["aic"].notna().any() else None
    if best is not None:
        cli.show_fit(fits[int(best)])
    cli.show_table(tab.set_index("family"))
    extra = {"families": tab.set_index("family")}
    if prices and best is not None:
        extra["cost_per_request"] = _command_cost(args, cli, Ks, table, prices, fits[int(best)])
    return cli.write(f"usage_{args.trace}_{args.column}",
                     [(f"K{k}", r) for k, r in fits.items()], extra, ok=best is not None)


def _command_cost(args: Any, cli: CommandLine, Ks: tuple[int, ...], table: pd.DataFrame | None,
                  prices: dict[str, float], best_fit: Any) -> pd.DataFrame:
    """The cost per request for ``llmecon fit usage --prices``: the other token column fitted
    the same way, with the Mooncake prefix-cache reuse on that bundled trace."""
    other = "input_tokens" if args.column == "output_tokens" else "output_tokens"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        otab, ofits = select_family(args.trace, other, Ks, table)
    ok = int(otab.loc[otab["aic"].idxmin(), "K"])
    fin, fout = ((best_fit, ofits[ok]) if args.column == "input_tokens"
                 else (ofits[ok], best_fit))
    reuse = 0.0
    if table is None and args.trace == "mooncake_conv":
        reuse = float(fit_cache_reuse().params["reuse_rate"])
    cost = cost_per_request(fin, fout, prices, reuse_rate=reuse)
    cli.show(f"cost per request, $ (prefix-cache reuse {reuse:.3f})")
    cli.show_table(cost)
    return cost


def llm_costs(c: Collector, quick: bool) -> None:
    """The ``llm_costs`` section: lognormal mixtures per trace and column (best K by AIC),
    prefix-cache reuse, reasoning tokens, and the cost per request of the Mooncake traffic."""
    pairs = ([("azure_code_2023", "output_tokens")] if quick
             else [(t, col) for t in TRACES for col in COLUMNS])
    fam_tables = []
    best_fits: dict[tuple[str, str], Any] = {}
    # Every trace padded to the longest one's row bucket: one compiled likelihood per K for all
    # of them instead of one per K and bucket (16 compilations become 4).
    pad_to = max(len(token_data(t, col)["x"]) for t, col in pairs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for trace, col in pairs:
            tab, fits = select_family(trace, col, (1, 2), pad_to=pad_to)
            fam_tables.append(tab)
            best = int(tab.loc[tab["aic"].idxmin(), "K"])
            n = int(tab["N"].iloc[0])
            c.add_fit(f"usage {trace} {col} (lognormal mixture K={best})", fits[best], n)
            c.converged.append(bool(fits[best].converged))
            best_fits[(trace, col)] = fits[best]
    fam = pd.concat(fam_tables, ignore_index=True)
    c.found["families"] = fam
    d_aic = fam.pivot_table(index=["trace", "column"], columns="K", values="aic")
    gain = d_aic[1] - d_aic.drop(columns=1).min(axis=1)
    c.found["mixture_beats"] = float((gain > 0).mean())
    c.notes.append("usage: ΔAIC of the best mixture over a single lognormal: "
                   + "; ".join(f"{t}/{col} {v:,.0f}" for (t, col), v in gain.items()))
    r = fit_cache_reuse()
    c.add_fit("usage prefix-cache reuse (mooncake_conv)", r)
    c.found["reuse"] = reuse = float(r.params["reuse_rate"])
    r = fit_reasoning_tokens()
    c.add_fit("usage reasoning tokens per question (eval_tokens)", r)
    c.add_derived("usage reasoning tokens per question (eval_tokens)", reasoning_medians(r), r)
    c.converged.append(r.converged)
    if ("mooncake_conv", "input_tokens") in best_fits:
        _section_cost(c, best_fits, reuse, float(r.params["mu_0"]), float(r.params["sigma_0"]))


def _section_cost(c: Collector, best_fits: dict, reuse: float, mu: float, sd: float) -> None:
    """Cost per request of the Mooncake (Kimi) traffic at :data:`EXAMPLE_PRICES`, with its
    prefix-cache reuse and, for a reasoning variant, GPQA-like reasoning tokens."""
    for label, reasoning in [("no reasoning", None), ("GPQA-like reasoning", (mu, sd))]:
        cost = cost_per_request(best_fits[("mooncake_conv", "input_tokens")],
                                best_fits[("mooncake_conv", "output_tokens")],
                                EXAMPLE_PRICES, reuse_rate=reuse, reasoning=reasoning)
        for comp, r in cost.iterrows():
            c.rows.append({"model": f"usage cost per request, mooncake_conv, {label}",
                           "quantity": f"{comp}: mean $ (median {r['median']:.3g}, "
                                       f"p99 {r['p99']:.3g}, share {r['share_of_mean']:.2f})",
                           "estimate": float(r["mean"]), "std_err": np.nan,
                           "ci_low": np.nan, "ci_high": np.nan, "N": 100_000, "llf": np.nan,
                           "aic": np.nan, "bic": np.nan, "converged": True})
    c.notes.append("cost per request at $/Mtok input {input}, cached input {cache_read}, "
                   "output {output} (example open-weights prices); input and output drawn "
                   "independently from the fitted mixtures".format(**EXAMPLE_PRICES))
