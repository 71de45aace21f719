"""Repeated data and excess parameters (Muennighoff et al. 2023, "Scaling Data-Constrained Language
Models", arXiv:2305.16264, §3, eqs. 5–7; code and constants: github.com/huggingface/datablations).

Repeating U unique tokens for R_D = D/U − 1 extra epochs is worth

    D' = U + U R*_D (1 − exp(−R_D / R*_D))                                (eq. 5)

unique tokens: early repeats are worth almost as much as new data, and D' can never exceed
U (1 + R*_D). Parameters beyond U_N = min(N, N_opt(U)) — the compute-optimal size for U tokens —
decay likewise with R_N = N/U_N − 1 and constant R*_N (eq. 6). The data-constrained loss is the
Chinchilla form evaluated at (N', D') (eq. 7).

Fitted constants (datablations README, "Parametric Fit"; verified at the source):
ln A = 6.255414, ln B = 7.3049974, ln E = 0.6254804, α = β = 0.3526596, R*_D = 15.387756,
R*_N = 5.309743. The README's worked example gives L(6.34e9, 242e9, 25e9) = 2.2256440889984477.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from structural import published
from structural.pretraining import allocation_factor, chinchilla_loss

__all__ = ["data_constrained_loss", "effective_data", "effective_parameters",
           "optimal_parameters_for_data", "repetitions"]

Array = Any

#: Muennighoff et al. (2023) fit, from the datablations README (Parametric Fit).
MUENNIGHOFF_2023 = published.MUENNIGHOFF_2023


def repetitions(D: Array, U: Array) -> Array:
    """R_D = max(D/U − 1, 0): epochs beyond the first.

    Examples
    --------
    >>> from structural.repeated_data import repetitions
    >>> float(repetitions(400e9, 100e9)), float(repetitions(50e9, 100e9))
    (3.0, 0.0)
    """
    return jnp.maximum(jnp.asarray(D, jnp.float64) / U - 1.0, 0.0)


def effective_data(D: Array, U: Array, R_D_star: Array) -> Array:
    """D' = U + U R*_D (1 − exp(−R_D/R*_D)), R_D = max(D/U − 1, 0) (Muennighoff et al. 2023, eq. 5).

    D' ≤ D always (1 − e^{−x} ≤ x), D' = D for one epoch or less, and D' → U (1 + R*_D) as D → ∞.
    For D < U (less than one epoch) D' = D: only seen tokens count.

    Examples
    --------
    Four epochs of 100B unique tokens are worth almost 400B fresh tokens:

    >>> from structural.repeated_data import effective_data
    >>> from structural.published import MUENNIGHOFF_2023 as m
    >>> round(float(effective_data(400e9, 100e9, m["R_D_star"])) / 1e9, 1)
    372.6
    """
    D = jnp.asarray(D, jnp.float64)
    R_D = repetitions(D, U)
    repeated = U + U * R_D_star * (-jnp.expm1(-R_D / R_D_star))
    return jnp.where(D <= U, D, repeated)


def effective_parameters(N: Array, U_N: Array, R_N_star: Array) -> Array:
    """N' = U_N + U_N R*_N (1 − exp(−R_N/R*_N)), R_N = max(N/U_N − 1, 0) (eq. 6).

    Examples
    --------
    >>> from structural.repeated_data import effective_parameters
    >>> from structural.published import MUENNIGHOFF_2023 as m
    >>> round(float(effective_parameters(20e9, 5e9, m["R_N_star"])) / 1e9, 2)
    16.46
    """
    N = jnp.asarray(N, jnp.float64)
    U_N = jnp.minimum(N, U_N)
    R_N = jnp.maximum(N / U_N - 1.0, 0.0)
    return U_N + U_N * R_N_star * (-jnp.expm1(-R_N / R_N_star))


def optimal_parameters_for_data(D: Array, A: Array, B: Array, alpha: Array, beta: Array) -> Array:
    """N_opt(D) = G (D G)^{β/α}, the compute-optimal N for D tokens under the Chinchilla form
    (the datablations ``D_to_N``); G = (αA/(βB))^{1/(α+β)}.

    Examples
    --------
    >>> from structural.repeated_data import optimal_parameters_for_data
    >>> f"{float(optimal_parameters_for_data(1.4e12, 406.4, 410.7, 0.34, 0.28)):.3g}"
    '1.73e+10'
    """
    G = allocation_factor(A, B, alpha, beta)
    return (jnp.asarray(D, jnp.float64) * G) ** (beta / alpha) * G


def data_constrained_loss(N: Array, D: Array, U: Array, a: Array, b: Array, e: Array,
                          alpha: Array, beta: Array, R_D_star: Array, R_N_star: Array) -> Array:
    """L(N, D, U) = E + A / N'^α + B / D'^β with U_N = min(N, N_opt(U)) (Muennighoff et al. 2023,
    eq. 7; datablations ``scaling_law``). ``a, b, e`` are ln A, ln B, ln E.

    Examples
    --------
    The worked example of the datablations README, L(6.34e9, 242e9, 25e9):

    >>> from structural.repeated_data import data_constrained_loss
    >>> from structural.published import MUENNIGHOFF_2023 as m
    >>> round(float(data_constrained_loss(6.34e9, 242e9, 25e9, **m)), 4)
    2.2256
    """
    A, B, E = jnp.exp(a), jnp.exp(b), jnp.exp(e)
    U_N = optimal_parameters_for_data(U, A, B, alpha, beta)
    N_eff = effective_parameters(N, U_N, R_N_star)
    D_eff = effective_data(D, U, R_D_star)
    return chinchilla_loss(N_eff, D_eff, A, B, E, alpha, beta)
