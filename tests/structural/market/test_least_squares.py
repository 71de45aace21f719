"""The ``"least-squares"`` optimizer of the GMM steps: q(θ) = r(θ)'r(θ) with r = √N L'ḡ(θ),
minimised by SciPy's trust-region least squares on the exact forward-mode Jacobian."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimation.errors import NotConvergedWarning
from structural.errors import MarketDataError
from structural.market import DemandSpec, build_agents, build_products, estimate_demand
from structural.market.estimate import Problem, _residuals_and_jacobians

sys.path.insert(0, str(Path(__file__).parent))
from _jaxpr import lu_operand_shapes
from test_market import simulate

SUPPLY = DemandSpec("1 + prices + x", random="0 + prices", cost="1 + x")


def _with_supply(T: int, I: int):
    """:func:`simulate`'s markets (σ_price = 1) with linear costs on x, w and rival-x as the
    excluded supply instruments; one random coefficient (on price)."""
    df, ag = simulate(T=T, J=6, I=I)
    df["demand_instruments5"] = df.groupby("market_ids")["demand_instruments0"].transform(
        "sum") - df.demand_instruments0
    df["supply_instruments0"] = df["demand_instruments0"]
    df["supply_instruments1"] = df["demand_instruments3"]
    p = build_products(df, SUPPLY)
    return p, build_agents(p, ag.drop(columns="nodes0").rename(columns={"nodes1": "nodes0"}))


@pytest.fixture(scope="module")
def supply_market():
    return _with_supply(T=150, I=50)


def test_jacobian_program_matches_finite_differences_of_the_residuals():
    """∂r/∂θ' (demand and supply moments, price coefficient in θ, costs clipped below) and
    the raw δ and cost Jacobians of the SEs against central differences of the same program."""
    p, a = _with_supply(T=12, I=30)
    prob = Problem(p, a, sigma=[[0.8]], costs_bounds=(0.05, None))
    program = _residuals_and_jacobians(prob)
    W = prob.initial_W()
    L = np.linalg.cholesky(W)
    theta = np.array([0.8, -1.7])
    d0 = program(jnp.asarray(theta), prob.logit_delta, W, L)[4][0]  # the solved δ: tight r
    r, J, jd, js, _ = program(jnp.asarray(theta), d0, W, L)
    assert np.asarray(J).shape == (len(np.asarray(r)), 2)
    h = 1e-6
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        up, down = ((program(jnp.asarray(theta + s * e), d0, W, L)[0],
                     *prob.raw_residuals(jnp.asarray(theta + s * e), d0)[:2]) for s in (1, -1))
        for out, i in ((J, 0), (jd, 1), (js, 2)):
            fd = (np.asarray(up[i]) - np.asarray(down[i])) / (2 * h)
            np.testing.assert_allclose(np.asarray(out)[:, k], fd, rtol=1e-5,
                                       atol=1e-6 * np.abs(fd).max())
    q = prob.objective_parts(jnp.asarray(theta), d0, W)[0]
    assert float(np.asarray(r) @ np.asarray(r)) == pytest.approx(float(q), rel=1e-12)


def test_the_residual_program_factorises_one_market_at_a_time():
    """Forward mode batches the P tangents, never the markets: every LU and Cholesky of the
    program (markups and the implicit derivatives of δ) is one market's matrix (batched LAPACK
    kernels can deadlock XLA's pool; see test_market's objective test)."""
    p, a = _with_supply(T=6, I=10)
    prob = Problem(p, a, sigma=[[0.8]], costs_bounds=(0.05, None))
    W = prob.initial_W()
    closed = jax.make_jaxpr(_residuals_and_jacobians(prob))(
        jnp.asarray([0.8, -1.7]), prob.logit_delta, W, np.linalg.cholesky(W))
    shapes = lu_operand_shapes(closed.jaxpr)
    assert len(shapes) >= 2 and all(len(s) == 2 for s in shapes), shapes


def test_least_squares_lands_on_the_lbfgsb_optimum_with_supply(supply_market):
    """Two-step GMM with supply (price coefficient in θ): same estimates, SEs and objective
    as L-BFGS-B, in fewer evaluations. (The simulated prices are not Bertrand prices, so the
    supply side is misspecified and the truth is not the target here: recovery is the next
    test's.)"""
    p, a = supply_market
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotConvergedWarning)
        lb = estimate_demand(p, a, sigma=[[0.5]])
        ls = estimate_demand(p, a, sigma=[[0.5]], optimizer="least-squares")
    assert ls.converged and lb.converged
    # measured: 1.3e-9 (q, least squares lower), 1.2e-7 (estimates), 1.4e-8 (SEs) relative
    assert ls.objective == pytest.approx(lb.objective, rel=1e-8)
    np.testing.assert_allclose(ls.params, lb.params, rtol=1e-6)
    np.testing.assert_allclose(ls.bse, lb.bse, rtol=1e-6)
    assert np.abs(ls.gradient).max() < 1e-5 * ls.objective  # measured 1.6e-4 at q = 115
    assert ls.evaluations < lb.evaluations and ls.optimizer_iterations > 0


def test_running_out_of_evaluations_is_reported(supply_market):
    p, a = supply_market
    with pytest.warns(NotConvergedWarning, match="step 1: optimizer stopped: The maximum"):
        r = estimate_demand(p, a, sigma=[[0.5]], method="1s", optimizer="least-squares",
                            optimizer_options={"max_nfev": 2})
    assert not r.converged and r.evaluations == 2
    assert r.notes[0].startswith("step 1: optimizer stopped")


def test_a_stop_on_a_kink_of_q_is_reported(supply_market):
    """Costs clipped at 0.001 put kinks in q; the trust region shrinks onto one and xtol ends
    the step with the gradient far from zero: not converged, and the note says why."""
    p, a = supply_market
    with pytest.warns(NotConvergedWarning, match="Gauss–Newton step still promises q"):
        r = estimate_demand(p, a, sigma=[[0.5]], method="1s", costs_bounds=(0.001, None),
                            optimizer="least-squares")
    assert not r.converged and np.abs(r.gradient).max() > 1.0


@pytest.mark.parametrize("options, match", [
    ({"maxiter": 3}, "'maxiter' is not an option of the least-squares optimizer"),
    ({"ftol": -1e-8}, "ftol must be 0, None or a finite number ≥ machine epsilon, got -1e-08"),
    ({"ftol": 1e-20}, "ftol must be 0, None or a finite number ≥ machine epsilon, got 1e-20"),
    ({"gtol": float("nan")}, "gtol must be 0, None or a finite number"),
    ({"xtol": "tight"}, "xtol must be 0, None or a finite number"),
    ({"max_nfev": 0}, "max_nfev must be a positive integer or None, got 0"),
    ({"max_nfev": 2.5}, "max_nfev must be a positive integer"),
    ({"x_scale": 1.0}, "x_scale must be 'jac', got 1.0"),
    ({"ftol": 0, "xtol": None, "gtol": 0.0}, "at least one of ftol, xtol and gtol"),
])
def test_bad_least_squares_options_name_the_option(options, match):
    df, _ = simulate(T=4, J=3)
    p = build_products(df, DemandSpec("1 + prices + x"))
    with pytest.raises(MarketDataError, match=match) as exc:
        estimate_demand(p, optimizer="least-squares", optimizer_options=options)
    assert exc.value.field == "optimizer_options"


def test_an_unknown_optimizer_lists_the_three():
    df, _ = simulate(T=4, J=3)
    with pytest.raises(MarketDataError, match="'bfgs', 'l-bfgs-b' or 'least-squares', got 'lm'"):
        estimate_demand(build_products(df, DemandSpec("1 + prices + x")), optimizer="lm")


def test_a_bound_that_holds_is_the_estimate_exactly():
    """Simulated markets (seed 2) whose σ on the constant has its optimum at the bound 0: trf's
    iterates stay strictly inside, so the estimate is set on the bound (as L-BFGS-B returns
    it), converged, and the free σ agrees with L-BFGS-B's."""
    df, ag = simulate(T=100, J=6, I=50, seed=2)
    p = build_products(df, DemandSpec("1 + prices + x", random="1 + prices"))
    a = build_agents(p, ag)
    ls = estimate_demand(p, a, sigma=np.diag([0.5, 1.0]), method="1s", optimizer="least-squares")
    lb = estimate_demand(p, a, sigma=np.diag([0.5, 1.0]), method="1s")
    assert ls.converged and lb.converged
    assert ls.sigma[0, 0] == 0.0 == lb.sigma[0, 0]
    np.testing.assert_allclose(ls.sigma[1, 1], lb.sigma[1, 1], rtol=1e-6)
    assert ls.objective == pytest.approx(lb.objective, rel=1e-10)
