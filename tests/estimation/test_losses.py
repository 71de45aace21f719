"""Robust losses: values, and the JAX derivatives the solver takes from them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimation.losses import Huber, Squared


@pytest.mark.parametrize("delta", [1e-3, 1.345])
def test_huber_values_and_jax_derivatives_are_exact(delta):
    h = Huber(delta)
    r = np.array([0.0, 1e-20, -1e-12, 0.3 * delta, -0.9 * delta, 1.5 * delta, -7.0, 1e10])
    inside = np.abs(r) <= delta
    rho = np.where(inside, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
    np.testing.assert_allclose(h.rho(jnp.asarray(r)), rho, rtol=1e-15, atol=0)
    psi = jax.vmap(jax.grad(h.rho))(jnp.asarray(r))
    # ψ is r itself inside (no cancellation, even at 1e-20) and ±δ outside
    np.testing.assert_array_equal(psi, np.clip(r, -delta, delta))
    np.testing.assert_array_equal(h.psi(jnp.asarray(r)), np.clip(r, -delta, delta))
    d2 = jax.vmap(jax.grad(jax.grad(h.rho)))(jnp.asarray(r))
    np.testing.assert_array_equal(d2, inside.astype(float))
    w = h.irls_weight(jnp.asarray(r))
    outside = delta / np.maximum(np.abs(r), delta)
    np.testing.assert_allclose(w, np.where(inside, 1.0, outside), rtol=1e-15)


def test_huber_at_infinity_and_nan():
    h = Huber(1e-3)
    r = jnp.array([jnp.inf, -jnp.inf, jnp.nan])
    rho = np.asarray(h.rho(r))
    assert rho[0] == np.inf and rho[1] == np.inf and np.isnan(rho[2])
    np.testing.assert_array_equal(jax.vmap(jax.grad(h.rho))(r)[:2], [1e-3, -1e-3])
    with pytest.raises(ValueError, match="delta must be > 0"):
        Huber(0.0)


def test_squared_loss():
    r = jnp.array([-2.0, 0.5])
    np.testing.assert_array_equal(Squared().rho(r), [2.0, 0.125])
    np.testing.assert_array_equal(jax.vmap(jax.grad(Squared().rho))(r), r)
