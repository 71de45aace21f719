"""Inference edge cases: level-free convergence, Wald/LR input checks, singular covariances,
multistart warnings, clustered SEs by default, bootstrap functions on the optimiser's scale."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from jax.scipy.stats import norm as jnorm

import estimation
from estimation import Param, ParamSpec

SPEC = ParamSpec([Param("mu"), Param("sigma", transform="log")])
START = {"mu": 0.0, "sigma": 1.0}


def _y(seed=0, n=200):
    return np.random.default_rng(seed).normal(1.0, 2.0, n)


@pytest.mark.parametrize("offset", [0.0, 1e10, -1e6])
def test_convergence_does_not_depend_on_a_constant_in_the_objective(offset):
    # A normalising constant must not make the start look converged (|Q| would grow with it).
    y = _y()

    def loglik(p, d):
        return jnorm.logpdf(d["y"], p["mu"], p["sigma"]) + offset

    res = estimation.fit(loglik, {"y": y}, SPEC, start=START, progress=False)
    assert res.converged and res.diagnostics.iterations >= 3
    assert res.params["mu"] == pytest.approx(y.mean(), abs=1e-6 * y.std())
    assert res.params["sigma"] == pytest.approx(y.std(), rel=1e-6)


def test_wald_with_a_function_restriction_subtracts_q():
    y = _y(1, 400)
    res = estimation.fit(lambda p, d: jnorm.logpdf(d["y"], p["mu"], p["sigma"]), {"y": y}, SPEC,
                         start=START, progress=False)
    expected = ((y.mean() - 1.0) / (y.std() / np.sqrt(len(y)))) ** 2
    w = estimation.wald_test(res, lambda p: p["mu"], q=[1.0])
    assert w.statistic == pytest.approx(expected, rel=1e-5) and w.df == 1
    with pytest.raises(estimation.SpecificationError, match="q has 2 values"):
        estimation.wald_test(res, lambda p: p["mu"], q=[1.0, 2.0])
    with pytest.raises(estimation.SpecificationError, match="not linearly independent"):
        estimation.wald_test(res, np.array([[1.0, 0.0], [2.0, 0.0]]))


def test_lr_test_refuses_different_data_and_non_nested_fits():
    y = _y(2, 400)

    def fit(values, model, spec, start):
        return estimation.fit(model, {"y": values}, spec, start=start, progress=False)

    full = fit(y, lambda p, d: jnorm.logpdf(d["y"], p["mu"], p["sigma"]), SPEC, START)
    sig = [Param("sigma", start=1.0, transform="log")]
    small = fit(y[:300], lambda p, d: jnorm.logpdf(d["y"], 1.0, p["sigma"]), sig, None)
    with pytest.raises(estimation.SpecificationError, match=r"300 rows.*400"):
        estimation.lr_test(small, full)
    # Not nested (here: the "unrestricted" fit is on other data of the same size): the
    # restricted fit has the higher likelihood and LR would be negative.
    restricted = fit(y, lambda p, d: jnorm.logpdf(d["y"], 1.0, p["sigma"]), sig, None)
    other = fit(10.0 * y, lambda p, d: jnorm.logpdf(d["y"], p["mu"], p["sigma"]), SPEC, START)
    with pytest.raises(estimation.SpecificationError, match="higher log-likelihood"):
        estimation.lr_test(restricted, other)


def test_unidentified_model_names_the_failed_condition_and_warns_on_covariance():
    y = _y(3)
    spec = ParamSpec([Param("a"), Param("b"), Param("sigma", transform="log")])

    def loglik(p, d):
        return jnorm.logpdf(d["y"], p["a"] + p["b"], p["sigma"])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = estimation.fit(loglik, {"y": y}, spec, start={"a": 0.0, "b": 0.0, "sigma": 1.0},
                             method="bfgs", progress=False)
    assert not res.converged
    assert "not positive definite" in res.diagnostics.status
    assert "exceeds" not in res.diagnostics.status  # the gradient test passed
    assert any(issubclass(w.category, estimation.CovarianceWarning) for w in caught)
    assert np.isnan(res.bse["a"])


def test_multistart_warns_when_an_unconverged_start_is_lower():
    # Double well: the start at the right-hand local minimum converges at once; the start near
    # the lower left-hand minimum is stopped by the iteration cap while already below it.
    def loss(p, d):
        x = p["x"] + 0.0 * d["one"]
        return (x * x - 1.0) ** 2 + 0.3 * x

    roots = np.roots([4.0, 0.0, -4.0, 0.3])
    right = float(max(r.real for r in roots if abs(r.imag) < 1e-12))
    starts = {"x": [right, -1.3]}
    with pytest.warns(estimation.NotConvergedWarning, match="below the chosen optimum"):
        res = estimation.fit(loss, {"one": np.ones(1)}, [Param("x")], kind="m",
                             start=pd.DataFrame(starts), cov_type="robust",
                             options=estimation.SolverOptions(maxiter=1), progress=False)
    assert res.params["x"] == pytest.approx(right, abs=1e-9)
    assert any("better optimum" in note for note in res.notes)


def test_clusters_make_the_default_covariance_clustered():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(40), 5)
    y = rng.normal(0, 1, 40)[g] + rng.normal(0, 1, 200)
    res = estimation.fit(lambda p, d: jnorm.logpdf(d["y"], p["mu"], p["sigma"]), {"y": y}, SPEC,
                         start=START, clusters=g, progress=False)
    assert res.cov_type == "cluster"
    # The clustered SE of a mean: sqrt(c · Σ_g (Σ_i (y_i − ȳ))² ) / n with c = G/(G−1)·(n−1)/(n−2).
    n, G = 200, 40
    sums = np.bincount(g, weights=y - y.mean())
    se = np.sqrt(G / (G - 1) * (n - 1) / (n - 2) * np.sum(sums**2)) / n
    assert res.bse["mu"] == pytest.approx(se, rel=1e-6)


def test_bootstrap_functions_use_the_replicates_on_the_optimiser_scale():
    y = _y(6)
    res = estimation.fit(lambda p, d: jnorm.logpdf(d["y"], p["mu"], p["sigma"]), {"y": y}, SPEC,
                         start=START, bootstrap=estimation.Bootstrap(draws=200, seed=1),
                         progress=False)
    theta = res.bootstrap.theta[res.bootstrap.converged.to_numpy(), 1]
    out = res.delta_method(lambda p: p["log_sigma"], names=["log_sigma"])
    assert out.loc["log_sigma", "std_err"] == pytest.approx(np.std(theta, ddof=1), rel=1e-12)
    lo, hi = np.quantile(theta, [0.025, 0.975])
    assert out.loc["log_sigma", "ci_low"] == pytest.approx(lo, rel=1e-12)
    assert out.loc["log_sigma", "ci_high"] == pytest.approx(hi, rel=1e-12)
    # log σ̂'s bootstrap SE is close to its asymptotic one, 1/√(2n).
    assert np.std(theta, ddof=1) == pytest.approx(1 / np.sqrt(2 * len(y)), rel=0.2)


def test_unidentified_newton_fit_is_not_converged():
    # a + b is identified, a and b are not: the Hessian is singular to working precision.
    y = _y(7)
    spec = ParamSpec([Param("a"), Param("b"), Param("sigma", transform="log")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = estimation.fit(lambda p, d: jnorm.logpdf(d["y"], p["a"] + p["b"], p["sigma"]),
                             {"y": y}, spec, start={"a": 0.3, "b": -0.1, "sigma": 1.0},
                             progress=False)
    kinds = {w.category for w in caught}
    assert {estimation.NotConvergedWarning, estimation.CovarianceWarning} <= kinds
    assert not res.converged
    assert "Hessian is not positive definite" in res.diagnostics.status


def test_markdown_summary_rows_have_as_many_cells_as_the_header():
    y = _y(8, 60)
    res = estimation.fit(lambda p, d: jnorm.logpdf(d["y"], p["mu"], p["sigma"]), {"y": y}, SPEC,
                         start=START, progress=False)
    md = res.summary("markdown")
    table = [line for line in md.splitlines() if line.startswith("|")][-4:]
    cells = [len(re.split(r"(?<!\\)\|", line)) for line in table]
    assert len(set(cells)) == 1 and cells[0] == 9  # 7 columns + index + the outer pipes
    assert r"P>\|z\|" in md


def test_hessian_singular_to_lu_gives_nan_ses_with_a_warning():
    # Eigenvalues 1.1e-16 and 10: "positive", yet LU finds the matrix exactly singular.
    from estimation.covariance import covariance

    H = np.array([[1.0, 3.0], [3.0, 9.0]])
    scores = np.random.default_rng(0).normal(size=(20, 2))
    for cov_type in ("hessian", "robust"):
        with pytest.warns(estimation.CovarianceWarning, match="singular to working precision"):
            V = covariance(cov_type, H, scores)
        assert np.isnan(V).all()
