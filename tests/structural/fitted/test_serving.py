"""The fitted serving utilisations: recovery on throughput simulated from known utilisations,
JAX gradient of the NLS objective vs finite differences, bad input, and the counterfactual
scenarios drawing them from the fit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import data
from structural import costs
from structural.fitted import serving
from structural.fitted.inputs import FitInputError

TRUE = {"u_prefill": 0.6, "u_decode": 0.2, "fp8_gain": 1.5}


def test_recovery_from_simulated_throughput():
    """The published design repeated 4 times, throughput from structural.costs at known
    utilisations × lognormal noise (log-sd 0.1): each estimate within 4 SEs of the truth and
    within 10% of it."""
    d = serving.simulate(TRUE, serving.serving_data(), sigma=0.1, replicates=4, seed=3)
    res = serving.fit(d)
    assert res.converged
    for k, v in TRUE.items():
        est, se = float(res.params[k]), float(res.bse[k])
        assert abs(est - v) < 4 * se, (k, est, se)
        assert abs(est / v - 1) < 0.1, (k, est)
        assert se < 0.1 * v, (k, se)


def test_gradient_matches_finite_differences():
    """The objective Σ r² on the estimation scale (logit u, log g): jax.grad against central
    differences, at a point where no row sits on a roofline's kink."""
    d = {k: jnp.asarray(v) for k, v in serving.serving_data().items()}
    names = list(TRUE)

    @jax.jit  # one compiled program for the six differences instead of op-by-op dispatch
    def total(x):
        return jnp.sum(serving.residuals(serving.PARAMS.model_dict(x), d) ** 2)

    x0 = serving.PARAMS.to_internal(np.array([0.55, 0.27, 1.1]))
    g = np.asarray(jax.jit(jax.grad(total))(jnp.asarray(x0)))
    for j in range(len(names)):
        h = 1e-6
        e = np.zeros_like(x0)
        e[j] = h
        fd = (float(total(jnp.asarray(x0 + e))) - float(total(jnp.asarray(x0 - e)))) / (2 * h)
        assert abs(g[j] - fd) <= 1e-5 * max(1.0, abs(fd)), (names[j], g[j], fd)


def test_fit_on_the_published_tables_and_the_cost_defaults():
    """The estimates on TensorRT-LLM's tables, and structural.costs' defaults are them rounded
    to two decimals (one source of the numbers)."""
    res = serving.published_fit()
    assert res.converged
    assert float(res.params["u_decode"]) == pytest.approx(costs.DECODE_UTILISATION, abs=0.005)
    assert float(res.params["u_prefill"]) == pytest.approx(costs.PREFILL_UTILISATION, abs=0.005)
    assert 0 < float(res.bse["u_decode"]) < 0.1


def test_unknown_precision_names_column_and_row():
    t = data.load("serving_throughput")
    t.loc[3, "precision"] = "int4"
    with pytest.raises(FitInputError, match=r"'precision' row 3: 'int4'"):
        serving.serving_data(t)


def test_scenarios_draw_the_fitted_utilisations():
    """A dollar scenario's u_prefill and u_decode come from the serving_utilisation fit (source
    "fitted"), drawn jointly: their draws are correlated as the fit's covariance says, not
    independent uniforms over ±40%."""
    from structural.counterfactual.fits import fitted_source

    fit = fitted_source("serving_utilisation")
    assert set(fit.draws.columns) == {"u_prefill", "u_decode"}
    res = serving.published_fit()
    for k in ("u_prefill", "u_decode"):
        assert fit.point[k] == pytest.approx(float(res.params[k]), rel=1e-9)
        assert fit.se[k] == pytest.approx(float(res.bse[k]), rel=0.15)
    cov = np.asarray(res.cov_theta)[:2, :2]
    logit = np.log(fit.draws / (1 - fit.draws))
    want = cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])
    assert np.corrcoef(logit["u_prefill"], logit["u_decode"])[0, 1] == pytest.approx(want,
                                                                                      abs=0.08)
    assert isinstance(fit.draws, pd.DataFrame)
