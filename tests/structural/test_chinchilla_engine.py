"""The engine on the Chinchilla law: JAX derivatives against finite differences and parameter
recovery from simulated runs (moved here from the engine's tests, which import nothing of the
structural model)."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pandas as pd

import estimation
from estimation import Param, ParamSpec
from estimation.objective import Objective, as_data
from structural.chinchilla_fit import QUICK_GRID, as_fit_data, fit_chinchilla, log_residuals


def test_gradient_and_hessian_match_finite_differences():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"params": np.exp(rng.uniform(18, 23, 60)),
                       "tokens": np.exp(rng.uniform(20, 26, 60)),
                       "loss": rng.uniform(2, 4, 60)})
    arrays, n = as_data(as_fit_data(df))
    spec = ParamSpec([Param("A", transform="log"), Param("B", transform="log"),
                      Param("E", transform="log"), Param("alpha"), Param("beta")])
    loss = estimation.Huber(0.05)
    obj = Objective(lambda p, d: loss.rho(log_residuals(p, d)), arrays, spec, "m", n)
    theta = jnp.asarray([6.0, 7.0, 0.5, 0.3, 0.35])
    w = jnp.ones(n)
    _, g, H = obj.value_grad_hess(theta, w)
    h = 1e-6
    fd_g = np.array([(obj.value(theta + h * e, w) - obj.value(theta - h * e, w)) / (2 * h)
                     for e in np.eye(5)])
    np.testing.assert_allclose(np.asarray(g), fd_g, rtol=1e-6, atol=1e-10)
    fd_H = np.array([(obj.value_grad_hess(theta + h * e, w)[1]
                      - obj.value_grad_hess(theta - h * e, w)[1]) / (2 * h) for e in np.eye(5)])
    np.testing.assert_allclose(np.asarray(H), fd_H, rtol=1e-5, atol=1e-8)


TRUTH = {"A": 400.0, "B": 1800.0, "E": 1.8, "alpha": 0.34, "beta": 0.37}


def _simulate_runs(seed: int, n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(5e7), np.log(2e10), n))
    D = np.exp(rng.uniform(np.log(1e9), np.log(4e11), n))
    L = TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]
    return pd.DataFrame({"params": N, "tokens": D, "loss": L * np.exp(rng.normal(0, 0.01, n))})


def test_chinchilla_parameter_recovery():
    """Data simulated from known A, B, E, α, β: the grid fit finds the truth, and the engine's 95%
    CIs cover it in about 95% of simulated datasets (each parameter separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", estimation.NotConvergedWarning)
        res = fit_chinchilla(_simulate_runs(0), starts=QUICK_GRID, delta=0.05, progress=False)
        assert res.converged
        z = (res.params - pd.Series(TRUTH)) / res.bse
        assert (z.abs() < 3).all(), z.to_dict()
        covered = []
        for seed in range(1, 31):
            r = fit_chinchilla(_simulate_runs(seed), starts=pd.DataFrame([TRUTH]), delta=0.05,
                               progress=False)
            assert r.converged
            ci = r.conf_int()
            covered.append([ci.loc[k, "lower"] <= v <= ci.loc[k, "upper"]
                            for k, v in TRUTH.items()])
    rate = np.mean(covered, axis=0)
    # 30 datasets: a true 95% interval covers ≥ 25 of them with probability > 0.98.
    assert (rate >= 25 / 30).all(), dict(zip(TRUTH, rate, strict=True))



def test_screened_grid_equals_the_full_grid_on_simulated_runs(monkeypatch):
    """``fit chinchilla`` on many runs screens its grid on a subsample and refines the best
    optima on all rows: on 2,000 simulated runs, screening the 243-start grid (forced here by
    lowering the thresholds) reaches the optimum the full grid reaches, and the summary says so."""
    import importlib

    fit_module = importlib.import_module("estimation.fit")
    rng = np.random.default_rng(5)
    n = 2000
    N, D = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n)), np.exp(
        rng.uniform(np.log(5e9), np.log(5e11), n))
    loss = (1.8172 + 482.01 / N**0.3478 + 2085.43 / D**0.3658) * np.exp(0.02 * rng.normal(size=n))
    runs = pd.DataFrame({"params": N, "tokens": D, "loss": loss})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", estimation.NotConvergedWarning)
        full = fit_chinchilla(runs, starts=QUICK_GRID, progress=False)
        monkeypatch.setattr(fit_module, "SCREEN_CELLS", 1e5)
        monkeypatch.setattr(fit_module, "SCREEN_ROWS", 256)
        monkeypatch.setattr(fit_module, "SCREEN_KEEP", 8)
        screened = fit_chinchilla(runs, starts=QUICK_GRID, progress=False)
    assert not any("screened" in note for note in full.notes)
    assert any("screened: all 243 starts" in note for note in screened.notes)
    assert "screened" in screened.summary()
    assert full.converged and screened.converged and len(screened.starts) <= 8
    np.testing.assert_allclose(screened.params.to_numpy(), full.params.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(screened.fun, full.fun, rtol=1e-12)
