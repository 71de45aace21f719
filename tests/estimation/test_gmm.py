"""Nonlinear GMM: parameter recovery on simulated data, exact Jacobians against finite
differences, concentrated linear parameters, stacked equations, agreement with linear IV, and
non-convergence reported."""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import estimation
from estimation import NotConvergedWarning, Param

TRUTH = {"b0": 0.2, "b1": 0.3, "gamma": 0.4, "beta0": 1.0, "beta1": -0.5}


@pytest.fixture(scope="module")
def sim():
    """y = exp(b0 + b1·x) + u with x endogenous (corr(u, v) > 0), instruments z1, z2."""
    rng = np.random.default_rng(11)
    n = 4000
    z1, z2, w, v, e = rng.normal(size=(5, n))
    x = 0.5 + 0.8 * z1 + 0.5 * z2 + 0.3 * w + v
    u = 0.6 * v + e
    y = np.exp(TRUTH["b0"] + TRUTH["b1"] * x) + u
    y2 = TRUTH["beta0"] + TRUTH["beta1"] * w + np.exp(TRUTH["gamma"] * x) + u
    return pd.DataFrame({"y": y, "y2": y2, "x": x, "w": w, "z1": z1, "z2": z2,
                         "one": 1.0, "g": np.arange(n) % 200})


def _exp_moments(p, d):
    u = d["y"] - jnp.exp(p["b0"] + p["b1"] * d["x"])
    Z = jnp.stack([d["one"], d["z1"], d["z2"], d["w"]], axis=1)
    return Z * u[:, None]


def _fd_jacobian(f, x, h=1e-6):
    cols = []
    for j in range(len(x)):
        e = np.zeros(len(x))
        e[j] = h * max(abs(x[j]), 1.0)
        cols.append((f(x + e) - f(x - e)) / (2 * e[j]))
    return np.stack(cols, axis=1)


def test_recovers_parameters_and_jacobian_matches_fd(sim):
    res = estimation.gmm(_exp_moments, sim, [Param("b0"), Param("b1", transform="log")],
                         start={"b0": 0.0, "b1": 0.1})
    assert res.converged
    for name in ("b0", "b1"):
        assert abs(res.params[name] - TRUTH[name]) < 4 * res.bse[name]
        assert res.bse[name] < 0.05
    assert res.j_stat.df == 2 and res.j_stat.pvalue > 0.01
    for fmt in ("text", "markdown", "latex"):
        assert "Hansen's J" in res.summary(fmt) and "b1" in res.summary(fmt)
    data = {c: jnp.asarray(sim[c].to_numpy()) for c in sim}

    def gbar(x):
        return np.asarray(_exp_moments({"b0": x[0], "b1": x[1]}, data)).mean(axis=0)

    G_fd = _fd_jacobian(gbar, res.params.to_numpy())
    np.testing.assert_allclose(res.diagnostics["jacobian"].to_numpy(), G_fd, rtol=1e-6,
                               atol=1e-9)


def test_efficient_cov_close_to_sandwich_at_two_step(sim):
    kw = dict(start={"b0": 0.0, "b1": 0.1})
    a = estimation.gmm(_exp_moments, sim, ["b0", "b1"], **kw)
    b = estimation.gmm(_exp_moments, sim, ["b0", "b1"], efficient_cov=True, **kw)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12)
    # The sandwich with the first step's W and (G'Ŝ⁻¹G)⁻¹ with Ŝ at θ̂: sampling noise apart.
    np.testing.assert_allclose(a.bse, b.bse, rtol=0.05)


def test_two_step_matches_statsmodels_nonlinear_iv_gmm(sim):
    """statsmodels' NonlinearIVGMM: same start, first-step weight (Z'Z/n)⁻¹, two steps;
    its covariance is (G'Ŝ⁻¹G)⁻¹/n with Ŝ at θ̂ and G by finite differences."""
    from statsmodels.sandbox.regression.gmm import NonlinearIVGMM

    Z = sim[["one", "z1", "z2", "w"]].to_numpy()
    n = len(Z)
    theirs = NonlinearIVGMM(sim["y"].to_numpy(), sim[["x"]].to_numpy(), Z,
                            lambda b, X: np.exp(b[0] + b[1] * X[:, 0])).fit(
        np.array([0.0, 0.1]), maxiter=2, inv_weights=Z.T @ Z / n, optim_method="bfgs",
        optim_args={"gtol": 1e-13, "disp": 0})
    mine = estimation.gmm(_exp_moments, sim, ["b0", "b1"], start={"b0": 0.0, "b1": 0.1},
                          weight=np.linalg.inv(Z.T @ Z / n), efficient_cov=True)
    np.testing.assert_allclose(mine.params, theirs.params, rtol=1e-8)
    np.testing.assert_allclose(mine.j_stat.statistic, theirs.jval, rtol=1e-8)
    np.testing.assert_allclose(mine.bse, theirs.bse, rtol=1e-6)  # their G: finite differences


def test_steps_one_two_iterated(sim):
    kw = dict(start={"b0": 0.0, "b1": 0.1})
    one = estimation.gmm(_exp_moments, sim, ["b0", "b1"], steps=1, **kw)
    two = estimation.gmm(_exp_moments, sim, ["b0", "b1"], steps=2, **kw)
    it = estimation.gmm(_exp_moments, sim, ["b0", "b1"], steps="iterated", **kw)
    assert one.j_stat is None and two.j_stat is not None
    assert one.iterations == 1 and two.iterations == 2 and it.iterations > 2 and it.converged
    # The iterated estimate is a fixed point: one more step would not move it.
    last = it.diagnostics["step_estimates"].to_numpy()
    np.testing.assert_allclose(last[-1], last[-2], rtol=1e-8)


def _resid(p, d):
    return d["y2"] - jnp.exp(p["gamma"] * d["x"])


def test_concentrated_linear_parameters_equal_full_gmm(sim):
    Z = sim[["one", "w", "z1", "z2"]]
    X = sim[["one", "w"]].rename(columns={"one": "beta0", "w": "beta1"})
    conc = estimation.gmm(residuals=_resid, data=sim, params=["gamma"], start={"gamma": 0.1},
                          instruments=Z, linear=X)
    assert conc.converged
    for name in ("gamma", "beta0", "beta1"):
        assert abs(conc.params[name] - TRUTH[name]) < 4 * conc.bse[name]

    def full(p, d):
        u = d["y2"] - jnp.exp(p["gamma"] * d["x"]) - p["beta0"] - p["beta1"] * d["w"]
        return jnp.stack([d["one"], d["w"], d["z1"], d["z2"]], axis=1) * u[:, None]

    Za = Z.to_numpy()
    full_res = estimation.gmm(full, sim, ["gamma", "beta0", "beta1"],
                              start=conc.params.to_dict(),
                              weight=np.linalg.inv(Za.T @ Za / len(Za)))
    np.testing.assert_allclose(conc.params[full_res.params.index], full_res.params, rtol=1e-7)
    np.testing.assert_allclose(conc.bse[full_res.params.index], full_res.bse, rtol=1e-6)
    np.testing.assert_allclose(conc.j_stat.statistic, full_res.j_stat.statistic, rtol=1e-6)
    # The joint Jacobian, nonlinear block by JAX and linear block −Z'X/n, against FD.
    data = {c: jnp.asarray(sim[c].to_numpy()) for c in sim}

    def gbar(x):
        return np.asarray(full({"gamma": x[0], "beta0": x[1], "beta1": x[2]}, data)).mean(0)

    G_fd = _fd_jacobian(gbar, conc.params[["gamma", "beta0", "beta1"]].to_numpy())
    np.testing.assert_allclose(conc.diagnostics["jacobian"][["gamma", "beta0", "beta1"]],
                               G_fd, rtol=1e-6, atol=1e-9)


def test_stacked_equations_share_a_parameter(sim):
    """Two equations (a demand-and-supply layout) with their own instruments and regressors."""
    def resid2(p, d):
        r1 = d["y2"] - jnp.exp(p["gamma"] * d["x"])
        r2 = d["y"] - jnp.exp(p["b0"] + p["b1"] * d["x"])
        return jnp.stack([r1, r2], axis=1)

    Z1, Z2 = sim[["one", "w", "z1", "z2"]], sim[["one", "z1", "z2", "w"]]
    X1 = sim[["one", "w"]].rename(columns={"one": "beta0", "w": "beta1"})
    res = estimation.gmm(residuals=resid2, data=sim, params=["gamma", "b0", "b1"],
                         start={"gamma": 0.1, "b0": 0.0, "b1": 0.1}, instruments=[Z1, Z2],
                         linear=[X1, None])
    assert res.converged
    assert list(res.params.index) == ["gamma", "b0", "b1", "eq0:beta0", "eq0:beta1"]
    truth = {"gamma": 0.4, "b0": 0.2, "b1": 0.3, "eq0:beta0": 1.0, "eq0:beta1": -0.5}
    for k, v in truth.items():
        assert abs(res.params[k] - v) < 4 * res.bse[k]
    assert res.j_stat.df == 8 - 5


def test_residual_form_reproduces_linear_iv_clustered():
    lm = pytest.importorskip("linearmodels")
    del lm
    df = importlib.import_module("linearmodels.datasets.mroz").load().dropna(
        subset=["lwage"]).reset_index(drop=True)
    f = "lwage ~ 1 + exper + expersq + [educ ~ fatheduc + motheduc]"
    iv = estimation.ivreg(f, df, method="gmm", weight_type="cluster", cov_type="cluster",
                          clusters="age")
    # Clusters given: weights and covariance are clustered unless told otherwise.
    default = estimation.ivreg(f, df, method="gmm", clusters="age")
    assert default.cov_type == "cluster"
    np.testing.assert_allclose(default.bse, iv.bse, rtol=1e-12)
    d = estimation.iv_design(f, df)
    res = estimation.gmm(residuals=lambda p, dd: dd["lwage"] - p["educ"] * dd["educ"],
                         data=df[["lwage", "educ"]], params=["educ"], start={"educ": 0.0},
                         instruments=pd.concat([d.exog, d.instruments], axis=1),
                         linear=d.exog, clusters=df["age"])
    assert res.cov_type == "cluster"
    np.testing.assert_allclose(res.params[iv.params.index], iv.params, rtol=1e-8)
    np.testing.assert_allclose(res.bse[iv.params.index], iv.bse, rtol=1e-7)
    np.testing.assert_allclose(res.j_stat.statistic, iv.j_stat.statistic, rtol=1e-7)


def test_non_convergence_is_reported(sim):
    with pytest.warns(NotConvergedWarning):
        res = estimation.gmm(_exp_moments, sim, ["b0", "b1"], start={"b0": -2.0, "b1": 0.9},
                             scipy_options={"maxiter": 1})
    assert not res.converged
    assert "did NOT converge" in res.summary()


def test_blp_pattern_implicit_share_inversion():
    """Random-coefficient logit: δ(σ) from a share inversion solved by `jax.lax.custom_root`
    (implicit derivatives, no unrolled iterations), β concentrated out, clustered by market."""
    rng = np.random.default_rng(2)
    T, J = 80, 3
    x, p = rng.normal(size=(2, T, J))
    p = 1.0 + 0.5 * x + p
    xi = 0.3 * rng.normal(size=(T, J))
    nodes = jnp.array([-1.0, 1.0])  # two equally weighted taste draws for price

    def shares(d, sigma, pr):
        e = jnp.exp(d[..., None] + sigma * pr[..., None] * nodes)
        return (e / (1 + e.sum(axis=1, keepdims=True))).mean(-1)

    s_obs = np.asarray(shares(jnp.asarray(1.0 - p + 0.5 * x + xi), 0.5, jnp.asarray(p)))

    def delta(sigma, s, pr):
        def solve(f, d0):  # BLP's contraction d ← d + log s − log s(d)
            def body(c):
                return c[0] + f(c[0]), c[1] + 1

            return jax.lax.while_loop(
                lambda c: (jnp.max(jnp.abs(f(c[0]))) > 1e-13) & (c[1] < 10_000), body,
                (d0, 0))[0]

        def tangent_solve(g, y):
            A = jax.jacobian(g)(y)
            return jnp.linalg.solve(A.reshape(y.size, y.size), y.ravel()).reshape(y.shape)

        start = jnp.log(s) - jnp.log(1 - s.sum(1, keepdims=True))
        return jax.lax.custom_root(lambda d: jnp.log(s) - jnp.log(shares(d, sigma, pr)), start,
                                   solve, tangent_solve)

    def xi_of(prm, d):
        return delta(prm["sigma"], d["s"].reshape(T, J), d["p"].reshape(T, J)).ravel()

    data = {"s": s_obs.ravel(), "p": p.ravel()}
    xr, pr = x.ravel(), p.ravel()
    X = pd.DataFrame({"const": 1.0, "price": pr, "x": xr})
    Z = pd.DataFrame({"const": 1.0, "x": xr, "p": pr, "x2": xr ** 2, "p2": pr ** 2, "xp": xr * pr})
    res = estimation.gmm(residuals=xi_of, data=data,
                         params=[Param("sigma", transform="log")], start={"sigma": 0.3},
                         instruments=Z, linear=X, clusters=np.repeat(np.arange(T), J))
    assert res.converged and res.cov_type == "cluster"
    for name, truth in {"sigma": 0.5, "const": 1.0, "price": -1.0, "x": 0.5}.items():
        assert abs(res.params[name] - truth) < 4 * res.bse[name], name
    # dδ/dσ by the implicit function theorem against finite differences of the solved δ.
    sig = float(res.params["sigma"])
    Zn = Z.to_numpy()
    xi_jit = jax.jit(lambda s: xi_of({"sigma": s}, data))

    def a_of(s):
        return Zn.T @ np.asarray(xi_jit(s)) / len(Zn)

    fd = (a_of(sig * (1 + 1e-6)) - a_of(sig * (1 - 1e-6))) / (2e-6 * sig)
    np.testing.assert_allclose(res.diagnostics["jacobian"]["sigma"], fd, rtol=1e-5, atol=1e-9)
