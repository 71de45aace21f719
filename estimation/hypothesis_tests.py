"""Wald and likelihood-ratio tests (Greene, *Econometric Analysis*, 8th ed., §14.6).

    Wald:  W = h(θ̂)ᵀ [G V Gᵀ]⁻¹ h(θ̂) ~ χ²_r under H0: h(θ) = 0,  G = ∂h/∂θ
    LR:    LR = 2 (ℓ_unrestricted − ℓ_restricted) ~ χ²_{k_u − k_r}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from estimation.errors import SpecificationError


@dataclass(frozen=True)
class TestResult:
    """A test statistic with its degrees of freedom and p-value."""

    statistic: float
    df: int
    pvalue: float
    name: str

    def __str__(self) -> str:
        return (f"{self.name}: statistic = {self.statistic:.4g}, df = {self.df}, "
                f"p = {self.pvalue:.4g}")


def wald_test(
    results, restriction: Callable | np.ndarray, q: np.ndarray | None = None
) -> TestResult:
    """Wald test of h(x) = q on the user's parameters x (q = 0 by default).

    ``restriction`` is either a function of the parameter dict returning an array (nonlinear
    restrictions, gradient by JAX), or a matrix R for the linear hypothesis R x = q. The
    restrictions must be linearly independent at x̂ (G V Gᵀ of full rank).
    """
    if callable(restriction):
        est = results.delta_method(restriction)
        h = est["estimate"].to_numpy()
        if q is not None:
            q = np.atleast_1d(np.asarray(q, dtype=np.float64))
            if q.shape != h.shape:
                raise SpecificationError(
                    f"q has {q.size} values; the restriction returns {h.size}")
            h = h - q
        V = results.delta_method_cov(restriction)
    else:
        R = np.atleast_2d(np.asarray(restriction, dtype=np.float64))
        if R.shape[1] != len(results.params):
            raise SpecificationError(
                f"R has {R.shape[1]} columns; the model has {len(results.params)} parameters"
            )
        q = np.zeros(R.shape[0]) if q is None else np.asarray(q, dtype=np.float64)
        x = results.params.to_numpy()
        h = R @ x - q
        V = R @ results.cov_params().to_numpy() @ R.T
    r = len(h)
    if not np.all(np.isfinite(V)):
        raise SpecificationError("the covariance of the restrictions is not finite (is the "
                                 "fit's covariance available?)")
    rank = np.linalg.matrix_rank(V)
    if rank < r:
        raise SpecificationError(
            f"the {r} restrictions are not linearly independent at the estimate (rank {rank}); "
            "drop the redundant ones")
    W = float(h @ np.linalg.solve(V, h))
    from scipy import stats  # imported on use: a second of start-up

    return TestResult(W, r, float(stats.chi2.sf(W, r)), "Wald")


def lr_test(restricted, unrestricted) -> TestResult:
    """Likelihood-ratio test of a restricted MLE fit against an unrestricted one."""
    for res, name in ((restricted, "restricted"), (unrestricted, "unrestricted")):
        if res.kind != "mle":
            raise SpecificationError(f"LR test needs MLE fits; the {name} fit is {res.kind!r}")
    df = len(unrestricted.params) - len(restricted.params)
    if df <= 0:
        raise SpecificationError("the unrestricted model must have more parameters")
    if restricted.nobs != unrestricted.nobs:
        raise SpecificationError(
            f"the fits use different data: {restricted.nobs} rows (restricted) against "
            f"{unrestricted.nobs} (unrestricted)")
    for res, name in ((restricted, "restricted"), (unrestricted, "unrestricted")):
        if not res.diagnostics.converged:
            raise SpecificationError(f"the {name} fit did not converge; LR needs both maxima")
    LR = float(2.0 * (unrestricted.llf - restricted.llf))
    if LR < -1e-6 * max(1.0, abs(unrestricted.llf)):
        raise SpecificationError(
            f"the restricted fit has the higher log-likelihood (LR = {LR:.4g}): the models are "
            "not nested, or the unrestricted fit stopped at a worse local maximum")
    LR = max(LR, 0.0)
    from scipy import stats  # imported on use: a second of start-up

    return TestResult(LR, df, float(stats.chi2.sf(LR, df)), "LR")
