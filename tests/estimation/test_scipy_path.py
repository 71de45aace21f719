"""A SciPy fit that needs only Q and ∇Q (BFGS) evaluates them by one compiled reverse pass per
trial point (:meth:`estimation.objective.Objective.value_grad`); the Hessian and the scores are
formed once, at the estimate. The search is the one the full evaluation drove: the same
estimate and standard errors, and Q, ∇Q equal to the full evaluation's and to finite
differences."""

from __future__ import annotations

import importlib

import jax.numpy as jnp
import numpy as np
import pytest

import estimation
from estimation.fit import _objective
from estimation.objective import compiled

fit_module = importlib.import_module("estimation.fit")  # the module, not the function


def _mixture_loglik(p, d):
    # a two-component normal mixture: the kind of likelihood SciPy's BFGS is used for
    z1 = (d["y"] - p["m1"]) / p["s1"]
    z2 = (d["y"] - p["m2"]) / p["s2"]
    l1 = jnp.log(p["w"]) - 0.5 * z1**2 - jnp.log(p["s1"])
    l2 = jnp.log1p(-p["w"]) - 0.5 * z2**2 - jnp.log(p["s2"])
    return jnp.logaddexp(l1, l2) - 0.5 * jnp.log(2 * jnp.pi)


SPEC = estimation.ParamSpec([estimation.Param("m1"), estimation.Param("m2"),
                             estimation.Param("s1", transform="log"),
                             estimation.Param("s2", transform="log"),
                             estimation.Param("w", transform="logit")])
START = {"m1": -0.5, "m2": 1.5, "s1": 1.0, "s2": 1.0, "w": 0.5}


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(8)
    y = np.where(rng.uniform(size=700) < 0.35, rng.normal(-1.0, 0.6, 700),
                 rng.normal(2.0, 0.9, 700))
    return {"y": y}


def test_value_grad_equals_the_full_evaluation_and_finite_differences(data):
    obj = _objective(_mixture_loglik, data, SPEC, "mle", None, None, None)
    th = obj.spec.to_internal(obj.spec.starts_array(START), what="start")[0]
    f, g = (np.asarray(a) for a in compiled(obj, "value_grad")(th, obj.weights(), obj.data))
    f_full, g_full = obj.at(th)[:2]
    np.testing.assert_allclose(f, f_full, rtol=1e-13)
    np.testing.assert_allclose(g, g_full, rtol=1e-10, atol=1e-10)
    value = compiled(obj, "value")
    h = 1e-6
    fd = [(float(value(th + h * e, obj.weights(), obj.data))
           - float(value(th - h * e, obj.weights(), obj.data))) / (2 * h)
          for e in np.eye(th.size)]
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6)


def test_bfgs_on_value_and_gradient_equals_bfgs_on_the_full_evaluation(data, monkeypatch):
    """The fit with the cheap search (here on any number of rows) against the same fit whose
    search reads Q and ∇Q from the full evaluation (the engine's path below
    ``VALUE_GRAD_ROWS``): the same estimate, SEs and log-likelihood."""
    monkeypatch.setattr(fit_module, "VALUE_GRAD_ROWS", 0)
    new = estimation.fit(_mixture_loglik, data, SPEC, start=START, method="bfgs",
                         progress=False)
    calls = {"n": 0}

    def full_only(obj, method):  # every trial point through Objective.at, as before
        assert method == "value_grad"

        def vg(t, w, d):
            calls["n"] += 1
            return obj.at(t)[:2]

        return vg

    monkeypatch.setattr(fit_module, "compiled", full_only)
    old = estimation.fit(_mixture_loglik, data, SPEC, start=START, method="bfgs",
                         progress=False)
    assert calls["n"] > 10  # the search ran through the replacement
    assert new.converged and old.converged
    np.testing.assert_allclose(new.params.to_numpy(), old.params.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(new.bse.to_numpy(), old.bse.to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(new.llf, old.llf, rtol=1e-12)
    # parameter recovery: the simulated mixture's means and weight
    np.testing.assert_allclose(new.params[["m1", "m2", "w"]].to_numpy(), [-1.0, 2.0, 0.35],
                               atol=4 * new.bse[["m1", "m2", "w"]].to_numpy().max())
