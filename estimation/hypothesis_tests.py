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
    r"""Wald test of :math:`h(x) = q` on the user's parameters x (q = 0 by default).

    .. math::

        W = (h(\hat x) - q)^\top \left(G \hat V G^\top\right)^{-1} (h(\hat x) - q)
        \;\sim\; \chi^2_r, \qquad G = \partial h / \partial x^\top,

    with :math:`\hat V` the fit's covariance and r the number of restrictions (Wald 1943).

    Parameters
    ----------
    results : Results or GMMResults
        A fit with a covariance.
    restriction : callable or (r, k) array
        A function of the parameter dict returning an array (nonlinear restrictions, gradient
        by JAX), or a matrix R for the linear hypothesis :math:`R x = q`. The restrictions must
        be linearly independent at :math:`\hat x` (:math:`G \hat V G^\top` of full rank).
    q : array, optional
        The hypothesised values (default 0).

    Returns
    -------
    TestResult
        ``statistic``, ``df`` and ``pvalue``.

    Examples
    --------
    Is the mean of a normal sample 1? As a function and as the linear restriction
    :math:`(1, 0)\,x = 1`:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import Param, fit, wald_test
    >>> y = np.random.default_rng(0).normal(1.0, 2.0, 50)
    >>> def loglik(p, d):
    ...     z = (d["y"] - p["mu"]) / p["sigma"]
    ...     return -0.5 * z**2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)
    >>> res = fit(loglik, {"y": y}, [Param("mu"), Param("sigma", transform="log")],
    ...           start={"mu": 0.0, "sigma": 1.0}, progress=False)
    >>> print(wald_test(res, lambda p: jnp.array([p["mu"] - 1.0])))
    Wald: statistic = 1.002, df = 1, p = 0.3168
    >>> print(wald_test(res, np.array([[1.0, 0.0]]), q=np.array([1.0])))
    Wald: statistic = 1.002, df = 1, p = 0.3168
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
    r"""Likelihood-ratio test of a restricted MLE fit against an unrestricted one.

    .. math::

        LR = 2\,(\ell_u - \ell_r) \;\sim\; \chi^2_{k_u - k_r}

    under the restrictions (Wilks 1938), with :math:`\ell` the maximised log-likelihoods and
    k the numbers of parameters. Both fits must be converged MLEs on the same rows.

    Parameters
    ----------
    restricted, unrestricted : Results
        The two maximum-likelihood fits.

    Returns
    -------
    TestResult

    Examples
    --------
    A normal sample's mean fixed at 1 against a free mean:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import Param, fit, lr_test
    >>> y = np.random.default_rng(0).normal(1.0, 2.0, 50)
    >>> def loglik(p, d):
    ...     z = (d["y"] - p["mu"]) / p["sigma"]
    ...     return -0.5 * z**2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)
    >>> sigma = Param("sigma", transform="log")
    >>> free = fit(loglik, {"y": y}, [Param("mu"), sigma], start={"mu": 0.0, "sigma": 1.0},
    ...            progress=False)
    >>> fixed = fit(lambda p, d: loglik({"mu": 1.0, "sigma": p["sigma"]}, d), {"y": y},
    ...             [sigma], start={"sigma": 1.0}, progress=False)
    >>> print(lr_test(fixed, free))
    LR: statistic = 0.9923, df = 1, p = 0.3192
    """
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
