"""The share inversion's contraction on exp(μ) reused across steps equals the one that
exponentiates δ + μ at every step (the mixed-logit shares of structural.market.demand); its
implicit derivative equals the dense implicit-function formula and central differences; the
markets go through it together where they fit the cache budget, else one after another, with the
same result."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from structural.market import inversion
from structural.market.demand import mixed_logit_shares
from structural.market.inversion import _exp_mu, _shares_exp, implicit_delta, solve_delta

_direct = jax.jit(mixed_logit_shares)
_fast = jax.jit(lambda delta, mu, w, mask: _shares_exp(delta, *_exp_mu(mu, mask), w, mask))


def _market(seed, J=7, I=30, spread=3.0, level=0.0, pad=2):
    rng = np.random.default_rng(seed)
    delta = level + rng.normal(size=J)
    mu = spread * rng.normal(size=(J, I))
    w = rng.uniform(0.5, 1.5, size=I)
    mask = np.arange(J) < J - pad
    return jnp.asarray(delta), jnp.asarray(mu), jnp.asarray(w / w.sum()), jnp.asarray(mask)


@pytest.mark.parametrize(("spread", "level"), [(0.1, 0.0), (3.0, -5.0), (40.0, 2.0),
                                               (300.0, 0.0), (1.0, 600.0), (1.0, -600.0)])
def test_shares_from_exp_mu_equal_the_direct_shares(spread, level):
    """To 1e-13 relative, including utilities that would overflow exp (δ = 600, μ spread 300)
    and shares that underflow towards the outside good (δ = −600)."""
    for seed in range(5):
        delta, mu, w, mask = _market(seed, spread=spread, level=level)
        direct, fast = _direct(delta, mu, w, mask), _fast(delta, mu, w, mask)
        assert bool(jnp.all(jnp.isfinite(fast)))
        np.testing.assert_allclose(fast, direct, rtol=1e-13, atol=1e-300)
        assert float(jnp.abs(fast[~mask]).max()) == 0.0  # padded products have no share


def test_solved_delta_reproduces_the_observed_shares():
    """The fixed point reached through the exp(μ) contraction is the one of the direct shares:
    mixed_logit_shares at the solution gives the observed shares back (1e-12 relative)."""
    markets = [_market(s, spread=2.0, level=-3.0) for s in range(6)]
    delta, mu, w, mask = (jnp.stack(x) for x in zip(*markets, strict=True))
    observed = jax.vmap(mixed_logit_shares)(delta, mu, w, mask)
    log_s = jnp.where(mask, jnp.log(jnp.where(mask, observed, 1.0)), 0.0)
    d, it, conv = solve_delta(jnp.zeros_like(delta), log_s, mu, w, mask)
    assert bool(jnp.all(conv)) and int(it.max()) < 1000
    again = jax.vmap(mixed_logit_shares)(d, mu, w, mask)
    np.testing.assert_allclose(again[mask], observed[mask], rtol=1e-12)
    np.testing.assert_allclose(d[mask], delta[mask], atol=1e-10)


def test_markets_together_where_they_fit_else_one_after_another(monkeypatch):
    """The share inversion takes every market at once (a vmapped loop) exactly where
    _markets_at_once gives all of them under the cache budget, and one market after another (a
    scan) where the budget is a byte short: the same δ, iterations and flags, bit for bit."""
    markets = [_market(s, spread=2.0, level=-3.0) for s in range(6)]
    delta, mu, w, mask = (jnp.stack(x) for x in zip(*markets, strict=True))
    log_s = jnp.where(mask, jnp.log(jnp.where(mask, jax.vmap(mixed_logit_shares)(
        delta, mu, w, mask), 1.0)), 0.0)
    T, per_market = mu.shape[0], mu[0].size * mu.dtype.itemsize
    found = []
    for budget, together in ((T * per_market, True), (T * per_market - 1, False)):
        monkeypatch.setattr(inversion, "_MARKET_BYTES", budget)
        assert (inversion._markets_at_once(T, mu[0]) == T) is together
        # a new function each time, traced afresh (a jitted function keeps its first trace)
        solve = jax.jit(lambda *a: solve_delta.__wrapped__(*a))
        args = (jnp.zeros_like(delta), log_s, mu, w, mask)
        scans = [e for e in jax.make_jaxpr(solve)(*args).eqns[0].params["jaxpr"].eqns
                 if e.primitive.name == "scan"]
        assert bool(scans) is not together
        found.append(solve(*args))
    for a, b in zip(*found, strict=True):
        np.testing.assert_array_equal(a, b)


def test_implicit_derivative_is_the_dense_implicit_function_formula():
    """dδ/dθ' of :func:`implicit_delta` (Cholesky of ∂s/∂δ', ds from one s_ij) equals
    −(∂s/∂δ')⁻¹ ∂s/∂θ' with both Jacobians by JAX and a dense solve (1e-12 relative), in forward
    and reverse mode, with padded products, and central differences of the solved inversion."""
    markets = [_market(s, spread=1.0, level=-2.0) for s in range(4)]
    delta, mu0, w, mask = (jnp.stack(x) for x in zip(*markets, strict=True))
    x2 = jnp.asarray(np.random.default_rng(9).normal(size=(4, 7, 2)))

    def mu_fn(th):  # μ_ij = x2_j · (θ ∘ ν_i), ν_i the first two rows of mu0 (per market)
        return jnp.einsum("tjk,tki->tji", x2, th[:, None] * mu0[:, :2, :])

    theta = jnp.asarray([0.7, 1.3])
    log_s = jnp.where(mask, jnp.log(jnp.where(mask, jax.vmap(mixed_logit_shares)(
        delta, mu_fn(theta), w, mask), 1.0)), 0.0)
    d = solve_delta(jnp.zeros_like(delta), log_s, mu_fn(theta), w, mask)[0]
    shares = jax.vmap(mixed_logit_shares)
    ds_dth = jax.jacfwd(lambda th: shares(d, mu_fn(th), w, mask))(theta)  # (T, J, 2)
    ds_dd = jax.vmap(jax.jacfwd(mixed_logit_shares))(d, mu_fn(theta), w, mask)  # (T, J, J)
    dense = np.zeros((4, 7, 2))
    for t in range(4):
        m = np.asarray(mask[t])
        dense[t, m] = -np.linalg.solve(np.asarray(ds_dd[t])[np.ix_(m, m)], np.asarray(ds_dth[t])[m])
    fwd = jax.jacfwd(lambda th: implicit_delta(mu_fn, th, d, w, mask))(theta)
    np.testing.assert_allclose(fwd, dense, rtol=1e-12, atol=1e-12 * np.abs(dense).max())
    v = jnp.asarray(np.random.default_rng(3).normal(size=d.shape)) * mask
    rev = jax.grad(lambda th: jnp.sum(v * implicit_delta(mu_fn, th, d, w, mask)))(theta)
    np.testing.assert_allclose(rev, np.einsum("tj,tjk->k", v, dense), rtol=1e-12)
    h = 1e-5
    for k in range(2):
        e = jnp.zeros(2).at[k].set(h)
        solve = lambda th: solve_delta(d, log_s, mu_fn(th), w, mask, 1e-14)[0]  # noqa: E731
        fd = (solve(theta + e) - solve(theta - e)) / (2 * h)
        np.testing.assert_allclose(fwd[..., k], fd, atol=1e-8 * np.abs(dense).max())
