"""The mixed logit's Bertrand–Nash markups from utilities: the value is the FOC solve's, and the
analytic derivative (implicit function theorem, J·I work) equals autodiff through Λ, Γ and the
solve, in forward and reverse mode, and central finite differences."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from structural.market.demand import mixed_logit_shares, share_price_terms
from structural.market.supply import bertrand_markups, mixed_logit_markups

T, J, I = 4, 6, 30


@pytest.fixture(scope="module")
def market():
    """Random-coefficients markets with multi-product firms and padded products."""
    rng = np.random.default_rng(11)
    delta = jnp.asarray(rng.normal(-1.0, 1.0, (T, J)))
    mu = jnp.asarray(rng.normal(0.0, 0.7, (T, J, I)))
    weights = jnp.asarray(rng.dirichlet(np.ones(I), T))
    alpha_i = jnp.asarray(-np.exp(rng.normal(0.5, 0.4, (T, I))))
    mask = jnp.ones((T, J), bool).at[0, J - 1].set(False).at[2, J - 2:].set(False)
    firms = jnp.asarray(np.tile([0, 0, 1, 2, 2, 2], (T, 1))).at[3].set(jnp.arange(J))
    return delta, mu, weights, alpha_i, mask, firms


def _by_autodiff(delta, mu, weights, alpha_i, mask, firms):
    """η through Λ, Γ and the FOC solve, as the estimator computed it before."""
    lam, gam = jax.vmap(share_price_terms)(delta, mu, weights, mask, alpha_i)
    s = jax.vmap(mixed_logit_shares)(delta, mu, weights, mask)
    return bertrand_markups(lam, gam, s, firms, mask)


def test_value_is_the_foc_solve(market):
    new, old = mixed_logit_markups(*market), _by_autodiff(*market)
    np.testing.assert_allclose(new, old, rtol=1e-14, atol=0)
    assert bool(jnp.all(new[~market[4]] == 0.0)) and bool(jnp.all(new[market[4]] > 0.0))


def test_derivatives_match_autodiff_and_finite_differences(market):
    delta, mu, weights, alpha_i, mask, firms = market
    rng = np.random.default_rng(3)
    tangents = [jnp.asarray(rng.normal(size=x.shape)) for x in (delta, mu, weights, alpha_i)]

    def along(f):
        return lambda h: f(*(x + h * t for x, t in zip(market[:4], tangents, strict=True)),
                           mask, firms)

    new = jax.jit(lambda: jax.jvp(along(mixed_logit_markups), (0.0,), (1.0,))[1])()
    old = jax.jit(lambda: jax.jvp(along(_by_autodiff), (0.0,), (1.0,))[1])()
    np.testing.assert_allclose(new, old, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(old))))
    h = 1e-6
    at = jax.jit(along(mixed_logit_markups))
    fd = (at(h) - at(-h)) / (2 * h)
    np.testing.assert_allclose(new, fd, rtol=0, atol=1e-7 * float(jnp.max(jnp.abs(old))))
    assert bool(jnp.all(new[~mask] == 0.0))
    # reverse mode transposes the same rule: every input's cotangent equals autodiff's
    ct = jnp.where(mask, jnp.asarray(rng.normal(size=delta.shape)), 0.0)

    def grads(f):
        return jax.jit(jax.grad(lambda *a: jnp.sum(f(*a, mask, firms) * ct),
                                argnums=(0, 1, 2, 3)))(*market[:4])

    for a, b in zip(grads(mixed_logit_markups), grads(_by_autodiff), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * float(jnp.max(jnp.abs(b))))


def test_padded_products_tangents_are_not_read(market):
    """A NaN or inf in the tangents of padded products (δ, μ) changes no derivative."""
    delta, mu, weights, alpha_i, mask, firms = market
    rng = np.random.default_rng(5)
    d_delta = jnp.where(mask, jnp.asarray(rng.normal(size=delta.shape)), 0.0)
    d_mu = jnp.where(mask[:, :, None], jnp.asarray(rng.normal(size=mu.shape)), 0.0)
    bad_delta = jnp.where(mask, d_delta, jnp.nan)
    bad_mu = jnp.where(mask[:, :, None], d_mu, jnp.inf)

    def derivative(dd, dm):
        return jax.jit(lambda: jax.jvp(
            lambda d, m: mixed_logit_markups(d, m, weights, alpha_i, mask, firms),
            (delta, mu), (dd, dm))[1])()

    clean = derivative(d_delta, d_mu)
    assert bool(jnp.all(jnp.isfinite(clean)))
    np.testing.assert_array_equal(derivative(bad_delta, bad_mu), clean)
