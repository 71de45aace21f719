"""The share inversion's contraction on exp(μ) reused across steps equals the one that
exponentiates δ + μ at every step (the mixed-logit shares of structural.market.demand)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from structural.market.demand import mixed_logit_shares
from structural.market.inversion import _exp_mu, _shares_exp, solve_delta

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
