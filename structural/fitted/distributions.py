"""Per-observation log densities used by the fitted cost models, in JAX (float64).

All functions are elementwise and differentiable in their parameters, so a model's
``contributions`` can be built from them and handed to :func:`estimation.fit`.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp
from jax.scipy.special import logsumexp

import estimation
from structural.reasoning import lgamma_series

__all__ = ["lognormal_logpdf", "lognormal_mixture_logpdf", "normal_logpdf", "stick_breaking",
           "student_t_logpdf"]

Array = Any

_LOG_2PI = math.log(2.0 * math.pi)  # math, not jnp: jnp.log compiled a program at import


def normal_logpdf(x: Array, loc: Array, scale: Array) -> Array:
    """log φ((x − loc)/scale) − log scale.

    Examples
    --------
    >>> from structural.fitted.distributions import normal_logpdf
    >>> round(float(normal_logpdf(0.0, 0.0, 1.0)), 4)
    -0.9189
    """
    z = (x - loc) / scale
    return -0.5 * z * z - jnp.log(scale) - 0.5 * _LOG_2PI


#: Student-t degrees of freedom are kept in (1, 200): below 1 the mean does not exist; above 200
#: the t is a normal for any data set here, and ln Γ differences lose precision as ν → ∞.
DF_BOUNDS = (1.0, 200.0)


def df_param(start: float = 5.0) -> estimation.Param:
    """The degrees-of-freedom parameter of a Student-t error, bounded to :data:`DF_BOUNDS`."""
    return estimation.Param("df", start=start, transform="logit", lower=DF_BOUNDS[0],
                            upper=DF_BOUNDS[1])


#: ln Γ(x) for x > 0 with derivatives as series, so the exact Hessians of Student-t likelihoods
#: compile to a small graph (``jax.scipy.special.gammaln`` differentiates through polygamma
#: series): the project's one Stirling series, :func:`structural.reasoning.lgamma_series`.
log_gamma = lgamma_series


def student_t_logpdf(x: Array, loc: Array, scale: Array, df: Array) -> Array:
    """Location-scale Student-t log density with ``df`` degrees of freedom:

    log Γ((ν+1)/2) − log Γ(ν/2) − ½ log(νπ) − log σ − (ν+1)/2 · log(1 + z²/ν),  z = (x − μ)/σ.

    Heavy tails make the fit robust to the few wildly mispriced or mis-recorded rows of price
    data (Lange, Little & Taylor 1989, "Robust statistical modeling using the t distribution").

    Examples
    --------
    >>> from structural.fitted.distributions import student_t_logpdf
    >>> round(float(student_t_logpdf(3.0, 0.0, 1.0, 4.0)), 4)
    -3.9275
    """
    z = (x - loc) / scale
    return (
        log_gamma(0.5 * (df + 1.0))
        - log_gamma(0.5 * df)
        - 0.5 * jnp.log(df * jnp.pi)
        - jnp.log(scale)
        - 0.5 * (df + 1.0) * jnp.log1p(z * z / df)
    )


def lognormal_logpdf(x: Array, mu: Array, sigma: Array) -> Array:
    """Log density of a lognormal: normal_logpdf(log x; μ, σ) − log x.

    Examples
    --------
    >>> from structural.fitted.distributions import lognormal_logpdf
    >>> round(float(lognormal_logpdf(1.0, 0.0, 1.0)), 4)
    -0.9189
    """
    lx = jnp.log(x)
    return normal_logpdf(lx, mu, sigma) - lx


def lognormal_mixture_logpdf(x: Array, weights: Array, mus: Array, sigmas: Array) -> Array:
    """log Σ_k w_k LN(x; μ_k, σ_k) for x of shape (n,) and K components (weights sum to 1).

    Examples
    --------
    >>> import numpy as np
    >>> from structural.fitted.distributions import lognormal_mixture_logpdf
    >>> x = np.array([100.0, 2000.0])
    >>> w, mu, sigma = np.array([0.7, 0.3]), np.array([5.0, 7.5]), np.array([0.5, 0.8])
    >>> lp = lognormal_mixture_logpdf(x, w, mu, sigma)
    >>> np.round(np.asarray(lp), 3)
    array([-5.499, -9.509])
    """
    lx = jnp.log(x)[:, None]
    comp = normal_logpdf(lx, mus[None, :], sigmas[None, :]) + jnp.log(weights)[None, :]
    return logsumexp(comp, axis=1) - lx[:, 0]


def stick_breaking(fractions: Array) -> Array:
    """K weights from K−1 stick-breaking fractions v_k in (0, 1): w_k = v_k Π_{j<k} (1 − v_j).

    Examples
    --------
    >>> import numpy as np
    >>> from structural.fitted.distributions import stick_breaking
    >>> np.round(np.asarray(stick_breaking(np.array([0.5, 0.5]))), 3)
    array([0.5 , 0.25, 0.25])
    """
    v = jnp.asarray(fractions)
    rest = jnp.concatenate([jnp.ones(1), jnp.cumprod(1.0 - v)])
    return jnp.concatenate([v, jnp.ones(1)]) * rest
