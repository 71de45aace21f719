"""Fitted parameter sources a scenario can name: the project's own estimates, with their joint
uncertainty, feeding the counterfactuals.

* ``besiroglu2024`` — the Chinchilla law refitted to the bundled digitised runs
  (:mod:`structural.chinchilla_fit`, summed Huber loss, Besiroglu et al. 2024's method): the point
  estimate and its joint nonparametric bootstrap replicates of (A, B, E, α, β) (Besiroglu et al.'s
  own resamples, NumPy seed 42; 243-start grid). The replicates keep the estimates' correlations
  (corr(A, α) ≈ 0.98): scenarios draw whole replicates, never independent marginals.
* ``training_cost`` — the training-cost model of :mod:`structural.fitted.training_cost` (MLE):
  the effective training utilisation u and the price of a training FLOP at the reference date,
  drawn jointly from the fit's asymptotic normal on the estimation scale (logit u; the log price
  line a_p + b_p t), as ``u_train`` and a multiplicative ``train_price_scale`` (draw / point).

Fits run once and are cached on disk (``$LLMECON_CACHE``, else ``$XDG_CACHE_HOME/llmecon``, else
``~/.cache/llmecon``; keyed by the fit's name and version), so a scenario does not refit them each
run; delete the cache to refit.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: Version of the cached draws; bump when a fit's method changes.
CACHE_VERSION = 1
#: Bootstrap replicates of the Chinchilla refit (Besiroglu et al.'s first 400 resamples).
CHINCHILLA_REPLICATES = 400
#: Date at which the fitted price of a training FLOP is read (years since 2020-01-01).
PRICE_YEAR = 5.0


class UnknownFitError(ValueError):
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
    if "LLMECON_CACHE" in os.environ:
        return Path(os.environ["LLMECON_CACHE"]) / "fits"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmecon" / "fits"


def _cached(name: str, compute: Callable[[], tuple[dict, pd.DataFrame]]) -> tuple[dict,
                                                                                  pd.DataFrame]:
    path = _cache_dir() / f"{name}-v{CACHE_VERSION}.csv"
    if path.exists():
        table = pd.read_csv(path)
        point = table.iloc[0].to_dict()
        return {k: float(v) for k, v in point.items()}, table.iloc[1:].reset_index(drop=True)
    point, draws = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.concat([pd.DataFrame([point]), draws], ignore_index=True).to_csv(path, index=False)
    except OSError:   # a read-only home: refit next time
        pass
    return point, draws


def _chinchilla() -> tuple[dict, pd.DataFrame]:
    import data
    import estimation
    from estimation import Bootstrap
    from papers.besiroglu2024 import paper_resamples
    from structural.chinchilla_fit import QUICK_GRID, fit_chinchilla

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


def _training_cost() -> tuple[dict, pd.DataFrame]:
    from structural.fitted import training_cost

    res = training_cost.fit()
    names = ["log_usd_per_eflop_2020", "price_growth", "utilisation"]
    p = res.params
    cov = np.asarray(pd.DataFrame(res.cov_params()).loc[names, names], float)
    u = float(p["utilisation"])
    # to the estimation scale: logit u (d logit/du = 1/(u(1-u)))
    J = np.diag([1.0, 1.0, 1.0 / (u * (1.0 - u))])
    mean = np.array([p["log_usd_per_eflop_2020"], p["price_growth"], np.log(u / (1 - u))])
    x = np.random.default_rng(20240101).multivariate_normal(mean, J @ cov @ J.T, size=2000,
                                                            method="eigh")
    level = x[:, 0] + x[:, 1] * PRICE_YEAR
    draws = pd.DataFrame({"u_train": 1.0 / (1.0 + np.exp(-x[:, 2])),
                          "train_price_scale": np.exp(level - (mean[0] + mean[1] * PRICE_YEAR))})
    return {"u_train": u, "train_price_scale": 1.0}, draws


FITS: dict[str, tuple[Callable[[], tuple[dict, pd.DataFrame]], str, str]] = {
    "besiroglu2024": (_chinchilla, "chinchilla (240 digitised runs of Hoffmann et al. 2022, "
                                   "Besiroglu et al. 2024)",
                      f"summed Huber, {CHINCHILLA_REPLICATES} bootstrap replicates"),
    "training_cost": (_training_cost, "training_costs × hardware_prices (Epoch AI)",
                      "Student-t MLE, asymptotic normal on the estimation scale"),
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
