"""Share inversion δ(θ): the mean utilities that equate model shares to observed shares.

Berry (1994) and BLP (1995) show that δ ↦ δ + log s_obs − log s(δ, θ) is a contraction; its fixed
point is solved per market, accelerated by SQUAREM (Varadhan and Roland 2008, scheme S3; the default
of Conlon and Gortmaker 2020), on markets padded to a common size: all at once (``vmap`` of a
``while_loop``) where their arrays fit in a core's cache together, else one market after another
(``lax.map``: each market iterates until it converges), the same iterates either way. Each market
reports its iterations and whether ‖F(δ) − δ‖∞ fell below the tolerance. The contraction's shares
reuse exp(μ_ij − c_i), computed once per θ (PyBLP's contraction likewise reuses exp(μ)): a step
takes J exponentials and two (J, I) products instead of J·I exponentials, the same shares to
rounding (``python benchmarks/demand.py --inversion`` times both).

Derivatives never go through the iterations: :func:`implicit_delta` attaches the implicit-function
theorem, dδ/dθ = −(∂s/∂δ')⁻¹ ∂s/∂θ', per market, as a ``custom_jvp`` (reverse mode transposes it).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from structural.market.demand import choice_probabilities

# The public API is the package's: estimate_demand inverts the shares with these.
__all__: list[str] = []


def _exp_mu(mu, mask):
    """exp(μ_ij − c_i) (J, I) with c_i = max_j μ_ij over real products (zero on padding), and c
    (I,): the part of exp(δ_j + μ_ij) that does not change while δ is solved, computed once per
    θ instead of once per contraction step (as PyBLP's contraction reuses exp(μ))."""
    c = jnp.max(jnp.where(mask[:, None], mu, -jnp.inf), axis=0)
    c = jnp.where(jnp.isfinite(c), c, 0.0)
    return jnp.where(mask[:, None], jnp.exp(mu - c), 0.0), c


def _shares_exp(delta, exp_mu, c, weights, mask):
    """Market shares s_j = Σ_i w_i exp(δ_j + μ_ij) / (1 + Σ_k exp(δ_k + μ_ik)) from exp(μ − c)
    (:func:`_exp_mu`): J exponentials and two (J, I) products per step instead of J·I
    exponentials. Overflow-safe as :func:`~structural.market.demand.choice_probabilities` is
    (not underflow-safe as it is: e_j and E_ij are scaled apart, so a share whose δ_j lies ~745
    below the largest δ while its μ_ij lies as far above is 0 here):
    with d = max_j δ_j and a_i = d + c_i ≥ max_j (δ_j + μ_ij), every exponential taken is of a
    non-positive number: e_j = exp(δ_j − d), f_i = exp(a_i − n_i) and exp(−n_i), n_i = max(a_i,
    0), and s_j = e_j Σ_i E_ij w_i f_i / (exp(−n_i) + f_i Σ_k e_k E_ik)."""
    d = jnp.max(jnp.where(mask, delta, -jnp.inf))
    e = jnp.where(mask, jnp.exp(delta - d), 0.0)
    a = d + c
    n = jnp.maximum(a, 0.0)
    f = jnp.exp(a - n)
    g = weights * f / (jnp.exp(-n) + f * (e @ exp_mu))
    return e * (exp_mu @ g)


def _contraction(delta, log_s, exp_mu, c, weights, mask):
    s = _shares_exp(delta, exp_mu, c, weights, mask)
    return jnp.where(mask, delta + log_s - jnp.log(jnp.where(mask, s, 1.0)), 0.0)


def _squarem_market(delta0, log_s, mu, weights, mask, atol, max_iterations):
    exp_mu, c = _exp_mu(mu, mask)
    F = partial(_contraction, log_s=log_s, exp_mu=exp_mu, c=c, weights=weights, mask=mask)
    return squarem(F, delta0, atol, max_iterations)


def squarem(F, x0, atol, max_iterations, *, step_max=jnp.inf, patience=None):
    """The fixed point x = F(x) by SQUAREM (Varadhan and Roland 2008, scheme S3).

    Each step evaluates F three times: r = F(x) − x, v = F(F(x)) − 2F(x) + x, step length
    α = max(1, ‖r‖/‖v‖), and x ← F(x + 2αr + α²v) (F(F(x)) where that is not finite). It stops
    when ‖F(x) − x‖∞ < ``atol`` (x is then kept as is: the residual was measured there).

    Parameters
    ----------
    F : callable
        The map; entries it leaves fixed (padding) stay fixed.
    x0 : array
        Starting value.
    atol : float
        Tolerance on ‖F(x) − x‖∞.
    max_iterations : int
        Steps before giving up.
    step_max : float
        Bound on α, starting value of Varadhan and Roland's adaptive bound (their
        ``step.max0``): a step that reaches the bound doubles it, a step whose extrapolation
        is not finite halves it (not below 1). A bound from 1 keeps the extrapolation near the
        simple iteration's path, so that where F has several fixed points it mostly finds the
        one the simple iteration finds: all 145 converging draws of Nevo's merger do (with
        their factor 4 one did not), but from the observed prices one of BLP's 20 did not (a
        market with another equilibrium at five times the price); nothing guarantees it, and
        the merger draws start next to the equilibrium they seek instead (from the point
        counterfactual's prices, :func:`structural.market.post.counterfactual`), where BLP's 20
        draws agree with the simple iteration to 1e-11. Infinite (the default): no bound.
    patience : int, optional
        Give up as stalled after this many steps in a row without the residual falling below a
        tenth of the residual at the last such fall (a cycle, a drift or a divergence);
        default: only ``max_iterations`` and a non-finite x stop a failing iteration.

    Returns
    -------
    x, iterations, converged (‖F(x) − x‖∞ < atol and x finite)
    """
    patience = max_iterations if patience is None else patience
    x, it, err, *_ = jax.lax.while_loop(
        lambda state: _squarem_running(state, atol, max_iterations, patience),
        lambda state: _squarem_step(F, state, atol), _squarem_init(x0, step_max))
    return x, it, (err < atol) & jnp.all(jnp.isfinite(x))


def _squarem_init(x0, step_max=jnp.inf):
    """:func:`squarem`'s state at x0: (x, steps, residual, step bound, residual at the last
    tenfold fall, steps since it)."""
    return (x0, 0, jnp.inf, jnp.asarray(step_max, x0.dtype), jnp.inf, 0)


def _squarem_running(state, atol, max_iterations, patience):
    """Whether :func:`squarem` takes another step from ``state`` (patience an int)."""
    x, it, err, _, _, since = state
    return (err >= atol) & (it < max_iterations) & (since < patience) & jnp.all(jnp.isfinite(x))


def _squarem_step(F, state, atol):
    """One step of :func:`squarem` (three evaluations of F): the state after it."""
    x, it, _, bound, mark, since = state
    x1 = F(x)
    r = x1 - x
    x2 = F(x1)
    v = x2 - 2 * x1 + x
    vv = jnp.sum(v * v)
    alpha = jnp.where(vv > 0, jnp.sqrt(jnp.sum(r * r) / jnp.where(vv > 0, vv, 1.0)), 1.0)
    alpha = jnp.clip(alpha, 1.0, bound)
    xn = F(x + 2 * alpha * r + alpha**2 * v)
    finite = jnp.all(jnp.isfinite(xn))
    xn = jnp.where(finite, xn, x2)
    bound = jnp.where(finite, jnp.where(alpha == bound, 2 * bound, bound),
                      jnp.maximum(bound / 2, 1.0))
    err = jnp.max(jnp.abs(r))
    # a converged x is kept as is: the residual was measured at x
    xn = jnp.where(err < atol, x, xn)
    progress = err < mark / 10
    return (xn, it + 1, err, bound, jnp.where(progress, err, mark),
            jnp.where(progress, 0, since + 1))


#: bytes of the markets' (J, I) arrays (μ, the shares, ...) that the share inversion and the
#: counterfactual's solvers iterate together (:func:`_markets_at_once`; a step of each touches a
#: few such arrays, which should stay in a core's cache, 2 MiB of L2 here): Nevo's 94 markets of 24
#: × 20 (361 kB) go together as one batch, BLP's 20 markets of 150 × 200 (240 kB each) one at a
#: time, which took under half the CPU of the batch (4.8 MB through each step) for its 20 merger
#: draws
_MARKET_BYTES = 3 * 2**17


def _markets_at_once(T, market):
    """Markets solved together (of ``T``) where one market's largest array is ``market`` (an
    array, or its ``jax.ShapeDtypeStruct``): as many as :data:`_MARKET_BYTES` holds, at least
    one; ``T`` exactly where all of them fit together."""
    return max(1, min(T, _MARKET_BYTES // max(1, market.size * market.dtype.itemsize)))


@partial(jax.jit, static_argnames=("max_iterations",))
def solve_delta(delta0, log_shares, mu, weights, mask, atol=1e-13, max_iterations=5000):
    """Solve the share inversion in every market at once.

    Parameters
    ----------
    delta0, log_shares : (T, J)
        Starting values and log observed shares (padded).
    mu : (T, J, I)
        Agent-specific utilities μ_ijt.
    weights : (T, I)
        Integration weights; mask : (T, J) real products.
    atol : float
        Tolerance on ‖F(δ) − δ‖∞ per market.
    max_iterations : int
        SQUAREM steps (three contraction evaluations each) before a market is declared failed.

    Returns
    -------
    delta (T, J), iterations (T,), converged (T,)
    """
    args = (delta0, log_shares, mu, weights, mask)
    T = mu.shape[0]
    if _markets_at_once(T, jax.ShapeDtypeStruct(mu.shape[1:], mu.dtype)) == T:
        # every market's exp(μ) fits in cache together
        return jax.vmap(_squarem_market, in_axes=(0, 0, 0, 0, 0, None, None))(
            *args, atol, max_iterations)
    # one market after another (lax.map), not a vmap of the while_loop: a market's exp(μ)
    # (J·I) stays in cache through its iterations and stops costing anything once it
    # converges, where the vmapped loop swept every market's exp(μ) at each step until the
    # slowest converged (BLP 1995: 3x the CPU time; Nevo's 94 small markets, 361 kB in all,
    # were 10% slower so). The same iterates, bit for bit.
    return jax.lax.map(lambda a: _squarem_market(*a, atol, max_iterations), args)


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def implicit_delta(mu_fn, theta, delta, weights, mask):
    """Return ``delta`` (a solved inversion at ``theta``) with IFT derivatives in ``theta``.

    ``mu_fn(theta)`` gives μ (T, J, I). The tangent is dδ = −(∂s/∂δ')⁻¹ (∂s/∂θ') dθ per market.
    The derivative is first order only: the tangent treats ``delta`` as the solution, not as a
    function of θ, so a second derivative through it (``jax.hessian``) lacks the terms in
    dδ·dδ' and is not δ(θ)'s Hessian.
    """
    return delta


@implicit_delta.defjvp
def _implicit_delta_jvp(mu_fn, primals, tangents):
    theta, delta, weights, mask = primals
    mu, dmu = jax.jvp(mu_fn, (theta,), (tangents[0],))
    s_ij = jax.vmap(choice_probabilities)(delta, mu, mask)
    ds = jax.vmap(_share_tangent)(s_ij, dmu, weights, mask)
    # one market after another, as demand.solve_by_market (batched LAPACK kernels deadlock),
    # ∂s/∂δ' formed inside the loop: it is never held as a (T, J, J) batch (reverse mode
    # keeps only its factors; see _share_jacobian_factor)
    ddelta = jax.lax.map(lambda a: -jax.scipy.linalg.cho_solve(
        (_share_jacobian_factor(*a[:3]), True), a[3]), (s_ij, weights, mask, ds))
    return delta, jnp.where(mask, ddelta, 0.0)


def _share_tangent(s_ij, dmu, weights, mask):
    """ds for one market: the shares' change with μ at fixed δ, from the choice probabilities
    s_ij (J, I) that :func:`_share_jacobian_factor` uses too (J·I work, no second pass through
    the exponentials): ds_j = Σ_i w_i s_ij (dμ_ij − Σ_k s_ik dμ_ik); 0 on padded products."""
    du = jnp.where(mask[:, None], dmu, 0.0)  # padded products' tangents are never read
    ds = (s_ij * (du - jnp.sum(s_ij * du, axis=0))) @ weights
    return jnp.where(mask, ds, 0.0)


def _share_jacobian_factor(s_ij, weights, mask):
    """The lower Cholesky factor of ∂s/∂δ' = diag(s) − Σ_i w_i s_i s_i' for one market, from
    its choice probabilities s_ij (J, I): dδ = −(∂s/∂δ')⁻¹ ds (:func:`_share_tangent`).

    The matrix is symmetric and strictly diagonally dominant with a positive diagonal (its row
    j: Σ_i w_i s_ij (1 − s_ij) − Σ_{k≠j} Σ_i w_i s_ij s_ik = Σ_i w_i s_ij s_i0 > 0, s_i0 the
    outside share), hence positive definite: a Cholesky factor (half LU's work, no pivots)
    solves it, and reverse mode transposes the triangular solves. Padded products get the
    identity. That needs w_i ≥ 0 (:class:`~structural.market.products.Agents` rejects negative
    weights; one would leave the factor NaN) and s_i0 > 0: as the outside shares fall to 0 the
    matrix tends to singular and the factor loses accuracy, and a NaN gradient ends L-BFGS-B as
    not converged.

    Formed market by market inside the factorisation's loop, not as a (T, J, J) batch: with
    the markups' matrices formed so too (:func:`~structural.market.supply._lu_by_market`), BLP
    1995's gradient program needs 31 MiB of temporaries instead of 38, under 32 MiB, glibc's
    largest threshold for serving an allocation by mmap: above it each evaluation mapped and
    unmapped them afresh (15 of its 51 CPU ms were page faults). The diagonal goes in by
    ``where``, not ``jnp.diag`` of a sum, which XLA fused into one reduction per entry of the
    matrix (3.5 ms an evaluation).
    """
    eye = jnp.eye(len(mask), dtype=bool)
    jac = jnp.where(eye, (s_ij @ weights)[:, None], 0.0) - (s_ij * weights) @ s_ij.T
    pad = ~mask
    jac = jnp.where(pad[:, None] | pad[None, :], eye & pad[:, None], jac)
    return jax.scipy.linalg.cho_factor(jac, lower=True)[0]
