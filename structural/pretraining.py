"""Pretraining: the Chinchilla loss law and its compute-optimal allocation.

Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models", arXiv:2203.15556, eq. (2)
and Approach 3; fitted in log-sum-exp form as in Besiroglu et al. (2024), arXiv:2404.10102, eq. (2):

    L(N, D) = E + A / N^α + B / D^β
    log L   = LSE(a − α log N, b − β log D, e),     a = log A, b = log B, e = log E.

Compute-optimal allocation under C = 6 N D (Hoffmann et al. 2022, Appendix D.2):

    N*(C) = G (C/6)^a,  D*(C) = G⁻¹ (C/6)^b,  G = (αA / (βB))^{1/(α+β)},
    a = β / (α+β),      b = α / (α+β).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from structural import published

__all__ = ["allocation_exponents", "allocation_factor", "chinchilla_log_loss", "chinchilla_loss",
           "compute_optimal", "compute_optimal_for_size", "compute_optimal_loss", "data_for_loss"]

Array = Any


def chinchilla_loss(N: Array, D: Array, A: Array, B: Array, E: Array, alpha: Array,
                    beta: Array) -> Array:
    """Pretraining loss L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022, eq. 2), in nats/token.

    Examples
    --------
    Loss of Chinchilla (70B parameters, 1.4T tokens) under Hoffmann et al.'s constants:

    >>> from structural.pretraining import chinchilla_loss
    >>> from structural.published import HOFFMANN_2022 as h
    >>> L = chinchilla_loss(70e9, 1.4e12, h["A"], h["B"], h["E"], h["alpha"], h["beta"])
    >>> round(float(L), 4)
    1.9366
    """
    N = jnp.asarray(N, dtype=jnp.float64)
    D = jnp.asarray(D, dtype=jnp.float64)
    return E + A * N ** (-alpha) + B * D ** (-beta)


def chinchilla_log_loss(log_N: Array, log_D: Array, a: Array, b: Array, e: Array, alpha: Array,
                        beta: Array) -> Array:
    """log L in the numerically stable log-sum-exp form of Besiroglu et al. (2024), eq. (2).

    ``a, b, e`` are log A, log B, log E. Works on broadcastable arrays and is differentiable in
    every argument; it never forms N^(−α) itself, so it cannot overflow for any (α, β).

    Examples
    --------
    The same loss as :func:`chinchilla_loss`, computed on the log scale:

    >>> import numpy as np
    >>> from structural.pretraining import chinchilla_log_loss
    >>> from structural.published import HOFFMANN_2022 as h
    >>> log_L = chinchilla_log_loss(np.log(70e9), np.log(1.4e12), np.log(h["A"]), np.log(h["B"]),
    ...                             np.log(h["E"]), h["alpha"], h["beta"])
    >>> round(float(np.exp(log_L)), 4)
    1.9366
    """
    return chinchilla_log_loss_and_shares(log_N, log_D, a, b, e, alpha, beta)[0]


def chinchilla_log_loss_and_shares(log_N: Array, log_D: Array, a: Array, b: Array, e: Array,
                                   alpha: Array, beta: Array) -> tuple[Array, ...]:
    """(log L, p_A, p_B, p_E): log L as in :func:`chinchilla_log_loss`, and each term's share of
    L, p_A = (A/N^α)/L etc. (the softmax of the log-sum-exp), which are its derivatives in
    (a, b, e): the closed-form Jacobian of the Chinchilla fit is built from them."""
    u1 = a - alpha * log_N
    u2 = b - beta * log_D
    u3 = e + jnp.zeros_like(u1 + u2)
    m = jnp.maximum(jnp.maximum(u1, u2), u3)
    e1, e2, e3 = jnp.exp(u1 - m), jnp.exp(u2 - m), jnp.exp(u3 - m)
    s = e1 + e2 + e3
    return m + jnp.log(s), e1 / s, e2 / s, e3 / s


def allocation_exponents(alpha: Array, beta: Array) -> tuple[Array, Array]:
    """Exponents of the compute-optimal frontier N* ∝ C^a, D* ∝ C^b: a = β/(α+β), b = α/(α+β).

    Examples
    --------
    >>> from structural.pretraining import allocation_exponents
    >>> a, b = allocation_exponents(0.34, 0.28)
    >>> round(a, 4), round(b, 4)
    (0.4516, 0.5484)
    """
    s = alpha + beta
    return beta / s, alpha / s


def allocation_factor(A: Array, B: Array, alpha: Array, beta: Array) -> Array:
    """G = (αA / (βB))^{1/(α+β)}: the compute-optimal frontier's factor (Hoffmann et al. 2022).

    Examples
    --------
    >>> from structural.pretraining import allocation_factor
    >>> round(allocation_factor(406.4, 410.7, 0.34, 0.28), 4)
    1.3447
    """
    return (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))


def data_for_loss(N: Array, loss: Array, A: Array, B: Array, E: Array, alpha: Array,
                  beta: Array) -> Array:
    """D with L(N, D) = loss: D = (B / (loss − E − A/N^α))^{1/β}; +inf where unreachable.

    Examples
    --------
    Tokens a 7B model needs to reach a loss of 2.0, and a loss it cannot reach:

    >>> from structural.pretraining import data_for_loss
    >>> from structural.published import HOFFMANN_2022 as h
    >>> float(data_for_loss(7e9, 2.0, **h)) / 1e12  # doctest: +ELLIPSIS
    3.3919750548229213
    >>> float(data_for_loss(7e9, 1.7, **h))
    inf
    """
    s = loss - E - A * jnp.asarray(N, jnp.float64) ** (-alpha)
    return jnp.where(s > 0, (B / jnp.where(s > 0, s, 1.0)) ** (1.0 / beta), jnp.inf)


def compute_optimal_for_size(N: Array, A: Array, B: Array, alpha: Array,
                             beta: Array) -> dict[str, Array]:
    """The budget at which N is compute-optimal, inverting N* = G (C/6)^a: C = 6 (N/G)^{1/a},
    and the matching D* = C / (6 N).

    Examples
    --------
    >>> from structural.pretraining import compute_optimal_for_size
    >>> opt = compute_optimal_for_size(70e9, 406.4, 410.7, 0.34, 0.28)
    >>> f"C = {float(opt['C']):.3g} FLOPs, D = {float(opt['D']):.3g} tokens"
    'C = 3.22e+24 FLOPs, D = 7.66e+12 tokens'
    """
    a, _ = allocation_exponents(alpha, beta)
    G = allocation_factor(A, B, alpha, beta)
    C = 6.0 * (jnp.asarray(N, jnp.float64) / G) ** (1.0 / a)
    return {"C": C, "D": C / (6.0 * N)}


def compute_optimal(C: Array, A: Array, B: Array, alpha: Array, beta: Array) -> dict[str, Array]:
    """Compute-optimal parameters and tokens for a training budget of C FLOPs (C = 6 N D).

    Returns
    -------
    dict with ``G``, ``a``, ``b``, ``N`` (= N*), ``D`` (= D*) and ``tokens_per_parameter`` (D*/N*).
    Minimises L(N, D) subject to 6 N D = C (Hoffmann et al. 2022, Appendix D.2, eq. 4).

    Examples
    --------
    The compute-optimal model for Chinchilla's budget of 5.76e23 FLOPs:

    >>> from structural.pretraining import compute_optimal
    >>> opt = compute_optimal(5.76e23, 406.4, 410.7, 0.34, 0.28)
    >>> f"N* = {float(opt['N']):.3g}, D* = {float(opt['D']):.3g}"
    'N* = 3.22e+10, D* = 2.98e+12'
    >>> round(float(opt["tokens_per_parameter"]), 1)
    92.6
    """
    C = jnp.asarray(C, dtype=jnp.float64)
    a, b = allocation_exponents(alpha, beta)
    G = allocation_factor(A, B, alpha, beta)
    N = G * (C / 6.0) ** a
    D = (C / 6.0) ** b / G
    return {"G": G, "a": a, "b": b, "N": N, "D": D, "tokens_per_parameter": D / N}


#: Besiroglu et al. (2024), arXiv:2404.10102, Table 1 (:data:`structural.published.BESIROGLU_2024`).
BESIROGLU_2024 = published.BESIROGLU_2024


def compute_optimal_loss(C: Array, A: Array, B: Array, E: Array, alpha: Array,
                         beta: Array) -> Array:
    """L*(C) = L(N*(C), D*(C)): the lowest pretraining loss a budget of C FLOPs buys under the law
    (:func:`compute_optimal` then :func:`chinchilla_loss`).

    Examples
    --------
    >>> from structural.pretraining import compute_optimal_loss
    >>> from structural.published import HOFFMANN_2022 as h
    >>> round(float(compute_optimal_loss(5.76e23, **h)), 4)
    1.9307
    """
    opt = compute_optimal(C, A, B, alpha, beta)
    return chinchilla_loss(opt["N"], opt["D"], A, B, E, alpha, beta)
