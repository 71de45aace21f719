"""Batched solver: small batches are padded to a few pool shapes, and padding changes nothing;
pools in several threads share one queue and change nothing either."""

from __future__ import annotations

import numpy as np
import pytest
from jax.scipy.stats import norm as jnorm

from estimation import Param, ParamSpec, solver
from estimation.objective import Objective, as_data


def _normal_objective():
    rng = np.random.default_rng(3)
    arrays, n = as_data({"y": rng.normal(1.5, 2.0, 200)})
    spec = ParamSpec([Param("mu"), Param("sigma", transform="log")])
    return Objective(lambda p, d: jnorm.logpdf(d["y"], p["mu"], p["sigma"]), arrays, spec,
                     "mle", n)


def test_pool_sizes_are_a_few_powers_of_four():
    assert [solver._pool_size(m, 64) for m in (1, 2, 4, 5, 16, 17, 64, 4500)] == [
        1, 4, 4, 16, 16, 64, 64, 64]
    assert solver._pool_size(300, 100) == 100


def test_padded_batches_match_single_solves_and_share_one_compilation():
    obj = _normal_objective()
    starts = np.column_stack([np.linspace(-3, 4, 13), np.linspace(-1, 2, 13)])
    w = np.ones(obj.nobs)
    opts = solver.SolverOptions(gtol=1e-11)
    before = len(solver._ROUND_CACHE)
    five = solver.solve_batch(obj, starts[:5], w, opts)     # 5 members in 16 slots
    thirteen = solver.solve_batch(obj, starts, w, opts)     # 13 members in the same 16 slots
    assert len(solver._ROUND_CACHE) == before + 1
    assert five.converged.all() and thirteen.converged.all()
    np.testing.assert_allclose(five.theta, thirteen.theta[:5], rtol=0, atol=1e-12)
    one = solver.solve_batch(obj, starts[7:8], w, opts)
    np.testing.assert_allclose(one.theta[0], thirteen.theta[7], rtol=0, atol=1e-10)
    y = np.asarray(obj.data["y"])
    # Converged means the Newton decrement is below ftol·|Q|: within 1e-5 SE of the MLE.
    np.testing.assert_allclose(thirteen.theta[:, 0], y.mean(), atol=1e-5 * y.std() / 200**0.5)
    np.testing.assert_allclose(np.exp(thirteen.theta[:, 1]), y.std(), rtol=1e-6)


def test_pools_in_threads_share_the_queue_and_agree_with_one_pool():
    """Three pools of 4 slots on 3 threads work through 40 members (each a start and its own
    bootstrap weights): every member is solved once, as a single pool solves it."""
    obj = _normal_objective()
    rng = np.random.default_rng(5)
    starts = np.column_stack([rng.uniform(-3, 4, 40), rng.uniform(-1, 2, 40)])
    W = rng.multinomial(obj.nobs, np.full(obj.nobs, 1 / obj.nobs), size=40).astype(float)
    one = solver.solve_batch(obj, starts, W, solver.SolverOptions(pool=4, threads=1))
    seen = []

    class Bar:
        def update(self, done):
            seen.append(done)

    three = solver.solve_batch(obj, starts, W, solver.SolverOptions(pool=4, threads=3),
                               progress=Bar())
    assert solver._threads(40, 4, solver.SolverOptions(threads=3)) == 3
    assert one.converged.all() and three.converged.all()
    np.testing.assert_array_equal(three.theta, one.theta)  # bitwise: scheduling changes nothing
    np.testing.assert_array_equal(three.iterations, one.iterations)
    assert seen[-1] == 40 and len(seen) > 3
    y = np.asarray(obj.data["y"])
    mean = W @ y / W.sum(axis=1)  # each replicate's weighted MLE of mu
    np.testing.assert_allclose(three.theta[:, 0], mean, atol=1e-7)


def test_an_error_in_any_pool_reaches_the_caller(monkeypatch):
    obj = _normal_objective()
    real = solver._Pool.run_round_and_refill

    def failing(self):
        if (self.member == 15).any():  # whichever pool (thread) takes member 15 fails
            raise RuntimeError("boom in a pool")
        return real(self)

    monkeypatch.setattr(solver._Pool, "run_round_and_refill", failing)
    with pytest.raises(RuntimeError, match="boom in a pool"):
        solver.solve_batch(obj, np.zeros((20, 2)), np.ones(obj.nobs),
                           solver.SolverOptions(pool=4, threads=2))
    # the other pool stops as well rather than working through the rest of the queue
    stopped = []
    real_run = solver._Pool.run

    def run(self):
        real_run(self)
        stopped.append(self.queue.next)

    monkeypatch.setattr(solver._Pool, "run", run)
    with pytest.raises(RuntimeError, match="boom in a pool"):
        solver.solve_batch(obj, np.zeros((400, 2)), np.ones(obj.nobs),
                           solver.SolverOptions(pool=4, threads=2))
    assert max(stopped) < 400


def test_thread_count_does_not_recompile_and_warm_starts_take_full_steps():
    obj = _normal_objective()
    y = np.asarray(obj.data["y"])
    opt = np.array([[y.mean(), np.log(y.std())]])
    w = np.ones(obj.nobs)
    solver.solve_batch(obj, opt, w, solver.SolverOptions(threads=1))
    before = len(solver._ROUND_CACHE)
    solver.solve_batch(obj, opt, w, solver.SolverOptions(threads=3))
    assert len(solver._ROUND_CACHE) == before
    # from near the optimum, undamped Newton (warm) converges quadratically; the cold start's
    # damping μ₀ = 1e-2 leaves a linear factor of about μ₀ per iteration
    near = opt + np.array([[0.05, 0.02]])
    three = solver.SolverOptions(maxiter=3, gtol=1e-300, ftol=1e-300)
    warm = solver.solve_batch(obj, near, w, three, warm=True)
    cold = solver.solve_batch(obj, near, w, three)
    assert warm.iterations[0] == cold.iterations[0] == 3
    assert np.abs(warm.theta - opt).max() < 1e-2 * np.abs(cold.theta - opt).max()


def test_solver_state_is_a_named_pytree_and_outcomes_carry_their_message():
    """The pool's state is a NamedTuple (fields by name, a JAX pytree), and every outcome is one
    member of the ``Status`` enumeration whose message is what the results report."""
    import jax

    import estimation

    state = solver.initial_state(np.zeros((3, 2)), 1e-3)
    assert isinstance(state, tuple) and state._fields[0] == "theta" and "status" in state._fields
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]]
    assert paths == [f".{name}" for name in solver.PoolState._fields]
    codes = [int(s) for s in solver.Status]
    messages = [s.message for s in solver.Status]
    assert codes == sorted(set(codes)) and len(set(messages)) == len(messages)
    assert all(solver.Status.of(c).message == m for c, m in zip(codes, messages, strict=True))
    y = np.random.default_rng(3).normal(1.5, 2.0, 200)
    spec = ParamSpec([Param("mu"), Param("sigma", transform="log")])
    res = estimation.fit(lambda p, d: jnorm.logpdf(d["y"], p["mu"], p["sigma"]), {"y": y}, spec,
                         start={"mu": 0.0, "sigma": 1.0}, progress=False)
    assert res.diagnostics.status == solver.Status.CONVERGED.message


def test_one_start_passes_over_the_data_once_per_iteration_and_searches_only_where_needed():
    """The single-start program evaluates Q, ∇Q, ∇²Q at the full Newton step first and keeps it
    where Armijo's test passes (every iteration of a logit from zero): one pass over the data
    per iteration, plus the start and one polishing step (the next one would move the estimate
    by rounding only, so it is not evaluated). Where the full step fails (a far start of a
    normal model) the other step lengths are tried, and both paths take the steps the batched
    solver takes."""
    import jax
    import jax.numpy as jnp

    from estimation import fit

    passes = []
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.3 - 0.8 * x)))).astype(float)

    def loglik(p, d):
        jax.debug.callback(lambda: passes.append(1))  # once per evaluation of all rows
        eta = p["a"] + p["b"] * d["x"]
        return d["y"] * eta - jnp.logaddexp(0.0, eta)

    res = fit(loglik, {"x": x, "y": y}, ["a", "b"], start=np.zeros(2), progress=False)
    assert res.converged and len(passes) == res.diagnostics.iterations + 2
    sol = solver.solve_batch(res.objective, np.zeros((1, 2)), res.objective.weights())
    assert sol.iterations[0] == res.diagnostics.iterations

    passes.clear()
    ys = np.random.default_rng(3).normal(1.5, 2.0, 200)

    def normal(p, d):
        jax.debug.callback(lambda: passes.append(1))
        return jnorm.logpdf(d["y"], p["mu"], p["sigma"])

    spec = ParamSpec([Param("mu"), Param("sigma", transform="log")])
    far = np.array([40.0, 3.0])  # μ far off: full Newton steps overshoot at first
    one = fit(normal, {"y": ys}, spec, start=far, progress=False)
    assert one.converged and len(passes) > one.diagnostics.iterations + 2  # it searched
    pool = solver.solve_batch(one.objective, spec.to_internal(far[None]),
                              one.objective.weights())
    assert pool.converged[0] and one.diagnostics.iterations == pool.iterations[0]
    # the program polishes the estimate, the batched solver stops at its convergence test
    np.testing.assert_allclose(one.theta, pool.theta[0], rtol=1e-6)
    np.testing.assert_allclose(one.params["mu"], ys.mean(), rtol=1e-12)
