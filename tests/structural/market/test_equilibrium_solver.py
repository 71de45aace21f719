"""The Bertrand–Nash equilibrium solver (SQUAREM on the ζ-markup map) against the simple ζ
iteration it accelerates and against the first-order conditions; the iteration starts where it
is told; a market without an equilibrium is reported quickly; parametric draws whose demand
slopes up are dropped; the draws solved in parts on threads are the draws solved at once."""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from _jaxpr import lu_operand_shapes

from structural.market import DemandSpec, build_products, estimate_demand, inversion, post, supply
from structural.market.demand import mixed_logit_shares, share_price_terms
from structural.market.supply import bertrand_markups, equilibrium_prices, ownership

T, J, I = 6, 5, 40


@pytest.fixture(scope="module")
def markets():
    """Random-coefficients markets (every α_i < 0), costs implied by the observed prices under
    single-product firms, and a merger of products 0, 1 and 2."""
    rng = np.random.default_rng(5)
    delta = jnp.asarray(rng.normal(0.0, 1.0, (T, J)))
    prices = jnp.asarray(rng.uniform(1.0, 2.0, (T, J)))
    mu = jnp.asarray(rng.normal(0.0, 0.5, (T, J, I)))
    weights = jnp.full((T, I), 1.0 / I)
    mask = jnp.ones((T, J), bool).at[0, J - 1].set(False)  # one padded product
    alpha = -2.0
    alpha_rc = jnp.asarray(-np.exp(rng.normal(-1.0, 0.6, (T, I))))
    lam, gam = jax.vmap(share_price_terms)(delta, mu, weights, mask, alpha + alpha_rc)
    s = jax.vmap(mixed_logit_shares)(delta, mu, weights, mask)
    firms = jnp.tile(jnp.arange(J), (T, 1))
    costs = prices - bertrand_markups(lam, gam, s, firms, mask)
    merged = jnp.tile(jnp.array([0, 0, 0, 3, 4]), (T, 1))
    return costs, merged, prices, delta, mu, weights, mask, alpha, alpha_rc


def _simple_iteration(costs, firms, p0, delta, mu, weights, mask, alpha, alpha_rc, steps):
    """p ← c + Λ⁻¹[(O ∘ Γ)'(p − c) − s], written out with Λ and Γ, ``steps`` times."""
    own = jax.vmap(ownership)(firms, mask)

    def zeta(p):
        dp = jnp.where(mask, p - p0, 0.0)
        d = delta + alpha * dp
        m = mu + dp[:, :, None] * alpha_rc[:, None, :]
        lam, gam = jax.vmap(share_price_terms)(d, m, weights, mask, alpha + alpha_rc)
        s = jax.vmap(mixed_logit_shares)(d, m, weights, mask)
        og = jnp.where(own, gam, 0.0)
        z = (jnp.einsum("tkj,tk->tj", og, jnp.where(mask, p - costs, 0.0)) - s) / jnp.where(
            mask, lam, -1.0)
        return jnp.where(mask, costs + z, p0)

    return jax.lax.fori_loop(0, steps, lambda _, p: zeta(p), p0)


def test_squarem_finds_the_simple_iterations_fixed_point(markets):
    costs, merged, prices, delta, mu, weights, mask, alpha, alpha_rc = markets
    p, it, conv = equilibrium_prices(costs, merged, prices, delta, mu, weights, mask, alpha,
                                     alpha_rc)
    assert bool(conv.all())
    simple = _simple_iteration(costs, merged, prices, delta, mu, weights, mask, alpha, alpha_rc,
                               3000)
    np.testing.assert_allclose(p, simple, rtol=0, atol=1e-10)
    # and the first-order conditions hold: s + (O ∘ (Λ − Γ)')(p − c) = 0
    dp = jnp.where(mask, p - prices, 0.0)
    d, m = delta + alpha * dp, mu + dp[:, :, None] * alpha_rc[:, None, :]
    lam, gam = jax.vmap(share_price_terms)(d, m, weights, mask, alpha + alpha_rc)
    s = jax.vmap(mixed_logit_shares)(d, m, weights, mask)
    own = jax.vmap(ownership)(merged, mask)
    dsdp = jax.vmap(jnp.diag)(lam) - gam
    foc = s + jnp.einsum("tkj,tk->tj", jnp.where(own, dsdp, 0.0), jnp.where(mask, p - costs, 0))
    assert float(jnp.max(jnp.abs(jnp.where(mask, foc, 0.0)))) < 1e-12
    # the merging products' prices rise
    assert bool((p[:, :3] > prices[:, :3])[mask[:, :3]].all()) and int(it.max()) <= 30


def test_the_iteration_starts_where_it_is_told(markets):
    """``start`` moves where the search begins, not the model (δ and μ stay at the observed
    prices): from the equilibrium itself it stops at once, from elsewhere it finds the same
    prices (these markets have one equilibrium)."""
    costs, merged, prices, delta, mu, weights, mask, alpha, alpha_rc = markets
    args = (costs, merged, prices, delta, mu, weights, mask, alpha, alpha_rc)
    p, _, conv = equilibrium_prices(*args)
    assert bool(conv.all())
    p1, it1, conv1 = equilibrium_prices(*args, start=p)
    assert bool(conv1.all()) and int(it1.max()) <= 1
    np.testing.assert_array_equal(np.asarray(p1), np.asarray(p))
    far = jnp.where(mask, 1.5 * p, prices)
    p2, _, conv2 = equilibrium_prices(*args, start=far)
    assert bool(conv2.all())
    np.testing.assert_allclose(p2, p, rtol=0, atol=1e-10)


def test_a_market_without_equilibrium_is_reported_after_a_few_steps(markets):
    """Some consumers with α_i > 0 buy at any price: a firm's profit has no maximum. The
    market stalls and is declared not converged after ``patience`` steps; the others solve."""
    costs, merged, prices, delta, mu, weights, mask, alpha, alpha_rc = markets
    upward = alpha_rc.at[2, : I // 2].set(2.5)  # half of market 2's consumers: α_i = +0.5
    _, it, conv = equilibrium_prices(costs, merged, prices, delta, mu, weights, mask, alpha,
                                     upward, patience=30)
    assert not bool(conv[2]) and int(it[2]) <= 40
    assert bool(jnp.delete(conv, 2).all())
    # without the stall test it runs to the cap and still reports no convergence
    _, it_cap, conv_cap = equilibrium_prices(costs, merged, prices, delta, mu, weights, mask,
                                             alpha, upward, max_iterations=500, patience=None)
    assert not bool(conv_cap[2]) and int(it_cap[2]) == 500


def test_the_queue_solves_each_market_as_the_batch_does(markets):
    """Three groups (draws) of the six markets through one queue on four lanes: the first
    group's prices are the batched solver's, the second (half of market 2's consumers with
    α_i > 0) fails, and the third, dead from the start, is not solved."""
    costs, merged, prices, delta, mu, weights, mask, alpha, alpha_rc = markets
    rc = jnp.stack([alpha_rc, alpha_rc.at[2, : I // 2].set(2.5), alpha_rc])
    owner = jax.vmap(supply.owners)(merged)

    def fetch(k):
        g, t = k // T, k % T
        return ((costs[t], owner[t], prices[t], delta[t], mu[t], weights[t],
                 weights[t] * (alpha + rc[g, t]), mask[t], alpha, rc[g, t]), prices[t])

    order = jnp.arange(3 * T)[::-1]  # the failing group before the converging one
    p, conv, dead = jax.jit(lambda: supply.queued_equilibria(
        fetch, order, jnp.arange(3 * T) // T, jnp.array([False, False, True]), 4, 1000, 30,
        atol=1e-12))()
    expected, _, ok = equilibrium_prices(costs, merged, prices, delta, mu, weights, mask, alpha,
                                         alpha_rc, max_iterations=1000, patience=30)
    assert bool(ok.all()) and bool(conv[:T].all())
    np.testing.assert_allclose(p[:T], expected, rtol=1e-14, atol=0)
    assert dead.tolist() == [False, True, True] and not bool(conv[T + 2])
    assert bool(jnp.isnan(p[2 * T:]).all()) and not bool(conv[2 * T:].any())


def test_the_queue_skips_and_stops_the_rest_of_a_failed_group(markets):
    """Two groups on two lanes, the failing group first: its markets 3 and 2 (a quarter of
    their consumers with α_i > 0) start together; 3 stalls first (31 steps, 2 at 32), so the
    group fails with 3 (its last iterate kept, not converged), 2 is stopped while running and
    the group's other markets are never started (both NaN, not converged); the other group
    equals the batched solver."""
    costs, merged, prices, delta, mu, weights, mask, alpha, alpha_rc = markets
    rc = jnp.stack([alpha_rc, alpha_rc.at[2:4, : I // 4].set(2.5)])
    owner = jax.vmap(supply.owners)(merged)

    def fetch(k):
        g, t = k // T, k % T
        return ((costs[t], owner[t], prices[t], delta[t], mu[t], weights[t],
                 weights[t] * (alpha + rc[g, t]), mask[t], alpha, rc[g, t]), prices[t])

    order = jnp.concatenate([T + jnp.array([3, 2, 0, 1, 4, 5]), jnp.arange(T)])
    p, conv, dead = jax.jit(lambda: supply.queued_equilibria(
        fetch, order, jnp.arange(2 * T) // T, jnp.array([False, False]), 2, 1000, 30,
        atol=1e-12))()
    _, it, _ = equilibrium_prices(costs, merged, prices, delta, mu, weights, mask, alpha, rc[1],
                                  max_iterations=1000, patience=30)
    assert int(it[3]) < int(it[2])  # 3 fails while 2 still runs
    expected, _, ok = equilibrium_prices(costs, merged, prices, delta, mu, weights, mask, alpha,
                                         alpha_rc, max_iterations=1000, patience=30)
    assert bool(ok.all()) and bool(conv[:T].all())
    np.testing.assert_allclose(p[:T], expected, rtol=1e-14, atol=0)
    assert dead.tolist() == [False, True] and not bool(conv[T:].any())
    assert bool(jnp.isfinite(p[T + 3][mask[3]]).all())
    rest = jnp.array([0, 1, 2, 4, 5])
    assert bool(jnp.isnan(p[T + rest]).all())


def test_draws_with_upward_sloping_demand_are_dropped(markets_logit):
    """Logit draws of α from a wide covariance: exactly the draws with α < 0 are kept (α ≥ 0:
    every consumer's demand slopes up, no equilibrium)."""
    res, firms = markets_logit
    wide = res.covariance.copy()
    wide.loc["prices", "prices"] = (0.5 * res.price_coefficient) ** 2
    wide_res = dataclasses.replace(res, covariance=wide)
    cf = post.counterfactual(wide_res, firm_ids=firms, draws=40, seed=2)
    _, _, V = post._draw_layout(wide_res)
    z = np.random.default_rng(2).multivariate_normal(np.zeros(1), V, size=40, method="eigh")
    negative = int((res.price_coefficient + z[:, 0] < 0).sum())
    assert 0 < negative < 40 and cf.draws == negative


@pytest.fixture(scope="module")
def markets_logit(simulated_logit):
    """The shared simulated logit and a merger of its firms 0 and 1."""
    df, res = simulated_logit
    return res, df["firm_ids"].replace(1, 0).to_numpy()


def test_draws_in_small_blocks_are_the_draws_in_one(markets_logit, monkeypatch):
    """The draws' set-up held three draws at a time (four blocks, the last padded with two draws
    not solved) gives the same draws kept, and their prices and ΔCS bit for bit, as one block."""
    res, firms = markets_logit
    prob = res.problem
    owners, shift, keep, _ = post._change(prob, firms, None, None, None, None)
    change = (owners, shift, jnp.asarray(prob.layout.pad(keep, fill=False)))
    pt, pa, V = post._draw_layout(res)
    V = V * (res.price_coefficient ** 2 / V[-1, -1])  # wide: some draws have α ≥ 0
    z = jnp.asarray(np.random.default_rng(4).multivariate_normal(np.zeros(V.shape[0]), V, size=10,
                                                                  method="eigh"))
    at = (pt, pa, np.zeros(0, int))
    theta0, alpha0 = jnp.asarray(res.theta), jnp.asarray(res.price_coefficient)
    d0 = jnp.asarray(prob.layout.pad(res.delta))
    setup = partial(post._draw_setup, prob, at, theta0, alpha0, d0,
                    jnp.zeros(d0.shape + theta0.shape), change)
    per_draw = sum(a.size * a.dtype.itemsize
                   for a in jax.tree.leaves(jax.eval_shape(setup, z[0], True)))

    def draws():
        return jax.jit(lambda: post._queued_draws(prob, at, z, prob.prices_pad, theta0, alpha0,
                                                  d0, change))()

    p, dcs, kept = draws()
    # each of the parts holds a block at once: three draws a block in each
    monkeypatch.setattr(post, "DRAW_BLOCK_BYTES", 3 * per_draw * post.DRAW_PARTS)
    p3, dcs3, kept3 = draws()
    assert 0 < int(kept.sum()) < 10
    np.testing.assert_array_equal(kept3, kept)
    np.testing.assert_array_equal(p3[kept], p[kept])
    np.testing.assert_array_equal(dcs3[kept], dcs[kept])


def _draws_with_parts(res, firms, parts, monkeypatch):
    monkeypatch.setattr(post, "DRAW_PARTS", parts)
    return post.counterfactual(res, firm_ids=firms, draws=10, seed=3)


def test_draws_in_parts_on_threads_are_the_draws_in_one(markets_logit, monkeypatch):
    """The draws split into three parts solved on three threads at once (four draws a part, the
    last padded with two draws not solved) give the same draws kept, and the same intervals bit
    for bit, as one part; some draws (α ≥ 0) are dropped."""
    res, firms = markets_logit
    wide = res.covariance.copy()
    wide.loc["prices", "prices"] = (0.5 * res.price_coefficient) ** 2
    res = dataclasses.replace(res, covariance=wide)
    one = _draws_with_parts(res, firms, 1, monkeypatch)
    three = _draws_with_parts(res, firms, 3, monkeypatch)
    assert 0 < one.draws < 10 and three.draws == one.draws
    pd.testing.assert_frame_equal(three.table, one.table, check_exact=True)
    pd.testing.assert_frame_equal(three.surplus, one.surplus, check_exact=True)


def test_random_coefficient_draws_in_parts_are_the_draws_in_one(nevo_data, nevo_start,
                                                                 monkeypatch):
    """Random coefficients with demographics (Nevo's cereal at his starting values, no
    iterations): a merger's draws split into three parts on three threads (the last padded
    with a draw not solved) give the draws kept, and the intervals bit for bit, of one part."""
    df, _ = nevo_data
    res = nevo_start[1]
    firms = df["firm_ids"].replace(2, 1).to_numpy()
    one = _draws_with_parts(res, firms, 1, monkeypatch)
    three = _draws_with_parts(res, firms, 3, monkeypatch)
    assert one.draws > 0 and three.draws == one.draws
    pd.testing.assert_frame_equal(three.table, one.table, check_exact=True)
    pd.testing.assert_frame_equal(three.surplus, one.surplus, check_exact=True)


def test_markets_a_few_at_a_time_are_the_batch(markets_logit, monkeypatch):
    """The counterfactual's solvers on one market at a time, or on five at a time (two batches
    and a remainder of two), find the batch's prices, ΔCS and intervals to rounding and keep the
    same draws (some, with α ≥ 0, dropped)."""
    res, firms = markets_logit
    wide = res.covariance.copy()
    wide.loc["prices", "prices"] = (0.5 * res.price_coefficient) ** 2
    res = dataclasses.replace(res, covariance=wide)
    prob = res.problem
    mu = prob.agent_terms(jnp.asarray(res.theta))[0]
    per_market = max(1, mu[0].size * mu.dtype.itemsize)
    found = []
    for at_once in (prob.layout.T, 1, 5):
        monkeypatch.setattr(inversion, "_MARKET_BYTES", at_once * per_market)
        # the patched budget does give these many markets a call (μ's markets are the largest)
        assert inversion._markets_at_once(prob.layout.T, mu[0]) == at_once
        found.append(post.counterfactual(res, firm_ids=firms, draws=10, seed=3))
    assert 0 < found[0].draws < 10 and found[0].converged
    for cf in found[1:]:
        assert cf.draws == found[0].draws and cf.converged
        for frame, cols in ((cf.table, ("new_prices", "new_shares", "new_markups",
                                        "new_prices_low", "new_prices_high")),
                            (cf.surplus, ("change_in_cs", "change_in_cs_low",
                                          "change_in_cs_high"))):
            base = found[0].table if frame is cf.table else found[0].surplus
            for col in cols:
                np.testing.assert_allclose(frame[col], base[col], rtol=1e-12, atol=0)


def test_markets_a_few_at_a_time_factorise_one_market_at_a_time(markets_logit, monkeypatch):
    """Five markets at a time, the markups' solver gets chunks of markets as it is, never a vmap
    of it: every LU is one market's J×J matrix, not a batch (a vmap turned the per-market
    factorisations into one batched LAPACK call, which can deadlock XLA's worker pool while the
    two draw parts run; see ``demand.solve_by_market``)."""
    res, _ = markets_logit
    prob = res.problem
    theta, alpha = jnp.asarray(res.theta), jnp.asarray(res.price_coefficient)
    mu = prob.agent_terms(theta)[0]
    monkeypatch.setattr(inversion, "_MARKET_BYTES", 5 * mu[0].size * mu.dtype.itemsize)
    assert 1 < inversion._markets_at_once(prob.layout.T, mu[0]) == 5 < prob.layout.T
    closed = jax.make_jaxpr(lambda d: post._mixed_costs(prob, theta, alpha, d, 0.0, None))(
        jnp.asarray(prob.layout.pad(res.delta)))
    shapes = lu_operand_shapes(closed.jaxpr)
    assert shapes and all(len(s) == 2 for s in shapes), shapes


def _markets_of_two_sizes():
    """A logit estimated on 6 markets of 6 products and 6 of 20, its price coefficient's
    variance widened (some draws get α ≥ 0), and the merger's owners."""
    rng = np.random.default_rng(8)
    sizes = np.repeat([6, 20], 6)
    market = np.repeat(np.arange(len(sizes)), sizes)
    slot = np.concatenate([np.arange(n) for n in sizes])
    x, w = rng.uniform(0, 2, len(slot)), rng.uniform(0, 1, len(slot))
    price = 1 + 0.5 * x + w + rng.normal(0, 0.1, len(slot))
    e = np.exp(1.0 + x - 2.0 * price + rng.normal(0, 0.3, len(slot)))
    s = e / (1 + np.bincount(market, e)[market])
    df = pd.DataFrame({"market_ids": market, "product_ids": slot, "firm_ids": slot // 2,
                       "shares": s, "prices": price, "x": x, "demand_instruments0": w,
                       "demand_instruments1": w ** 2})
    res = estimate_demand(build_products(df, DemandSpec("1 + prices + x")))
    wide = res.covariance.copy()
    wide.loc["prices", "prices"] = res.price_coefficient ** 2
    return dataclasses.replace(res, covariance=wide), df["firm_ids"].replace(1, 0).to_numpy()


def _one_class_and_two(res, firms, monkeypatch):
    classes = post._size_classes(res.problem.layout.mask.sum(axis=1))
    assert [(m.tolist(), n) for m, n in classes] == [(list(range(6)), 8),
                                                     (list(range(6, 12)), 20)]
    found = [post.counterfactual(res, firm_ids=firms, draws=12, seed=2)]
    with monkeypatch.context() as m:
        m.setattr(post, "_size_classes", lambda sizes: [(None, int(max(sizes)))])
        found.append(post.counterfactual(res, firm_ids=firms, draws=12, seed=2))
    assert found[1].draws == found[0].draws
    for col in ("new_prices", "new_prices_low", "new_prices_high"):
        np.testing.assert_allclose(found[0].table[col], found[1].table[col], rtol=1e-12, atol=0)
    for col in ("change_in_cs", "change_in_cs_low", "change_in_cs_high"):
        np.testing.assert_allclose(found[0].surplus[col], found[1].surplus[col], rtol=1e-12,
                                   atol=0)
    return found[0].draws


def test_draws_by_market_size_are_the_draws_of_all_markets_together(monkeypatch):
    """Markets of 6 and of 20 products (a logit estimated on them): the draws' equilibria in
    two queues, the small markets padded to 8 products only, keep the same draws (some, with
    α ≥ 0, dropped) and find the same prices and intervals (to rounding) as one queue of all
    the markets padded to 20."""
    res, firms = _markets_of_two_sizes()
    assert 0 < _one_class_and_two(res, firms, monkeypatch) < 12


def test_draws_failed_in_one_size_class_are_failed_in_all(monkeypatch):
    """With too few ζ-iterations for some draws to converge, the two queues drop the same
    draws as one queue (a draw failed in the first class is not solved, nor kept, in the
    second): same number kept, same intervals."""
    res, firms = _markets_of_two_sizes()
    kept = _one_class_and_two(res, firms, monkeypatch)
    monkeypatch.setattr(post, "DRAW_ITERATIONS", 5)  # 2 of the 10 draws then fail
    assert 0 < _one_class_and_two(res, firms, monkeypatch) < kept
