"""Nonparametric bootstrap with every replicate refitted in one batched solve.

A replicate resamples the n observations with replacement (or whole clusters, when clusters are
given) and is represented by its multinomial counts w_b, so replicate b minimises Q(θ; w_b) with
the same compiled solver as the fit (Efron & Tibshirani 1993, ch. 6; Cameron & Trivedi 2005,
§11.2). Replicates start from the estimate. Each replicate's convergence is recorded; unconverged
replicates are excluded from SEs and CIs, and their number is reported.

    SE_boot = sd_b(x̂_b) (ddof = 1);   percentile CI = quantiles (α/2, 1 − α/2) of x̂_b;
    normal CI = x̂ ± z_{1−α/2} · SE_boot.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from estimation.errors import NotConvergedWarning, SpecificationError


@dataclass(frozen=True)
class Bootstrap:
    r"""Bootstrap options.

    Parameters
    ----------
    draws : int
        Number of replicates.
    seed : int
        Seed of the NumPy Generator that draws the resamples.
    indices : (draws, n) int array, optional
        Explicit resamples (row indices), e.g. to mirror a published study's random stream.
        Overrides ``draws`` and ``seed``.

    Examples
    --------
    The standard error of a mean from 200 nonparametric bootstrap replicates, beside the
    textbook :math:`s/\sqrt{n}`:

    >>> import numpy as np
    >>> from estimation import Bootstrap, Squared, fit
    >>> y = np.random.default_rng(0).normal(1.0, 2.0, 50)
    >>> res = fit(residuals=lambda p, d: d["y"] - p["mu"], loss=Squared(), data={"y": y},
    ...           params=["mu"], kind="m", start={"mu": 0.0},
    ...           bootstrap=Bootstrap(draws=200, seed=1), progress=False)
    >>> res.se_source
    'bootstrap'
    >>> round(float(res.bse["mu"]), 2), round(float(y.std() / np.sqrt(50)), 2)
    (0.27, 0.26)
    """

    draws: int = 1000
    seed: int = 0
    indices: np.ndarray | None = field(default=None, repr=False)

    def weights(self, n: int, clusters: np.ndarray | None = None) -> np.ndarray:
        """(B, n) multinomial counts, one row per replicate."""
        if self.indices is not None:
            idx = np.asarray(self.indices)
            if idx.ndim != 2 or idx.min() < 0 or idx.max() >= n:
                raise SpecificationError(
                    f"bootstrap indices must be a (draws, size) array of row numbers in [0, {n})"
                )
            w = np.zeros((idx.shape[0], n))
            rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
            np.add.at(w, (rows, idx.reshape(-1)), 1.0)
            return w
        if self.draws < 2:
            raise SpecificationError(f"bootstrap draws must be ≥ 2, got {self.draws}")
        rng = np.random.default_rng(self.seed)
        if clusters is None:
            return rng.multinomial(n, np.full(n, 1.0 / n), size=self.draws).astype(np.float64)
        _, codes = np.unique(np.asarray(clusters), return_inverse=True)
        G = int(codes.max()) + 1
        counts = rng.multinomial(G, np.full(G, 1.0 / G), size=self.draws).astype(np.float64)
        return counts[:, codes]


@dataclass
class BootstrapResults:
    """Replicate estimates on the user's scale and their convergence.

    Attributes
    ----------
    draws : DataFrame
        One row per replicate (all of them, converged or not), one column per parameter.
    converged : Series of bool
        Whether each replicate met the convergence test.
    status : Series of str
        Solver status of each replicate.
    iterations : Series of int
    estimate : Series
        The full-sample estimate the replicates are centred on (normal CIs).
    theta : ndarray or None
        The replicates in the optimiser's coordinates, so functions of the parameters are
        evaluated on them exactly (no round trip through the user's scale, which loses digits
        or overflows for a parameter near its bound).
    weights : ndarray or None
        (B, n) resample counts of the replicates, for statistics computed after the refits.

    Examples
    --------
    A fit with ``bootstrap=`` keeps its replicates in ``Results.bootstrap``:

    >>> import numpy as np
    >>> from estimation import Bootstrap, Squared, fit
    >>> y = np.random.default_rng(0).normal(1.0, 2.0, 50)
    >>> res = fit(residuals=lambda p, d: d["y"] - p["mu"], loss=Squared(), data={"y": y},
    ...           params=["mu"], kind="m", start={"mu": 0.0},
    ...           bootstrap=Bootstrap(draws=100, seed=1), progress=False)
    >>> boot = res.bootstrap
    >>> boot.draws.shape, bool(boot.converged.all())
    ((100, 1), True)
    >>> boot.weights.sum(axis=1)[:3].tolist()   # each replicate resamples the 50 rows
    [50.0, 50.0, 50.0]
    >>> round(float(boot.estimate["mu"]), 3) == round(float(y.mean()), 3)
    True
    """

    draws: pd.DataFrame
    converged: pd.Series
    status: pd.Series
    iterations: pd.Series
    estimate: pd.Series
    theta: np.ndarray | None = None
    weights: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_draws(self) -> int:
        return len(self.draws)

    @property
    def n_converged(self) -> int:
        return int(self.converged.sum())

    def used(self) -> pd.DataFrame:
        """The converged replicates (the only ones used for SEs and CIs)."""
        if self.n_converged < self.n_draws:
            warnings.warn(
                f"{self.n_draws - self.n_converged} of {self.n_draws} bootstrap replicates did "
                "not converge and are excluded",
                NotConvergedWarning,
                stacklevel=3,
            )
        return self.draws[self.converged.to_numpy()]

    def se(self) -> pd.Series:
        return self.used().std(ddof=1)

    def cov(self) -> pd.DataFrame:
        return self.used().cov(ddof=1)

    def conf_int(self, alpha: float = 0.05, method: str = "percentile") -> pd.DataFrame:
        """Percentile or normal-approximation confidence intervals."""
        used = self.used()
        if method == "percentile":
            lo = used.quantile(alpha / 2)
            hi = used.quantile(1 - alpha / 2)
        elif method == "normal":
            from scipy import stats  # imported here: a second of start-up otherwise

            z = stats.norm.ppf(1 - alpha / 2)
            se = used.std(ddof=1)
            lo, hi = self.estimate - z * se, self.estimate + z * se
        else:
            raise SpecificationError(f"method must be 'percentile' or 'normal', got {method!r}")
        return pd.DataFrame({"lower": lo, "upper": hi})

    def summary_line(self) -> str:
        it = self.iterations[self.converged]
        med = int(it.median()) if len(it) else 0
        return (
            f"bootstrap: {self.n_converged}/{self.n_draws} replicates converged "
            f"(median {med} iterations)"
        )
