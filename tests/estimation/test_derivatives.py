"""Closed-form residual derivatives: checked against JAX, used by the solver, mistakes refused."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import estimation
from estimation import Param, ParamSpec, SpecificationError

# Exponential decay y = K exp(−λ x) + noise, residuals on the level scale; θ = (log K, λ).
# Exponential decay y = K exp(−λ x) + noise, residuals on the level scale; θ = (log K, λ).
SPEC = ParamSpec([Param("K", transform="log"), Param("lam")])


def _decay_residuals(p, d):
    return p["K"] * jnp.exp(-p["lam"] * d["x"]) - d["y"]


class DecayDerivatives:
    """r = e^{k − λx} − y:  J = (f, −x f),  ∇²r = f [[1, −x], [−x, x²]],  f = e^{k − λx}."""

    def __init__(self, jac_sign: float = 1.0, curv_scale: float = 1.0):
        self.jac_sign, self.curv_scale = jac_sign, curv_scale

    def jacobian(self, theta, d):
        f = jnp.exp(theta[0] - theta[1] * d["x"])
        return f - d["y"], jnp.stack([f, self.jac_sign * -d["x"] * f], axis=-1)

    def curvature(self, theta, d, c):
        f = jnp.exp(theta[0] - theta[1] * d["x"]) * c
        x = d["x"]
        s0, s1, s2 = f.sum(), -(f * x).sum(), (f * x * x).sum()
        return self.curv_scale * jnp.array([[s0, s1], [s1, s2]])


def _decay_data(seed=0, n=80):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 4, n)
    y = 3.0 * np.exp(-0.7 * x) + 0.05 * rng.standard_t(3, n)
    return pd.DataFrame({"x": x, "y": y})


def _fit(derivatives=None, **kw):
    return estimation.fit(None, _decay_data(), SPEC, kind="m", residuals=_decay_residuals,
                          loss=estimation.Huber(0.05), derivatives=derivatives,
                          start=[{"K": 1.0, "lam": 0.1}, {"K": 10.0, "lam": 2.0}],  # 2 starts
                          progress=False, **kw)


def test_supplied_derivatives_give_the_same_fit_and_bootstrap():
    ref, fast = _fit(bootstrap=50), _fit(DecayDerivatives(), bootstrap=50)
    assert fast.converged and ref.converged
    np.testing.assert_allclose(fast.params, ref.params, rtol=1e-10)
    np.testing.assert_allclose(fast.bse, ref.bse, rtol=1e-8)
    np.testing.assert_allclose(fast.bootstrap.draws, ref.bootstrap.draws, rtol=1e-8, atol=1e-12)
    # the truth is recovered: K = 3, λ = 0.7
    assert abs(fast.params["K"] - 3.0) < 0.1 and abs(fast.params["lam"] - 0.7) < 0.05


@pytest.mark.parametrize("bad, what", [
    (DecayDerivatives(jac_sign=-1.0), r"Jacobian of row \d+ in 'lam'"),
    (DecayDerivatives(curv_scale=1.001), r"curvature \('"),
])
def test_wrong_derivatives_are_refused_naming_the_entry(bad, what):
    with pytest.raises(SpecificationError, match="disagree with JAX: " + what):
        _fit(bad)


def test_derivatives_need_residuals():
    with pytest.raises(SpecificationError, match="residuals="):
        estimation.fit(lambda p, d: (d["y"] - p["K"]) ** 2, _decay_data(), SPEC, kind="m",
                       derivatives=DecayDerivatives(), start={"K": 1.0, "lam": 0.1})


def test_derivatives_cannot_be_checked_where_jax_gives_nan():
    def resid(p, d):  # d/dλ √(λ²) is NaN at λ = 0
        return jnp.sqrt(p["lam"] ** 2) * d["x"] + p["K"] - d["y"]

    class Wrong:
        def jacobian(self, theta, d):
            return resid({"K": jnp.exp(theta[0]), "lam": theta[1]}, d), jnp.stack(
                [jnp.exp(theta[0]) + 0 * d["x"], 3 * d["x"]], axis=-1)

        def curvature(self, theta, d, c):
            return jnp.zeros((2, 2))

    with pytest.raises(SpecificationError, match="cannot check the supplied derivatives"):
        estimation.fit(None, _decay_data(), SPEC, kind="m", residuals=resid,
                       loss=estimation.Huber(0.05), derivatives=Wrong(),
                       start={"K": 1.0, "lam": 0.0}, progress=False)



CHECK = """
import json
import numpy as np
import data
from estimation.compilation import compile_stats, traced_programs
from estimation.derivatives import check_residual_derivatives
from estimation.fit import _objective
from structural import chinchilla_fit as cf
resid, loss, _ = cf._huber_residual_model(1e-3)
obj = _objective(None, cf.as_fit_data(data.load("chinchilla")), cf.law_spec(), "m", resid, loss,
                 cf.LAW_DERIVATIVES, None)
before = compile_stats()
check_residual_derivatives(obj, np.array([6.0, 6.0, 0.5, 0.3, 0.3]))
print(json.dumps({"compiled": (compile_stats() - before).compiled, "traced": traced_programs()}))
"""


def test_the_check_is_read_back_by_a_second_process_without_compiling(second_process):
    """The derivative check runs at every fit with supplied derivatives: its two programs (the
    supplied derivatives and JAX's nested forward mode) are kept traced under the model's key,
    so a later process neither traces nor compiles them."""

    first, second = second_process(CHECK)
    assert first["traced"]["written"] == 2 and first["compiled"] == 2
    assert second["traced"]["loaded"] == 2 and second["compiled"] == 0
