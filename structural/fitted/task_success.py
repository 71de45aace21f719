r"""The loss-to-success link, fitted: κ, a threshold loss ℓ_b per benchmark and the spreads ψ, φ.

Structural model (:mod:`structural.task_success`, :mod:`structural.reasoning`) for a run of model
i on benchmark b, with n_b questions each sampled E_i times:

.. math::

    L_i &= L^*(C_i), \\
    m_i &= \sigma(\kappa (\ell_b - L_i)), \\
    \mu_i &\sim \mathrm{Beta}(m_i \psi, (1 - m_i) \psi), \\
    p_{ij} &\sim \mathrm{Beta}(\mu_i \phi, (1 - \mu_i) \phi).

:math:`L_i` is the Chinchilla loss at the model's training compute under the compute-optimal
allocation (Besiroglu et al. 2024 Table 1 constants by default;
``pretraining.compute_optimal_loss``); :math:`m_i` is the link, the mean success of models at loss
:math:`L_i`; :math:`\mu_i` is model i's own mean success (post-training, reasoning effort and
everything the loss leaves out; ψ the between-model concentration); :math:`p_{ij}` is the
per-question success (φ the difficulty spread of questions, the φ of coverage(k) in
:mod:`structural.reasoning`).

**What the data identify.** Epoch reports a run's accuracy (mean success over n_b × E_i samples)
and its standard error (the standard deviation of the per-question means over √n_b, rounded to
0.01). With one sample per question, successes are Binomial(n_b, μ_i) whatever φ: a single-sample
accuracy says nothing about φ. With E samples per question the per-question mean has variance

.. math::

    \mu(1 - \mu)\, f(\phi, E), \qquad f(\phi, E) = \frac{1}{1 + \phi}
        + \frac{\phi}{(1 + \phi) E}

(the between-question variance μ(1−μ)/(1+φ) of the Beta plus the mean within-question binomial
variance), so the reported standard errors of multi-epoch runs (GPQA, MATH, OTIS) identify φ, and
the accuracies across models identify κ, ℓ_b and ψ.

**Likelihood** (per run; ``contributions``):

1. Accuracy. Given μ_i, the accuracy has mean μ_i and variance μ_i(1 − μ_i) f / n_b: that of a
   binomial proportion with n_eff = n_b / f trials. With μ_i ~ Beta(m_i ψ, (1 − m_i) ψ) the count
   s_i = acc_i n_eff is beta-binomial (:func:`structural.reasoning.beta_binomial_logpmf`, real s
   through log-gamma); the density of the accuracy is that mass times n_eff. For E = 1 this is
   exact (n_eff = n_b); for E > 1 it is the moment-matched (design-effect) approximation.
2. Standard error, for runs with E > 1 and 0 < acc < 1: the true standard error is
   se_i = √(acc_i (1 − acc_i) f / n_b) with relative sampling noise N(0, 1/(2(n_b − 1))) (normal
   theory for a sample standard deviation); the printed value is it rounded to 0.01, so its
   likelihood is P(printed − 0.005 < se < printed + 0.005).

Parameters: κ (> 0, logit per nat), ``ell_<benchmark>`` (nats), ψ (> 0), φ (> 0). A scenario's
(κ, ℓ_task, φ) for a benchmark-like task come from :func:`link_parameters` (point) or
:func:`link_draws` (joint bootstrap draws); see the module's ``fit``.

Data: ``benchmark_runs`` (Epoch AI Benchmarking Hub, CC-BY 4.0: credit Epoch AI).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.scipy.special import log_ndtr

import estimation
from estimation.compilation import traced_jit
from llmecon.errors import InputError
from structural import pretraining
from structural.fitted import Collector, CommandLine
from structural.fitted.inputs import Field, FitInputError, check_table
from structural.reasoning import beta_binomial_logpmf, beta_shape

__all__ = ["bootstrap_link", "fit", "link_parameters", "predict", "runs_table"]

#: ``llmecon fit task_success`` and this model's place in the registry (literals: read without
#: importing this module).
COMMAND = {
    "order": 5,
    "summary": "loss-to-success link sigma(kappa (ell_b - L*(C))) on Epoch benchmark runs",
    "section": "task success",
    "arguments": [
        ["--runs", {"help": "CSV of benchmark runs: task, accuracy, stderr, questions, "
                            "epochs, training_compute_flop (and model, release_date)"}],
        ["--benchmark", {"default": "GPQA diamond",
                         "help": "benchmark whose kappa, ell_task, phi are printed "
                                 "(default GPQA diamond)"}],
        ["--cutoff", {"help": "also fit on models released before this date (YYYY-MM-DD) "
                              "and print the error on those released after"}],
        ["--bootstrap", {"type": "int", "default": 0,
                         "help": "bootstrap replicates, resampling models (default 0: Hessian "
                                 "SEs, clustered by model)"}],
    ],
}

#: Rounding of the printed standard errors (two decimals).
SE_ROUNDING = 0.005
#: Default cut-off for the out-of-sample check: fit on models released before, predict after.
CUTOFF = "2025-01-01"

RUN_FIELDS = [
    Field("accuracy", "fraction", 0.0, 1.0),
    Field("stderr", "fraction", 0.0, 0.5),
    Field("questions", "questions", 1, 1e6, positive=True),
    Field("epochs", "samples per question", 1, 1e4, positive=True),
    Field("training_compute_flop", "FLOP", 1e15, 1e30, positive=True, required=False),
]


def slug(task: str) -> str:
    """A parameter-name form of a benchmark name: 'GPQA diamond' → 'gpqa_diamond'."""
    return re.sub(r"[^0-9a-z]+", "_", task.lower()).strip("_")


def ell_name(task: str) -> str:
    """The name of benchmark ``task``'s threshold-loss parameter, e.g. ``ell_gpqa_diamond``."""
    return f"ell_{slug(task)}"


def runs_table(runs: pd.DataFrame | None = None,
               law: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Benchmark runs with a training compute, each with its Chinchilla loss ``loss`` = L*(C).

    ``runs`` defaults to the bundled ``benchmark_runs``; a user table needs the columns ``task``,
    ``accuracy``, ``stderr``, ``questions``, ``epochs``, ``training_compute_flop`` (others, such as
    ``release_date`` and ``model``, are kept). ``law``: Chinchilla constants A, B, E, alpha, beta
    (default :data:`structural.pretraining.BESIROGLU_2024`).

    Examples
    --------
    >>> from structural.fitted.task_success import runs_table
    >>> runs = runs_table()
    >>> sorted(runs["task"].unique())
    ['FrontierMath-2025-02-28-Private', 'FrontierMath-2025-02-28-Public',
    'FrontierMath-Tier-4-2025-07-01-Private', 'GPQA diamond', 'MATH level 5', 'OTIS Mock AIME
    2024-2025', 'SWE-Bench verified']
    """
    if runs is None:
        import data

        runs = data.load("benchmark_runs")
    for col in ("task", "training_compute_flop"):
        if col not in runs.columns:
            raise FitInputError(f"benchmark runs: missing column {col!r} (task: benchmark name; "
                                "training_compute_flop: FLOP, empty where unknown)")
    # cells checked with the file's row numbers; runs without a compute are then left out
    runs = check_table(runs, RUN_FIELDS, "benchmark runs")
    runs = runs.dropna(subset=["training_compute_flop"]).reset_index(drop=True)
    if len(runs) == 0:
        raise FitInputError("benchmark runs: no run has a training_compute_flop")
    law = dict(pretraining.BESIROGLU_2024 if law is None else law)
    missing = {"A", "B", "E", "alpha", "beta"} - set(law)
    if missing:
        raise FitInputError(f"law: missing Chinchilla constant(s) {', '.join(sorted(missing))}")
    return runs.assign(loss=_compute_optimal_loss(runs["training_compute_flop"].to_numpy(), law))


#: Row bucket floor of this module's compiled helpers: the bundled tables, their training and
#: test splits and the simulated design (a few hundred runs each) then share one bucket.
_MIN_ROWS = 1024


def _optimal_loss(C: Any, law: Mapping[str, Any]) -> Any:
    return pretraining.compute_optimal_loss(C, **law)


#: Compiled once per row bucket and kept between runs (``traced_jit``): a warm run neither
#: traces nor compiles it.
_optimal_loss_padded = traced_jit(_optimal_loss, ("task_success optimal loss", _optimal_loss))


def _compute_optimal_loss(C: np.ndarray, law: Mapping[str, float]) -> np.ndarray:
    """:func:`structural.pretraining.compute_optimal_loss` of every run, compiled once per row
    bucket (:func:`estimation.objective.padded_rows`; padded with C = 1) instead of once per
    operation and run count: each training/test split has its own number of runs."""
    from estimation.objective import padded_rows

    n = len(C)
    padded = np.ones(padded_rows(max(n, _MIN_ROWS)))
    padded[:n] = C
    law = {k: jnp.asarray(float(law[k])) for k in ("A", "B", "E", "alpha", "beta")}
    return np.asarray(_optimal_loss_padded(padded, law))[:n]


def variance_factor(phi: Any, epochs: Any) -> Any:
    """f(φ, E) = 1/(1 + φ) + φ/((1 + φ) E): Var(mean of E samples of one question) / (μ(1 − μ))."""
    return (1.0 + phi / epochs) / (1.0 + phi)


def mean_success(p: Mapping[str, Any], d: Mapping[str, Any], tasks: tuple[str, ...]) -> Any:
    """m_i = σ(κ (ℓ_b(i) − L_i)) for every run."""
    ell = jnp.stack([p[ell_name(t)] for t in tasks])[d["bench"]]
    return jax.nn.sigmoid(p["kappa"] * (ell - d["loss"]))


@functools.cache
def _mean_success_jit(tasks: tuple[str, ...]):
    """:func:`mean_success` for benchmarks ``tasks``, compiled once per row bucket and kept
    between runs (``traced_jit``)."""
    fn = functools.partial(mean_success, tasks=tasks)
    return traced_jit(fn, ("task_success mean success", fn))


@functools.cache
def make_contributions(tasks: tuple[str, ...]):
    """The per-run log-likelihood ``contributions(p, d)`` for benchmarks ``tasks`` (module doc);
    one function per tuple of benchmarks, so fits on the same benchmarks share its compiled
    program."""

    def contributions(p: Mapping[str, Any], d: Mapping[str, Any]) -> Any:
        m = mean_success(p, d, tasks)
        f = variance_factor(p["phi"], d["epochs"])
        n_eff = d["questions"] / f
        a, b = beta_shape(m, p["psi"])
        acc = beta_binomial_logpmf(d["accuracy"] * n_eff, n_eff, a, b) + jnp.log(n_eff)
        inner = (d["accuracy"] > 0) & (d["accuracy"] < 1) & (d["epochs"] > 1)
        var = jnp.where(inner, d["accuracy"] * (1.0 - d["accuracy"]), 0.25)
        se = jnp.sqrt(var * f / d["questions"])
        tau = se / jnp.sqrt(2.0 * (d["questions"] - 1.0))
        hi = (d["stderr"] + SE_ROUNDING - se) / tau
        lo = (jnp.maximum(d["stderr"] - SE_ROUNDING, 0.0) - se) / tau
        # one log_ndtr on the stacked bounds: one copy of its series in the Hessian's program
        log_hi, log_lo = log_ndtr(jnp.stack([hi, lo]))
        se_ll = log_hi + jnp.log(-jnp.expm1(log_lo - log_hi))
        return acc + jnp.where(inner, se_ll, 0.0)

    return contributions


def param_spec(tasks: tuple[str, ...]) -> estimation.ParamSpec:
    """κ (log), one ℓ per benchmark, ψ (log), φ (log)."""
    return estimation.ParamSpec([
        estimation.Param("kappa", transform="log"),
        *[estimation.Param(ell_name(t)) for t in tasks],
        estimation.Param("psi", transform="log"),
        estimation.Param("phi", transform="log"),
    ])


def arrays(runs: pd.DataFrame, tasks: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The engine's data dict from :func:`runs_table` rows (``bench`` indexes ``tasks``)."""
    index = {t: i for i, t in enumerate(tasks)}
    unknown = sorted(set(runs["task"]) - set(index))
    if unknown:
        raise FitInputError(f"benchmark runs: task(s) {unknown} not among {list(tasks)}")
    return {
        "bench": runs["task"].map(index).to_numpy(np.int64),
        "loss": runs["loss"].to_numpy(np.float64),
        "accuracy": runs["accuracy"].to_numpy(np.float64),
        "stderr": runs["stderr"].to_numpy(np.float64),
        "questions": runs["questions"].to_numpy(np.float64),
        "epochs": runs["epochs"].to_numpy(np.float64),
    }


def starts(runs: pd.DataFrame, tasks: tuple[str, ...], kappa: float = 20.0) -> dict[str, float]:
    """ℓ_b so that σ(κ(ℓ_b − mean L)) is benchmark b's mean accuracy; ψ = 2, φ = 1."""
    out: dict[str, float] = {"kappa": kappa, "psi": 2.0, "phi": 1.0}
    for t in tasks:
        r = runs[runs["task"] == t]
        acc = float(np.clip(r["accuracy"].mean(), 0.01, 0.99))
        out[ell_name(t)] = float(r["loss"].mean()) + float(np.log(acc / (1 - acc))) / kappa
    return out


def _clusters(runs: pd.DataFrame) -> np.ndarray | None:
    if "model" not in runs.columns:
        return None
    key = runs["model"].astype("string")
    if "model_version" in runs.columns:
        key = key.fillna(runs["model_version"].astype("string"))
    return pd.factorize(key.fillna("?"))[0]


#: The threshold loss at which a benchmark without runs in a fit is held (:func:`fit`'s
#: ``tasks``): no run reads it, so any value serves.
HELD_ELL = 2.0


def fit(runs: pd.DataFrame | None = None, law: Mapping[str, float] | None = None,
        bootstrap: int | None = None, progress: bool = False,
        tasks: tuple[str, ...] | None = None, **kwargs: Any) -> Any:
    """Fit (κ, ℓ_b, ψ, φ) by maximum likelihood on benchmark runs.

    Parameters
    ----------
    runs : DataFrame, optional
        Benchmark runs (default: bundled ``benchmark_runs`` with a training compute; see
        :func:`runs_table`).
    law : dict, optional
        Chinchilla constants for L*(C) (default Besiroglu et al. 2024 Table 1).
    bootstrap : int, optional
        Bootstrap replicates, resampling models (all runs of one model together, as the SEs are
        clustered by model when the table has a ``model`` column).
    tasks : tuple of str, optional
        The benchmarks of the model's parameter list (default: those of ``runs``); the ℓ of one
        without runs here is held at :data:`HELD_ELL` and left out of the results
        (``estimation.fit(fixed=...)``), so that fits on subsets of one table (a training
        split, simulated runs) share one compiled program. Pass ``rows`` (padded row count)
        alike for the same reason.
    kwargs
        Passed to :func:`estimation.fit`.

    Returns
    -------
    estimation.Results
        ``params`` (κ, ``ell_<benchmark>``, ψ, φ), ``cov_params()``, ``bootstrap.draws``. The
        benchmarks are in ``res.tasks``.

    Examples
    --------
    >>> from structural.fitted import task_success
    >>> res = task_success.fit()
    >>> res.converged
    True
    >>> res.params[["kappa", "psi", "phi"]].round(2)
    kappa    19.66
    psi       4.43
    phi       0.95
    Name: estimate, dtype: float64
    """
    table = runs_table(runs, law)
    present = tuple(sorted(table["task"].unique()))
    tasks = present if tasks is None else tuple(tasks)
    missing = sorted(set(present) - set(tasks))
    if missing:
        raise FitInputError(f"benchmark runs: task(s) {missing} not among tasks {list(tasks)}")
    held = {ell_name(t): HELD_ELL for t in tasks if t not in present}
    kwargs.setdefault("name", "loss-to-success link")
    clusters = _clusters(table)
    res = estimation.fit(make_contributions(tasks), arrays(table, tasks), param_spec(tasks),
                         kind="mle", start=starts(table, present), clusters=clusters,
                         bootstrap=bootstrap, progress=progress, fixed=held or None, **kwargs)
    res.tasks = present
    return res


def link_parameters(res: Any, task: str = "GPQA diamond") -> dict[str, float]:
    """(κ, ℓ_task, φ) for benchmark ``task`` at the point estimate: the keys ``kappa``,
    ``ell_task``, ``phi`` of the quality model (:mod:`structural.quality`).

    Examples
    --------
    >>> from structural.fitted import task_success
    >>> link = task_success.link_parameters(task_success.fit(), "GPQA diamond")
    >>> {k: round(v, 3) for k, v in link.items()}
    {'kappa': 19.663, 'ell_task': 1.921, 'phi': 0.946}
    """
    name = ell_name(task)
    if name not in res.params.index:
        raise InputError(f"no benchmark {task!r} in this fit; fitted: {list(res.tasks)}")
    p = res.params
    return {"kappa": float(p["kappa"]), "ell_task": float(p[name]), "phi": float(p["phi"])}


def link_draws(res: Any, task: str = "GPQA diamond") -> pd.DataFrame:
    """Joint draws of (κ, ℓ_task, φ) for ``task``: the fit's converged bootstrap replicates (fit
    with ``bootstrap=``), else draws from its covariance on the estimation scale are the caller's
    to make from ``res.cov_theta``. Columns ``kappa``, ``ell_task``, ``phi``."""
    if res.bootstrap is None:
        raise InputError("this fit has no bootstrap replicates; fit with bootstrap=K")
    link_parameters(res, task)  # validates task
    d = res.bootstrap.used()
    return pd.DataFrame({"kappa": d["kappa"].to_numpy(), "ell_task": d[ell_name(task)].to_numpy(),
                         "phi": d["phi"].to_numpy()})


def bootstrap_link(task: str = "GPQA diamond", replicates: int = 400, seed: int = 20240102,
                   runs: pd.DataFrame | None = None) -> tuple[dict[str, float], pd.DataFrame]:
    """The link (κ, ℓ_task, φ) of ``task`` at the estimate and its joint bootstrap draws.

    A cluster bootstrap (Cameron & Trivedi 2005, §11.2): each of ``replicates`` resamples draws
    the models with replacement (every run of a drawn model enters as often as the model is
    drawn; :class:`estimation.Bootstrap` with NumPy seed ``seed``) and is refitted from the
    estimate, all replicates in one batched solve. Unconverged replicates are left out
    (:meth:`estimation.BootstrapResults.used`, which warns how many). Deterministic in
    (``runs``, ``replicates``, ``seed``).

    Returns
    -------
    point : dict
        :func:`link_parameters` at the full-sample estimate.
    draws : DataFrame
        One row per converged replicate, columns ``kappa``, ``ell_task``, ``phi``
        (:func:`link_draws`).

    Examples
    --------
    The scenarios' draws (400 replicates; a minute on two cores, cached by
    :mod:`structural.counterfactual.fits`):

    >>> from structural.fitted import task_success
    >>> point, draws = task_success.bootstrap_link(replicates=400)  # doctest: +SKIP
    >>> list(draws.columns), len(draws), round(point["kappa"], 2)  # doctest: +SKIP
    (['kappa', 'ell_task', 'phi'], 392, 19.66)
    >>> draws.std().round(3).to_dict()  # doctest: +SKIP
    {'kappa': 3.795, 'ell_task': 0.005, 'phi': 0.074}
    """
    from estimation import Bootstrap, SolverOptions

    # One pool of replicates: two host threads running the batched round at once have been
    # seen to stall (both waiting on their results) with 400 replicates on two cores.
    res = fit(runs, bootstrap=Bootstrap(draws=int(replicates), seed=int(seed)),
              options=SolverOptions(threads=1))
    return link_parameters(res, task), link_draws(res, task).reset_index(drop=True)


def predict(res: Any, runs: pd.DataFrame, law: Mapping[str, float] | None = None) -> pd.Series:
    """Predicted mean accuracy m = σ(κ(ℓ_b − L*(C))) for each run of ``runs`` (same benchmarks).

    Examples
    --------
    At stated link parameters (any fit-like object with ``params`` and ``tasks``; usually
    :func:`fit`'s result), for GPQA runs of models trained with 1e23 and 1e25 FLOPs:

    >>> from types import SimpleNamespace
    >>> import pandas as pd
    >>> from structural.fitted import task_success
    >>> link = SimpleNamespace(tasks=("GPQA diamond",), params=pd.Series(
    ...     {"kappa": 20.0, "ell_gpqa_diamond": 1.92, "psi": 4.4, "phi": 0.95}))
    >>> runs = pd.DataFrame({"task": "GPQA diamond", "accuracy": [0.3, 0.6], "stderr": 0.03,
    ...                      "questions": 198, "epochs": 1, "training_compute_flop": [1e23, 1e25]})
    >>> task_success.predict(link, runs).round(3).tolist()
    [0.096, 0.541]
    """
    from estimation.objective import padded_rows

    table = runs_table(runs, law)
    d = arrays(table, res.tasks)
    n = len(table)
    # Padded to its row bucket with copies of the first run: one compiled call per bucket.
    d = {k: np.concatenate([v, np.repeat(v[:1], padded_rows(max(n, _MIN_ROWS)) - n)])
         for k, v in d.items() if k in ("bench", "loss")}
    p = {k: np.float64(v) for k, v in res.params.items()}
    m = _mean_success_jit(tuple(res.tasks))(p, d)
    return pd.Series(np.asarray(m)[:n], index=table.index, name="predicted")


def simulate(params: Mapping[str, float], runs: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Draw accuracies and printed standard errors for ``runs`` (the layout of
    :func:`runs_table`, with ``loss``) from the model at ``params``: μ_i from the link and ψ,
    per-question p_ij from φ, E_i binomial samples per question; se printed to two decimals."""
    rng = np.random.default_rng(seed)
    out = runs.copy()
    acc, se = np.empty(len(runs)), np.empty(len(runs))
    for i, row in enumerate(runs.itertuples(index=False)):
        m = 1.0 / (1.0 + np.exp(-params["kappa"] * (params[ell_name(row.task)] - row.loss)))
        mu = rng.beta(m * params["psi"], (1 - m) * params["psi"])
        mu = float(np.clip(mu, 1e-12, 1 - 1e-12))
        q = rng.beta(mu * params["phi"], (1 - mu) * params["phi"], int(row.questions))
        means = rng.binomial(int(row.epochs), q) / row.epochs
        acc[i] = means.mean()
        se[i] = means.std(ddof=1) / np.sqrt(row.questions)
    return out.assign(accuracy=acc, stderr=np.round(se, 2))


def out_of_sample(cutoff: str = CUTOFF, runs: pd.DataFrame | None = None,
                  law: Mapping[str, float] | None = None, min_successes: int = 3,
                  **kwargs: Any) -> dict[str, Any]:
    """Fit on models released before ``cutoff``; predict the accuracies of those released on or
    after it. Returns the fit, the held-out table with predictions and the errors: mean absolute
    and root-mean-square error of the predicted mean accuracy, against a baseline that predicts
    each benchmark's mean training accuracy (``mae_baseline``).

    Only benchmarks with at least ``min_successes`` training runs of non-zero accuracy take part
    (a threshold loss ℓ_b cannot be located from runs that all score 0; with the bundled runs and
    the 2025-01-01 cut-off this leaves out FrontierMath public and Tier 4). ``benchmarks`` lists
    those kept."""
    table = runs_table(runs, law)
    if "release_date" not in table.columns:
        raise FitInputError("benchmark runs: the out-of-sample check needs 'release_date'")
    date = pd.to_datetime(table["release_date"], errors="coerce")
    bad = date.isna() & table["release_date"].notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise FitInputError(f"benchmark runs: column 'release_date' row {i}: "
                            f"{table['release_date'].iloc[i]!r} is not a date (YYYY-MM-DD)")
    table, date = table[date.notna()], date[date.notna()]
    train = table[date < pd.Timestamp(cutoff)]
    hits = (train["accuracy"] > 0).groupby(train["task"]).sum()
    keep = sorted(hits.index[hits >= min_successes])
    train = train[train["task"].isin(keep)]
    test = table[(date >= pd.Timestamp(cutoff)) & table["task"].isin(keep)]
    if len(train) == 0 or len(test) == 0:
        raise FitInputError(f"cut-off {cutoff}: {len(train)} runs before and {len(test)} after; "
                            "need both")
    # The full table's benchmarks and row bucket: the same compiled program as its fit.
    kwargs.setdefault("tasks", tuple(sorted(table["task"].unique())))
    kwargs.setdefault("rows", len(table))
    res = fit(train, law, **kwargs)
    test = test.assign(predicted=predict(res, test, law).to_numpy(),
                       baseline=test["task"].map(train.groupby("task")["accuracy"].mean()))
    err = test["predicted"] - test["accuracy"]
    return {"fit": res, "held_out": test, "benchmarks": keep, "n_train": len(train),
            "n_test": len(test),
            "mae": float(err.abs().mean()), "rmse": float(np.sqrt((err ** 2).mean())),
            "bias": float(err.mean()),
            "mae_baseline": float((test["baseline"] - test["accuracy"]).abs().mean())}


#: Known parameters for the recovery check (:func:`recovery`), near the Epoch fit.
RECOVERY_TRUTH: dict[str, float] = {
    "kappa": 15.0, "psi": 6.0, "phi": 0.8, "ell_gpqa_diamond": 1.93, "ell_math_level_5": 1.95,
    "ell_otis_mock_aime_2024_2025": 1.85, "ell_swe_bench_verified": 1.90}
_RECOVERY_DESIGN = {"GPQA diamond": (198, 16), "MATH level 5": (1324, 8),
                    "OTIS Mock AIME 2024-2025": (45, 16), "SWE-Bench verified": (500, 1)}


def simulation_design(n_per_task: int = 60, seed: int = 3) -> pd.DataFrame:
    """Runs like Epoch's for simulation: GPQA, MATH, OTIS and SWE-bench with their question and
    epoch counts, training compute log-uniform on 1e23–5e26 FLOP, one model per run."""
    rng = np.random.default_rng(seed)
    rows = []
    for t, (q, e) in _RECOVERY_DESIGN.items():
        c = 10 ** rng.uniform(23, 26.7, n_per_task)
        rows.append(pd.DataFrame({"task": t, "training_compute_flop": c, "questions": q,
                                  "epochs": e, "accuracy": 0.5, "stderr": 0.02,
                                  "model": [f"{t}-{i}" for i in range(n_per_task)]}))
    return runs_table(pd.concat(rows, ignore_index=True))


def recovery(seed: int = 11, n_per_task: int = 60,
             tasks: tuple[str, ...] | None = None) -> tuple[Any, pd.DataFrame]:
    """Simulate runs from :data:`RECOVERY_TRUTH` and refit: the fit and a table of true value,
    estimate, SE and (estimate − true)/SE per parameter. ``tasks``: the benchmarks of the
    parameter list (default: those of the bundled runs, so that the refit shares the compiled
    program of :func:`fit` on them; the others are held)."""
    rows = None
    if tasks is None:
        bundled = runs_table()
        tasks, rows = tuple(sorted(bundled["task"].unique())), len(bundled)
    res = fit(simulate(RECOVERY_TRUTH, simulation_design(n_per_task), seed=seed), tasks=tasks,
              rows=rows)
    est, se = res.params, res.bse
    names = list(RECOVERY_TRUTH)
    table = pd.DataFrame({"true": [RECOVERY_TRUTH[k] for k in names],
                          "estimate": est[names].to_numpy(), "std_err": se[names].to_numpy()},
                         index=names)
    table["z"] = (table["estimate"] - table["true"]) / table["std_err"]
    return res, table


def command(args: Any, cli: CommandLine) -> int:
    """``llmecon fit task_success``: the link on ``--runs`` (default: Epoch's runs), the
    parameters of ``--benchmark`` and, with ``--cutoff``, the out-of-sample error."""
    if args.bootstrap < 0 or args.bootstrap == 1:
        raise FitInputError(f"--bootstrap: expected 0 or at least 2 replicates, "
                            f"got {args.bootstrap}")
    if args.cutoff is not None:
        try:
            pd.Timestamp(args.cutoff)
        except ValueError:
            raise FitInputError(f"--cutoff {args.cutoff!r}: expected a date YYYY-MM-DD") from None
    runs = cli.read(args.runs, "benchmark runs", "--runs") if args.runs else None
    table = runs_table(runs)
    if args.benchmark not in set(table["task"]):
        raise FitInputError(f"--benchmark {args.benchmark!r} is not among the runs' tasks: "
                            f"{', '.join(sorted(table['task'].unique()))}")
    cli.check_bootstrap_memory(args.bootstrap, len(table))
    res = fit(runs, bootstrap=args.bootstrap or None)
    link = pd.DataFrame([link_parameters(res, args.benchmark)], index=[args.benchmark])
    cli.show_fit(res)
    cli.show_table(link.rename_axis("benchmark"))
    extra = {"link": link.rename_axis("benchmark")}
    fits = [("params", res)]
    if args.cutoff is not None:
        oos = out_of_sample(args.cutoff, runs)
        err = pd.DataFrame({"value": [oos[k] for k in ("n_train", "n_test", "mae", "rmse", "bias",
                                                       "mae_baseline")]},
                           index=["runs before cut-off", "runs after", "MAE", "RMSE",
                                  "mean error", "MAE of benchmark-mean baseline"])
        cli.show(f"out of sample (released on or after {args.cutoff})")
        cli.show_table(err.rename_axis("quantity"))
        extra["out_of_sample"] = err.rename_axis("quantity")
        fits.append(("params_before_cutoff", oos["fit"]))
    return cli.write("task_success", fits, extra)


def llm_costs(c: Collector, quick: bool) -> None:
    """The ``llm_costs`` section: the loss → success link, its out-of-sample error and (full
    run) parameter recovery (``c.found["recovery_z"]``)."""
    r = fit()
    c.add_fit("task_success (loss-to-success link)", r)
    c.converged.append(r.converged)
    oos = out_of_sample(CUTOFF)
    c.converged.append(oos["fit"].converged)
    label = f"task_success out of sample (released >= {CUTOFF})"
    for q, key in [("mean absolute error of accuracy", "mae"), ("RMSE of accuracy", "rmse"),
                   ("mean error (predicted - observed)", "bias"),
                   ("MAE of the benchmark-mean baseline", "mae_baseline")]:
        c.rows.append({"model": label, "quantity": q, "estimate": oos[key], "std_err": np.nan,
                       "ci_low": np.nan, "ci_high": np.nan, "N": oos["n_test"], "llf": np.nan,
                       "aic": np.nan, "bic": np.nan, "converged": bool(oos["fit"].converged)})
    c.notes.append(f"task_success: {r.nobs} Epoch runs with a training compute; L*(C) from the "
                   "Besiroglu et al. 2024 law; out of sample: fit on "
                   f"{oos['n_train']} runs of models released before {CUTOFF}, predict "
                   f"{oos['n_test']} after, on {', '.join(oos['benchmarks'])} (models after the "
                   "cut-off beat what their pretraining compute predicts: post-training and "
                   "reasoning are not in L*)")
    if quick:
        return
    rr, rec = recovery()
    c.converged.append(rr.converged)
    c.found["recovery_z"] = float(rec["z"].abs().max())
    for name, rw in rec.iterrows():
        c.rows.append({"model": "task_success recovery (simulated runs)",
                       "quantity": f"{name} (true {rw['true']:g})",
                       "estimate": float(rw["estimate"]), "std_err": float(rw["std_err"]),
                       "ci_low": float(rw["estimate"] - 1.96 * rw["std_err"]),
                       "ci_high": float(rw["estimate"] + 1.96 * rw["std_err"]),
                       "N": rr.nobs, "llf": rr.llf, "aic": rr.aic, "bic": rr.bic,
                       "converged": bool(rr.converged)})
