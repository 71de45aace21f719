"""Demand systems: market shares of the logit family as pure JAX functions of one market.

Utility of agent i for product j in market t (Berry, Levinsohn and Pakes 1995; Nevo 2000):

    u_ijt = δ_jt + μ_ijt + ε_ijt,   δ_jt = x_jt β + ξ_jt,   μ_ijt = x2_jt (Σ ν_i + Π D_i),

with ε type-I extreme value, so s_ijt = exp(δ_jt + μ_ijt) / (1 + Σ_k exp(δ_kt + μ_ikt)) and
s_jt = Σ_i w_i s_ijt over integration nodes ν_i with weights w_i. Plain logit is the case μ = 0
with one agent. Nested logit (Berry 1994; Cardell 1997) with nests h and ρ_h ∈ [0, 1):

    s_jt = exp(δ_jt/(1−ρ_h)) / D_h · D_h^(1−ρ_h) / (1 + Σ_g D_g^(1−ρ_g)),
    D_h = Σ_{k∈h} exp(δ_kt/(1−ρ_h)).

Every function takes one market's padded arrays (``mask`` marks real products) so callers
``vmap`` them over markets. Prices enter linearly: the price sensitivity of agent i is
α_i = α + (Σ ν_i + Π D_i)_price, α the linear price coefficient.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["mixed_logit_shares", "nested_logit_inclusive_value", "nested_logit_shares",
           "nested_share_jacobian", "nested_share_price_terms"]


def random_coefficients(sigma, pi, nodes, demographics):
    """Σ ν_i + Π D_i for every agent: (K2, I)."""
    return sigma @ nodes.T + pi @ demographics.T


def choice_probabilities(delta, mu, mask):
    """s_ij (J, I) of the mixed logit, overflow-safe; zero on padded products."""
    u = jnp.where(mask[:, None], delta[:, None] + mu, -jnp.inf)
    m = jnp.maximum(jnp.max(u, axis=0), 0.0)
    e = jnp.where(mask[:, None], jnp.exp(u - m), 0.0)
    return e / (jnp.exp(-m) + e.sum(axis=0))


def mixed_logit_shares(delta, mu, weights, mask):
    """s_j = Σ_i w_i s_ij (J,).

    Examples
    --------
    Two products, two equally weighted agents; with no random coefficients this is the logit:

    >>> import jax.numpy as jnp
    >>> from structural.market.demand import mixed_logit_shares
    >>> s = mixed_logit_shares(jnp.array([1.0, 0.0]), jnp.zeros((2, 2)), jnp.array([0.5, 0.5]),
    ...                        jnp.array([True, True]))
    >>> [round(float(v), 4) for v in s]
    [0.5761, 0.2119]
    """
    return choice_probabilities(delta, mu, mask) @ weights


def share_price_terms(delta, mu, weights, mask, alpha_i):
    """Λ (J,) and Γ (J, J) with ∂s/∂p' = diag(Λ) − Γ (Morrow and Skerlos 2011).

    Λ_j = Σ_i w_i α_i s_ij,  Γ_jk = Σ_i w_i α_i s_ij s_ik; ∂s_j/∂p_k is row j, column k.
    """
    return _price_terms(choice_probabilities(delta, mu, mask), weights, alpha_i)


def _price_terms(s, weights, alpha_i):
    """Λ and Γ of :func:`share_price_terms` from the choice probabilities s_ij (J, I)."""
    wa = weights * alpha_i
    return s @ wa, (s * wa) @ s.T


def solve_by_market(A, b):
    """x_t = A_t⁻¹ b_t for every market t (A: (T, J, J), b: (T, J)), one market after another.

    Not ``jnp.linalg.solve`` on the whole batch: jaxlib's batched LAPACK kernels split a batch
    over XLA's intra-op thread pool and block the pool worker that called them until the pieces
    are done. When every worker runs such a kernel at once — two independent batched solves in
    one program on a two-core machine — no worker is left to run the pieces and the process
    deadlocks (jaxlib 0.10: both ``tf_XLAEigen`` workers parked in ``ParallelBatchMap`` →
    ``BlockingCounter::Wait`` under ``lapack_dgetrf_ffi``, the main thread in
    ``BlockUntilReady``). A single matrix per call runs inline, so ``lax.map`` cannot deadlock;
    the markets' solves are a small part of the objective's cost.
    """
    return jax.lax.map(lambda ab: jnp.linalg.solve(ab[0], ab[1]), (A, b))


def _nest_terms(delta, rho_j, nest, mask, n_nests: int):
    """exp(δ_j/(1−ρ) − m) (J,), D_h e^(−m) (H,) and log D_h^(1−ρ_h) (H,; −∞ for empty nests)."""
    scale = 1.0 - rho_j
    v = jnp.where(mask, delta / scale, -jnp.inf)
    m = jnp.max(v)
    ev = jnp.where(mask, jnp.exp(v - m), 0.0)
    Dh = jax.ops.segment_sum(ev, nest, num_segments=n_nests)  # scaled by exp(-m)
    rho_h = jax.ops.segment_max(jnp.where(mask, rho_j, -jnp.inf), nest, num_segments=n_nests)
    present = Dh > 0
    scale_h = 1.0 - jnp.where(present, rho_h, 0.0)
    # log of D_h^(1−ρ_h) with the exp(m) factor restored
    log_inclusive = jnp.where(present, scale_h * (jnp.log(jnp.where(present, Dh, 1.0)) + m),
                              -jnp.inf)
    return ev, Dh, log_inclusive


def nested_logit_shares(delta, rho_j, nest, mask, n_nests: int):
    """Nested-logit shares (J,) given δ, each product's ρ of its nest and its nest code.

    Examples
    --------
    Two products in one nest with ρ = 0.5:

    >>> import jax.numpy as jnp
    >>> from structural.market.demand import nested_logit_shares
    >>> s = nested_logit_shares(jnp.array([1.0, 0.0]), jnp.array([0.5, 0.5]), jnp.array([0, 0]),
    ...                         jnp.array([True, True]), n_nests=1)
    >>> [round(float(v), 4) for v in s]
    [0.6547, 0.0886]
    """
    ev, Dh, log_inclusive = _nest_terms(delta, rho_j, nest, mask, n_nests)
    top = jnp.maximum(jnp.max(log_inclusive), 0.0)
    denom = jnp.exp(-top) + jnp.sum(jnp.where(Dh > 0, jnp.exp(log_inclusive - top), 0.0))
    within = ev / jnp.where(mask, Dh[nest], 1.0)
    nest_share = jnp.exp(log_inclusive[nest] - top) / denom
    return jnp.where(mask, within * nest_share, 0.0)


def nested_logit_inclusive_value(delta, rho_j, nest, mask, n_nests: int):
    """The expected maximum utility of the nested logit, log(1 + Σ_h D_h^(1−ρ_h)) with
    D_h = Σ_{k∈h} exp(δ_k/(1−ρ_h)) (McFadden 1978); divided by −α it is the consumer surplus
    per consumer (Small and Rosen 1981), as PyBLP's ``compute_consumer_surpluses`` computes it.

    Examples
    --------
    With ρ = 0 it is the logit's log(1 + Σ_j exp δ_j):

    >>> import jax.numpy as jnp
    >>> from structural.market.demand import nested_logit_inclusive_value
    >>> d = jnp.array([1.0, 0.0, -1.0])
    >>> v = nested_logit_inclusive_value(d, jnp.zeros(3), jnp.array([0, 0, 1]),
    ...                                  jnp.array([True, True, True]), n_nests=2)
    >>> round(float(v), 6), round(float(jnp.log1p(jnp.exp(d).sum())), 6)
    (1.626523, 1.626523)
    """
    _, _, log_inclusive = _nest_terms(delta, rho_j, nest, mask, n_nests)
    return jnp.logaddexp(0.0, jax.nn.logsumexp(log_inclusive))


def nested_share_jacobian(delta, rho_j, nest, mask, n_nests: int):
    """∂s_j/∂δ_k (J, J) of the nested logit in closed form (Berry 1994, eq. 28; Cardell 1997),
    s_k|g = s_k / Σ_{l∈g} s_l the share within the nest g:

        ∂s_j/∂δ_j = s_j [1/(1−ρ) − ρ/(1−ρ) s_j|g − s_j]
        ∂s_j/∂δ_k = −s_j [ρ/(1−ρ) s_k|g + s_k]   (k ≠ j in j's nest g)
        ∂s_j/∂δ_k = −s_j s_k                      (k in another nest)

    Zero on padded products. Prices enter δ linearly, so ∂s/∂p' = α ∂s/∂δ'.

    Examples
    --------
    With ρ = 0 it is the logit's diag(s) − s s':

    >>> import jax.numpy as jnp
    >>> from structural.market.demand import nested_logit_shares, nested_share_jacobian
    >>> d, m, h = jnp.array([1.0, 0.0]), jnp.array([True, True]), jnp.array([0, 0])
    >>> D = nested_share_jacobian(d, jnp.zeros(2), h, m, n_nests=1)
    >>> s = nested_logit_shares(d, jnp.zeros(2), h, m, n_nests=1)
    >>> bool(jnp.allclose(D, jnp.diag(s) - jnp.outer(s, s)))
    True
    """
    s = nested_logit_shares(delta, rho_j, nest, mask, n_nests)
    s_g = jax.ops.segment_sum(s, nest, num_segments=n_nests)[nest]
    within = s / jnp.where(mask & (s_g > 0), s_g, 1.0)
    same = (nest[:, None] == nest[None, :]) & mask[:, None] & mask[None, :]
    r = rho_j / (1.0 - rho_j)
    D = (jnp.diag(s / (1.0 - rho_j)) - jnp.where(same, r[:, None] * s[:, None] * within[None, :],
                                                   0.0) - s[:, None] * s[None, :])
    return jnp.where(mask[:, None] & mask[None, :], D, 0.0)


def nested_share_price_terms(delta, rho_j, nest, mask, n_nests: int, alpha):
    """Λ (J,) and Γ (J, J) of the nested logit with ∂s/∂p' = diag(Λ) − Γ (PyBLP's decomposition
    for nests): Λ_j = α s_j/(1−ρ_j), Γ_jk = α [s_j s_k + 1{h(j)=h(k)} ρ/(1−ρ) s_j s_k|h].

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from structural.market.demand import nested_share_jacobian, nested_share_price_terms
    >>> d, m, h = jnp.array([1.0, 0.0]), jnp.array([True, True]), jnp.array([0, 0])
    >>> lam, gam = nested_share_price_terms(d, jnp.full(2, 0.5), h, m, 1, -2.0)
    >>> bool(jnp.allclose(jnp.diag(lam) - gam, -2.0 * nested_share_jacobian(d, jnp.full(2, 0.5),
    ...                                                                      h, m, 1)))
    True
    """
    s = nested_logit_shares(delta, rho_j, nest, mask, n_nests)
    lam = jnp.where(mask, alpha * s / (1.0 - rho_j), 0.0)
    gam = jnp.diag(lam) - alpha * nested_share_jacobian(delta, rho_j, nest, mask, n_nests)
    return lam, gam
