"""Data in chunks: beyond ``CHUNK_ROWS`` rows the objective, gradient and Hessian are summed over
chunks of rows in a compiled loop. Here the chunk is made small so that a 5,000-row fit runs in
five chunks; it must give the numbers of the same fit in one piece, for a likelihood (logit,
checked against statsmodels) and for M-estimation on residuals (the Gauss–Newton path)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import estimation
from estimation import objective as objective_module
from estimation.objective import chunk_rows, padded_rows

N = 5000


def _logit_model():
    def loglik(p, d):  # a new function object per call: its own compiled code
        eta = p["b0"] + p["b1"] * d["x1"] + p["b2"] * d["x2"]
        return d["y"] * eta - jnp.logaddexp(0.0, eta)

    return loglik


def _huber_residuals():
    def resid(p, d):
        return d["y"] - p["a"] - p["b"] * jnp.exp(-p["c"] * d["x1"])

    return resid


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    x1, x2 = rng.normal(size=N), rng.uniform(-1, 1, N)
    eta = -0.3 + 0.8 * x1 - 1.2 * x2
    y = (rng.uniform(size=N) < 1 / (1 + np.exp(-eta))).astype(float)
    yc = 1.0 + 2.0 * np.exp(-0.7 * x1) + 0.1 * rng.standard_t(3, N)
    return {"x1": x1, "x2": x2, "y": y, "yc": yc}


def _fits(d):
    logit = estimation.fit(_logit_model(), {k: d[k] for k in ("x1", "x2", "y")},
                           ["b0", "b1", "b2"], start={"b0": 0.0, "b1": 0.0, "b2": 0.0},
                           progress=False)
    huber = estimation.fit(None, {"x1": d["x1"], "y": d["yc"]}, ["a", "b", "c"],
                           residuals=_huber_residuals(), loss=estimation.Huber(0.2),
                           start={"a": 0.5, "b": 1.0, "c": 0.5}, progress=False)
    return logit, huber


def test_chunked_fits_match_one_piece(data, monkeypatch):
    whole = _fits(data)
    monkeypatch.setattr(objective_module, "CHUNK_ROWS", 1024)
    monkeypatch.setattr(objective_module, "_MIN_CHUNK", 256)
    rows = padded_rows(N)
    assert rows == 5120 and chunk_rows(rows) == 1024  # five chunks
    chunked = _fits(data)
    for a, b in zip(whole, chunked, strict=True):
        assert a.converged and b.converged
        np.testing.assert_allclose(b.params.to_numpy(), a.params.to_numpy(), rtol=1e-9,
                                   atol=1e-12)
        np.testing.assert_allclose(b.bse.to_numpy(), a.bse.to_numpy(), rtol=1e-8)
        np.testing.assert_allclose(b.llf if b.kind == "mle" else b.fun,
                                   a.llf if a.kind == "mle" else a.fun, rtol=1e-12)


def test_logit_matches_statsmodels(data):
    sm = pytest.importorskip("statsmodels.api")
    X = sm.add_constant(np.column_stack([data["x1"], data["x2"]]))
    ref = sm.Logit(data["y"], X).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    res = _fits(data)[0]
    # The engine stops at a Newton decrement of 1e-14 of the objective's scale: ~1e-7 here.
    np.testing.assert_allclose(res.params.to_numpy(), ref.params, rtol=1e-6)
    np.testing.assert_allclose(res.bse.to_numpy(), ref.bse, rtol=1e-5)
    np.testing.assert_allclose(res.llf, ref.llf, rtol=1e-10)


def test_chunked_derivatives_against_finite_differences(data, monkeypatch):
    """∇Q and ∇²Q summed over chunks against central differences of Q."""
    monkeypatch.setattr(objective_module, "CHUNK_ROWS", 1024)
    monkeypatch.setattr(objective_module, "_MIN_CHUNK", 256)
    spec = estimation.ParamSpec(["b0", "b1", "b2"])
    arrays, n = objective_module.as_data({k: data[k] for k in ("x1", "x2", "y")})
    obj = objective_module.Objective(_logit_model(), arrays, spec, "mle", n).padded()
    w = obj.weights()
    assert obj._is_chunked()
    t = np.array([0.1, 0.5, -0.9])
    _, g, H = jax.jit(obj.value_grad_hess)(t, w)
    val = jax.jit(obj.value)
    h = 1e-5
    eye = np.eye(3)
    g_fd = [(val(t + h * e, w) - val(t - h * e, w)) / (2 * h) for e in eye]
    np.testing.assert_allclose(g, g_fd, rtol=1e-6)
    gr = jax.jit(lambda u: obj.value_grad_hess(u, w)[1])
    H_fd = np.array([(gr(t + h * e) - gr(t - h * e)) / (2 * h) for e in eye])
    np.testing.assert_allclose(H, H_fd, rtol=1e-6, atol=1e-6)
