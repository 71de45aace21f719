r"""Inference prices of open-weights models as a cost curve, and the markups it implies.

Open-weights models are served by many competing third-party providers, so their prices are close
to marginal cost (Bertrand competition with free entry: price = marginal cost). For price k ∈
{input, output} of model i at provider j:

the **log-linear form**

.. math::

    \ln p_{ijk} = c_k + \beta_k \ln(N_{a,i} / 10^{10}) + \delta \ln(W_i / 128\text{k})
        + \tau (t_i - 2024) + \gamma_j + \varepsilon_{ijk},

and the **structural roofline form** (dollars = FLOPs / (peak FLOP/s × utilisation) × price per
chip-hour, with decode as a roofline: the decode roofline of :mod:`structural.inference`, Pope et
al. 2022, per token at short context, with its max replaced by a smooth 4-norm so that the
likelihood is differentiable where the regimes meet)

.. math::

    p_\text{in} &= 10^6 \cdot \frac{h}{3600} \cdot \frac{2 N_a}{P\, u_p}, \\
    p_\text{out} &= 10^6 \cdot \frac{h}{3600} \cdot
        \operatorname{smax}\Big(\frac{2 N_a}{P\, u_d}, \frac{b N}{B \cdot BW}\Big), \\
    \ln p_{ijk} &= \ln p_k + \delta \ln(W_i / 128\text{k}) + \tau (t_i - 2024) + \gamma_j
        + \varepsilon_{ijk},

with N_a active and N total parameters, W the context window, t the release date in years, γ_j a
provider effect (zero for the pooled small providers), ε Student-t with a scale per price kind;
P, BW, h the peak FLOP/s, memory bandwidth and $/chip-hour of an H100 (:mod:`structural.hardware`),
b = 2 bytes per weight, and smax a smooth maximum (a 4-norm) of the compute and memory times. The
fitted u_p, u_d are *effective* utilisations (utilisation over markup and over the provider's
hardware price relative to the H100 list price) and B the effective decode batch.

Reported: the elasticity of price in active parameters (β_k), the output/input price ratio
(exp(c_out − c_in) at equal size), the long-context premium (the price effect of a doubled context
window, 2^δ, and separately the ratio of long-tier to base prices where a price list has a tier),
and the implied markups p / p̂ of first-party providers and closed models against the third-party
curve (closed models placed at N_a = sqrt(C/120), Chinchilla-optimal for their training compute C,
an assumption: a smaller, over-trained model costs less to serve, so the markup is then higher).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

import estimation
from structural.fitted import Collector, CommandLine
from structural.fitted.distributions import df_param, normal_logpdf, student_t_logpdf
from structural.fitted.inputs import Field, FitInputError, check_table

__all__ = ["fit", "fit_long_context_tier", "headline", "long_context_tier", "markups",
           "price_table", "third_party_open"]

#: ``llmecon fit inference_price`` and this model's place in the registry (literals: read without
#: importing this module).
COMMAND = {
    "order": 2,
    "summary": "third-party open-weights prices vs active parameters; markups",
    "section": "inference prices",
    "arguments": [
        ["--prices", {"help": "CSV: provider, model, input_usd_per_mtok, output_usd_per_mtok, "
                              "active_parameters, parameters, context_window, date or t"}],
        ["--form", {"choices": ("loglinear", "roofline"), "default": "loglinear",
                    "help": "loglinear: log price on log active parameters; roofline: price "
                            "from the serving-cost roofline times a markup (default loglinear)"}],
    ],
}

#: Parameters, active parameters and release dates of widely served open-weights models that the
#: Epoch snapshot lacks (or lacks the active count of); from the developers' model cards.
SUPPLEMENT: dict[str, tuple[float, float, str]] = {
    "gpt-oss-120b": (116.8e9, 5.1e9, "2025-08-05"),
    "gpt-oss-20b": (20.9e9, 3.6e9, "2025-08-05"),
    "Llama 3.1-8B": (8.03e9, 8.03e9, "2024-07-23"),
    "Llama 3.1-70B": (70.6e9, 70.6e9, "2024-07-23"),
    "Llama 3-8B": (8.03e9, 8.03e9, "2024-04-18"),
    "Llama 2-13B": (13.0e9, 13.0e9, "2023-07-18"),
    "Kimi K2": (1.04e12, 32e9, "2025-07-11"),
    "Qwen3-Coder-480B-A35B": (480e9, 35e9, "2025-07-22"),
    "DeepSeek-V3.1": (671e9, 37e9, "2025-08-21"),
    "GLM 4.5": (355e9, 32e9, "2025-07-28"),
    "GLM 4.6": (355e9, 32e9, "2025-09-30"),
    "DeepSeek-R1-Distill-Qwen-32B": (32.8e9, 32.8e9, "2025-01-20"),
    "Mixtral 8x7B": (46.7e9, 12.9e9, "2023-12-11"),
    "WizardLM-2 8x22B": (141e9, 39e9, "2024-04-15"),
    "Command R+": (104e9, 104e9, "2024-04-04"),
    "phi-3-mini 3.8B": (3.8e9, 3.8e9, "2024-04-23"),
    "Qwen2.5-7B": (7.6e9, 7.6e9, "2024-09-19"),
}

#: Routers and gateways resell other providers' prices: left out so no price is counted twice.
ROUTERS = {"openrouter", "vercel_ai_gateway", "aihubmix", "hostinger_router", "clf_ai_gateway",
           "github_copilot", "microsoft_365_copilot", "v0", "opencode_go"}

#: Provider ids that are one company under several names.
PROVIDER_ALIASES = {
    "together_ai": "together", "fireworks_ai": "fireworks", "moonshotai": "moonshot",
    "bedrock_converse": "bedrock", "bedrock_mantle": "bedrock", "aws": "bedrock",
    "sagemaker": "bedrock", "azure_ai": "azure", "zhipuai": "zai", "bigmodel": "zai",
    "x-ai": "xai", "cohere_chat": "cohere", "codestral": "mistral", "gemini": "google",
    "qwen_ai_platform": "dashscope", "qwencloud": "dashscope",
}

#: Model family (start of the lower-cased Epoch name) → the developer's own provider ids.
FIRST_PARTY = {
    "mistral": {"mistral"}, "mixtral": {"mistral"}, "ministral": {"mistral"},
    "codestral": {"mistral"}, "magistral": {"mistral"}, "pixtral": {"mistral"},
    "deepseek": {"deepseek"}, "qwen": {"dashscope"}, "qwq": {"dashscope"}, "kimi": {"moonshot"},
    "glm": {"zai"}, "gemma": {"google", "vertex_ai"}, "phi": {"azure"},
    "gpt-oss": {"openai", "azure"}, "jamba": {"ai21"}, "command": {"cohere"},
    "llama": {"meta"}, "minimax": {"minimax"}, "grok": {"xai"},
}

PRICE_FIELDS = [
    Field("input_usd_per_mtok", "$/Mtok", 0.0005, 2000, positive=True),
    Field("output_usd_per_mtok", "$/Mtok", 0.0005, 2000, positive=True),
    Field("active_parameters", "parameters", 1e8, 1e13, positive=True),
    Field("parameters", "parameters", 1e8, 1e13, positive=True),
    Field("context_window", "tokens", 512, 1e8, positive=True),
    Field("t", "years since 2024-01-01", -10, 10),
]

REF_WINDOW = 128_000.0
T0 = pd.Timestamp("2024-01-01")
BYTES_PER_PARAM = 2.0
SMOOTH_MAX_POWER = 4.0


def canonical_provider(provider: str) -> str:
    """One id per company: ``huggingface_novita`` → ``novita``, ``together_ai`` → ``together``."""
    p = str(provider)
    if p.startswith("huggingface_"):
        p = p[len("huggingface_"):].replace("fireworks-ai", "fireworks")
    if p.startswith("vertex_ai"):
        p = "vertex_ai"
    return PROVIDER_ALIASES.get(p, p)


def is_first_party(model: str, provider: str) -> bool:
    """Whether ``provider`` is the developer of ``model`` (by the family map above)."""
    name = str(model).lower()
    for family, own in FIRST_PARTY.items():
        if name.startswith(family):
            return provider in own
    return False


def _mixture_active(name: str) -> float | None:
    """Active parameters stated in a model name (``Qwen3-235B-A22B`` → 22e9)."""
    m = re.search(r"-A(\d+(?:\.\d+)?)B\b", name)
    return float(m.group(1)) * 1e9 if m else None


def price_table() -> pd.DataFrame:
    """Current API prices joined to model size, release date and openness (a fresh copy each
    call: built once per process from the bundled data, which one command reads several times).

    One row per (canonical provider, Epoch model) with the median input and output price over the
    provider's ids and regions; routers dropped; zero prices dropped. Columns: ``provider``,
    ``model``, ``input_usd_per_mtok``, ``output_usd_per_mtok``, ``parameters``,
    ``active_parameters``, ``context_window``, ``date``, ``t``, ``open_weights``, ``first_party``,
    ``training_compute_flop``.

    Examples
    --------
    >>> from structural.fitted.inference_price import price_table
    >>> table = price_table()
    >>> len(table) > 100
    True
    """
    return _price_table().copy()


@functools.cache
def _price_table() -> pd.DataFrame:
    import data

    p = data.load("api_prices")
    cw = data.load("model_crosswalk")
    models = data.load("models")
    cap = data.load("capability")
    ids = cw[cw["dataset"] == "api_prices"][["id", "model"]].rename(
        columns={"id": "price_id", "model": "epoch"})
    p = p[p["current"] & p["time_window"].isna()]
    p = p.dropna(subset=["output_usd_per_mtok"])
    p = p[(p["input_usd_per_mtok"] > 0) & (p["output_usd_per_mtok"] > 0)]
    x = p.merge(ids, left_on="model", right_on="price_id")
    x["provider"] = x["provider"].map(canonical_provider)
    x = x[~x["provider"].isin(ROUTERS)]
    g = x.groupby(["provider", "epoch"], as_index=False).agg(
        input_usd_per_mtok=("input_usd_per_mtok", "median"),
        output_usd_per_mtok=("output_usd_per_mtok", "median"),
        context_window=("context_window", "max"),
        open_weights=("open_weights", "first"),
    )
    meta = models[["model", "date", "parameters", "active_parameters",
                   "training_compute_flop"]].rename(columns={"model": "epoch"})
    g = g.merge(meta, on="epoch", how="left")
    cap_dates = cap.dropna(subset=["release_date"]).groupby("model")["release_date"].min()
    g["date"] = g["date"].fillna(g["epoch"].map(cap_dates))
    for name, (total, active, date) in SUPPLEMENT.items():
        row = g["epoch"] == name
        g.loc[row, "parameters"] = g.loc[row, "parameters"].fillna(total)
        g.loc[row, "active_parameters"] = active
        g.loc[row, "date"] = g.loc[row, "date"].fillna(pd.Timestamp(date))
    named = g["epoch"].map(_mixture_active)
    g["active_parameters"] = g["active_parameters"].fillna(named).fillna(g["parameters"])
    g["first_party"] = [is_first_party(m, pr) for m, pr in zip(g["epoch"], g["provider"],
                                                                strict=True)]
    g["t"] = (pd.to_datetime(g["date"]) - T0).dt.days / 365.25
    return g.rename(columns={"epoch": "model"})


def third_party_open(table: pd.DataFrame | None = None, min_provider_rows: int = 10
                     ) -> pd.DataFrame:
    """The estimation sample: open-weights models at third-party providers with known size,
    context window and date. ``provider_code`` is 0 for providers with fewer than
    ``min_provider_rows`` rows (pooled) and 1, 2, … for the others (sorted by name).

    Examples
    --------
    >>> from structural.fitted.inference_price import third_party_open
    >>> sample = third_party_open()
    >>> len(sample) > 50
    True
    """
    t = price_table() if table is None else table
    t = t[(t["open_weights"] == True) & ~t["first_party"]]  # noqa: E712 (nullable boolean)
    t = t.dropna(subset=["active_parameters", "parameters", "context_window", "t"])
    return with_provider_codes(t.reset_index(drop=True), min_provider_rows)


def with_provider_codes(t: pd.DataFrame, min_provider_rows: int = 10) -> pd.DataFrame:
    """Add ``provider_code`` (0 = pooled small providers)."""
    counts = t["provider"].value_counts()
    big = sorted(counts[counts >= min_provider_rows].index)
    code = {p: i + 1 for i, p in enumerate(big)}
    return t.assign(provider_code=t["provider"].map(code).fillna(0).astype(np.int64))


def providers(t: pd.DataFrame) -> list[str]:
    """Provider names in code order (code 1 first)."""
    s = t[t["provider_code"] > 0].drop_duplicates("provider_code").sort_values("provider_code")
    return s["provider"].tolist()


def long_format(t: pd.DataFrame) -> dict[str, np.ndarray]:
    """Two rows per (provider, model): input (``out`` 0) and output (``out`` 1) price."""
    t = check_table(t, PRICE_FIELDS, "open-weights prices")
    n = len(t)

    def twice(col: str) -> np.ndarray:
        v = t[col].to_numpy()
        return np.concatenate([v, v])

    return {
        "out": np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64)]),
        "log_price": np.log(np.concatenate([t["input_usd_per_mtok"].to_numpy(),
                                            t["output_usd_per_mtok"].to_numpy()])),
        "log_active": np.log(twice("active_parameters") / 1e10),
        "log_total": np.log(twice("parameters") / 1e10),
        "log_window": np.log(twice("context_window") / REF_WINDOW),
        "t": twice("t"),
        "provider": np.concatenate([t["provider_code"].to_numpy()] * 2).astype(np.int64),
        "pair": np.concatenate([np.arange(n)] * 2),
    }


def _provider_params(k: int) -> list[estimation.Param]:
    return [estimation.Param(f"provider_{j}", start=0.0) for j in range(1, k + 1)]


def loglinear_params(n_providers: int) -> estimation.ParamSpec:
    return estimation.ParamSpec([
        estimation.Param("const_input", start=-1.0),
        estimation.Param("const_output", start=0.0),
        estimation.Param("elasticity_input", start=0.6),
        estimation.Param("elasticity_output", start=0.6),
        estimation.Param("context_elasticity", start=0.0),
        estimation.Param("trend", start=0.0),
        estimation.Param("sigma_input", start=0.5, transform="log"),
        estimation.Param("sigma_output", start=0.5, transform="log"),
        df_param(4.0),
        *_provider_params(n_providers),
    ])


def roofline_params(n_providers: int) -> estimation.ParamSpec:
    return estimation.ParamSpec([
        estimation.Param("u_prefill", start=0.3, transform="logit"),
        estimation.Param("u_decode", start=0.05, transform="logit"),
        estimation.Param("batch", start=16.0, transform="log"),
        estimation.Param("context_elasticity", start=0.0),
        estimation.Param("trend", start=0.0),
        estimation.Param("sigma_input", start=0.5, transform="log"),
        estimation.Param("sigma_output", start=0.5, transform="log"),
        df_param(4.0),
        *_provider_params(n_providers),
    ])


def _provider_effect(p: dict[str, Any], code: Any, n_providers: int) -> Any:
    effects = jnp.stack([jnp.zeros(())] + [p[f"provider_{j}"] for j in range(1, n_providers + 1)])
    return effects[code]


def _n_providers(p: dict[str, Any]) -> int:
    return sum(1 for k in p if k.startswith("provider_"))


def loglinear_mean(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """E ln p without the provider effect (the log-linear form)."""
    out = d["out"]
    c = jnp.where(out == 1, p["const_output"], p["const_input"])
    b = jnp.where(out == 1, p["elasticity_output"], p["elasticity_input"])
    return c + b * d["log_active"] + p["context_elasticity"] * d["log_window"] + p["trend"] * d["t"]


def hardware_constants(name: str = "H100") -> dict[str, float]:
    """Peak BF16 FLOP/s, memory bandwidth and $/chip-hour of a :mod:`structural.hardware` preset."""
    from structural.hardware import get_hardware

    hw = get_hardware(name)
    return {"peak": hw.flops("bf16"), "bandwidth": hw.memory_bandwidth,
            "price_per_hour": hw.price_per_hour}


HW = hardware_constants()


def roofline_log_cost(p: dict[str, Any], d: dict[str, Any], hw: dict[str, float] = HW) -> Any:
    """ln of the roofline marginal cost in $/Mtok (input: prefill; output: decode)."""
    dollars_per_second = 1e6 * hw["price_per_hour"] / 3600.0
    n_active = 1e10 * jnp.exp(d["log_active"])
    n_total = 1e10 * jnp.exp(d["log_total"])
    prefill = 2.0 * n_active / (hw["peak"] * p["u_prefill"])
    compute = 2.0 * n_active / (hw["peak"] * p["u_decode"])
    memory = BYTES_PER_PARAM * n_total / (p["batch"] * hw["bandwidth"])
    k = SMOOTH_MAX_POWER
    decode = (compute**k + memory**k) ** (1.0 / k)
    return jnp.log(dollars_per_second) + jnp.log(jnp.where(d["out"] == 1, decode, prefill))


def roofline_mean(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """E ln p without the provider effect (the structural roofline form)."""
    return (roofline_log_cost(p, d) + p["context_elasticity"] * d["log_window"]
            + p["trend"] * d["t"])


def _contributions(mean):
    def contributions(p: dict[str, Any], d: dict[str, Any]) -> Any:
        mu = mean(p, d) + _provider_effect(p, d["provider"], _n_providers(p))
        scale = jnp.where(d["out"] == 1, p["sigma_output"], p["sigma_input"])
        return student_t_logpdf(d["log_price"], mu, scale, p["df"])

    contributions.__doc__ = f"Student-t log-likelihood of log prices around {mean.__name__}."
    return contributions


loglinear_contributions = _contributions(loglinear_mean)
roofline_contributions = _contributions(roofline_mean)


def fit(form: str = "loglinear", table: pd.DataFrame | None = None, progress: bool = False,
        **kwargs: Any) -> Any:
    """Fit the third-party cost curve (``form`` "loglinear" or "roofline") by MLE.

    ``table`` is an estimation sample in the layout of :func:`third_party_open` (default: the
    curated prices). Provider effects are named ``provider_1…`` in :func:`providers` order.

    Examples
    --------
    >>> from structural.fitted import inference_price
    >>> res = inference_price.fit("loglinear")
    >>> res.converged
    True
    """
    t = third_party_open() if table is None else table
    if "provider_code" not in t.columns:
        t = with_provider_codes(t)
    d = long_format(t)
    k = int(d["provider"].max())
    if form == "loglinear":
        spec, model = loglinear_params(k), loglinear_contributions
        X = np.column_stack([d["out"] == 0, d["out"] == 1, (d["out"] == 0) * d["log_active"],
                             (d["out"] == 1) * d["log_active"], d["log_window"], d["t"]])
        beta = np.linalg.lstsq(X.astype(float), d["log_price"], rcond=None)[0]
        start = dict(zip(spec.names[:6], beta, strict=True))
        start.update({"sigma_input": 0.5, "sigma_output": 0.5, "df": 4.0})
    elif form == "roofline":
        spec, model = roofline_params(k), roofline_contributions
        start = {p.name: p.start for p in spec.params}
    else:
        raise FitInputError(f"form must be 'loglinear' or 'roofline', got {form!r}")
    for j in range(1, k + 1):
        start.setdefault(f"provider_{j}", 0.0)
    # Two starts for the tail parameter: the likelihood is flat in ν when the errors are close to
    # normal, and a Newton path from heavy tails can drift to the bound; the better converged
    # start wins.
    starts = pd.DataFrame([{**start, "df": 4.0}, {**start, "df": 20.0}])[spec.names]
    kwargs.setdefault("name", f"inference price ({form})")
    return estimation.fit(model, d, spec, kind="mle", start=starts, progress=progress, **kwargs)


def headline(res: Any, form: str = "loglinear", alpha: float = 0.05) -> pd.DataFrame:
    """Elasticities in active parameters, the output/input ratio and the context premium, with
    delta-method SEs and CIs. For the roofline form they are evaluated at a dense 70B model.

    Examples
    --------
    >>> from structural.fitted import inference_price
    >>> table = inference_price.headline(inference_price.fit("loglinear"))
    >>> table[["estimate", "ci_low", "ci_high"]].round(2)
                                                       estimate  ci_low  ci_high
    price elasticity in active parameters (input)          0.72    0.64     0.80
    price elasticity in active parameters (output)         0.66    0.58     0.74
    output/input price ratio                               2.12    1.82     2.42
    long-context premium (price x per doubled window)      1.04    0.99     1.08
    price change x per year of release date                1.50    1.28     1.73
    """
    if form == "loglinear":
        def f(p):
            return jnp.stack([p["elasticity_input"], p["elasticity_output"],
                              jnp.exp(p["const_output"] - p["const_input"]),
                              2.0 ** p["context_elasticity"], jnp.exp(p["trend"])])
    else:
        def f(p):
            ref = {"log_active": jnp.log(7.0) * jnp.ones(2), "log_total": jnp.log(7.0)
                   * jnp.ones(2), "out": jnp.array([0, 1])}
            h = 1e-4
            up = {**ref, "log_active": ref["log_active"] + h, "log_total": ref["log_total"] + h}
            c0, c1 = roofline_log_cost(p, ref), roofline_log_cost(p, up)
            el = (c1 - c0) / h
            return jnp.stack([el[0], el[1], jnp.exp(c0[1] - c0[0]),
                              2.0 ** p["context_elasticity"], jnp.exp(p["trend"])])
    names = ["price elasticity in active parameters (input)",
             "price elasticity in active parameters (output)",
             "output/input price ratio",
             "long-context premium (price x per doubled window)",
             "price change x per year of release date"]
    return res.delta_method(f, names, alpha=alpha)


def long_context_tier() -> pd.DataFrame:
    """Ratios of long-tier to base prices in every price list that has a long-context tier.

    Examples
    --------
    >>> from structural.fitted.inference_price import long_context_tier
    >>> sorted(long_context_tier().columns)
    ['input_ratio', 'model', 'output_ratio', 'provider', 'threshold_tokens']
    """
    import data

    p = data.load("api_prices")
    p = p.dropna(subset=["long_context_threshold_tokens", "input_long_usd_per_mtok"])
    p = p[p["input_usd_per_mtok"] > 0]
    return pd.DataFrame({
        "provider": p["provider"], "model": p["model"],
        "threshold_tokens": p["long_context_threshold_tokens"],
        "input_ratio": p["input_long_usd_per_mtok"] / p["input_usd_per_mtok"],
        "output_ratio": p["output_long_usd_per_mtok"] / p["output_usd_per_mtok"],
    }).reset_index(drop=True)


TIER_PARAMS = estimation.ParamSpec([
    estimation.Param("log_premium_input", start=0.6),
    estimation.Param("log_premium_output", start=0.4),
    estimation.Param("sigma_input", start=0.2, transform="log"),
    estimation.Param("sigma_output", start=0.2, transform="log"),
])


def _tier_contributions(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """Normal log-likelihood of the log tier ratios (input and output rows)."""

    mu = jnp.where(d["out"] == 1, p["log_premium_output"], p["log_premium_input"])
    s = jnp.where(d["out"] == 1, p["sigma_output"], p["sigma_input"])
    return normal_logpdf(d["y"], mu, s)


def fit_long_context_tier(progress: bool = False) -> Any:
    """Geometric-mean long-tier premium for input and output prices (normal MLE on log ratios).

    Examples
    --------
    >>> from structural.fitted.inference_price import fit_long_context_tier
    >>> res = fit_long_context_tier()
    >>> res.converged
    True
    """
    t = long_context_tier().dropna(subset=["input_ratio", "output_ratio"])
    d = {"y": np.log(np.concatenate([t["input_ratio"], t["output_ratio"]])),
         "out": np.concatenate([np.zeros(len(t), np.int64), np.ones(len(t), np.int64)])}
    return estimation.fit(_tier_contributions, d, TIER_PARAMS, kind="mle", progress=progress,
                          name="long-context tier premium")


def markups(res: Any, form: str = "loglinear", table: pd.DataFrame | None = None
            ) -> pd.DataFrame:
    """Implied markups p / p̂ of first-party open-weights prices and of closed models.

    p̂ is the third-party cost curve with the provider effect at its sample average. Closed models
    are placed at N_a = N = sqrt(C/120) from their training compute C (module docstring).
    Returns one row per (group, price kind) with the geometric-mean markup, a 95% CI from the
    spread of log markups (t quantile) and the count.

    Examples
    --------
    >>> from structural.fitted import inference_price
    >>> m = inference_price.markups(inference_price.fit("loglinear"))
    >>> sorted(m.columns)
    ['ci_high', 'ci_low', 'group', 'markup', 'models', 'n', 'price']
    """
    # scipy.special's stdtrit is what scipy.stats.t.ppf calls (the same numbers) without the
    # import of scipy.stats, most of a second of the command's start-up.
    from scipy.special import stdtrit

    t = price_table() if table is None else table
    first = t[(t["open_weights"] == True) & t["first_party"]]  # noqa: E712
    first = first.dropna(subset=["active_parameters", "parameters", "context_window", "t"])
    closed = t[t["open_weights"] == False].copy()  # noqa: E712
    closed = closed.dropna(subset=["training_compute_flop", "context_window", "t"])
    n_chin = np.sqrt(closed["training_compute_flop"] / 120.0)
    closed["active_parameters"] = n_chin
    closed["parameters"] = n_chin
    # NumPy scalars, not jnp.asarray: each of those compiled a conversion of its own.
    p = {k: np.float64(v) for k, v in res.params.items()}
    sample = third_party_open()
    prov = np.asarray([float(p.get(f"provider_{c}", 0.0)) if c > 0 else 0.0
                       for c in sample["provider_code"]])
    avg_effect = float(prov.mean())
    mean = loglinear_mean if form == "loglinear" else roofline_mean
    rows = []
    groups = [(group, long_format(g.assign(provider_code=0)), g)
              for group, g in [("first-party open weights", first), ("closed models", closed)]
              if not g.empty]
    # Both groups in one row bucket: one compiled mean per form, not one per group.
    at_least = max((len(d["out"]) for _, d, _ in groups), default=0)
    for group, d, g in groups:
        resid = d["log_price"] - (_mean_on_host(mean, p, d, at_least) + avg_effect)
        for k, kind in enumerate(["input", "output"]):
            r = resid[d["out"] == k]
            n = len(r)
            se = r.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
            q = stdtrit(n - 1, 0.975) if n > 1 else np.nan
            rows.append({"group": group, "price": kind, "n": n,
                         "markup": float(np.exp(r.mean())),
                         "ci_low": float(np.exp(r.mean() - q * se)),
                         "ci_high": float(np.exp(r.mean() + q * se)),
                         "models": int(g["model"].nunique())})
    return pd.DataFrame(rows)


_MEAN_KEYS = ("out", "log_active", "log_total", "log_window", "t")


@functools.cache
def _mean_padded(mean: Any) -> Any:
    """``mean`` compiled, its traced program kept between runs
    (:func:`estimation.compilation.traced_jit`): a warm run neither traces nor lowers it."""
    from estimation.compilation import traced_jit

    return traced_jit(lambda p, d: mean(p, d), ("inference price mean", mean))


def _mean_on_host(mean: Any, p: dict[str, Any], d: dict[str, Any],
                  at_least: int = 0) -> np.ndarray:
    """``mean(p, d)`` (:func:`loglinear_mean` or :func:`roofline_mean`) as a NumPy array,
    compiled once per form and row bucket (:func:`estimation.objective.padded_rows` of at least
    ``at_least`` rows; padded with copies of the first row) instead of once per operation and
    per number of rows."""
    from estimation.objective import padded_rows

    n = len(d["out"])
    pad = padded_rows(max(n, at_least)) - n
    dd = {k: np.concatenate([np.asarray(d[k]), np.repeat(np.asarray(d[k])[:1], pad)])
          for k in _MEAN_KEYS}
    return np.asarray(_mean_padded(mean)(p, dd))[:n]


def simulate(params: dict[str, float], table: pd.DataFrame, form: str = "loglinear",
             seed: int = 0) -> pd.DataFrame:
    """Replace the prices of ``table`` (an estimation sample) by draws from the model."""
    rng = np.random.default_rng(seed)
    d = long_format(table)
    p = {k: jnp.asarray(v) for k, v in params.items()}
    mean = loglinear_mean if form == "loglinear" else roofline_mean
    mu = np.asarray(mean(p, d) + _provider_effect(p, d["provider"], _n_providers(p)))
    scale = np.where(d["out"] == 1, params["sigma_output"], params["sigma_input"])
    y = mu + scale * rng.standard_t(params["df"], size=len(mu))
    n = len(table)
    return table.assign(input_usd_per_mtok=np.exp(y[:n]), output_usd_per_mtok=np.exp(y[n:]))


def command(args: Any, cli: CommandLine) -> int:
    """``llmecon fit inference_price``: one form on ``--prices`` (default: the curated
    third-party prices, then also the markups)."""
    import textwrap

    from estimation.tables import MAX_WIDTH

    table = cli.csv(args.prices, "open-weights prices", "2024-01-01", "--prices")
    if table is not None:
        for col in ("provider", "model"):
            if col not in table.columns:
                raise FitInputError(f"open-weights prices: missing column {col!r}")
        table = with_provider_codes(table)
    res = fit(args.form, table)
    head = headline(res, args.form)
    cli.show_fit(res)
    names = providers(table if table is not None else third_party_open())
    cli.show(textwrap.fill("providers (provider_1, provider_2, ...): " + ", ".join(names),
                           width=MAX_WIDTH, subsequent_indent="  "))
    cli.show_table(head)
    extra = {"headline": head}
    if table is None:
        mk = markups(res, args.form).set_index(["group", "price"])
        cli.show_table(mk)
        extra["markups"] = mk.reset_index().set_index("group")
    return cli.write(f"inference_price_{args.form}", [("params", res)], extra)


def llm_costs(c: Collector, quick: bool) -> None:
    """The ``llm_costs`` section: both forms (log-linear and roofline), their markups, and the
    long-context tier premium."""
    sample = third_party_open()
    prov = ", ".join(f"provider_{i + 1} = {p}" for i, p in enumerate(providers(sample)))
    for form in ("loglinear",) if quick else ("loglinear", "roofline"):
        r = fit(form, sample)
        c.add_fit(f"inference_price ({form})", r)
        c.add_derived(f"inference_price ({form})", headline(r, form), r)
        mk = markups(r, form)
        mk.index = [f"markup over third-party cost: {a}, {b} price (n={n})"
                    for a, b, n in zip(mk["group"], mk["price"], mk["n"], strict=True)]
        mk["std_err"] = np.nan
        mk = mk.rename(columns={"markup": "estimate"})
        c.add_derived(f"inference_price ({form})", mk, r)
        c.converged.append(r.converged)
    c.notes.append(f"inference_price provider effects: {prov}; pooled small providers = 0")
    r = fit_long_context_tier()
    c.add_fit("long-context tier premium", r)
    prem = r.delta_method(
        lambda p: jnp.exp(jnp.stack([p["log_premium_input"], p["log_premium_output"]])),
        ["long-tier/base price ratio, input", "long-tier/base price ratio, output"])
    c.add_derived("long-context tier premium", prem, r)
    c.converged.append(r.converged)
