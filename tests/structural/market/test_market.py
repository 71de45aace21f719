"""Markets: demand estimation against PyBLP (run beside) and published values, parameter recovery
on simulated data, implicit derivatives of the share inversion against finite differences, and
post-estimation against PyBLP's methods."""

from __future__ import annotations

import re
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
    post,
)
from structural.market.products import Agents

pyblp = pytest.importorskip("pyblp")
pyblp.options.verbose = False
sys.path.insert(0, str(Path(__file__).parent))

from _jaxpr import lu_operand_shapes  # noqa: E402
from _nevo import NEVO_PI, NEVO_SIGMA, NEVO_SPEC  # noqa: E402


@pytest.fixture(scope="module")
def nevo(nevo_data):
    return nevo_data


def test_logit_matches_pyblp_and_tutorial(nevo):
    df, _ = nevo
    r = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    ref = pyblp.Problem(pyblp.Formulation("prices", absorb="C(product_ids)"), df).solve()
    assert r.params["prices"] == pytest.approx(ref.beta[0, 0], rel=1e-6)
    assert r.bse["prices"] == pytest.approx(ref.beta_se[0, 0], rel=1e-6)
    assert r.objective == pytest.approx(float(ref.objective), rel=1e-6)
    assert round(r.params["prices"], 4) == -30.0471 and round(r.bse["prices"], 4) == 1.0086


def test_nested_logit_matches_pyblp_and_tutorial(nevo):
    df = nevo[0].copy()
    df["nesting_ids"] = 1
    df["demand_instruments20"] = df.groupby(["market_ids", "nesting_ids"])["shares"].transform(
        np.size)
    r = estimate_demand(build_products(df, DemandSpec("0 + prices", nesting="nesting_ids")),
                        rho=0.7)
    ref = pyblp.Problem(pyblp.Formulation("0 + prices"), df).solve(rho=0.7)
    assert r.params["rho"] == pytest.approx(ref.rho[0, 0], rel=1e-6)
    assert r.bse["rho"] == pytest.approx(ref.rho_se[0, 0], rel=1e-6)
    assert r.params["prices"] == pytest.approx(ref.beta[0, 0], rel=1e-6)
    assert r.bse["prices"] == pytest.approx(ref.beta_se[0, 0], rel=1e-6)
    assert round(r.params["rho"], 4) == 0.9826 and round(r.bse["rho"], 4) == 0.0136


def test_nested_logit_post_estimation_matches_pyblp(nevo):
    """PyBLP's nested-logit tutorial problem with two nests (mushy or not), one ρ: elasticities,
    diversion ratios, markups, consumer surplus and a merger's equilibrium (prices, shares,
    markups, change in consumer surplus) as PyBLP's."""
    df = nevo[0].copy()
    df["nesting_ids"] = df["mushy"]
    df["demand_instruments20"] = df.groupby(["market_ids", "nesting_ids"])["shares"].transform(
        np.size)
    p = build_products(df, DemandSpec("0 + prices", nesting="nesting_ids"))
    r = estimate_demand(p, rho=0.7)
    ref = pyblp.Problem(pyblp.Formulation("0 + prices"), df).solve(rho=0.7)
    assert r.params["rho"] == pytest.approx(ref.rho[0, 0], rel=1e-6)
    lay = p.layout
    rows = lambda m: np.array([m[lay.t[i], lay.j[i], :24] for i in range(p.N)])  # noqa: E731
    np.testing.assert_allclose(rows(post.elasticities(r)), ref.compute_elasticities(),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(rows(post.diversion_ratios(r)), ref.compute_diversion_ratios(),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(post.markups(r) / p.prices, ref.compute_markups().ravel(),
                               rtol=1e-6)
    order = np.unique(df["market_ids"])  # PyBLP's market order
    cs0 = ref.compute_consumer_surpluses().ravel()
    np.testing.assert_allclose(pd.Series(post.consumer_surplus(r), lay.market_ids)[order], cs0,
                               rtol=1e-6)
    merger = df["firm_ids"].replace(2, 1)
    costs = ref.compute_costs()
    new_prices = ref.compute_prices(firm_ids=merger, costs=costs)
    cf = post.counterfactual(r, firm_ids=merger.to_numpy())
    assert cf.converged
    np.testing.assert_allclose(cf.table["new_prices"], new_prices.ravel(), rtol=1e-6)
    np.testing.assert_allclose(cf.table["new_shares"],
                               ref.compute_shares(prices=new_prices).ravel(), rtol=1e-6)
    np.testing.assert_allclose(cf.table["new_markups"] / cf.table["new_prices"],
                               ref.compute_markups(prices=new_prices, costs=costs).ravel(),
                               rtol=1e-6)
    dcs = ref.compute_consumer_surpluses(prices=new_prices).ravel() - cs0
    np.testing.assert_allclose(cf.surplus.set_index("market_ids")["change_in_cs"][order], dcs,
                               rtol=1e-6)


@pytest.fixture(scope="module")
def nevo_at_start(nevo_start):
    """Ours and PyBLP's results at Nevo's starting values (no optimisation): same point."""
    return nevo_start


@pytest.mark.filterwarnings("ignore::estimation.errors.NotConvergedWarning")
def test_nevo_objective_gradient_and_ses_match_pyblp(nevo_at_start):
    _, r, ref = nevo_at_start
    assert r.objective == pytest.approx(float(ref.objective), rel=1e-8)
    np.testing.assert_allclose(r.gradient, ref.gradient.ravel(), rtol=1e-6, atol=1e-8)
    assert r.params["prices"] == pytest.approx(ref.beta[0, 0], rel=1e-8)
    theta_se = np.r_[np.diag(ref.sigma_se), ref.pi_se[ref.pi != 0]]
    np.testing.assert_allclose(r.bse.iloc[:13].to_numpy(), theta_se, rtol=1e-6)
    assert r.bse["prices"] == pytest.approx(ref.beta_se[0, 0], rel=1e-6)


@pytest.mark.filterwarnings("ignore::estimation.errors.NotConvergedWarning")
def test_post_estimation_matches_pyblp(nevo, nevo_at_start):
    df = nevo[0]
    p, r, ref = nevo_at_start
    lay = p.layout
    rows = lambda m: np.array([m[lay.t[i], lay.j[i], :24] for i in range(p.N)])  # noqa: E731
    np.testing.assert_allclose(rows(post.elasticities(r)), ref.compute_elasticities(),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(rows(post.diversion_ratios(r)), ref.compute_diversion_ratios(),
                               rtol=1e-6, atol=1e-8)
    eta = post.markups(r)
    np.testing.assert_allclose(eta / p.prices, ref.compute_markups().ravel(), rtol=1e-6)
    cs = pd.Series(post.consumer_surplus(r), index=lay.market_ids).sort_index()
    np.testing.assert_allclose(cs.to_numpy(), ref.compute_consumer_surpluses().ravel(), rtol=1e-6)
    merger = df["firm_ids"].replace(2, 1)
    ref_prices = ref.compute_prices(firm_ids=merger, costs=ref.compute_costs()).ravel()
    cf = post.counterfactual(r, firm_ids=merger.to_numpy(), draws=3)
    assert cf.converged
    np.testing.assert_allclose(cf.table["new_prices"], ref_prices, rtol=1e-6)
    assert 0 < cf.draws <= 3  # draws whose inversion or equilibrium fails are dropped, counted
    inside = (cf.table["new_prices_low"] <= cf.table["new_prices_high"]).all()
    # the merging firms raise every price; rivals need not at these (starting-value) parameters:
    # PyBLP's equilibrium has 177 of them a little lower, and ours equals it (above)
    merging = df["firm_ids"].isin([1, 2]).to_numpy()
    rise = (cf.table["new_prices"] - cf.table["prices"]).to_numpy()
    assert inside and (rise[merging] > 0).all()


@pytest.mark.slow
def test_nevo_random_coefficients_reproduce_pyblp(nevo):
    """The full Nevo estimation (BFGS, gtol 1e-5, one step): PyBLP's tutorial values."""
    df, ag = nevo
    p = build_products(df, NEVO_SPEC)
    r = estimate_demand(p, build_agents(p, ag), sigma=NEVO_SIGMA, pi=NEVO_PI, method="1s",
                        optimizer="bfgs")
    assert r.params["prices"] == pytest.approx(-62.7299, rel=1e-4)
    assert r.bse["prices"] == pytest.approx(14.8032, rel=1e-4)
    assert r.objective == pytest.approx(4.5615, rel=1e-4)


# ----- simulated data: parameter recovery and implicit derivatives ---------------------------

def simulate(T=300, J=8, sigma=(0.0, 1.0), alpha=-2.0, beta=(1.0, 1.0), rho=None, seed=0,
             I=200):
    """Markets from a known RC (or nested) logit: x exogenous, price endogenous via ξ."""
    rng = np.random.default_rng(seed)
    N = T * J
    x = rng.uniform(0, 2, N)
    w = rng.uniform(0, 1, N)  # cost shifter (excluded instrument)
    xi = rng.normal(0, 0.3, N)
    price = 1 + 0.5 * x + w + 0.5 * xi + rng.normal(0, 0.1, N)
    delta = beta[0] + beta[1] * x + alpha * price + xi
    mid = np.repeat(np.arange(T), J)
    nodes = rng.standard_normal((T, I, 2))
    mu = (np.ones(N)[:, None] * sigma[0] * nodes[mid, :, 0]
          + price[:, None] * sigma[1] * nodes[mid, :, 1])
    if rho is None:
        u = np.exp(delta[:, None] + mu).reshape(T, J, I)
        s = (u / (1 + u.sum(axis=1, keepdims=True))).mean(axis=2).ravel()
    else:
        nest = np.tile(np.arange(J) % 2, T)
        ev = np.exp(delta / (1 - rho))
        Dh = pd.Series(ev).groupby([mid, nest]).transform("sum").to_numpy()
        incl = pd.DataFrame({"m": mid, "n": nest, "D": Dh}).drop_duplicates(["m", "n"])
        denom = 1 + incl.assign(v=incl.D ** (1 - rho)).groupby("m").v.sum().to_numpy()
        s = ev / Dh * Dh ** (1 - rho) / denom[mid]
    df = pd.DataFrame({"market_ids": mid, "product_ids": np.tile(np.arange(J), T),
                       "firm_ids": np.tile(np.arange(J) // 2, T), "shares": s, "prices": price,
                       "x": x, "demand_instruments0": w, "demand_instruments1": w ** 2,
                       "demand_instruments2": x * w})
    df["demand_instruments3"] = df.groupby("market_ids")["x"].transform("sum") - df["x"]
    if rho is not None:
        df["nest"] = np.tile(np.arange(J) % 2, T)
    agents = pd.DataFrame({"market_ids": np.repeat(np.arange(T), I), "weights": 1.0 / I,
                           "nodes0": nodes[:, :, 0].ravel(), "nodes1": nodes[:, :, 1].ravel()})
    return df, agents


def test_logit_recovers_parameters():
    df, _ = simulate(sigma=(0.0, 0.0), T=400)
    r = estimate_demand(build_products(df, DemandSpec("1 + prices + x")))
    np.testing.assert_allclose(r.params[["1", "prices", "x"]], [1.0, -2.0, 1.0], atol=0.1)
    assert (np.abs(r.params[["1", "prices", "x"]] - [1.0, -2.0, 1.0])
            < 4 * r.bse[["1", "prices", "x"]]).all()


def test_nested_logit_recovers_parameters():
    df, _ = simulate(sigma=(0.0, 0.0), rho=0.5, T=400)
    df["demand_instruments4"] = df.groupby(["market_ids", "nest"])["x"].transform("sum") - df.x
    r = estimate_demand(build_products(df, DemandSpec("1 + prices + x", nesting="nest")),
                        rho=0.2)
    assert r.params["rho"] == pytest.approx(0.5, abs=0.1)
    assert r.params["prices"] == pytest.approx(-2.0, abs=0.3)


@pytest.mark.parametrize("optimizer", [None, "least-squares"])
def test_random_coefficients_recover_parameters(optimizer):
    df, ag = simulate(sigma=(0.0, 1.0), T=300, I=100)
    df["demand_instruments5"] = df.groupby("market_ids")["demand_instruments0"].transform(
        "sum") - df.demand_instruments0
    p = build_products(df, DemandSpec("1 + prices + x", random="0 + prices"))
    r = estimate_demand(p, build_agents(p, ag.drop(columns="nodes0").rename(
        columns={"nodes1": "nodes0"})), sigma=[[0.5]], method="2s", optimizer=optimizer)
    assert r.converged and r.inversion["converged"].all()
    assert abs(r.params["sigma[prices]"] - 1.0) < max(0.3, 3 * r.bse["sigma[prices]"])
    assert r.params["prices"] == pytest.approx(-2.0, abs=0.4)


@pytest.mark.parametrize("bad", [-0.5, np.nan, np.inf])
def test_agent_weights_must_be_finite_and_non_negative(bad):
    """The Cholesky factor of ∂s/∂δ' needs w ≥ 0 (w = (1, −0.5) left it NaN): rejected with
    the market and agent, from agent data and from Agents built directly."""
    df, ag = simulate(T=4, J=3, I=5)
    p = build_products(df, DemandSpec("1 + prices + x", random="1 + prices"))
    ag.loc[7, "weights"] = bad
    if not np.isnan(bad):  # a missing value is reported as such before
        with pytest.raises(MarketDataError, match=r"^weights: .*non-negative; market 1, agent 2"):
            build_agents(p, ag)
    good = build_agents(p, ag.assign(weights=0.2))
    weights = good.weights.copy()
    weights[1, 2] = bad
    with pytest.raises(MarketDataError, match=r"^weights: .*market index 1, agent 2 has"):
        Agents(good.nodes, weights, good.demographics, good.demographics_names)


def test_an_early_ftol_stop_goes_on_from_where_it_stopped_with_ftol_zero(monkeypatch):
    """Where the ftol stop is judged premature the same GMM step goes on from its θ with
    PyBLP's ftol 0, and its outcome is what is reported."""
    import scipy.optimize

    from structural.market import estimate

    df, ag = simulate(T=20, J=4, I=20)
    p = build_products(df, DemandSpec("1 + prices + x", random="0 + prices"))
    calls, minimize = [], scipy.optimize.minimize

    def spy(fun, x0, **kw):
        res = minimize(fun, x0, **kw)
        calls.append((np.array(x0), kw["options"]["ftol"], res))
        return res

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    monkeypatch.setattr(estimate, "_stopped_early", lambda res, b, o: o["ftol"] > 0)
    r = estimate_demand(p, build_agents(p, ag.drop(columns="nodes0").rename(
        columns={"nodes1": "nodes0"})), sigma=[[0.5]], method="1s")
    assert [c[1] for c in calls] == [estimate.LBFGSB_FTOL, 0.0]
    np.testing.assert_array_equal(calls[1][0], calls[0][2].x)
    assert r.optimizer_iterations == calls[0][2].nit + calls[1][2].nit
    assert r.converged == calls[1][2].success


def test_share_inversion_implicit_derivatives_match_finite_differences():
    df, ag = simulate(T=20, J=5, I=50)
    p = build_products(df, DemandSpec("1 + prices + x", random="1 + prices"))
    r_prob = __import__("structural.market.estimate", fromlist=["Problem"]).Problem(
        p, build_agents(p, ag), sigma=np.diag([0.5, 0.8]))
    theta = jnp.asarray([0.5, 0.8])
    f = lambda th: r_prob.delta(th, r_prob.logit_delta)[0]  # noqa: E731
    jac = np.asarray(jax.jacfwd(f)(theta))
    h = 1e-6
    for k in range(2):
        e = np.zeros(2)
        e[k] = h
        fd = (np.asarray(f(theta + e)) - np.asarray(f(theta - e))) / (2 * h)
        np.testing.assert_allclose(jac[..., k], fd, atol=1e-6)
    # reverse mode goes through the same implicit rule
    g = jax.grad(lambda th: jnp.sum(f(th) ** 2))(theta)
    np.testing.assert_allclose(g, np.einsum("tj,tjk->k", 2 * np.asarray(f(theta)), jac),
                               rtol=1e-8)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.drop(columns="market_ids"), "market_ids"),
    (lambda d: d.assign(shares=d.shares * 40), "shares"),
    (lambda d: d.assign(prices=np.where(d.index == 3, np.nan, d.prices)), "prices"),
    (lambda d: d.assign(demand_instruments1=d.demand_instruments0), "demand_instruments"),
    (lambda d: d.assign(product_ids=0), "product_ids"),
])
def test_bad_products_name_the_column(mutate, field):
    df, _ = simulate(T=10, J=4)
    with pytest.raises(MarketDataError) as exc:
        build_products(mutate(df), DemandSpec("1 + prices + x"))
    assert exc.value.field == field


@pytest.mark.parametrize("formula", [
    "1 + prices + x", "0 + prices", "0 + x + prices", "1 + x + prices + k", "1", "0 + k",
    "1 + f + prices", "prices + x", "x",  # formulaic's implicit intercept, put first
    "prices + 1", "prices + 0", "1 + np.log(prices) + x", "1 + prices + x:k", "1 + C(k)",
    "1 + prices + b", "1 + x + x",
    "1 + log(prices) + x", "0 + I(1 / x)", "log(n) + prices", "I(1 / f)",  # formulaic's spelling
    "0 + I(1/x)", "1 + log( prices )", "1 + log(x) + log(x)",  # spelt otherwise: formulaic
    "log(1) + x",  # a number, not a column (a column "1" exists): formulaic
])
def test_plain_formulas_skip_formulaic_with_its_matrix(formula):
    """The additive formulas over numeric columns, and their log and reciprocal spelt as
    formulaic names them, that products._matrix builds itself (no formulaic import) give
    formulaic's matrix and names exactly; any other goes to formulaic."""
    from formulaic import model_matrix

    from structural.market import products as products_module

    df, _ = simulate(T=4, J=3)
    df = df.assign(k=np.arange(len(df)) % 3, n=np.arange(len(df)) % 3 + 1,
                   b=np.arange(len(df)) % 2 == 0,
                   f=pd.array(np.linspace(0.5, 2.0, len(df)), dtype="Float64"))
    df["1"] = 2.0
    plain = formula in ("1 + prices + x", "0 + prices", "0 + x + prices", "1 + x + prices + k",
                        "1", "0 + k", "1 + f + prices", "prices + x", "x", "1 + log(prices) + x",
                        "0 + I(1 / x)", "log(n) + prices", "I(1 / f)")
    assert (products_module._plain_terms(formula, df) is not None) == plain
    x, names = products_module._matrix(formula, df, "linear")
    mm = model_matrix(formula, df)
    assert names == [("1" if c == "Intercept" else str(c)) for c in mm.columns]
    np.testing.assert_array_equal(x, np.asarray(mm, dtype=float))
    if plain and "(" in formula:  # a transform taken here: laid out as formulaic's, by column
        assert x.flags["F_CONTIGUOUS"] == np.asarray(mm, dtype=float).flags["F_CONTIGUOUS"]


def test_a_column_named_log_sends_transforms_to_formulaic():
    """With a column named ``log`` formulaic reads it in place of the function (and fails); the
    shortcut must not compute NumPy's log there."""
    from structural.market import products as products_module

    df, _ = simulate(T=4, J=3)
    assert products_module._plain_terms("1 + log(prices)", df) is not None
    assert products_module._plain_terms("1 + log(prices)", df.assign(log=1.0)) is None
    assert products_module._plain_terms("1 + prices", df.assign(log=1.0)) is not None


@pytest.mark.parametrize("formula, value, why", [
    ("1 + log(x)", 0.0, "column 'log(x)' of '1 + log(x)' is not finite at row 5"),
    ("1 + log(x)", -1.0, "column 'log(x)' of '1 + log(x)' is not finite at row 5"),
    ("0 + I(1 / x)", 0.0, "column 'I(1 / x)' of '0 + I(1 / x)' is not finite at row 5"),
    ("0 + I(1 / x)", 5e-324, "column 'I(1 / x)' of '0 + I(1 / x)' is not finite at row 5"),
])
def test_transforms_out_of_their_domain_name_the_column_and_row(formula, value, why):
    """log of a non-positive value and 1/0 (or an overflow) are errors naming the term and the
    row, never NaN or inf in the matrix (nor a NumPy warning first)."""
    from structural.market import products as products_module

    df, _ = simulate(T=4, J=3)
    df.loc[5, "x"] = value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MarketDataError, match=re.escape(why)):
            products_module._matrix(formula, df, "linear")


# ----- BLP (1995) automobiles with supply: a reduced problem against PyBLP run beside ----------

BLP_SPEC = blp1995.spec()
BLP_SIGMA, BLP_PI = blp1995.SIGMA0, blp1995.PI0


def _blp_reduced(markets):
    df = pd.read_csv(pyblp.data.BLP_PRODUCTS_LOCATION)
    ag = pd.read_csv(pyblp.data.BLP_AGENTS_LOCATION)
    keep = sorted(df.market_ids.unique())[:markets]
    return (df[df.market_ids.isin(keep)].reset_index(drop=True),
            ag[ag.market_ids.isin(keep)].reset_index(drop=True))


def _pyblp_blp(df, ag):
    return pyblp.Problem((pyblp.Formulation(blp1995.LINEAR), pyblp.Formulation(blp1995.RANDOM),
                          pyblp.Formulation(blp1995.COST)), df,
                         pyblp.Formulation(blp1995.DEMOGRAPHICS), ag, costs_type="log")


# Slow (about 45 s alone, mostly compilation; 8 markets is the fewest with full-rank supply
# instruments). It used to hang the full default run: two batched LAPACK solves (markups and the
# implicit derivatives of δ) ran at once on both of XLA's two intra-op workers, each waiting for a
# free worker to run its pieces. Per-market solves (demand.solve_by_market) run inline, and
# test_blp_objective_factorises_one_market_at_a_time keeps batched solves out of the objective.
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::estimation.errors.NotConvergedWarning")
def test_blp_with_supply_objective_gradient_ses_match_pyblp_at_start():
    """Joint demand and supply moments, clustered S, log costs: same point, same numbers."""
    df, ag = _blp_reduced(8)
    p = build_products(df, BLP_SPEC)
    r = estimate_demand(p, build_agents(p, ag), sigma=BLP_SIGMA, pi=BLP_PI, method="1s",
                        optimizer="bfgs", optimizer_options={"maxiter": 0}, **blp1995.OPTIONS)
    ref = _pyblp_blp(df, ag).solve(BLP_SIGMA, BLP_PI, method="1s",
                                   optimization=pyblp.Optimization("return"), **blp1995.OPTIONS)
    assert r.objective == pytest.approx(float(ref.objective), rel=1e-8)
    np.testing.assert_allclose(r.gradient, ref.gradient.ravel(), rtol=1e-6,
                               atol=1e-8 * np.abs(ref.gradient).max())
    np.testing.assert_allclose(r.params[p.X1_names], ref.beta.ravel(), rtol=1e-7)
    np.testing.assert_allclose(r.params[[f"gamma[{n}]" for n in p.X3_names]], ref.gamma.ravel(),
                               rtol=1e-7)
    theta_se = np.r_[np.diag(ref.sigma_se)[[0, 2, 3, 4, 5]], ref.pi_se[1, 0]]
    np.testing.assert_allclose(r.bse.iloc[:6].to_numpy(), theta_se, rtol=1e-6)
    np.testing.assert_allclose(r.bse[p.X1_names], ref.beta_se.ravel(), rtol=1e-6)
    np.testing.assert_allclose(r.costs, ref.compute_costs().ravel(), rtol=1e-8)


@pytest.mark.slow
def test_blp_with_supply_reduced_estimate_matches_pyblp():
    df, ag = _blp_reduced(8)
    p = build_products(df, BLP_SPEC)
    r = estimate_demand(p, build_agents(p, ag), sigma=BLP_SIGMA, pi=BLP_PI,
                        costs_bounds=(0.001, None), W_type="clustered", se_type="clustered",
                        initial_update=True)
    ref = _pyblp_blp(df, ag).solve(BLP_SIGMA, BLP_PI, costs_bounds=(0.001, None),
                                   W_type="clustered", se_type="clustered", initial_update=True)
    assert r.objective == pytest.approx(float(ref.objective), rel=1e-6)
    np.testing.assert_allclose(r.params[p.X1_names], ref.beta.ravel(), rtol=1e-3)
    assert r.params["pi[prices,I(1 / income)]"] == pytest.approx(ref.pi[1, 0], rel=1e-3)


def test_blp_objective_factorises_one_market_at_a_time():
    """No batched LU or Cholesky in the objective or its gradient: jaxlib's batched LAPACK
    kernels wait on XLA's intra-op pool from inside it and deadlock when every worker does so
    (the old hang)."""
    df, ag = _blp_reduced(8)
    p = build_products(df, BLP_SPEC)
    prob = Problem(p, build_agents(p, ag), sigma=BLP_SIGMA, pi=BLP_PI, costs_bounds=(0.001, None))
    theta = jnp.asarray(prob.theta0, dtype=float)
    vg = jax.value_and_grad(prob.objective_parts, has_aux=True)
    closed = jax.make_jaxpr(vg)(theta, prob.logit_delta, jnp.asarray(prob.initial_W()))
    shapes = lu_operand_shapes(closed.jaxpr)
    assert len(shapes) >= 2, "markups and the implicit derivatives of δ each solve per market"
    assert all(len(s) == 2 for s in shapes), shapes
