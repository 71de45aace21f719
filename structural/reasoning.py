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

import jax.numpy as jnp
from jax.scipy.special import betaln, gammaln

Array = Any


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
    return -jnp.expm1(betaln(a, b + k) - betaln(a, b))


def coverage_beta_mu_phi(k: Array, mu: Array, phi: Array) -> Array:
    """:func:`coverage_beta` with the Beta written by mean μ and concentration φ."""
    a, b = beta_shape(mu, phi)
    return coverage_beta(k, a, b)


def beta_binomial_logpmf(s: Array, n: Array, a: Array, b: Array) -> Array:
    """log P(s successes in n samples) under the beta-binomial with shapes (a, b)."""
    s = jnp.asarray(s, jnp.float64)
    n = jnp.asarray(n, jnp.float64)
    log_choose = gammaln(n + 1.0) - gammaln(s + 1.0) - gammaln(n - s + 1.0)
    return log_choose + betaln(s + a, n - s + b) - betaln(a, b)


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


def lgamma_series(x: Array, shift: int = 10) -> Array:
    """log Γ(x) for x > 0 by recurrence and Stirling's series, in plain arithmetic.

    log Γ(x) = log Γ(x + m) − Σ_{i<m} log(x + i), and for y = x + m ≥ 10 Stirling's series to the
    1/(1188 y⁹) term; relative error below 1e-13 for all x > 0. Its derivatives of every order are
    cheap to compile, unlike the polygamma functions behind :func:`jax.scipy.special.gammaln`'s
    Hessian — which is why the firm's solver uses it.
    """
    x = jnp.asarray(x, jnp.float64)
    log_prod = sum(jnp.log(x + i) for i in range(shift))
    y = x + shift
    iy = 1.0 / y
    iy2 = iy * iy
    series = iy * (1 / 12 - iy2 * (1 / 360 - iy2 * (1 / 1260 - iy2 * (1 / 1680 - iy2 / 1188))))
    return (y - 0.5) * jnp.log(y) - y + 0.5 * math.log(2 * math.pi) + series - log_prod


def log_miss_probability(k: Array, a: Array, b: Array) -> Array:
    """log(1 − coverage(k)) = log B(a, b + k) − log B(a, b), via :func:`lgamma_series`:
    log Γ(b + k) + log Γ(a + b) − log Γ(b) − log Γ(a + b + k)."""
    return (lgamma_series(b + k) + lgamma_series(a + b) - lgamma_series(b)
            - lgamma_series(a + b + k))
