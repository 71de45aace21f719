"""Two optimised levers (the "balanced" N, D, c hypothesis): projected Newton along the Q grid
equals the nested bisection it replaced, on the bundled scenario's grid and with the context at
its bound; points that fail the KKT test on the serving ridge are solved along it (cheaper than
the nested bisection there, and local minima); the rest are re-solved by the nested solver and
counted; the streamed sweep keeps the bytes of one solve_grid call."""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from structural.counterfactual import Hypothesis, engine, load_scenario, solve_grid
from structural.counterfactual.engine import _flat_batch, _in_blocks, with_target
from structural.counterfactual.model import (
    PIPELINE_DEFAULTS,
    PRICE_FIELDS,
    PipelineTechnology,
    Target,
)
from structural.counterfactual.report import _draws
from structural.counterfactual.stream import quantum, sweep

SCENARIO = "structural/examples/scenarios/heavy_training_vs_long_context.toml"


@pytest.fixture(scope="module")
def case():
    """The scenario's technology, its "balanced" hypothesis, 6 parameter draws (row 0 the point
    estimate), its two price points and its 29-point Q grid."""
    sc = load_scenario(SCENARIO)
    hyp = next(h for h in sc.hypotheses if h.name == "balanced")
    d = _draws(sc, types.SimpleNamespace(tables={}), 5, 0)
    theta = with_target(sc.technology, {k: np.asarray(v)[:6] for k, v in d.theta.items()})
    return sc.technology, hyp, theta, sc.prices, np.asarray(sc.queries, dtype=float)


def _nested(tech, hyp, theta, prices, Q):
    """The nested-bisection solver (the engine's before projected Newton) on the whole grid."""
    th, pr, q, shape = _flat_batch(theta, prices, Q)
    # In the fallback's blocks: the program the engine's fallback runs, compiled once for both.
    out = _in_blocks(engine.batched_nested_solver(tech, hyp), [th, pr, q], (), len(q),
                     engine.BLOCK_NESTED)
    return {k: v.reshape(shape) for k, v in out.items()}


@pytest.fixture(scope="module")
def solved(case):
    tech, hyp, theta, prices, Q = case
    return solve_grid(tech, [hyp], theta, prices, Q), _nested(*case)


def _agree(v, ref, kinked=None):
    """Same status; cost to rounding, levers to the solvers' tolerances, never dearer. The
    serving batch is min(memory cap, compute-bound batch), so decode's cost is the larger of two
    smooth pieces and has a ridge where they meet: where the optimum lies on it, the nested
    bisection stops short (its inner derivative jumps there) and the ridge solve finds a cheaper
    point. Those points are only required to be cheaper, and to be local minima
    (:func:`_local_minimum`); ``kinked`` (the case) enables that check, else there must be none."""
    assert sorted(v) == sorted(ref)
    np.testing.assert_array_equal(v["status"], ref["status"])
    ok = v["status"] == 0
    assert np.all(v["total"][ok] <= ref["total"][ok] * (1 + 1e-13))
    kink = ok & (v["total"] < ref["total"] * (1 - 1e-12))
    if kinked is None:
        assert not kink.any()
    elif kink.any():
        _local_minimum(kinked, v, kink)
    ok &= ~kink
    np.testing.assert_allclose(v["total"][ok], ref["total"][ok], rtol=1e-12)
    np.testing.assert_allclose(v["lever_N"][ok], ref["lever_N"][ok], rtol=1e-8)
    np.testing.assert_allclose(v["lever_c"][ok], ref["lever_c"][ok], rtol=1e-8)
    # D = D(N, c) on the target: its error is N's times |d log D / d log N| (about 7 here).
    np.testing.assert_allclose(v["lever_D"][ok], ref["lever_D"][ok], rtol=1e-7)
    assert np.all(v["total"][ok] <= ref["total"][ok] * (1 + 1e-13))
    return ok


def _local_minimum(case, v, mask):
    """Points cheaper than the nested bisection are minima of the kinked cost: no point on a
    ring of 24 directions at steps of 1e-6 to 1e-2 in Newton's coordinates (log N, log(c + x))
    around them is cheaper."""
    tech, hyp, theta, prices, Q = case
    problem = engine._Problem(tech, hyp)
    idx = np.nonzero(mask)
    th = {k: np.asarray(a)[idx[0]] for k, a in theta.items()}
    pr = {k: np.asarray(a)[idx[1]] for k, a in prices.items()}
    q = np.asarray(Q)[idx[2]]
    u = problem.coords({k: v[f"lever_{k}"][mask] for k in problem.opt}, th)
    # In blocks of 64 points through one compiled check per hypothesis (the tests share it).
    gap = _in_blocks(_ring_check(tech, hyp), [th, pr, q, u], (), len(q))["gap"]
    assert np.all(gap >= -1e-13), gap.min()


_RING: dict = {}


def _ring_check(tech, hyp):
    """``jit(vmap)`` of the ring check of :func:`_local_minimum`: the relative gap to the
    cheapest feasible point of the ring around u."""
    key = (engine._key(tech), repr(hyp))
    if key not in _RING:
        problem = engine._Problem(tech, hyp)
        ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        ring = jnp.asarray(np.concatenate([r * np.stack([np.cos(ang), np.sin(ang)], 1)
                                           for r in (1e-6, 1e-4, 1e-2)]))

        def worst(t, p_, q_, u_):
            c0, _ = problem.reduced(u_, t, p_, q_)
            c, out = jax.vmap(lambda d: problem.reduced(u_ + d, t, p_, q_))(ring)
            return {"gap": jnp.min(jnp.where(out, jnp.inf, c)) / c0 - 1.0}

        _RING[key] = jax.jit(jax.vmap(worst))
    return _RING[key]


def test_newton_path_equals_nested_bisection(case, solved):
    """The bundled scenario's grid (its context is inside its range everywhere; attention on,
    the serving replica chosen for cost)."""
    sol, ref = solved
    v = sol.values["balanced"]
    ok = _agree(v, ref, case)
    assert ok.mean() > 0.8
    assert np.all(v["lever_c"][ok] > 2.0)
    # About 14% of this grid's optima lie on the serving ridge, where Newton's KKT test fails:
    # solved along the ridge, they are cheaper than the nested bisection's (checked above).
    on_ridge = (v["status"] == 0) & (v["total"] < ref["total"] * (1 - 1e-12))
    assert on_ridge.mean() > 0.05
    # Newton (or the ridge), not bisection, at every point but at most 1%: a few steps along
    # the path. A point neither certifies goes to the nested bisection and is counted.
    assert 0 <= sol.fallbacks["balanced"] <= 0.01 * v["total"].size
    assert np.median(v["iterations"]) <= 3


def _flop_case():
    """FLOP prices where the context runs down to its bound c = 1 as Q grows (the bound
    active at about a third of the points): 4 draws, 6 price points, 25 Q."""
    tech = PipelineTechnology(Target("loss", 2.15), attention=False)
    hyp = Hypothesis("balanced", ("N", "D", "c"), {"D_F": 0.0, "k": 1.0, "U": 1e20},
                     bounds={"c": (1.0, 2.0**20)})
    rng = np.random.default_rng(0)
    K, P = 4, 6
    th = {k: np.full(K, v) for k, v in PIPELINE_DEFAULTS.items()}
    for k, sd in (("A", 10.0), ("B", 10.0), ("alpha", 0.003), ("beta", 0.003)):
        th[k] = rng.normal(PIPELINE_DEFAULTS[k], sd, K)
    th.update(tokens_in=np.full(K, 500.0), tokens_out=np.full(K, 300.0),
              ctx_alpha=np.full(K, 5.0), ctx_beta=np.full(K, 0.5), bandwidth=np.full(K, 1e30),
              **{k: np.ones(K) for k in ("peak_train", "peak_infer", "u_train", "u_prefill",
                                           "u_decode")})
    pr = {k: np.zeros(P) for k in PRICE_FIELDS}
    pr.update(train_chip_hour=3600 * 10 ** rng.uniform(-18.5, -17.5, P),
              serve_chip_hour=3600 * 10 ** rng.uniform(-18, -16.5, P),
              data_token=10 ** rng.uniform(-10, -8, P))
    return tech, hyp, th, pr, np.geomspace(1e6, 1e13, 25)


def test_newton_path_with_the_context_at_its_bound():
    """The context at its bound (:func:`_flop_case`), against the nested solver."""
    tech, hyp, th, pr, Q = _flop_case()
    sol = solve_grid(tech, [hyp], th, pr, Q)
    v = sol.values["balanced"]
    ok = _agree(v, _nested(tech, hyp, with_target(tech, th), pr, Q))
    c = v["lever_c"][ok]
    assert 0.1 < (c == 1.0).mean() < 0.9 and (c > 2.0).any()
    assert sol.fallbacks == {"balanced": 0}


def test_cold_start_without_a_path_equals_nested(case, solved):
    """A decreasing Q grid has no continuation: each point from the coarse grid."""
    tech, hyp, theta, prices, Q = case
    rows = slice(0, 2)
    th = {k: v[rows] for k, v in theta.items()}
    Qd = Q[::-4]
    sol = solve_grid(tech, [hyp], th, prices, Qd)
    ref = {k: v[rows][..., ::-4] for k, v in solved[1].items()}
    _agree(sol.values["balanced"], ref, (tech, hyp, th, prices, Qd))
    # Points on the serving ridge (see above) are solved along it, not by the nested solver.
    assert sol.fallbacks["balanced"] <= 0.02 * sol.values["balanced"]["total"].size


def test_points_failing_the_kkt_test_go_to_the_nested_solver(case, solved, monkeypatch):
    """Two Newton iterations are too few for the first Q of every path: those points fail the
    KKT test, are counted, and carry the nested solver's answer byte for byte (the ridge solve
    disabled: with no Newton step on the ridge it never certifies a point)."""
    tech, hyp, theta, prices, Q = case
    monkeypatch.setattr(engine, "NEWTON2_ITERATIONS", 2)
    monkeypatch.setattr(engine, "RIDGE_ITERATIONS", 0)
    monkeypatch.setattr(engine, "_COMPILED", {
        k: v for k, v in engine._COMPILED.items() if k[0] == "nested"})
    sol = solve_grid(tech, [hyp], theta, prices, Q)
    ref = solved[1]
    v = sol.values["balanced"]
    n = sol.fallbacks["balanced"]
    assert 0 < n < v["total"].size
    fresh = v["iterations"] == ref["iterations"]      # the nested solver's fixed count
    assert fresh.sum() >= n
    for k in v:
        np.testing.assert_array_equal(v[k][fresh], ref[k][fresh], err_msg=k)
    _agree(v, ref, case)


def test_streamed_sweep_same_bytes(case, tmp_path):
    """In chunks of one block quantum (130 draws: two chunks), the bytes of one solve_grid."""
    tech, hyp, theta, prices, Q = case
    th = {k: np.resize(v, 130) for k, v in theta.items()}
    whole = solve_grid(tech, [hyp], th, prices, Q)
    res = sweep(tech, [hyp], th, prices, Q, tmp_path / "store",
                chunk=quantum(len(prices["train_chip_hour"]), len(Q)))
    assert res.n_chunks == 2
    for k, v in whole.values["balanced"].items():
        got = res.array("balanced", k)
        assert got.dtype == v.dtype and np.array_equal(got, v), k
    assert res.fallbacks == whole.fallbacks


@pytest.mark.parametrize("x", [0.0, 500.0, 3000.0])
def test_context_optimised_in_log_c_plus_prompt(x):
    """Projected Newton takes the context in log(c + x) (x the prompt): its box is
    [log(1 + x), log(c_max + x)], the lower bound maps back to c = 1 exactly, and the map
    inverts on the host (:meth:`_Problem.coords`). N stays in log N; the nested bisection keeps
    log c."""
    tech = PipelineTechnology(Target("loss", 2.15), attention=False)
    hyp = Hypothesis("balanced", ("N", "D", "c"), {"D_F": 0.0, "k": 1.0, "U": 1e20},
                     bounds={"c": (1.0, 2.0**20)})
    problem = engine._Problem(tech, hyp)
    assert problem.opt == ["N", "c"] and problem.offset == {"c": "tokens_in"}
    assert engine._Problem(tech, hyp, nested=True).offset == {}
    th = {"tokens_in": np.float64(x)}
    lo, hi = (np.asarray(b) for b in problem.box(th))
    np.testing.assert_allclose(lo, [np.log(1e6), np.log(1.0 + x)], rtol=1e-15)
    np.testing.assert_allclose(hi, [np.log(1e14), np.log(2.0**20 + x)], rtol=1e-15)
    assert float(problem.assemble(jnp.asarray(lo), jnp.asarray(30.0), th)["c"]) == 1.0
    u = lo + np.array([[0.1, 0.3], [0.5, 0.9], [0.999, 1e-9]]) * (hi - lo)
    z = [problem.assemble(jnp.asarray(r), jnp.asarray(30.0), th) for r in u]
    back = problem.coords({k: np.array([float(zi[k]) for zi in z]) for k in ("N", "c")},
                          {"tokens_in": np.full(len(u), x)})
    # Next to the bound the coordinate carries e^lo's rounding, an absolute error.
    np.testing.assert_allclose(back, u, rtol=1e-12, atol=1e-15)


def test_damped_steps_break_a_newton_cycle():
    """Newton on f(u) = √(s² + u₀²) + √(s² + u₁²), s = 1/2, maps u₀ to −u₀³/s²: from u₀ = 0.55
    it overshoots, and once its steps are capped (:data:`MAX_STEP`) it cycles between about
    1.18 and −0.82, failing the KKT test; the damped steps (a rise taken back to the secant
    root of the slope along the step) reach the minimum 0 to 1e-12 and pass it."""
    def fv(u):
        return jnp.stack([jnp.sum(jnp.sqrt(0.25 + u**2)), 0.0 * u[0]]), jnp.asarray(False)

    lo, hi = jnp.full(2, -5.0), jnp.full(2, 5.0)
    start = jnp.asarray([0.55, 0.1])
    x, c0, kkt, _ = engine._path_newton2(fv, jnp.asarray(1.0), lo, hi, start, 6)
    assert not bool(kkt) and abs(float(x[0])) > 0.8
    x, c0, kkt, _ = engine._path_newton2(fv, jnp.asarray(1.0), lo, hi, start, 6, damp=True)
    assert bool(kkt) and float(c0) == pytest.approx(np.sqrt(0.25 + 0.55**2) + np.sqrt(0.26))
    np.testing.assert_allclose(np.asarray(x), 0.0, atol=1e-12)


def test_path_lanes_do_not_depend_on_the_block(case):
    """The continuation solver's lanes have the same bytes in blocks of 256 and of 1024 and at
    any offset in them, so a large batch may take the larger block (:func:`path_block`) and a
    streamed sweep keeps the bytes of one solve."""
    tech, hyp, theta, prices, Q = case
    K, P = len(theta["target"]), len(prices["train_chip_hour"])
    th = {k: np.broadcast_to(np.asarray(v, float)[:, None], (K, P)).ravel()[1:]
          for k, v in theta.items()}
    pr = {k: np.broadcast_to(np.asarray(v, float)[None, :], (K, P)).ravel()[1:]
          for k, v in prices.items()}
    fn = engine.batched_path_solver(tech, hyp)
    q = (jnp.asarray(Q),)
    small = _in_blocks(fn, [th, pr], q, K * P - 1, engine.BLOCK_PATH)
    large = _in_blocks(fn, [th, pr], q, K * P - 1, engine.BLOCK_PATH_LARGE)
    for k, v in small.items():
        assert np.array_equal(v, large[k], equal_nan=True), k
    assert engine.path_block(K * P) == engine.BLOCK_PATH
    assert engine.path_block(16 * engine.BLOCK_PATH_LARGE - 5) == engine.BLOCK_PATH_LARGE


def test_damped_resolve_equals_line_searched_newton():
    """Points of :func:`_flop_case` with the context at its bound, started 0.01 off the path's
    optimum in log N (where the path left points uncertified, its prediction missed N as c
    reached its bound), re-solved by the damped steps (:meth:`_Problem.refine`), equal
    the line-searched projected Newton (:func:`_newton2`, the re-solve's last stage) from the
    same starts where both pass the KKT test: cost to 1e-12, levers to 1e-8 (the tolerances of
    the path against the nested solver)."""
    tech, hyp, th, pr, Q = _flop_case()
    theta = with_target(tech, th)
    K, P = len(th["A"]), len(pr["data_token"])
    lane_th = {k: np.broadcast_to(np.asarray(v, float)[:, None], (K, P)).ravel()
               for k, v in theta.items()}
    lane_pr = {k: np.broadcast_to(np.asarray(v, float)[None, :], (K, P)).ravel()
               for k, v in pr.items()}
    out = _in_blocks(engine.batched_path_solver(tech, hyp), [lane_th, lane_pr],
                     (jnp.asarray(Q),), K * P, engine.BLOCK_PATH)
    bad = np.nonzero(out["lever_c"] == 1.0)
    assert len(bad[0]) >= 5
    args = [{k: v[bad[0]] for k, v in lane_th.items()}, {k: v[bad[0]] for k, v in lane_pr.items()},
            Q[bad[1]], np.stack([out[engine.PATH_X][bad] + [0.01, 0.0], out[engine.PATH_X0][bad]],
                                axis=1)]
    damped = _in_blocks(engine.batched_refine_solver(tech, hyp), args,
                        (jnp.asarray(engine.REFINE_ITERATIONS),), len(bad[0]), engine.BLOCK_REFINE)
    robust = _in_blocks(engine.batched_refine_solver(tech, hyp, True), args, (), len(bad[0]),
                        engine.BLOCK_REFINE)
    both = damped[engine.CONVERGED].astype(bool) & robust[engine.CONVERGED].astype(bool)
    assert both.mean() > 0.5
    np.testing.assert_array_equal(damped["status"][both], robust["status"][both])
    np.testing.assert_allclose(damped["total"][both], robust["total"][both], rtol=1e-12)
    for lv in ("N", "c", "D"):
        np.testing.assert_allclose(damped[f"lever_{lv}"][both], robust[f"lever_{lv}"][both],
                                   rtol=1e-7 if lv == "D" else 1e-8)


def test_blocks_on_two_threads_give_the_bytes_of_one_and_raise_its_errors():
    """``_in_blocks(workers=2)`` (the nested fallback's blocks on threads) returns each lane's
    result where one thread puts it, byte for byte, last block padded; a block's error is
    raised, not lost on its thread."""
    import jax
    import jax.numpy as jnp

    fn = jax.jit(jax.vmap(lambda x, y: {"z": jnp.sin(x) * y, "w": x + y}))
    x, y = np.linspace(0.0, 3.0, 37), np.linspace(1.0, 2.0, 37)
    one = _in_blocks(fn, [x, y], (), 37, 8)
    two = _in_blocks(fn, [x, y], (), 37, 8, workers=2)
    for k in ("z", "w"):
        assert one[k].tobytes() == two[k].tobytes() and len(two[k]) == 37

    def failing(a, b):
        if float(a[0]) > 1.0:
            raise FloatingPointError("block failed")
        return fn(a, b)

    with pytest.raises(FloatingPointError, match="block failed"):
        _in_blocks(failing, [x, y], (), 37, 8, workers=2)
