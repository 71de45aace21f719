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

Array = Any


def chinchilla_loss(N: Array, D: Array, A: Array, B: Array, E: Array, alpha: Array,
                    beta: Array) -> Array:
    """Pretraining loss L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022, eq. 2), in nats/token."""
    N = jnp.asarray(N, dtype=jnp.float64)
    D = jnp.asarray(D, dtype=jnp.float64)
    return E + A * N ** (-alpha) + B * D ** (-beta)


def chinchilla_log_loss(log_N: Array, log_D: Array, a: Array, b: Array, e: Array, alpha: Array,
                        beta: Array) -> Array:
    """log L in the numerically stable log-sum-exp form of Besiroglu et al. (2024), eq. (2).

    ``a, b, e`` are log A, log B, log E. Works on broadcastable arrays and is differentiable in
    every argument; it never forms N^(−α) itself, so it cannot overflow for any (α, β).
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
    """Exponents of the compute-optimal frontier N* ∝ C^a, D* ∝ C^b: a = β/(α+β), b = α/(α+β)."""
    s = alpha + beta
    return beta / s, alpha / s


def allocation_factor(A: Array, B: Array, alpha: Array, beta: Array) -> Array:
    """G = (αA / (βB))^{1/(α+β)}: the compute-optimal frontier's factor (Hoffmann et al. 2022)."""
    return (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))


def data_for_loss(N: Array, loss: Array, A: Array, B: Array, E: Array, alpha: Array,
                  beta: Array) -> Array:
    """D with L(N, D) = loss: D = (B / (loss − E − A/N^α))^{1/β}; +inf where unreachable."""
    s = loss - E - A * jnp.asarray(N, jnp.float64) ** (-alpha)
    return jnp.where(s > 0, (B / jnp.where(s > 0, s, 1.0)) ** (1.0 / beta), jnp.inf)


def compute_optimal_for_size(N: Array, A: Array, B: Array, alpha: Array,
                             beta: Array) -> dict[str, Array]:
    """The budget at which N is compute-optimal, inverting N* = G (C/6)^a: C = 6 (N/G)^{1/a},
    and the matching D* = C / (6 N)."""
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
    (:func:`compute_optimal` then :func:`chinchilla_loss`)."""
    opt = compute_optimal(C, A, B, alpha, beta)
    return chinchilla_loss(opt["N"], opt["D"], A, B, E, alpha, beta)
