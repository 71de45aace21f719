"""Feasible optimal instruments against PyBLP 1.3 run beside (Nevo's cereal data; BLP's
automobiles with supply), the expected Jacobians against finite differences of the share
inversion, parameter recovery on simulated data with the optimal instruments, and bad input."""

from __future__ import annotations

import dataclasses
import sys
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from papers import blp1995
from structural.errors import MarketDataError
from structural.market import (
    DemandSpec,
    Problem,
    build_agents,
    build_products,
    estimate_demand,
    optimal_instruments,
)
from structural.market.optimal import shifters

pyblp = pytest.importorskip("pyblp")
pyblp.options.verbose = False
sys.path.insert(0, str(Path(__file__).parent))

from _jaxpr import lu_operand_shapes  # noqa: E402
from _nevo import AT_START, NEVO_PI, NEVO_SIGMA, NEVO_SPEC  # noqa: E402
from _nevo import pyblp_nevo as _pyblp_nevo_with  # noqa: E402


def _quiet(fn, *args, **kwargs):
    """Evaluating at the starting values (no iterations) warns that nothing converged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _pyblp_nevo(df, ag):
    return _pyblp_nevo_with(pyblp, df, ag)


def assert_columns_close(ours, theirs, rtol=1e-6):
    """Each column equal to ``rtol`` of its largest entry (entries near zero carry no scale)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape
    scale = np.abs(theirs).max(axis=0)
    np.testing.assert_array_less(np.abs(ours - theirs).max(axis=0), rtol * scale)


@pytest.fixture(scope="module")
def nevo(nevo_start):
    """Ours and PyBLP's results at Nevo's starting values (same point, no optimisation)."""
    return nevo_start[1:]


def test_nevo_approximate_optimal_instruments_match_pyblp(nevo):
    r, ref = nevo
    ours = optimal_instruments(r)
    theirs = ref.compute_optimal_instruments(method="approximate")
    np.testing.assert_allclose(ours.expected_prices, theirs.expected_prices.ravel(), rtol=1e-10)
    np.testing.assert_allclose(ours.expected_shares, theirs.expected_shares.ravel(), rtol=1e-9)
    np.testing.assert_allclose(ours.inverse_covariance, theirs.inverse_covariance_matrix,
                               rtol=1e-10)
    assert_columns_close(ours.expected_xi_jacobian, theirs.expected_xi_by_theta_jacobian)
    assert_columns_close(ours.demand_instruments, theirs.demand_instruments)
    assert list(ours.demand_instruments.columns) == r.problem.labels
    assert ours.supply_instruments is None and ours.equilibrium_converged


def test_logit_reestimated_on_its_expected_price_matches_pyblp():
    """No nonlinear parameter: the one optimal excluded instrument is E[p | Z]."""
    df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    ref = pyblp.Problem(pyblp.Formulation("prices", absorb="C(product_ids)"), df).solve()
    theirs = ref.compute_optimal_instruments()
    ours = optimal_instruments(logit)
    np.testing.assert_allclose(ours.expected_prices, theirs.expected_prices.ravel(), rtol=1e-10)
    again, ref2 = ours.estimate(), theirs.to_problem().solve()
    assert again.params["prices"] == pytest.approx(ref2.beta[0, 0], rel=1e-8)
    assert again.bse["prices"] == pytest.approx(ref2.beta_se[0, 0], rel=1e-8)
    assert again.objective == pytest.approx(float(ref2.objective), rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("method, draws, seed", [("normal", 2, 0), ("empirical", 2, 1)])
def test_nevo_drawn_optimal_instruments_match_pyblp(nevo, method, draws, seed):
    """Same seed, same generator and call order: PyBLP's draws, PyBLP's averages."""
    r, ref = nevo
    ours = optimal_instruments(r, method=method, draws=draws, seed=seed)
    theirs = ref.compute_optimal_instruments(method=method, draws=draws, seed=seed)
    assert ours.draws == draws
    assert_columns_close(ours.demand_instruments, theirs.demand_instruments)


def test_nevo_problem_with_optimal_instruments_matches_pyblp_at_start(nevo):
    """``to_products`` is PyBLP's ``to_problem``: 13 optimal instruments and E[p], and the
    re-created problem's objective, gradient, estimates and SEs at the same point agree."""
    r, ref = nevo
    ours = optimal_instruments(r)
    theirs = ref.compute_optimal_instruments(method="approximate").to_problem()
    new = ours.to_products()
    assert new.ZD.shape == theirs.products.ZD.shape == (2256, 14)
    assert new.ZD_names[-1] == "E[prices]"
    again = _quiet(ours.estimate, sigma=NEVO_SIGMA, pi=NEVO_PI, **AT_START)
    ref2 = theirs.solve(NEVO_SIGMA, NEVO_PI, method="1s",
                        optimization=pyblp.Optimization("return"))
    assert again.objective == pytest.approx(float(ref2.objective), rel=1e-8)
    np.testing.assert_allclose(again.gradient, ref2.gradient.ravel(), rtol=1e-6,
                               atol=1e-8 * np.abs(ref2.gradient).max())
    assert again.params["prices"] == pytest.approx(ref2.beta[0, 0], rel=1e-8)
    assert again.bse["prices"] == pytest.approx(ref2.beta_se[0, 0], rel=1e-6)
    theta_se = np.r_[np.diag(ref2.sigma_se), ref2.pi_se[ref2.pi != 0]]
    np.testing.assert_allclose(again.bse.iloc[:13].to_numpy(), theta_se, rtol=1e-6)


@pytest.mark.slow
def test_nevo_reestimated_with_optimal_instruments_matches_pyblp():
    """The post-estimation tutorial's step: estimate (BFGS, one step), compute approximate
    optimal instruments, re-estimate from the estimates: 1e-4 relative of PyBLP's run."""
    df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    ag = pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)
    p = build_products(df, NEVO_SPEC)
    r = estimate_demand(p, build_agents(p, ag), sigma=NEVO_SIGMA, pi=NEVO_PI, method="1s",
                        optimizer="bfgs")
    ref = _pyblp_nevo(df, ag).solve(NEVO_SIGMA, NEVO_PI, method="1s",
                                    optimization=pyblp.Optimization("bfgs", {"gtol": 1e-5}))
    ours = optimal_instruments(r)
    theirs = ref.compute_optimal_instruments(method="approximate")
    assert_columns_close(ours.demand_instruments, theirs.demand_instruments, rtol=1e-4)
    again = ours.estimate(method="1s", optimizer="bfgs")
    ref2 = theirs.to_problem().solve(ref.sigma, ref.pi, method="1s",
                                     optimization=pyblp.Optimization("bfgs", {"gtol": 1e-5}))
    # 13 optimal instruments and E[p] just identify the 14 parameters: both objectives are ~0
    assert again.objective == pytest.approx(float(ref2.objective), rel=1e-4, abs=1e-10)
    theta = np.r_[np.diag(ref2.sigma), ref2.pi[ref2.pi != 0], ref2.beta.ravel()]
    np.testing.assert_allclose(again.params.to_numpy(), theta, rtol=1e-4, atol=1e-6)


def _blp_reduced(markets=8):
    """The first eight years: the fewest with full-rank supply instruments."""
    df, ag = blp1995.load()
    keep = sorted(df.market_ids.unique())[:markets]
    return (df[df.market_ids.isin(keep)].reset_index(drop=True),
            ag[ag.market_ids.isin(keep)].reset_index(drop=True))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Integration weights:UserWarning")  # PyBLP: BLP's weights
def test_blp_with_supply_optimal_instruments_match_pyblp():
    """Supply side: Bertrand–Nash prices at the fitted costs (ζ-markup iteration to 1e-12 on
    both sides), ∂ω/∂θ through log costs, (ξ, ω) covariance, shifters on both sides."""
    df, ag = _blp_reduced()
    p = build_products(df, blp1995.spec())
    r = _quiet(estimate_demand, p, build_agents(p, ag), sigma=blp1995.SIGMA0, pi=blp1995.PI0,
               **AT_START, **blp1995.OPTIONS)
    problem = pyblp.Problem((pyblp.Formulation(blp1995.LINEAR),
                             pyblp.Formulation(blp1995.RANDOM),
                             pyblp.Formulation(blp1995.COST)), df,
                            pyblp.Formulation(blp1995.DEMOGRAPHICS), ag, costs_type="log")
    ref = problem.solve(blp1995.SIGMA0, blp1995.PI0, method="1s",
                        optimization=pyblp.Optimization("return"), **blp1995.OPTIONS)
    ours = optimal_instruments(r)
    theirs = ref.compute_optimal_instruments(method="approximate")
    assert ours.equilibrium_converged
    np.testing.assert_allclose(ours.expected_prices, theirs.expected_prices.ravel(), rtol=1e-6)
    np.testing.assert_allclose(ours.inverse_covariance, theirs.inverse_covariance_matrix,
                               rtol=1e-8)
    assert_columns_close(ours.demand_instruments, theirs.demand_instruments)
    assert_columns_close(ours.supply_instruments, theirs.supply_instruments)
    assert shifters(p) == (["log(hpwt)", "log(mpg)", "log(space)", "trend"],
                           ["hpwt", "mpd", "space"])
    updated = theirs.to_problem()
    new = ours.to_products()
    assert new.ZD.shape == updated.products.ZD.shape and new.ZS.shape == updated.products.ZS.shape
    options = {"costs_bounds": (0.001, None), "W_type": "clustered", "se_type": "clustered"}
    again = _quiet(ours.estimate, sigma=blp1995.SIGMA0, pi=blp1995.PI0, **AT_START, **options)
    ref2 = updated.solve(blp1995.SIGMA0, blp1995.PI0, method="1s",
                         optimization=pyblp.Optimization("return"), **options)
    assert again.objective == pytest.approx(float(ref2.objective), rel=1e-6)
    np.testing.assert_allclose(again.gradient, ref2.gradient.ravel(), rtol=1e-5,
                               atol=1e-7 * np.abs(ref2.gradient).max())


# ----- simulated data --------------------------------------------------------------------------

def simulate(T=150, J=6, I=100, alpha=-2.0, sigma=1.0, seed=0):
    """Random-coefficients logit with a random price coefficient, price endogenous through ξ."""
    rng = np.random.default_rng(seed)
    N = T * J
    mid = np.repeat(np.arange(T), J)
    x = rng.uniform(0, 2, N)
    w = rng.uniform(0, 1, N)
    xi = rng.normal(0, 0.3, N)
    price = 1 + 0.5 * x + w + 0.5 * xi + rng.normal(0, 0.1, N)
    delta = 1.0 + x + alpha * price + xi
    nodes = rng.standard_normal((T, I))
    u = np.exp(delta[:, None] + price[:, None] * sigma * nodes[mid]).reshape(T, J, I)
    s = (u / (1 + u.sum(axis=1, keepdims=True))).mean(axis=2).ravel()
    df = pd.DataFrame({"market_ids": mid, "product_ids": np.tile(np.arange(J), T),
                       "firm_ids": np.tile(np.arange(J) // 2, T), "shares": s, "prices": price,
                       "x": x, "demand_instruments0": w, "demand_instruments1": w ** 2,
                       "demand_instruments2": x * w})
    df["demand_instruments3"] = df.groupby("market_ids")["x"].transform("sum") - df["x"]
    agents = pd.DataFrame({"market_ids": np.repeat(np.arange(T), I), "weights": 1.0 / I,
                           "nodes0": nodes.ravel()})
    return df, agents


def test_expected_jacobian_matches_finite_differences_of_the_inversion():
    """E[∂ξ/∂θ] is ∂δ/∂θ of the share inversion at the expected prices and shares."""
    df, ag = simulate(T=20, J=5, I=50)
    spec = DemandSpec("1 + prices + x", random="0 + prices")
    p = build_products(df, spec)
    agents = build_agents(p, ag)
    r = _quiet(estimate_demand, p, agents, sigma=[[0.8]], **AT_START)
    opt = optimal_instruments(r)
    at_e = build_products(df.assign(prices=opt.expected_prices, shares=opt.expected_shares), spec)
    prob = Problem(at_e, agents, sigma=[[0.8]])
    h = 1e-6

    def delta(s):
        return np.asarray(prob.layout.unpad(prob.delta(np.array([s]), prob.logit_delta)[0]))

    fd = (delta(0.8 + h) - delta(0.8 - h)) / (2 * h)
    np.testing.assert_allclose(opt.expected_xi_jacobian[:, 0], fd, rtol=1e-6, atol=1e-7)


def test_optimal_instruments_recover_parameters():
    df, ag = simulate()
    p = build_products(df, DemandSpec("1 + prices + x", random="0 + prices"))
    first = estimate_demand(p, build_agents(p, ag), sigma=[[0.5]], method="1s")
    again = optimal_instruments(first).estimate(method="1s")
    assert again.converged
    assert again.params["prices"] == pytest.approx(-2.0, abs=max(0.4, 3 * again.bse["prices"]))
    assert abs(again.params["sigma[prices]"] - 1.0) < max(0.3, 3 * again.bse["sigma[prices]"])
    assert again.params["x"] == pytest.approx(1.0, abs=max(0.3, 3 * again.bse["x"]))


def test_realizations_factorise_one_market_at_a_time():
    """With supply, the realization solves the inversion's and the markups' linear systems
    under a Jacobian over θ and a scan over draws: still one J×J matrix per LU or Cholesky,
    never a batch (batched LAPACK kernels deadlock XLA's two-worker pool; see
    demand.solve_by_market)."""
    from structural.market.optimal import _realizations

    df, ag = simulate(T=10, J=4, I=10)
    p = build_products(df, DemandSpec("1 + prices + x", random="0 + prices", cost="1 + x"))
    r = _quiet(estimate_demand, p, build_agents(p, ag), sigma=[[0.8]], **AT_START)
    zeros = jnp.zeros((2, p.N))
    run = _realizations(r, None, keep=False)  # plain jit: its jaxpr shows the computation
    shapes = lu_operand_shapes(jax.make_jaxpr(run)(zeros, zeros).jaxpr)
    assert len(shapes) >= 2 and all(len(s) == 2 for s in shapes), shapes


# ----- bad input -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    df, ag = simulate(T=20, J=5, I=20)
    p = build_products(df, DemandSpec("1 + prices + x", random="0 + prices"))
    return df, ag, _quiet(estimate_demand, p, build_agents(p, ag), sigma=[[0.8]], **AT_START)


@pytest.mark.parametrize("kwargs, field", [
    ({"method": "bootstrap"}, "method"),
    ({"method": "normal", "draws": 0}, "draws"),
    ({"expected_prices": np.ones(3)}, "expected_prices"),
    ({"expected_prices": np.full(100, np.nan)}, "expected_prices"),
])
def test_bad_arguments_name_the_argument(small, kwargs, field):
    with pytest.raises(MarketDataError, match=rf"^{field}: "):
        optimal_instruments(small[2], **kwargs)


def test_not_estimation_results_is_an_error():
    with pytest.raises(MarketDataError, match=r"^results: expected the DemandResults"):
        optimal_instruments(pd.DataFrame({"prices": [1.0]}))


def test_supply_shifters_without_a_supply_side_are_an_error(small):
    with pytest.raises(MarketDataError, match=r"^supply_shifters: the results have no supply"):
        optimal_instruments(small[2]).to_products(supply_shifters=["x"])


def test_nested_logit_is_refused():
    df, _ = simulate(T=20, J=4, I=5)
    df["nest"] = df["product_ids"] % 2
    r = estimate_demand(build_products(df, DemandSpec("1 + prices + x", nesting="nest")),
                        rho=0.5)
    with pytest.raises(MarketDataError, match=r"^model: .*not nested logit"):
        optimal_instruments(r)


def test_singular_expected_jacobian_names_the_parameter(small):
    """An estimate at the bound σ = 0 with symmetric nodes: ∂s/∂σ = Σ_i w_i ν_i (…) = 0, so the
    parameter's optimal instrument is identically zero."""
    df, ag, _ = small
    ag = ag.assign(nodes0=np.tile([1.0, -1.0], len(ag) // 2))
    p = build_products(df, DemandSpec("1 + prices + x", random="0 + prices"))
    r = _quiet(estimate_demand, p, build_agents(p, ag), sigma=[[0.8]], **AT_START)
    at_bound = dataclasses.replace(r, theta=np.zeros(1))
    with pytest.raises(MarketDataError, match=r"^sigma\[prices\]: the expected Jacobian .* zero"):
        optimal_instruments(at_bound)
