"""Fitted parameter sources a scenario can name: the project's own estimates, with their joint
uncertainty, feeding the counterfactuals.

* ``besiroglu2024`` — the Chinchilla law refitted to the bundled digitised runs
  (:mod:`structural.chinchilla_fit`, summed Huber loss, Besiroglu et al. 2024's method): the point
  estimate and its joint nonparametric bootstrap replicates of (A, B, E, α, β) (Besiroglu et al.'s
  own resamples, NumPy seed 42; 243-start grid). The replicates keep the estimates' correlations
  (corr(A, α) ≈ 0.98): scenarios draw whole replicates, never independent marginals.
* ``success_link`` — the loss → success link (κ, ℓ_task, φ) of :mod:`structural.fitted.task_success`
  (beta-binomial MLE on Epoch's benchmark runs × training compute), for the GPQA-diamond threshold
  ℓ: the point estimate and its joint cluster-bootstrap replicates (:data:`LINK_REPLICATES`
  resamples of the models, every run of a model together, NumPy seed :data:`LINK_SEED`; all
  replicates refitted in one batched solve, :func:`structural.fitted.task_success.bootstrap_link`).
  Every scenario with a success or coverage target uses it by default; one that lists its own
  ``fit = [...]`` without it makes the link an assumption with a stated range
  (:func:`structural.counterfactual.provenance.success_link`).
* ``training_cost`` — the training-cost model of :mod:`structural.fitted.training_cost` (MLE):
  the effective training utilisation u and the price of a training FLOP at the reference date,
  drawn jointly from the fit's asymptotic normal on the estimation scale (logit u; the log price
  line a_p + b_p t), as ``u_train`` and a multiplicative ``train_price_scale`` (draw / point).

* ``serving_utilisation`` — the prefill and decode utilisations of :mod:`structural.costs` fitted
  to TensorRT-LLM's published serving throughput (:mod:`structural.fitted.serving`, nonlinear
  least squares on log throughput), drawn jointly from the fit's asymptotic normal on the
  estimation scale (logit u_prefill, logit u_decode; the FP8 speed-up marginalised out).

Fits run once and are cached on disk in ``fits/`` of llmecon's user cache directory (beside the
compiled code: :func:`estimation.compilation.user_cache_root`, ``~/.cache/llmecon`` on Linux;
keyed by the fit's name and version), so a scenario does not refit them each run; delete that
folder to refit.

Examples
--------
>>> from structural.counterfactual.fits import FITS
>>> sorted(FITS)
['besiroglu2024', 'serving_utilisation', 'success_link', 'training_cost']
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from estimation.compilation import user_cache_root
from llmecon.errors import InputError

__all__ = ["FITS"]

#: Version of the cached draws; bump when a fit's method changes (:data:`FIT_VERSIONS` per fit).
CACHE_VERSION = 1
#: Fits whose method changed since :data:`CACHE_VERSION`: their own cache version.
FIT_VERSIONS = {"success_link": 2}   # 2: bootstrap replicates, not the asymptotic normal
#: Cluster-bootstrap replicates of the loss-to-success link, and the seed of their resamples.
LINK_REPLICATES = 400
LINK_SEED = 20240102
#: Bootstrap replicates of the Chinchilla refit (Besiroglu et al.'s first 400 resamples).
CHINCHILLA_REPLICATES = 400
#: Date at which the fitted price of a training FLOP is read (years since 2020-01-01).
PRICE_YEAR = 5.0
#: The benchmark whose threshold loss ℓ stands for a scenario's task in the fitted link.
SUCCESS_TASK = "GPQA diamond"


class UnknownFitError(InputError):
    """A scenario names a fit that does not exist."""


@dataclass(frozen=True)
class FittedSource:
    """A fit's point estimate and joint draws of the parameters it supplies, and its provenance."""

    name: str
    point: dict[str, float]
    draws: pd.DataFrame
    dataset: str
    estimator: str
    se: dict[str, float] = field(default_factory=dict)

    def reference(self, param: str) -> str:
        se = self.se.get(param)
        tail = f"; SE {se:.4g}" if se is not None else ""
        return f"{self.dataset}; {self.estimator}{tail}"


def _cache_dir() -> Path:
    return user_cache_root() / "fits"


def _cached(name: str, compute: Callable[[], tuple[dict, pd.DataFrame]]) -> tuple[dict,
                                                                                  pd.DataFrame]:
    path = _cache_dir() / f"{name}-v{FIT_VERSIONS.get(name, CACHE_VERSION)}.csv"
    if path.exists():
        table = pd.read_csv(path)
        point = table.iloc[0].to_dict()
        return {k: float(v) for k, v in point.items()}, table.iloc[1:].reset_index(drop=True)
    point, draws = compute()
    # Written beside and moved into place: another process (a second command, a parallel test
    # worker) that finds the file finds it whole, never half-written.
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", newline="") as fh:
            pd.concat([pd.DataFrame([point]), draws], ignore_index=True).to_csv(fh, index=False)
        os.replace(tmp, path)
    except OSError:   # a read-only home: refit next time
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return point, draws


def _chinchilla() -> tuple[dict, pd.DataFrame]:
    import data
    import estimation
    from estimation import Bootstrap
    from structural.chinchilla_fit import QUICK_GRID, fit_chinchilla, paper_resamples

    df = data.load("chinchilla")
    df = df[~df["outlier"]].reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", estimation.NotConvergedWarning)
        res = fit_chinchilla(df, starts=QUICK_GRID, progress=False, bootstrap=Bootstrap(
            indices=paper_resamples(len(df), CHINCHILLA_REPLICATES)))
    draws = pd.DataFrame(res.bootstrap.draws, columns=["A", "B", "E", "alpha", "beta"])
    conv = getattr(res.bootstrap, "converged", None)
    if conv is not None:
        draws = draws[np.asarray(conv, bool)].reset_index(drop=True)
    return {k: float(res.params[k]) for k in draws.columns}, draws


def asymptotic_draws(res, n: int, seed: int) -> pd.DataFrame:
    """n joint draws from a fit's asymptotic normal on its estimation scale (log, logit, ...:
    ``res.theta``, ``res.cov_theta``), mapped to the user's scale by the fit's own transforms."""
    import jax

    x = np.random.default_rng(seed).multivariate_normal(
        np.asarray(res.theta, float), np.asarray(res.cov_theta, float), size=n, method="eigh")
    user = np.asarray(jax.vmap(res.spec.to_user)(x))
    return pd.DataFrame(user, columns=list(res.spec.names))


def _training_cost() -> tuple[dict, pd.DataFrame]:
    from structural.fitted import training_cost

    res = training_cost.fit()
    d = asymptotic_draws(res, 2000, 20240101)
    p = res.params
    level = p["log_usd_per_eflop_2020"] + p["price_growth"] * PRICE_YEAR
    draws = pd.DataFrame({
        "u_train": d["utilisation"],
        "train_price_scale": np.exp(d["log_usd_per_eflop_2020"] + d["price_growth"] * PRICE_YEAR
                                    - level)})
    return {"u_train": float(p["utilisation"]), "train_price_scale": 1.0}, draws


def _serving_utilisation() -> tuple[dict, pd.DataFrame]:
    from structural.fitted import serving

    res = serving.published_fit()
    if not res.converged:
        raise RuntimeError("serving utilisation fit did not converge")
    d = asymptotic_draws(res, 2000, 20240103)
    cols = ["u_prefill", "u_decode"]
    return {k: float(res.params[k]) for k in cols}, d[cols]


def _success_link() -> tuple[dict, pd.DataFrame]:
    from structural.fitted import task_success

    return task_success.bootstrap_link(SUCCESS_TASK, LINK_REPLICATES, LINK_SEED)


FITS: dict[str, tuple[Callable[[], tuple[dict, pd.DataFrame]], str, str]] = {
    "besiroglu2024": (_chinchilla, "chinchilla (240 digitised runs of Hoffmann et al. 2022, "
                                   "Besiroglu et al. 2024)",
                      f"summed Huber, {CHINCHILLA_REPLICATES} bootstrap replicates"),
    "training_cost": (_training_cost, "training_costs × hardware_prices (Epoch AI)",
                      "Student-t MLE, asymptotic normal on the estimation scale"),
    "serving_utilisation": (_serving_utilisation, "serving_throughput (TensorRT-LLM v0.5.0/"
                                                   "v0.6.1 performance.md, 18 benchmarks)",
                            "NLS on log throughput (structural.fitted.serving), HC1 SEs, "
                            "asymptotic normal on the logit scale"),
    "success_link": (_success_link, "benchmark_runs × training compute (Epoch AI), "
                                    "benchmark GPQA diamond",
                     "beta-binomial MLE (structural.fitted.task_success), "
                     f"{LINK_REPLICATES} cluster-bootstrap replicates (models resampled)"),
}


def fitted_source(name: str) -> FittedSource:
    """The named fit (module docstring), from the disk cache or fitted now."""
    if name not in FITS:
        raise UnknownFitError(f"parameters.fit: unknown fit {name!r}; known: "
                              f"{', '.join(FITS)}")
    compute, dataset, estimator = FITS[name]
    point, draws = _cached(name, compute)
    se = {k: float(draws[k].std(ddof=1)) for k in draws.columns}
    return FittedSource(name, point, draws, dataset, estimator, se)
