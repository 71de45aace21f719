"""MLE through the engine against statsmodels (params, bse, llf to 1e-6)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from jax.scipy.stats import norm as jnorm

import estimation
from estimation import Param, ParamSpec


@pytest.fixture(scope="module")
def design():
    rng = np.random.default_rng(7)
    n = 400
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.uniform(-1, 1, size=n)])
    return rng, X


def _frame(X, y):
    return pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "x2": X[:, 2], "y": y})


def _xb(p, d):
    return p["b0"] * d["x0"] + p["b1"] * d["x1"] + p["b2"] * d["x2"]


def test_logit_matches_statsmodels(design):
    rng, X = design
    y = (rng.uniform(size=len(X)) < 1 / (1 + np.exp(-(X @ [0.3, -1.0, 0.8])))).astype(float)

    def loglik(p, d):
        xb = _xb(p, d)
        return d["y"] * xb - jnp.logaddexp(0.0, xb)

    res = estimation.fit(loglik, _frame(X, y), ["b0", "b1", "b2"], start=np.zeros(3),
                         progress=False)
    sm_res = sm.Logit(y, X).fit(disp=0)
    assert res.converged
    np.testing.assert_allclose(res.params.to_numpy(), sm_res.params, atol=1e-6)
    np.testing.assert_allclose(res.bse.to_numpy(), sm_res.bse, atol=1e-6)
    assert res.llf == pytest.approx(sm_res.llf, abs=1e-6)
    assert res.aic == pytest.approx(sm_res.aic, abs=1e-6)
    assert res.bic == pytest.approx(sm_res.bic, abs=1e-6)
    np.testing.assert_allclose(res.pvalues.to_numpy(), sm_res.pvalues, rtol=1e-5, atol=1e-12)
    # Robust (sandwich) and cluster-robust SEs against statsmodels' HC0 and cluster.
    rob = estimation.fit(loglik, _frame(X, y), ["b0", "b1", "b2"], start=np.zeros(3),
                         cov_type="robust", progress=False)
    sm_rob = sm.Logit(y, X).fit(disp=0, cov_type="HC0")
    np.testing.assert_allclose(rob.bse.to_numpy(), sm_rob.bse, atol=1e-6)
    groups = np.arange(len(X)) % 37
    cl = estimation.fit(loglik, _frame(X, y), ["b0", "b1", "b2"], start=np.zeros(3),
                        cov_type="cluster", clusters=groups, progress=False)
    sm_cl = sm.Logit(y, X).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
    np.testing.assert_allclose(cl.bse.to_numpy(), sm_cl.bse, atol=1e-6)


def test_poisson_matches_statsmodels(design):
    rng, X = design
    y = rng.poisson(np.exp(X @ [0.5, 0.4, -0.3])).astype(float)

    def loglik(p, d):
        xb = _xb(p, d)
        return d["y"] * xb - jnp.exp(xb) - jnp.asarray(__import__("jax").scipy.special.gammaln(
            d["y"] + 1.0))

    res = estimation.fit(loglik, _frame(X, y), ["b0", "b1", "b2"], start=np.zeros(3),
                         progress=False)
    sm_res = sm.Poisson(y, X).fit(disp=0)
    np.testing.assert_allclose(res.params.to_numpy(), sm_res.params, atol=1e-6)
    np.testing.assert_allclose(res.bse.to_numpy(), sm_res.bse, atol=1e-6)
    assert res.llf == pytest.approx(sm_res.llf, abs=1e-6)
    # OPG against the outer product of statsmodels' analytic scores.
    opg = estimation.fit(loglik, _frame(X, y), ["b0", "b1", "b2"], start=np.zeros(3),
                         cov_type="opg", progress=False)
    S = sm.Poisson(y, X).score_obs(sm_res.params)
    np.testing.assert_allclose(opg.bse.to_numpy(), np.sqrt(np.diag(np.linalg.inv(S.T @ S))),
                               atol=1e-6)


def test_linear_normal_mle_matches_statsmodels(design):
    rng, X = design
    y = X @ [1.0, 2.0, -0.5] + rng.normal(scale=0.7, size=len(X))

    def loglik(p, d):
        return jnorm.logpdf(d["y"], loc=_xb(p, d), scale=p["sigma"])

    spec = ParamSpec([Param("b0"), Param("b1"), Param("b2"), Param("sigma", transform="log")])
    res = estimation.fit(loglik, _frame(X, y), spec,
                         start={"b0": 0.0, "b1": 0.0, "b2": 0.0, "sigma": 1.0}, progress=False)
    ols = sm.OLS(y, X).fit()
    n, k = X.shape
    np.testing.assert_allclose(res.params.to_numpy()[:3], ols.params, atol=1e-6)
    assert res.llf == pytest.approx(ols.llf, abs=1e-6)
    # The ML variance is SSR/n, OLS's is SSR/(n−k): SEs differ by exactly sqrt((n−k)/n).
    np.testing.assert_allclose(res.bse.to_numpy()[:3], ols.bse * np.sqrt((n - k) / n), atol=1e-6)
    assert res.params["sigma"] == pytest.approx(np.sqrt(ols.ssr / n), abs=1e-6)
    # Information-matrix SE of σ̂ is σ̂/sqrt(2n), reported through the log transform.
    assert res.bse["sigma"] == pytest.approx(res.params["sigma"] / np.sqrt(2 * n), rel=1e-5)
