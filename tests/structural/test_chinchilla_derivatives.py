"""The Chinchilla law's closed-form residual derivatives: checked against JAX and finite
differences, mistakes caught, and the fit with and without them agreeing (moved here from the
engine's tests, which import nothing of the structural model)."""

from __future__ import annotations

import re

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import estimation
from estimation import SpecificationError
from estimation.derivatives import check_residual_derivatives
from estimation.fit import _residual_model
from estimation.objective import Objective, as_data
from structural.chinchilla_fit import (
    HOFFMANN_GRID,
    LAW_DERIVATIVES,
    LawDerivatives,
    as_fit_data,
    fit_chinchilla,
    grid_to_starts,
    law_spec,
    log_residuals,
)
from structural.pretraining import chinchilla_log_loss


def _law_objective(df):
    arrays, n = as_data(as_fit_data(df))
    loss = estimation.Huber(1e-3)
    return Objective(_residual_model(log_residuals, loss), arrays, law_spec(), "m", n,
                     residuals=log_residuals, loss=loss, derivatives=LAW_DERIVATIVES)


def _runs(seed=0, n=60):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"params": np.exp(rng.uniform(18, 23, n)),
                         "tokens": np.exp(rng.uniform(20, 26, n)),
                         "loss": rng.uniform(2, 4, n)})


def test_chinchilla_law_derivatives_match_jax_across_hoffmanns_grid():
    obj = _law_objective(_runs())
    starts = grid_to_starts(HOFFMANN_GRID).sample(40, random_state=0)
    for theta in law_spec().to_internal(starts.to_numpy()):
        check_residual_derivatives(obj, theta)  # raises on any disagreement
    check_residual_derivatives(obj, np.array([6.17, 7.67, 0.597, 0.347, 0.367]))


class _Mutant(LawDerivatives):
    """The law's closed forms with one mistake in a term that is tiny where it is checked."""

    def __init__(self, part):
        self.part = part

    def jacobian(self, theta, d):
        r, J = super().jacobian(theta, d)
        return r, (J.at[:, 2].multiply(2.0) if self.part == "jacobian" else J)

    def curvature(self, theta, d, c):
        H = super().curvature(theta, d, c)
        return H.at[2, 2].multiply(2.0) if self.part == "curvature" else H


@pytest.mark.parametrize("part, what", [("jacobian", "Jacobian of row"),
                                        ("curvature", "curvature ('E', 'E')")])
def test_a_mistake_in_a_tiny_entry_is_still_caught(part, what):
    """At a = b = 25, e = −1 the E term's share is ~1e-12: its derivatives are 12 orders below
    the others, and a doubled entry must still be refused."""
    obj = _law_objective(_runs())
    obj = Objective(obj.contributions, obj.data, obj.spec, "m", obj.nobs,
                    residuals=log_residuals, loss=obj.loss, derivatives=_Mutant(part))
    with pytest.raises(SpecificationError, match=re.escape(what)):
        check_residual_derivatives(obj, np.array([25.0, 25.0, -1.0, 0.0, 0.0]))


def test_chinchilla_law_derivatives_against_finite_differences():
    obj = _law_objective(_runs(1))
    theta = jnp.array([6.0, 7.5, 0.6, 0.35, 0.37])
    c = jnp.linspace(-1.0, 1.0, obj.nobs)
    _, J = LAW_DERIVATIVES.jacobian(theta, obj.data)
    H2 = LAW_DERIVATIVES.curvature(theta, obj.data, c)
    h = 1e-6
    for j in range(5):
        e = jnp.zeros(5).at[j].set(h)
        r_p, J_p = LAW_DERIVATIVES.jacobian(theta + e, obj.data)
        r_m, J_m = LAW_DERIVATIVES.jacobian(theta - e, obj.data)
        np.testing.assert_allclose((r_p - r_m) / (2 * h), J[:, j], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(c @ (J_p - J_m) / (2 * h), H2[:, j], rtol=1e-6, atol=1e-8)


def test_an_underflowed_term_gives_exact_zeros_so_the_start_is_flat():
    obj = _law_objective(_runs(2))
    # α = 40: A/N^α underflows for every run, so log A and α have no effect at all
    _, J = LAW_DERIVATIVES.jacobian(jnp.array([0.0, 5.0, 0.5, 40.0, 0.5]), obj.data)
    H2 = LAW_DERIVATIVES.curvature(jnp.array([0.0, 5.0, 0.5, 40.0, 0.5]), obj.data,
                                   jnp.ones(obj.nobs))
    J, H2 = np.asarray(J), np.asarray(H2)
    assert np.all(J[:, [0, 3]] == 0.0) and np.all(H2[[0, 3]] == 0.0)
    assert np.all(np.isfinite(np.asarray(H2)))


def test_chinchilla_fit_with_and_without_closed_forms_agree(monkeypatch):
    df = _runs(3)
    noise = 0.01 * np.random.default_rng(3).standard_normal(len(df))
    df["loss"] = np.exp(np.asarray(chinchilla_log_loss(
        np.log(df["params"].to_numpy()), np.log(df["tokens"].to_numpy()),
        6.0, 7.5, 0.6, 0.35, 0.37)) + noise)
    start = pd.DataFrame([{"A": 300.0, "B": 1500.0, "E": 1.5, "alpha": 0.3, "beta": 0.3}])
    fast = fit_chinchilla(df, starts=start, progress=False)
    original = estimation.fit

    def without(*a, **kw):
        kw.pop("derivatives")
        return original(*a, **kw)

    monkeypatch.setattr(estimation, "fit", without)
    ref = fit_chinchilla(df, starts=start, progress=False)
    assert fast.converged and ref.converged
    np.testing.assert_allclose(fast.params, ref.params, rtol=1e-9)
    np.testing.assert_allclose(fast.params[["alpha", "beta"]], [0.35, 0.37], atol=0.03)

