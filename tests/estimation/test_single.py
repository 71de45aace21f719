"""A fit from one start runs as one compiled program (:mod:`estimation.single`): its start checks,
Newton iterations, polish and the scores' outer product come from that program alone, and its
estimate is the batched solver's (the same iteration) to its last digits."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import estimation
from estimation.compilation import compile_stats
from estimation.covariance import covariance
from estimation.solver import SolverOptions, solve_batch


def _logit():
    def loglik(p, d):  # a new function object per call: its own compiled code
        eta = p["b0"] + p["b1"] * d["x1"] + p["b2"] * d["x2"]
        return d["y"] * eta - jnp.logaddexp(0.0, eta)

    return loglik


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    n = 3000
    x1, x2 = rng.normal(size=n), rng.uniform(-1, 1, n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.2 + 0.9 * x1 - 1.1 * x2)))).astype(float)
    return {"x1": x1, "x2": x2, "y": y}


def test_one_start_is_one_program_and_the_batched_solvers_estimate(data):
    model = _logit()
    before = compile_stats()
    res = estimation.fit(model, data, ["b0", "b1", "b2"], start=np.zeros(3), progress=False)
    used = compile_stats() - before
    assert res.converged
    assert used.compiled + used.loaded == 1, used  # not the round and a host function besides
    sol = solve_batch(res.objective, np.zeros((1, 3)), res.objective.weights(), SolverOptions())
    assert sol.converged[0] and res.diagnostics.iterations == sol.iterations[0]
    # The batched solver stops at its convergence test; the program then polishes.
    np.testing.assert_allclose(res.theta, sol.theta[0], rtol=1e-6)
    sm = pytest.importorskip("statsmodels.api")
    X = sm.add_constant(np.column_stack([data["x1"], data["x2"]]))
    ref = sm.Logit(data["y"], X).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    np.testing.assert_allclose(res.params.to_numpy(), ref.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.bse.to_numpy(), ref.bse, rtol=1e-8)


def test_sandwich_from_the_programs_outer_product_equals_the_scores(data):
    """robust, hc1 and opg from Σ s_i s_iᵀ formed in the program equal those from the (n, k)
    scores on the host."""
    model = _logit()
    res = {c: estimation.fit(model, data, ["b0", "b1", "b2"], start=np.zeros(3), cov_type=c,
                             progress=False) for c in ("robust", "hc1", "opg")}
    obj, theta = res["robust"].objective, res["robust"].theta
    scores = obj.at(theta)[5][: obj.nobs]
    H = obj.at(theta)[2]
    for c, r in res.items():
        np.testing.assert_allclose(r.cov_theta, covariance(c, H, scores), rtol=1e-9)


def test_start_checks_from_the_program_name_the_row_and_the_parameter(data):
    def bad_row(p, d):
        eta = p["b0"] + p["b1"] * d["x1"]
        return d["y"] * eta - jnp.logaddexp(0.0, eta) + jnp.log(d["x2"] + 1.0)  # x2 = -1: log 0

    d = dict(data, x2=np.where(np.arange(len(data["y"])) == 17, -1.0, 0.5))
    with pytest.raises(estimation.ModelFunctionError, match="at row 17"):
        estimation.fit(bad_row, d, ["b0", "b1"], start=np.zeros(2), progress=False)
    with pytest.raises(estimation.SpecificationError, match=r"\['b9'\] never affect"):
        estimation.fit(_logit(), data, ["b0", "b1", "b2", "b9"], start=np.zeros(4),
                       progress=False)


def test_cluster_covariance_from_the_programs_scores_is_one_program(data):
    """A clustered (or HC0) covariance reads the scores the fit's program formed at the
    estimate: no second program of the model, and the same covariance as from the host's
    scores."""
    model = _logit()
    clusters = np.arange(len(data["y"])) % 40
    before = compile_stats()
    res = estimation.fit(model, data, ["b0", "b1", "b2"], start=np.zeros(3), clusters=clusters,
                         progress=False)
    used = compile_stats() - before
    assert res.converged and res.cov_type == "cluster"
    assert used.compiled + used.loaded == 1, used
    obj, theta = res.objective, res.theta
    scores = obj.at(theta)[5][: obj.nobs]
    expected = covariance("cluster", obj.at(theta)[2], scores, clusters)
    np.testing.assert_allclose(res.cov_theta, expected, rtol=1e-9)


def test_the_program_evaluates_the_model_once_per_iteration(data):
    """Start, Newton iterations, polish and scores share one evaluation of the model in the
    program's loop: the model's log-sum-exp appears in the lowered program as often as one
    evaluation of Q, ∇Q, ∇²Q and the scores needs it, not once per phase (four times)."""
    import jax

    from estimation.fit import _objective
    from estimation.single import _make_program

    model = _logit()
    obj = _objective(model, data, estimation.ParamSpec(["b0", "b1", "b2"]), "mle", None, None,
                     None, None).padded()
    one = jax.jit(lambda t, w, d: obj.with_data(d).evaluate(t, w)).lower(
        np.zeros(3), obj.weights(), obj.data).as_text().count("stablehlo.log_plus_one")
    run = _make_program(obj, SolverOptions(), True, True, ("test", id(obj)))
    text = jax.jit(run.fn).lower(np.zeros(3), np.int64(obj.nobs), np.ones(3), obj.data).as_text()
    # the line search's value-only evaluations add their own (cheaper) copy
    value = jax.jit(lambda t, w, d: obj.with_data(d).value(t, w)).lower(
        np.zeros(3), obj.weights(), obj.data).as_text().count("stablehlo.log_plus_one")
    assert 0 < text.count("stablehlo.log_plus_one") <= one + value


def test_a_refit_of_the_same_model_traces_it_no_more(data):
    """The shape check at the start traces the model once per model and data shapes in a
    process: refitting it (other starts, other data of the same shapes) traces nothing, and a
    wrong shape is still refused on every fit."""
    calls = []

    def loglik(p, d):
        calls.append(1)  # runs only while JAX traces the function
        eta = p["b0"] + p["b1"] * d["x1"] + p["b2"] * d["x2"]
        return d["y"] * eta - jnp.logaddexp(0.0, eta)

    first = estimation.fit(loglik, data, ["b0", "b1", "b2"], start=np.zeros(3), progress=False)
    traced = len(calls)
    flipped = {**data, "y": 1.0 - data["y"]}
    again = estimation.fit(loglik, flipped, ["b0", "b1", "b2"], start=np.full(3, 0.1),
                           progress=False)
    assert len(calls) == traced
    assert first.converged and again.converged
    np.testing.assert_allclose(again.params.to_numpy(), -first.params.to_numpy(), rtol=1e-8)

    def wrong(p, d):
        return jnp.sum(loglik(p, d))  # one value, not one per row

    for _ in range(2):
        with pytest.raises(estimation.ModelFunctionError, match="shape"):
            estimation.fit(wrong, data, ["b0", "b1", "b2"], start=np.zeros(3), progress=False)


def test_a_few_starts_run_through_the_one_start_program_and_match_the_pool(data, monkeypatch):
    """Two starts: one compiled program (not the pool's round and the host's evaluate), the
    pool's estimate to 1e-9 relative, and every start in the starts table."""
    import importlib

    fit_module = importlib.import_module("estimation.fit")  # the module, not the function
    starts = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, -0.5]])

    def model(p, d, _own="few starts"):  # its own default: a program no other test shares
        eta = p["b0"] + p["b1"] * d["x1"] + p["b2"] * d["x2"]
        return d["y"] * eta - jnp.logaddexp(0.0, eta)

    before = compile_stats()
    few = estimation.fit(model, data, ["b0", "b1", "b2"], start=starts, progress=False)
    used = compile_stats() - before
    assert used.compiled + used.loaded == 1, used
    assert "each start" in few.diagnostics.method
    monkeypatch.setattr(fit_module, "FEW_STARTS", 1)  # the batched pool, as before
    pool = estimation.fit(model, data, ["b0", "b1", "b2"], start=starts, progress=False)
    assert "batched" in pool.diagnostics.method
    assert few.converged and pool.converged
    np.testing.assert_allclose(few.params, pool.params, rtol=1e-9)
    np.testing.assert_allclose(few.bse, pool.bse, rtol=1e-7)
    assert few.starts["converged"].all() and len(few.starts) == 2
    np.testing.assert_allclose(few.starts["objective"], pool.starts["objective"], rtol=1e-12)


def test_fixed_parameters_are_held_and_share_the_program(data):
    """``fixed=`` holds a parameter at its value: the estimate and SEs of the others are those
    of the model with the value written in (1e-9 relative), the held parameter is not reported,
    and fits holding different parameters of one model compile once."""
    def model(p, d, _own="fixed"):  # its own default: a program no other test shares
        eta = p["b0"] + p["b1"] * d["x1"] + p["b2"] * d["x2"]
        return d["y"] * eta - jnp.logaddexp(0.0, eta)

    names = ["b0", "b1", "b2"]
    held = estimation.fit(model, data, names, start={"b0": 0.0, "b1": 0.0},
                          fixed={"b2": -1.0}, progress=False)

    def written_in(p, d):
        eta = p["b0"] + p["b1"] * d["x1"] - 1.0 * d["x2"]
        return d["y"] * eta - jnp.logaddexp(0.0, eta)

    ref = estimation.fit(written_in, data, ["b0", "b1"], start=np.zeros(2), progress=False)
    assert held.converged and list(held.params.index) == ["b0", "b1"]
    np.testing.assert_allclose(held.params, ref.params, rtol=1e-9)
    np.testing.assert_allclose(held.bse, ref.bse, rtol=1e-9)
    assert held.llf == pytest.approx(ref.llf, rel=1e-12)
    before = compile_stats()
    other = estimation.fit(model, data, names, start={"b1": 0.0, "b2": 0.0},
                           fixed={"b0": 0.2}, progress=False)
    used = compile_stats() - before
    assert other.converged and list(other.params.index) == ["b1", "b2"]
    assert used.compiled + used.loaded == 0, used
    with pytest.raises(estimation.SpecificationError, match="not parameters"):
        estimation.fit(model, data, names, start={"b0": 0.0}, fixed={"c": 1.0}, progress=False)
