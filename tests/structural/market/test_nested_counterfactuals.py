"""Nested-logit counterfactual equilibria (merger, cost shock with pass-through, tax, product exit)
and consumer surplus against a nested-logit Bertrand–Nash equilibrium solved by hand: shares
written out in NumPy, their price derivatives by complex-step differentiation (exact to rounding),
and the first-order conditions s + (O ∘ ∂s/∂p')'(p − c) = 0 solved by ``scipy.optimize.root`` —
independent of the ζ-markup iteration and the closed-form Jacobian under test. Two nests with
one nesting parameter each."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.optimize

from structural.errors import MarketDataError
from structural.market import DemandSpec, build_products, estimate_demand, post

T, J = 16, 6
RHO = (0.4, 0.75)


@pytest.fixture(scope="module")
def nested():
    rng = np.random.default_rng(11)
    N = T * J
    mid = np.repeat(np.arange(T), J)
    nest = np.tile([0, 0, 0, 1, 1, 1], T)
    x = rng.uniform(0, 2, N)
    w = rng.uniform(0, 1, N)
    xi = rng.normal(0, 0.2, N)
    price = 1 + 0.5 * x + w + 0.3 * xi
    delta = -1.0 + x - 1.5 * price + xi
    rho = np.asarray(RHO)[nest]
    s = np.concatenate([_shares(delta[mid == t], rho[mid == t], nest[mid == t])
                        for t in range(T)])
    df = pd.DataFrame({"market_ids": mid, "product_ids": np.tile(np.arange(J), T),
                       "firm_ids": np.tile([0, 0, 1, 1, 2, 2], T), "nest": nest, "shares": s,
                       "prices": price, "x": x, "demand_instruments0": w,
                       "demand_instruments1": w ** 2, "demand_instruments2": x * w})
    df["demand_instruments3"] = df.groupby(["market_ids", "nest"])["x"].transform("sum") - x
    df["demand_instruments4"] = df.groupby(["market_ids", "nest"])["demand_instruments0"] \
        .transform("sum") - w
    spec = DemandSpec("1 + prices + x", nesting="nest", rho_per_nest=True)
    res = estimate_demand(build_products(df, spec), rho=[0.5, 0.5])
    rho_hat = res.params[["rho[0]", "rho[1]"]].to_numpy()
    assert res.converged and (rho_hat > 0.1).all() and (rho_hat < 0.95).all()
    assert res.price_coefficient < 0
    return df, res, rho_hat


def _shares(delta, rho_j, nest):
    """s_j = exp(δ_j/(1−ρ))/D_h · D_h^(1−ρ_h)/(1 + Σ_g D_g^(1−ρ_g)); complex-safe."""
    ev = np.exp(delta / (1 - rho_j))
    D = {h: ev[nest == h].sum() for h in np.unique(nest)}
    incl = {h: D[h] ** (1 - rho_j[nest == h][0]) for h in D}
    denom = 1 + sum(incl.values())
    return np.array([ev[j] / D[nest[j]] * incl[nest[j]] / denom for j in range(len(delta))])


def _jacobian(f, p, h=1e-30):
    """∂f/∂p' by the complex step: Im f(p + ih e_k)/h, exact to rounding."""
    return np.column_stack([np.imag(f(p + 1j * h * e)) / h for e in np.eye(len(p))])


class Hand:
    """One fitted market's demand at prices p: δ(p) = δ0 + α(p − p0)."""

    def __init__(self, df, res, rho_hat, t, keep):
        rows = np.flatnonzero((df["market_ids"] == t).to_numpy() & keep)
        self.rows = rows
        self.nest = df["nest"].to_numpy()[rows]
        self.rho = rho_hat[self.nest]
        self.d0, self.p0 = res.delta[rows], df["prices"].to_numpy()[rows]
        self.alpha = res.price_coefficient

    def shares(self, p):
        return _shares(self.d0 + self.alpha * (p - self.p0), self.rho, self.nest)

    def foc(self, p, c, firms):
        own = firms[:, None] == firms[None, :]
        return self.shares(p) + (own * _jacobian(self.shares, p).T) @ (p - c)

    def surplus(self, p):
        ev = np.exp((self.d0 + self.alpha * (p - self.p0)) / (1 - self.rho))
        inc = sum(ev[self.nest == h].sum() ** (1 - self.rho[self.nest == h][0])
                  for h in np.unique(self.nest))
        return np.log1p(inc) / -self.alpha


def _hand(df, res, rho_hat, costs, firms, keep):
    """Equilibrium prices (NaN for products gone) and ΔCS per market, by root-finding."""
    prices = np.full(len(df), np.nan)
    dcs = np.zeros(T)
    for t in range(T):
        before = Hand(df, res, rho_hat, t, np.ones(len(df), bool))
        m = Hand(df, res, rho_hat, t, keep)
        c, f = costs[m.rows], firms[m.rows]
        sol = scipy.optimize.root(m.foc, m.p0, args=(c, f), tol=1e-14)
        assert np.max(np.abs(m.foc(sol.x, c, f))) < 1e-13
        prices[m.rows] = sol.x
        dcs[t] = m.surplus(sol.x) - before.surplus(before.p0)
    return prices, dcs


def _costs(df, res, rho_hat):
    """c = p + (O ∘ ∂s/∂p')'⁻¹ s at the observed prices, market by market."""
    c = np.zeros(len(df))
    firms = df["firm_ids"].to_numpy()
    for t in range(T):
        m = Hand(df, res, rho_hat, t, np.ones(len(df), bool))
        own = firms[m.rows][:, None] == firms[m.rows][None, :]
        A = own * _jacobian(m.shares, m.p0).T
        c[m.rows] = m.p0 + np.linalg.solve(A, m.shares(m.p0))
    return c


def test_markups_and_surplus_are_the_hand_solution(nested):
    df, res, rho_hat = nested
    costs = _costs(df, res, rho_hat)
    np.testing.assert_allclose(post.markups(res), df["prices"] - costs, rtol=1e-9)
    cs = [Hand(df, res, rho_hat, t, np.ones(len(df), bool)) for t in range(T)]
    np.testing.assert_allclose(post.consumer_surplus(res), [m.surplus(m.p0) for m in cs],
                               rtol=1e-10)
    dp = np.where(df["product_ids"] == 0, 0.2, 0.0)
    at = post.consumer_surplus(res, prices=df["prices"].to_numpy() + dp)
    np.testing.assert_allclose(at, [m.surplus(m.p0 + dp[m.rows]) for m in cs], rtol=1e-10)
    with pytest.raises(MarketDataError, match="prices"):
        post.consumer_surplus(res, prices=np.ones(3))


def test_merger_equilibrium_is_the_hand_solution(nested):
    df, res, rho_hat = nested
    firms = df["firm_ids"].replace(1, 0).to_numpy()  # firm 1 joins firm 0, across both nests
    cf = post.counterfactual(res, firm_ids=firms)
    assert cf.converged
    costs = _costs(df, res, rho_hat)
    hand, dcs = _hand(df, res, rho_hat, costs, firms, np.ones(len(df), bool))
    np.testing.assert_allclose(cf.table["new_prices"], hand, rtol=1e-9)
    np.testing.assert_allclose(cf.table["new_markups"], hand - costs, rtol=1e-9)
    shares = np.concatenate([Hand(df, res, rho_hat, t, np.ones(len(df), bool)).shares(
        hand[(df["market_ids"] == t).to_numpy()]) for t in range(T)])
    np.testing.assert_allclose(cf.table["new_shares"], shares, rtol=1e-9)
    np.testing.assert_allclose(cf.surplus["change_in_cs"], dcs, rtol=1e-9)
    merging = df["firm_ids"].isin([0, 1]).to_numpy()
    assert (cf.table["new_prices"] > df["prices"])[merging].all() and (dcs < 0).all()


def test_cost_shock_pass_through_and_tax(nested):
    df, res, rho_hat = nested
    costs = _costs(df, res, rho_hat)
    shock = np.where(df["firm_ids"] == 2, 0.1, 0.0)
    cf = post.counterfactual(res, cost_shock=shock)
    hand, dcs = _hand(df, res, rho_hat, costs + shock, df["firm_ids"].to_numpy(),
                      np.ones(len(df), bool))
    assert cf.converged
    np.testing.assert_allclose(cf.table["new_prices"], hand, rtol=1e-9)
    np.testing.assert_allclose(cf.surplus["change_in_cs"], dcs, rtol=1e-9)
    pass_through = ((hand - df["prices"]) / 0.1)[df["firm_ids"] == 2]
    assert ((pass_through > 0.3) & (pass_through < 2.0)).all()
    taxed = post.counterfactual(res, tax=0.05)
    shocked = post.counterfactual(res, cost_shock=np.full(len(df), 0.05))
    np.testing.assert_array_equal(taxed.table["new_prices"], shocked.table["new_prices"])
    hand, _ = _hand(df, res, rho_hat, costs + 0.05, df["firm_ids"].to_numpy(),
                    np.ones(len(df), bool))
    np.testing.assert_allclose(taxed.table["new_prices"], hand, rtol=1e-9)


def test_product_exit_equilibrium(nested):
    df, res, rho_hat = nested
    gone = (df["product_ids"] == 3).to_numpy()  # one of firm 1's products, nest 1
    cf = post.counterfactual(res, remove=gone)
    assert cf.converged
    assert cf.table.loc[gone, ["new_prices", "new_shares", "new_markups"]].isna().all().all()
    hand, dcs = _hand(df, res, rho_hat, _costs(df, res, rho_hat), df["firm_ids"].to_numpy(),
                      ~gone)
    np.testing.assert_allclose(cf.table.loc[~gone, "new_prices"], hand[~gone], rtol=1e-9)
    np.testing.assert_allclose(cf.surplus["change_in_cs"], dcs, rtol=1e-9)
    # its nest-mates, now one firm's alone in the nest, raise their prices most
    rise = (cf.table["new_prices"] - df["prices"]).to_numpy()
    same_nest = (df["nest"] == 1).to_numpy() & ~gone
    assert (rise[same_nest] > 0).all()
    assert rise[same_nest].mean() > 2 * rise[(df["nest"] == 0).to_numpy()].mean()


def test_intervals_from_parametric_draws(nested):
    df, res, _ = nested
    firms = df["firm_ids"].replace(1, 0).to_numpy()
    cf = post.counterfactual(res, firm_ids=firms, draws=40, seed=1)
    assert 30 <= cf.draws <= 40
    t, s = cf.table, cf.surplus
    assert (t["new_prices_low"] < t["new_prices_high"]).all()
    inside = (t["new_prices_low"] <= t["new_prices"]) & (t["new_prices"] <= t["new_prices_high"])
    assert inside.mean() > 0.9
    assert ((s["change_in_cs_low"] <= s["change_in_cs"])
            & (s["change_in_cs"] <= s["change_in_cs_high"])).mean() > 0.9


def test_draws_with_rho_outside_the_unit_interval_are_dropped(nested):
    """A covariance wide enough that some draws of ρ leave [0, 1): those draws are not used."""
    df, res, _ = nested
    wide = res.covariance.copy()
    for k in ("rho[0]", "rho[1]"):
        wide.loc[k, k] += 0.09
    cf = post.counterfactual(dataclasses.replace(res, covariance=wide), draws=30,
                             firm_ids=df["firm_ids"].replace(1, 0).to_numpy())
    assert 10 < cf.draws < 30
    assert np.isfinite(cf.table["new_prices_low"]).all()


def test_bad_change_names_the_argument(nested):
    _, res, _ = nested
    with pytest.raises(MarketDataError, match="remove"):
        post.counterfactual(res, remove=np.ones(3, bool))
    with pytest.raises(MarketDataError, match="costs"):
        post.counterfactual(res, costs=np.full(res.problem.products.N, np.nan))


def test_draws_in_parts_on_threads_are_the_draws_in_one(nested, monkeypatch):
    """The nested logit's draws in two parts on two threads (the second padded with a draw not
    solved) give the intervals of one part bit for bit."""
    df, res, _ = nested
    firms = df["firm_ids"].replace(1, 0).to_numpy()
    found = []
    for parts in (1, 2):
        monkeypatch.setattr(post, "DRAW_PARTS", parts)
        found.append(post.counterfactual(res, firm_ids=firms, draws=7, seed=3))
    assert found[0].draws == found[1].draws > 0
    pd.testing.assert_frame_equal(found[1].table, found[0].table, check_exact=True)
    pd.testing.assert_frame_equal(found[1].surplus, found[0].surplus, check_exact=True)
