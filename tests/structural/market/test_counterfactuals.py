"""Counterfactual equilibria (cost shock with pass-through, a per-unit tax, product exit) against
a logit Bertrand–Nash equilibrium solved by hand: with logit demand every product of firm f has
the markup p_j − c_j = 1 / (−α (1 − S_f)), S_f the firm's total share, so the equilibrium is the
root of that system (scipy), independent of the ζ-markup iteration under test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.optimize

from structural.market import post


@pytest.fixture(scope="module")
def logit(simulated_logit):
    return simulated_logit


def _shares(delta0, alpha, p0, p):
    e = np.exp(delta0 + alpha * (p - p0))
    return e / (1 + e.sum())


def _hand_equilibrium(df, res, costs, keep):
    """Prices (NaN for products that left) solving p = c + 1/(−α(1 − S_f)) market by market."""
    alpha = res.price_coefficient
    out = np.full(len(df), np.nan)
    for _, rows in df.groupby("market_ids").groups.items():
        rows = np.asarray(rows)[keep[np.asarray(rows)]]
        firms = df["firm_ids"].to_numpy()[rows]
        d0, p0, c = res.delta[rows], df["prices"].to_numpy()[rows], costs[rows]

        def foc(p, d0=d0, p0=p0, c=c, firms=firms):
            s = _shares(d0, alpha, p0, p)
            S = pd.Series(s).groupby(firms).transform("sum").to_numpy()
            return p - c - 1.0 / (-alpha * (1.0 - S))

        sol = scipy.optimize.root(foc, p0, tol=1e-13)
        assert np.max(np.abs(foc(sol.x))) < 1e-12
        out[rows] = sol.x
    return out


def _costs(df, res):
    """c = p − 1/(−α(1 − S_f)) at the observed prices (the data's ownership)."""
    S = df.groupby(["market_ids", "firm_ids"])["shares"].transform("sum").to_numpy()
    return df["prices"].to_numpy() - 1.0 / (-res.price_coefficient * (1.0 - S))


def test_markups_are_the_logit_closed_form(logit):
    df, res = logit
    np.testing.assert_allclose(df["prices"] - post.markups(res), _costs(df, res), rtol=1e-10)


def test_cost_shock_equilibrium_and_pass_through(logit):
    df, res = logit
    shock = np.where(df["firm_ids"] == 0, 0.1, 0.0)
    cf = post.counterfactual(res, cost_shock=shock)
    assert cf.converged
    hand = _hand_equilibrium(df, res, _costs(df, res) + shock, np.ones(len(df), bool))
    np.testing.assert_allclose(cf.table["new_prices"], hand, rtol=1e-9)
    pass_through = ((cf.table["new_prices"] - df["prices"]) / 0.1)[df["firm_ids"] == 0]
    # logit pass-through of a firm's own cost: positive, below one plus the markup's rise
    assert ((pass_through > 0.5) & (pass_through < 1.5)).all()
    rivals = (cf.table["new_prices"] - df["prices"])[df["firm_ids"] != 0]
    assert (rivals > 0).all()  # strategic complements: rivals follow
    np.testing.assert_allclose(cf.table["new_markups"], hand - _costs(df, res) - shock,
                               rtol=1e-8)


def test_tax_is_a_cost_the_firm_pays_on_every_unit(logit):
    df, res = logit
    taxed = post.counterfactual(res, tax=0.05)
    shocked = post.counterfactual(res, cost_shock=np.full(len(df), 0.05))
    np.testing.assert_array_equal(taxed.table["new_prices"], shocked.table["new_prices"])
    hand = _hand_equilibrium(df, res, _costs(df, res) + 0.05, np.ones(len(df), bool))
    np.testing.assert_allclose(taxed.table["new_prices"], hand, rtol=1e-9)
    # consumers lose surplus in every market: ΔCS = Δ log(1 + Σ exp V) / (−α)
    alpha = res.price_coefficient
    for t, (m, rows) in enumerate(df.groupby("market_ids").groups.items()):
        rows = np.asarray(rows)
        p0 = df["prices"].to_numpy()[rows]
        v0, v1 = res.delta[rows], res.delta[rows] + alpha * (hand[rows] - p0)
        dcs = (np.log1p(np.exp(v1).sum()) - np.log1p(np.exp(v0).sum())) / -alpha
        assert taxed.surplus.loc[t, "market_ids"] == m
        assert taxed.surplus.loc[t, "change_in_cs"] == pytest.approx(dcs, rel=1e-8)
        assert dcs < 0


def test_product_exit_equilibrium(logit):
    df, res = logit
    gone = (df["product_ids"] == 0).to_numpy()
    cf = post.counterfactual(res, remove=gone)
    assert cf.converged
    assert cf.table.loc[gone, ["new_prices", "new_shares"]].isna().all().all()
    hand = _hand_equilibrium(df, res, _costs(df, res), ~gone)
    np.testing.assert_allclose(cf.table.loc[~gone, "new_prices"], hand[~gone], rtol=1e-9)
    # rivals gain share and raise their markups; the exiting product's sibling loses its firm's
    # share of that product, so its markup falls
    rise = (cf.table["new_prices"] - df["prices"]).to_numpy()
    rivals = (df["firm_ids"] != 0).to_numpy()
    assert (rise[rivals] > 0).all()
    assert (rise[(df["product_ids"] == 1).to_numpy()] < 0).all()


def test_a_draw_whose_equilibrium_needs_more_steps_than_the_cap_is_dropped(logit, monkeypatch):
    """Intervals keep the draws whose equilibrium converges within ``post.DRAW_ITERATIONS``
    SQUAREM steps; the point counterfactual keeps its own limit, so its prices do not move."""
    _, res = logit
    kept = post.counterfactual(res, tax=0.05, draws=3)
    assert kept.draws == 3 and kept.table["new_prices_low"].notna().all()
    monkeypatch.setattr(post, "DRAW_ITERATIONS", 1)
    capped = post.counterfactual(res, tax=0.05, draws=3)
    assert capped.draws == 0 and capped.table["new_prices_low"].isna().all()
    np.testing.assert_array_equal(capped.table["new_prices"], kept.table["new_prices"])
