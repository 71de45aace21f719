"""The firm's problem: optimum, cost by stage, shadow price against finite differences of the
optimal cost, vmap over Q and hypotheses, and derivatives of the optimum.

Each quality mode compiles the solver once (tens of seconds); the tests share those compilations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

import structural  # noqa: F401
from structural import costs, firm, quality

THETA = firm.default_parameters()
Z = firm.default_levers()
Q0, TARGET = 1e9, 0.6


@pytest.fixture(scope="module")
def heavy_training():
    return firm.solve(("N", "D"), Z, THETA, Q0, TARGET)


def test_optimum_meets_target_and_converges(heavy_training):
    sol = heavy_training
    assert bool(sol.converged)
    assert float(sol.quality) == pytest.approx(TARGET, abs=1e-10)
    assert float(sol.cost) == pytest.approx(float(sol.fixed_cost) + Q0 * float(sol.variable_cost),
                                            rel=1e-14)
    assert sum(float(v) for v in sol.stage_dollars.values()) == pytest.approx(float(sol.cost),
                                                                              rel=1e-12)
    table = sol.stage_table()
    assert table["share"].sum() == pytest.approx(1.0, rel=1e-12)
    assert set(table.loc[table.kind == "fixed", "stage"]) == {"pretrain", "finetune", "data"}
    # the fixed levers stay where they were put
    for name in ("c", "k", "r", "D_F", "x", "y"):
        assert float(sol.levers[name]) == Z[name]


def test_optimum_is_a_minimum_along_the_constraint(heavy_training):
    """Moving N either way and re-solving D for the same quality costs more."""
    sol = heavy_training
    N_star = float(sol.levers["N"])
    theta = {k: jnp.asarray(v) for k, v in THETA.items()}

    def cost_at(N):
        def gap(logD):
            z = dict(sol.levers, N=jnp.asarray(N), D=jnp.exp(jnp.asarray(logD)))
            return float(quality.coverage(z, theta)) - TARGET
        logD = brentq(gap, np.log(1e10), np.log(1e16), xtol=1e-14)
        z = dict(sol.levers, N=jnp.asarray(N), D=jnp.exp(jnp.asarray(logD)))
        return float(costs.total_cost(z, theta, Q0))

    best = cost_at(N_star)
    assert best == pytest.approx(float(sol.cost), rel=1e-9)
    assert cost_at(0.9 * N_star) > best
    assert cost_at(1.1 * N_star) > best


def test_shadow_price_is_d_cost_d_target(heavy_training):
    h = 1e-5
    up = firm.solve(("N", "D"), Z, THETA, Q0, TARGET + h)
    down = firm.solve(("N", "D"), Z, THETA, Q0, TARGET - h)
    fd = (float(up.cost) - float(down.cost)) / (2 * h)
    assert float(heavy_training.shadow_price) == pytest.approx(fd, rel=1e-6)
    assert float(heavy_training.shadow_price) > 0


@pytest.mark.parametrize("lever", ["c", "k", "r"])
def test_single_lever_optimum_is_the_root_of_the_constraint(lever):
    """With one free lever the cheapest pipeline is the smallest lever value meeting the target."""
    sol = firm.solve((lever,), Z, THETA, Q0, TARGET)
    assert bool(sol.converged)
    theta = {k: jnp.asarray(v) for k, v in THETA.items()}
    z = {k: jnp.asarray(v) for k, v in Z.items()}

    def gap(v):
        return float(quality.coverage(dict(z, **{lever: jnp.asarray(v)}), theta)) - TARGET

    lo = 1.0 if lever == "k" else 1e-6
    root = brentq(gap, lo, 1e9, xtol=1e-12, rtol=1e-14)
    assert float(sol.levers[lever]) == pytest.approx(root, rel=1e-8)


def test_all_levers_free_converges_and_is_cheapest(heavy_training):
    sol = firm.solve(firm.LEVERS, Z, THETA, Q0, TARGET)
    assert bool(sol.converged)
    assert float(sol.quality) == pytest.approx(TARGET, abs=1e-9)
    assert float(sol.cost) <= float(heavy_training.cost)


def test_vmap_over_hypotheses_queries_and_prices():
    """Hypotheses × query volumes × chip prices in one batch (task-loss target: k and r act on
    success, not on the loss, so they play no part here)."""
    hyps = [("N", "D"), ("c",), ("D_F",), ("c", "D_F"), ("N", "D", "c")]
    Qs = [1e7, 1e9, 1e11]
    prices = [4.4, 2.2]
    target = 1.95
    grid = [(h, q, p) for h in hyps for q in Qs for p in prices]
    masks = jnp.asarray(np.stack([firm.free_mask(h) for h, _, _ in grid]))
    qs = jnp.asarray([q for _, q, _ in grid])
    ps = jnp.asarray([p for _, _, p in grid])

    def one(m, q, p):
        return firm.solve_masked(m, Z, THETA | {"price_per_hour": p, "price_per_hour_train": p},
                                 q, target,
                                 quality="task_loss")

    out = jax.vmap(one)(masks, qs, ps)
    assert out.cost.shape == (len(grid),)
    assert bool(out.converged.all())
    cost = np.array(out.cost).reshape(len(hyps), len(Qs), len(prices))
    N = np.array(out.levers["N"]).reshape(len(hyps), len(Qs), len(prices))
    # data are free here, so halving the chip price halves every cost and moves no lever
    assert np.allclose(cost[..., 1], 0.5 * cost[..., 0], rtol=1e-9)
    assert np.allclose(N[..., 1], N[..., 0], rtol=1e-7)
    cost = cost[..., 0]
    assert np.all(np.diff(cost, axis=1) > 0)              # more queries cost more
    assert N[0, 0, 0] > N[0, 1, 0] > N[0, 2, 0]           # heavy inference → smaller model
    # freeing a superset of levers never costs more
    assert np.all(cost[4] <= cost[0] * (1 + 1e-9))
    assert np.all(cost[4] <= cost[1] * (1 + 1e-9))
    assert np.all(cost[3] <= np.minimum(cost[1], cost[2]) * (1 + 1e-9))
    # the batch agrees with one-at-a-time solves
    single = firm.solve(("c",), Z, THETA, 1e9, target, quality="task_loss")
    assert float(cost[1, 1]) == pytest.approx(float(single.cost), rel=1e-10)


def test_infeasible_hypothesis_is_flagged():
    """Reasoning tokens do not lower the task loss: a loss target they alone must meet is out of
    reach, and the solution says so instead of reporting a number as if it were an optimum."""
    sol = firm.solve(("r",), Z, THETA, Q0, 1.95, quality="task_loss")
    assert not bool(sol.converged)
    assert float(sol.feasibility) > 1e-3


SARDANA = dict(R_D_star=1e12, R_N_star=1e12, ft_weight=0.0)


@pytest.fixture(scope="module")
def loss_problem():
    theta = firm.default_parameters(**SARDANA)
    z = firm.default_levers(U=1e30)
    return theta, z


def test_derivatives_of_the_optimum_match_finite_differences(loss_problem):
    theta, z = loss_problem
    free, target = ("N", "D"), 2.0

    def run(Q, price, tgt):
        # one price per chip-hour for training and serving alike
        return firm.solve(free, z, theta | {"price_per_hour": price, "price_per_hour_train": price},
                          Q, tgt, quality="model_loss")

    Q, p = 1e10, 4.4
    sol = run(Q, p, target)
    assert bool(sol.converged)

    def outputs(a, b, c):
        out = run(a, b, c)
        return jnp.stack([out.cost, out.levers["N"]])

    # one reverse-mode Jacobian (the implicit-function rule, transposed) for cost and N* at once,
    # jitted: one compiled program instead of the separate ones jax.jacrev alone compiles
    J = np.array(jax.jit(jax.jacrev(outputs, argnums=(0, 1, 2)))(Q, p, target))  # (3 in, 2 out)
    gQ, gp, gt = J[:, 0]
    dN_dQ = J[0, 1]
    # envelope theorem: dC*/dQ = v, and costs are linear in the chip price (data is free)
    assert gQ == pytest.approx(float(sol.variable_cost), rel=1e-9)
    assert gp == pytest.approx(float(sol.cost) / p, rel=1e-9)
    h = 1e-6
    fd_t = (float(run(Q, p, target + h).cost) - float(run(Q, p, target - h).cost)) / (2 * h)
    assert gt == pytest.approx(fd_t, rel=1e-6)
    assert float(sol.shadow_price) == pytest.approx(-fd_t, rel=1e-6)   # per nat of loss reduction
    # the optimal size responds to Q as finite differences say
    hq = 1e-4 * Q
    fd_N = (float(run(Q + hq, p, target).levers["N"]) - float(run(Q - hq, p, target).levers["N"])
            ) / (2 * hq)
    assert dN_dQ == pytest.approx(fd_N, rel=1e-5)
    assert dN_dQ < 0


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="free"):
        firm.solve(("N", "X"), Z, THETA, Q0, TARGET)
    with pytest.raises(ValueError, match="free"):
        firm.solve((), Z, THETA, Q0, TARGET)
    with pytest.raises(ValueError, match="quality"):
        firm.solve(("N",), Z, THETA, Q0, TARGET, quality="vibes")
