"""Inference-time scaling: repeated sampling (k parallel attempts) and sequential reasoning tokens.

Repeated sampling (Brown et al. 2024, "Large Language Monkeys", arXiv:2407.21787, §4): coverage —
the share of problems solved by at least one of k samples — follows an exponentiated power law

    coverage(k) ≈ exp(a k^b),  a < 0, b < 0.

Structurally, let each problem's per-sample success probability be p ~ Beta(a_p, b_p)
(mean μ = a_p/(a_p+b_p), concentration φ = a_p + b_p). Then

    coverage(k) = 1 − E[(1 − p)^k] = 1 − B(a_p, b_p + k) / B(a_p, b_p),

and a problem's count of successes s in n samples is beta-binomial:

    log P(s | n) = log C(n, s) + log B(s + a_p, n − s + b_p) − log B(a_p, b_p).

:func:`beta_binomial_loglik` has the engine's signature ``loglik(params, data) -> (n,)``.

Sequential reasoning (budget forcing, Muennighoff et al. 2025, "s1", arXiv:2501.19393, Fig. 1):
accuracy rises roughly linearly in log₂ of thinking tokens. Here r reasoning tokens add
ρ · log₂(1 + r/r₀) to the per-attempt success logit; ρ and r₀ are scenario assumptions.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

Array = Any


def log_beta(a: Array, b: Array) -> Array:
    """log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b).

    Written with :func:`jax.scipy.special.gammaln` because :func:`jax.scipy.special.betaln` loses
    accuracy (relative error up to ~1e-8 here) once one argument exceeds about ten."""
    return gammaln(a) + gammaln(b) - gammaln(a + b)


def coverage_power_law(k: Array, a: Array, b: Array) -> Array:
    """coverage(k) = exp(a k^b) (Brown et al. 2024, eq. 2)."""
    return jnp.exp(a * jnp.asarray(k, jnp.float64) ** b)


def beta_shape(mu: Array, phi: Array) -> tuple[Array, Array]:
    """(a_p, b_p) = (μφ, (1 − μ)φ): Beta shapes from mean μ and concentration φ."""
    return mu * phi, (1.0 - mu) * phi


def coverage_beta(k: Array, a: Array, b: Array) -> Array:
    """coverage(k) = 1 − B(a, b + k)/B(a, b) for p ~ Beta(a, b); k may be real (≥ 0).

    Equals the mean a/(a+b) at k = 1 and rises to 1 as k → ∞ like 1 − Γ(a+b)/Γ(b) k^{−a}."""
    k = jnp.asarray(k, jnp.float64)
    return -jnp.expm1(log_beta(a, b + k) - log_beta(a, b))


def coverage_beta_mu_phi(k: Array, mu: Array, phi: Array) -> Array:
    """:func:`coverage_beta` with the Beta written by mean μ and concentration φ."""
    a, b = beta_shape(mu, phi)
    return coverage_beta(k, a, b)


def beta_binomial_logpmf(s: Array, n: Array, a: Array, b: Array) -> Array:
    """log P(s successes in n samples) under the beta-binomial with shapes (a, b)."""
    s = jnp.asarray(s, jnp.float64)
    n = jnp.asarray(n, jnp.float64)
    log_choose = gammaln(n + 1.0) - gammaln(s + 1.0) - gammaln(n - s + 1.0)
    return log_choose + log_beta(s + a, n - s + b) - log_beta(a, b)


def beta_binomial_loglik(params: dict[str, Array], data: dict[str, Array]) -> Array:
    """Per-problem beta-binomial log-likelihood, the engine convention ``loglik(params, data)``.

    Parameters
    ----------
    params : dict
        Either ``{"mu", "phi"}`` (mean in (0, 1), concentration > 0) or ``{"a", "b"}`` (shapes).
    data : dict
        ``"n"`` samples drawn and ``"s"`` successes per problem, arrays of shape (n_problems,).

    Returns
    -------
    Array of shape (n_problems,).
    """
    if "mu" in params:
        a, b = beta_shape(params["mu"], params["phi"])
    else:
        a, b = params["a"], params["b"]
    return beta_binomial_logpmf(data["s"], data["n"], a, b)


def reasoning_logit_gain(r: Array, rho: Array, r0: Array) -> Array:
    """ρ · log₂(1 + r/r₀): the success-logit gain from r sequential reasoning tokens."""
    return rho * jnp.log2(1.0 + jnp.asarray(r, jnp.float64) / r0)


_SHIFT = 8


def _lgamma_raw(x: Array) -> Array:
    prod = x
    for i in range(1, _SHIFT):
        prod = prod * (x + i)
    y = x + _SHIFT
    iy = 1.0 / y
    iy2 = iy * iy
    series = iy * (1 / 12 - iy2 * (1 / 360 - iy2 * (1 / 1260 - iy2 * (1 / 1680 - iy2 * (
        1 / 1188 - iy2 * 691 / 360360)))))
    return (y - 0.5) * jnp.log(y) - y + 0.5 * math.log(2 * math.pi) + series - jnp.log(prod)


def _digamma_raw(x: Array) -> Array:
    acc = 1.0 / x
    for i in range(1, _SHIFT):
        acc = acc + 1.0 / (x + i)
    y = x + _SHIFT
    iy = 1.0 / y
    iy2 = iy * iy
    series = iy2 * (1 / 12 - iy2 * (1 / 120 - iy2 * (1 / 252 - iy2 * (1 / 240 - iy2 * (
        1 / 132 - iy2 * 691 / 32760)))))
    return jnp.log(y) - 0.5 * iy - series - acc


def _trigamma_raw(x: Array) -> Array:
    acc = 1.0 / x**2
    for i in range(1, _SHIFT):
        acc = acc + 1.0 / (x + i) ** 2
    y = x + _SHIFT
    iy = 1.0 / y
    iy2 = iy * iy
    series = iy * (1 + iy * (0.5 + iy * (1 / 6 - iy2 * (1 / 30 - iy2 * (1 / 42 - iy2 * (
        1 / 30 - iy2 * 5 / 66))))))
    return series + acc


def _tetragamma_raw(x: Array) -> Array:
    acc = -2.0 / x**3
    for i in range(1, _SHIFT):
        acc = acc - 2.0 / (x + i) ** 3
    y = x + _SHIFT
    iy = 1.0 / y
    iy2 = iy * iy
    series = -iy2 * (1 + iy * (1 + iy * (0.5 - iy2 * (1 / 6 - iy2 * (1 / 6 - iy2 * (
        3 / 10 - iy2 * 5 / 6))))))
    return series + acc


@jax.custom_jvp
def _trigamma(x: Array) -> Array:
    return _trigamma_raw(x)


_trigamma.defjvp(lambda p, t: (_trigamma(p[0]), _tetragamma_raw(p[0]) * t[0]))


@jax.custom_jvp
def _digamma(x: Array) -> Array:
    return _digamma_raw(x)


_digamma.defjvp(lambda p, t: (_digamma(p[0]), _trigamma(p[0]) * t[0]))


@jax.custom_jvp
def _lgamma(x: Array) -> Array:
    return _lgamma_raw(x)


_lgamma.defjvp(lambda p, t: (_lgamma(p[0]), _digamma(p[0]) * t[0]))


def lgamma_series(x: Array) -> Array:
    """log Γ(x) for x > 0 by recurrence and Stirling's series, with series derivatives.

    log Γ(x) = log Γ(x + 8) − log Π_{i<8}(x + i), Stirling's series to the y⁻¹¹ term for
    y = x + 8; absolute error below 1e-12 for 1e-3 ≤ x ≤ 1e6. Its derivatives are the matching
    series for ψ, ψ′ and ψ″ (custom JVP rules), so Hessians and third derivatives stay small to
    compile, unlike those of :func:`jax.scipy.special.gammaln` — which is why the firm's solver
    uses it. Valid for 0 < x ≲ 1e38 (the product overflows beyond).
    """
    return _lgamma(jnp.asarray(x, jnp.float64))


def log_miss_probability(k: Array, a: Array, b: Array) -> Array:
    """log(1 − coverage(k)) = log B(a, b + k) − log B(a, b), via :func:`lgamma_series`:
    log Γ(b + k) + log Γ(a + b) − log Γ(b) − log Γ(a + b + k)."""
    return (lgamma_series(b + k) + lgamma_series(a + b) - lgamma_series(b)
            - lgamma_series(a + b + k))
