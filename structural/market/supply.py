"""Multi-product Bertrand–Nash pricing: markups, marginal costs and equilibrium prices.

Firm f sets the prices of its products J_f to maximise Σ_{j∈J_f} (p_j − c_j) s_j(p). The
first-order conditions, stacked over products with the ownership matrix O (O_jk = 1 when j and k
have the same owner), are s + (O ∘ ∂s/∂p')'(p − c) = 0, so the markups are

    η = p − c = −(O ∘ (∂s/∂p')')⁻¹ s          (BLP 1995, eq. 3.6; Nevo 2000)

For the mixed-logit family ∂s/∂p' = Λ − Γ with Λ = diag(Σ_i w_i α_i s_ij) and
Γ_jk = Σ_i w_i α_i s_ij s_ik. Counterfactual equilibria (a merger changes O, a cost shock c, a
tax the cost the firm faces, entry or exit the product set) solve the ζ-markup fixed point of
Morrow and Skerlos (2011), p ← c + ζ(p),

    ζ(p) = Λ⁻¹ (O ∘ Γ)'(p − c) − Λ⁻¹ s,

which converges where iterating on the FOC directly need not (Conlon and Gortmaker 2020, §3.6).
The iteration is accelerated by SQUAREM (Varadhan and Roland 2008) with its step bounded from 1
(:func:`~structural.market.inversion.squarem`), and a market whose residual stops falling (a
cycle or a drift: no equilibrium, e.g. when some consumers' demand slopes up) can be reported not
converged after ``patience`` steps instead of running to ``max_iterations`` (the merger draws).
The nested logit has the same decomposition with Λ_j = α s_j/(1−ρ_j) and Γ_jk = α [s_j s_k +
1{same nest} ρ/(1−ρ) s_j s_k|h] (:func:`nested_equilibrium_prices`).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from structural.market.demand import (
    _price_terms,
    choice_probabilities,
    mixed_logit_shares,
    nested_logit_shares,
    nested_share_price_terms,
    solve_by_market,
)
from structural.market.inversion import _squarem_init, _squarem_running, _squarem_step, squarem

__all__ = ["bertrand_markups", "mixed_logit_markups", "owners", "ownership"]

#: tolerance on ‖ζ(p) + c − p‖∞ per market of every equilibrium solved here
_EQUILIBRIUM_ATOL = 1e-12
#: SQUAREM's first bound on its step length here (:func:`~structural.market.inversion.squarem`)
_STEP_MAX = 1.0


def ownership(firms, mask):
    """O_jk = 1 when products j and k (both real) have the same firm code.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from structural.market.supply import ownership
    >>> ownership(jnp.array([0, 0, 1]), jnp.array([True, True, True])).astype(int)
    Array([[1, 1, 0],
           [1, 1, 0],
           [0, 0, 1]], dtype=int64)
    """
    return (firms[:, None] == firms[None, :]) & mask[:, None] & mask[None, :]


def _foc_matrix(lam, gam, firms, mask):
    """O ∘ (Λ − Γ)' for one market, the identity on padded products."""
    own = ownership(firms, mask)
    return jnp.where(own, (jnp.diag(lam) - gam).T, 0.0) + jnp.diag(~mask)


def bertrand_markups(lam, gam, shares, firms, mask):
    """η = −(O ∘ (Λ − Γ)')⁻¹ s in every market: arrays (T, J) and (T, J, J); padded get 0.

    The T linear systems are solved one market after another
    (:func:`~structural.market.demand.solve_by_market`), never as one batched LAPACK call.

    Examples
    --------
    Single-product firms under logit demand: the markup is 1 / (α (1 − s_j)) (one market):

    >>> import jax.numpy as jnp
    >>> from structural.market.demand import share_price_terms
    >>> from structural.market.supply import bertrand_markups
    >>> delta, mask = jnp.array([1.0, 0.0]), jnp.array([True, True])
    >>> lam, gam = share_price_terms(delta, jnp.zeros((2, 1)), jnp.ones(1), mask, jnp.array([-2.0]))
    >>> s = jnp.exp(delta) / (1 + jnp.exp(delta).sum())
    >>> eta = bertrand_markups(lam[None], gam[None], s[None], jnp.array([[0, 1]]), mask[None])
    >>> [round(float(v), 4) for v in eta[0]], [round(float(1 / (2 * (1 - v))), 4) for v in s]
    ([1.1796, 0.6345], [1.1796, 0.6345])
    """
    A = jax.vmap(_foc_matrix)(lam, gam, firms, mask)
    return jnp.where(mask, -solve_by_market(A, jnp.where(mask, shares, 0.0)), 0.0)


def _by_owner(x, firms, mask):
    """O x for one market, x (J,) or (J, I): each real product's sum of x over the products its
    firm owns (a segment sum per firm, J·I work where the matrix product with O is J²·I)."""
    # padded products (one code of their own) share a segment, so real products' sums never
    # include them
    owner = owners(firms)
    summed = jax.ops.segment_sum(x, owner, num_segments=mask.shape[0])[owner]
    return jnp.where(mask if x.ndim == 1 else mask[:, None], summed, 0.0)


def _lu_by_market(matrix, *arrays):
    """LU factors of every market's matrix ``matrix(*row)`` (``row``: the market's slices of
    ``arrays``) and their row permutations, one market after another (as
    :func:`~structural.market.demand.solve_by_market`, for the same reason).

    Each matrix is formed inside the loop, not as a (T, J, J) batch before it: with fewer
    (T, J, J) arrays held, BLP's gradient program keeps its temporaries under 32 MiB (see
    :func:`~structural.market.inversion._share_jacobian_factor`). The permutation, not
    LAPACK's pivots: ``jax.scipy.linalg.lu_solve`` turns pivots into a permutation at every
    solve, a loop of J steps run as J tiny programs per market (BLP 1995: 6,000 a gradient
    evaluation, more time than the factorisations), where ``jax.lax.linalg.lu`` returns it
    with the factors.
    """
    return jax.lax.map(lambda a: jax.lax.linalg.lu(matrix(*a))[::2], arrays)


def _lu_solve_by_market(lu, perm, b):
    """x_t = A_t⁻¹ b_t from :func:`_lu_by_market`'s factors, one market after another: the
    triangular solves of ``jax.scipy.linalg.lu_solve``, on the rows of b permuted."""
    def solve(a):
        lu_t, perm_t, b_t = a
        x = jax.lax.linalg.triangular_solve(lu_t, b_t[perm_t][:, None], left_side=True,
                                            lower=True, unit_diagonal=True)
        return jax.lax.linalg.triangular_solve(lu_t, x, left_side=True, lower=False)[:, 0]

    return jax.lax.map(solve, (lu, perm, b))


def _mixed_markups(delta, mu, weights, alpha_i, mask, firms):
    """η of :func:`mixed_logit_markups` with what its derivative reuses: s_ij and A's LU."""
    s_ij = jax.vmap(choice_probabilities)(delta, mu, mask)
    shares = jax.vmap(mixed_logit_shares)(delta, mu, weights, mask)
    lu, perm = _lu_by_market(lambda s, w, a, f, m: _foc_matrix(*_price_terms(s, w, a), f, m),
                             s_ij, weights, alpha_i, firms, mask)
    eta = jnp.where(mask, -_lu_solve_by_market(lu, perm, jnp.where(mask, shares, 0.0)), 0.0)
    return eta, s_ij, lu, perm


def mixed_logit_markups(delta, mu, weights, alpha_i, mask, firms):
    """Bertrand–Nash markups of the mixed logit from utilities, with an analytic derivative.

    The value is :func:`bertrand_markups` of :func:`~structural.market.demand.share_price_terms`
    and the shares: η = −A⁻¹ s, A = O ∘ (Λ − Γ)'. Its derivative is the implicit function
    theorem on A(θ) η = −s (one LU factorisation per market serves value and derivative),

        dη = −A⁻¹ (ds + dA η),
        (dA η)_j = dΛ_j η_j − Σ_i [d(wα)_i s_ij P_ij + (wα)_i (ds_ij P_ij + s_ij Q_ij)],

    with P_i = O (s_i ∘ η), Q_i = O (ds_i ∘ η) (sums over each firm's products) and
    ds_ij = s_ij (du_ij − Σ_k s_ik du_ik), du = dδ + dμ: J·I work per market where
    differentiating through Γ costs J²·I (BLP's gradient spent most of its time there), and
    reverse mode transposes it.

    Parameters
    ----------
    delta : (T, J)
        Mean utilities; mu (T, J, I) the agents' utilities μ_ij; weights (T, I).
    alpha_i : (T, I)
        Each agent's price coefficient α + (Σ ν_i + Π D_i)_price.
    mask, firms : (T, J)
        Real products and their owners' codes.

    Returns
    -------
    (T, J) markups p − c, 0 on padded products.

    Examples
    --------
    The same markups as :func:`bertrand_markups` (one market, two single-product firms):

    >>> import jax.numpy as jnp
    >>> from structural.market.demand import mixed_logit_shares, share_price_terms
    >>> from structural.market.supply import bertrand_markups, mixed_logit_markups
    >>> d, mu, w = jnp.array([[1.0, 0.0]]), jnp.zeros((1, 2, 1)), jnp.ones((1, 1))
    >>> a, mask, firms = jnp.full((1, 1), -2.0), jnp.ones((1, 2), bool), jnp.array([[0, 1]])
    >>> lam, gam = share_price_terms(d[0], mu[0], w[0], mask[0], a[0])
    >>> s = mixed_logit_shares(d[0], mu[0], w[0], mask[0])
    >>> bool(jnp.allclose(mixed_logit_markups(d, mu, w, a, mask, firms),
    ...                   bertrand_markups(lam[None], gam[None], s[None], firms, mask)))
    True
    """
    return _markups_with_derivative(delta, mu, weights, alpha_i, mask, firms)


@jax.custom_jvp
def _markups_with_derivative(delta, mu, weights, alpha_i, mask, firms):
    """:func:`mixed_logit_markups` with the derivative its docstring states (a function, not the
    ``custom_jvp`` object, carries the public name and its docstring)."""
    return _mixed_markups(delta, mu, weights, alpha_i, mask, firms)[0]


def _markups_tangent_rhs(eta, s_ij, weights, alpha_i, firms, mask, d_delta, d_mu, d_w, d_a):
    """ds + dA η for one market (:func:`mixed_logit_markups`), linear in the tangents."""
    # padded products' tangents are never read: a NaN or inf there must not spread
    du = jnp.where(mask[:, None], d_delta[:, None] + d_mu, 0.0)
    ds_ij = s_ij * (du - jnp.sum(s_ij * du, axis=0))
    wa, d_wa = weights * alpha_i, d_w * alpha_i + weights * d_a
    P = _by_owner(s_ij * eta[:, None], firms, mask)
    Q = _by_owner(ds_ij * eta[:, None], firms, mask)
    d_s = ds_ij @ weights + s_ij @ d_w
    d_lam = ds_ij @ wa + s_ij @ d_wa
    d_gam_eta = (s_ij * P) @ d_wa + (ds_ij * P + s_ij * Q) @ wa
    return d_s + d_lam * eta - d_gam_eta


@_markups_with_derivative.defjvp
def _mixed_logit_markups_jvp(primals, tangents):
    _, _, weights, alpha_i, mask, firms = primals
    d_delta, d_mu, d_w, d_a = tangents[:4]
    eta, s_ij, lu, perm = _mixed_markups(*primals)
    rhs = jax.vmap(_markups_tangent_rhs)(eta, s_ij, weights, alpha_i, firms, mask,
                                         d_delta, d_mu, d_w, d_a)
    return eta, jnp.where(mask, -_lu_solve_by_market(lu, perm, rhs), 0.0)


def _market_terms(prices, p0, delta0, mu0, weights, mask, alpha, alpha_rc):
    """Shares, Λ, Γ at ``prices`` given δ, μ at the observed prices ``p0`` (prices linear)."""
    dp = jnp.where(mask, prices - p0, 0.0)
    delta = delta0 + alpha * dp
    mu = mu0 + dp[:, None] * alpha_rc[None, :]
    s_ij = choice_probabilities(delta, mu, mask)
    return (s_ij @ weights, *_price_terms(s_ij, weights, alpha + alpha_rc), s_ij)


def owners(firms):
    """Each product's firm as the first slot that firm holds (one market's firm codes (J,)):
    segment ids below J, for sums over each firm's products (``jax.ops.segment_sum``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from structural.market.supply import owners
    >>> owners(jnp.array([3, 3, 1, 3, -1, -1]))
    Array([0, 0, 2, 0, 4, 4], dtype=int64)
    """
    return jnp.argmax(firms[None, :] == firms[:, None], axis=1)


def _zeta_map(costs, owner, p0, delta0, mu0, weights, wa, mask, alpha, alpha_rc, p):
    """One market's ζ-markup map p ↦ c + ζ(p) (padded products stay at p0); ``owner`` from
    :func:`owners`, ``wa`` = w_i α_i."""
    dp = jnp.where(mask, p - p0, 0.0)
    s_ij = choice_probabilities(delta0 + alpha * dp, mu0 + dp[:, None] * alpha_rc[None, :], mask)
    lam_safe = jnp.where(mask, s_ij @ wa, -1.0)
    # (O ∘ Γ)'(p − c) without forming Γ (J² per agent): Γ is symmetric, so product j's entry
    # is Σ_i w_i α_i s_ij Σ_{k owned with j} s_ik (p_k − c_k), a sum over firms per agent
    margin = s_ij * jnp.where(mask, p - costs, 0.0)[:, None]
    by_firm = jax.ops.segment_sum(margin, owner, num_segments=mask.shape[0])
    zeta = ((s_ij * by_firm[owner]) @ wa - s_ij @ weights) / lam_safe
    return jnp.where(mask, costs + zeta, p0)


def _zeta_leading(data, p):
    """:func:`_zeta_map` of a market whose arguments ``data`` cover the first slots of ``p``
    only (every later slot padding): those slots are mapped, the rest stay as they are (where
    :func:`_zeta_map` would give their observed prices, which is where they start and, since
    their residual is zero, where SQUAREM keeps them). The padded products' terms of the
    map's sums are exact zeros, so the sums over fewer slots are the same up to rounding:
    XLA:CPU's vectorised reductions may group the terms differently for another slot count
    (1 ulp seen for 7 products in 8 slots and 12 in 16, I = 200; equal for 20 in 24 and 30 to
    140 in multiples of 8). BLP's classes (104 and 150 slots) and Nevo's single class take
    the same iterates bit for bit (every CSV byte-identical); elsewhere a draw at the edge of
    the stopping rule could end one iteration apart."""
    n = data[7].shape[0]  # the mask's slots
    if n == p.shape[0]:
        return _zeta_map(*data, p)
    return jnp.concatenate([_zeta_map(*data, p[:n]), p[n:]])


def _zeta_market(costs, firms, p0, delta0, mu0, weights, mask, alpha, alpha_rc, start, atol,
                 max_iterations, patience):
    zeta_map = partial(_zeta_map, costs, owners(firms), p0, delta0, mu0, weights,
                       weights * (alpha + alpha_rc), mask, alpha, alpha_rc)
    return _iterate(zeta_map, start, mask, atol, max_iterations, patience)


def _iterate(zeta_map, p0, mask, atol, max_iterations, patience):
    """p = zeta_map(p) from p0 by SQUAREM with its step bounded adaptively from 1
    (:func:`~structural.market.inversion.squarem`): (p, iterations, converged)."""
    return squarem(zeta_map, p0, atol, max_iterations, step_max=_STEP_MAX, patience=patience)


def queued_equilibria(fetch, order, groups, dead, lanes, max_iterations, patience,
                      atol=_EQUILIBRIUM_ATOL):
    """The ζ-markup equilibria of many independent markets (problem k: one market of one merger
    draw), ``lanes`` markets at a time, each taken from the queue as a lane frees up, by the
    SQUAREM iteration of :func:`equilibrium_prices` (step bounded from 1).

    A vmap of the per-market iterations (:func:`equilibrium_prices`) runs every market until the
    slowest one stops; here a lane whose market stopped takes the next one, so each market costs
    its own steps. A problem's iterates are those :func:`equilibrium_prices` takes (the markets
    are independent). Problems are grouped (a draw's markets): a group fails with its first
    market that fails, and its markets not yet started are skipped (so a queue ``order`` that
    puts the markets likely to fail first skips the most).

    Parameters
    ----------
    fetch : callable
        ``fetch(k)``: problem k's ζ-map arguments (:func:`_zeta_map`'s, before p) and start;
        the arguments may cover the first slots of the start only, the same number for every
        problem, where the rest are padding in every market (:func:`_zeta_leading`).
    order : (n,) int
        The problems in the order they are taken.
    groups : (n,) int
        Each problem's group; dead (G,) bool: the groups not to solve.
    lanes : int
        Markets iterated at once.
    max_iterations, patience, atol
        As in :func:`equilibrium_prices`.

    Returns
    -------
    prices (n, J), converged (n,), dead (G,): the groups with a problem that failed (or dead
    from the start). A market that ran and failed (cap, stall or a non-finite iterate) keeps its
    last iterate (converged False); only the markets skipped (never started: their group was
    dead) or stopped while running (their group failed meanwhile) are NaN.
    """
    n, G = order.shape[0], dead.shape[0]
    patience = max_iterations if patience is None else patience
    _, start0 = fetch(order[0])
    state = _queue_refill(fetch, order, groups, atol, max_iterations, patience, (
        jnp.asarray(0), jnp.zeros(lanes, int), jnp.zeros(lanes, bool), jnp.zeros(lanes, bool),
        _lane_init(jnp.broadcast_to(start0, (lanes, *start0.shape))),
        jnp.full((n + 1, *start0.shape), jnp.nan), jnp.zeros(n + 1, bool), dead))

    def body(state):
        pos, k, active, running, sq, out_x, out_conv, dead = state
        stepped = jax.vmap(lambda data, st: _squarem_step(partial(_zeta_leading, data), st,
                                                          atol))(jax.vmap(fetch)(k)[0], sq)
        sq = jax.tree.map(lambda a, b: jnp.where(_lanes_as(running, a), a, b), stepped, sq)
        running = active & _queue_running(sq, groups[k], dead, atol, max_iterations, patience)
        finished = active & ~running
        conv = (sq[2] < atol) & jnp.all(jnp.isfinite(sq[0]), axis=1)
        at = jnp.where(finished, k, n)
        out_x, out_conv = out_x.at[at].set(sq[0]), out_conv.at[at].set(conv)
        dead = dead.at[jnp.where(finished & ~conv, groups[k], G)].set(True, mode="drop")
        running = running & ~dead[groups[k]]  # the rest of a failed draw stops here
        return _queue_refill(fetch, order, groups, atol, max_iterations, patience,
                             (pos, k, running, running, sq, out_x, out_conv, dead))

    _, _, _, _, _, out_x, out_conv, dead = jax.lax.while_loop(lambda st: jnp.any(st[2]), body,
                                                              state)
    return out_x[:n], out_conv[:n], dead


def _lane_init(starts):
    """SQUAREM's starting state (as :func:`_iterate`'s) of each lane's start."""
    return jax.vmap(lambda x: jax.tree.map(jnp.asarray, _squarem_init(x, _STEP_MAX)))(starts)


def _lanes_as(flag, a):
    """A per-lane flag (lanes,) shaped to broadcast against ``a`` (lanes, ...)."""
    return flag.reshape(flag.shape + (1,) * (a.ndim - 1))


def _queue_running(sq, group, dead, atol, max_iterations, patience):
    """Lanes whose SQUAREM iteration goes on (and whose group has not failed)."""
    go = jax.vmap(lambda st: _squarem_running(st, atol, max_iterations, patience))(sq)
    return go & ~dead[group]


def _queue_refill(fetch, order, groups, atol, max_iterations, patience, state):
    """Lanes not running take the next problems of the queue whose groups are alive."""
    pos, k, active, running, sq, out_x, out_conv, dead = state
    n = order.shape[0]
    free = ~running
    lanes = free.shape[0]
    alive = (jnp.arange(n) >= pos) & ~dead[groups[order]]
    nxt = jnp.nonzero(alive, size=lanes, fill_value=n)[0]
    rank = jnp.cumsum(free) - 1
    taken = jnp.where(free, nxt[jnp.clip(rank, 0, lanes - 1)], n)
    filled = free & (taken < n)
    k = jnp.where(filled, order[jnp.minimum(taken, n - 1)], k)
    # every position before the last taken is taken or of a dead group: never needed again
    pos = jnp.maximum(pos, jnp.max(jnp.where(filled, taken + 1, 0)))
    fresh = _lane_init(jax.vmap(fetch)(k)[1])
    sq = jax.tree.map(lambda a, b: jnp.where(_lanes_as(filled, a), a, b), fresh, sq)
    active = running | filled
    running = running | (filled & _queue_running(sq, groups[k], dead, atol, max_iterations,
                                                 patience))
    return pos, k, active, running, sq, out_x, out_conv, dead


@partial(jax.jit, static_argnames=("max_iterations", "patience"))
def equilibrium_prices(costs, firms, prices, delta, mu, weights, mask, alpha, alpha_rc,
                       atol=_EQUILIBRIUM_ATOL, max_iterations=10000, patience=None, start=None):
    """Bertrand–Nash prices in every market by the ζ-markup fixed point.

    Parameters
    ----------
    costs, firms, prices, delta : (T, J)
        Marginal costs, owner codes after the change, observed prices and δ at observed prices.
    mu : (T, J, I)
        Agent utilities at the observed prices; weights (T, I); mask (T, J).
    alpha : float
        Linear price coefficient; alpha_rc (T, I) the agents' random price coefficients.
    atol : float
        Tolerance on ‖ζ(p) + c − p‖∞ per market.
    max_iterations : int
        SQUAREM steps (three evaluations of the map each) before a market is declared failed.
    patience : int, optional
        Steps in a row without a tenfold fall of the residual before a market is declared
        failed (stalled); None (the default, for a point counterfactual: a slow market is
        not given up early): only ``max_iterations``. (The mixed-logit merger draws are solved
        by :func:`queued_equilibria` with :data:`structural.market.post.DRAW_PATIENCE`; the
        nested-logit draws pass it to :func:`nested_equilibrium_prices`.)
    start : (T, J), optional
        Where the iteration starts (default the observed prices; taken only where ``mask``
        holds): where a market has several equilibria, the one found is the one the
        iteration reaches from here.

    Returns
    -------
    prices (T, J), iterations (T,), converged (T,)
    """
    start = prices if start is None else jnp.where(mask, start, prices)
    return jax.vmap(_zeta_market, in_axes=(0, 0, 0, 0, 0, 0, 0, None, 0, 0, None, None, None))(
        costs, firms, prices, delta, mu, weights, mask, alpha, alpha_rc, start, atol,
        max_iterations, patience)


def _zeta_nested_market(costs, firms, p0, delta0, rho_j, nest, mask, alpha, n_nests, start,
                        atol, max_iterations, patience):
    own = ownership(firms, mask)

    def zeta_map(p):
        delta = delta0 + alpha * jnp.where(mask, p - p0, 0.0)
        s = nested_logit_shares(delta, rho_j, nest, mask, n_nests)
        lam, gam = nested_share_price_terms(delta, rho_j, nest, mask, n_nests, alpha)
        zeta = (jnp.where(own, gam, 0.0).T @ jnp.where(mask, p - costs, 0.0) - s) / jnp.where(
            mask, lam, -1.0)
        return jnp.where(mask, costs + zeta, p0)

    return _iterate(zeta_map, start, mask, atol, max_iterations, patience)


@partial(jax.jit, static_argnames=("n_nests", "max_iterations", "patience"))
def nested_equilibrium_prices(costs, firms, prices, delta, rho_j, nest, mask, alpha, n_nests,
                              atol=_EQUILIBRIUM_ATOL, max_iterations=10000, patience=None,
                              start=None):
    """Bertrand–Nash prices of the nested logit in every market by the ζ-markup fixed point.

    With nests ∂s/∂p' = Λ − Γ still holds, with Λ_j = α s_j/(1−ρ_j) and Γ_jk = α [s_j s_k +
    1{h(j)=h(k)} ρ/(1−ρ) s_j s_k|h] (:func:`~structural.market.demand.nested_share_price_terms`),
    so the ζ-markup map p ← c + Λ⁻¹[(O ∘ Γ)'(p − c) − s] is the mixed logit's (as in PyBLP).

    Parameters
    ----------
    costs, firms, prices, delta : (T, J)
        Marginal costs, owner codes after the change, observed prices and δ at observed prices.
    rho_j, nest : (T, J)
        Each product's nesting parameter and nest code; mask (T, J) the products present.
    alpha : float
        The price coefficient; n_nests the number of nest codes.
    atol, max_iterations, patience, start
        As in :func:`equilibrium_prices`.

    Returns
    -------
    prices (T, J), iterations (T,), converged (T,)

    Examples
    --------
    One market, two single-product firms in one nest: at the costs that the observed prices
    imply, the equilibrium is the observed prices.

    >>> import jax.numpy as jnp
    >>> from structural.market.demand import nested_share_price_terms, nested_logit_shares
    >>> from structural.market.supply import bertrand_markups, nested_equilibrium_prices
    >>> d, p = jnp.array([[1.0, 0.5]]), jnp.array([[2.0, 1.5]])
    >>> rho, nest, firms = jnp.full((1, 2), 0.6), jnp.zeros((1, 2), int), jnp.array([[0, 1]])
    >>> mask = jnp.ones((1, 2), bool)
    >>> lam, gam = nested_share_price_terms(d[0], rho[0], nest[0], mask[0], 1, -1.0)
    >>> s = nested_logit_shares(d[0], rho[0], nest[0], mask[0], 1)
    >>> c = p - bertrand_markups(lam[None], gam[None], s[None], firms, mask)
    >>> new, it, ok = nested_equilibrium_prices(c, firms, p, d, rho, nest, mask, -1.0, 1)
    >>> bool(ok[0]), bool(jnp.allclose(new, p, atol=1e-10))
    (True, True)
    """
    start = prices if start is None else jnp.where(mask, start, prices)
    return jax.vmap(_zeta_nested_market,
                    in_axes=(0, 0, 0, 0, 0, 0, 0, None, None, 0, None, None, None))(
        costs, firms, prices, delta, rho_j, nest, mask, alpha, n_nests, start, atol,
        max_iterations, patience)
