"""Linear IV and GMM against linearmodels (IV2SLS, IVGMM) and statsmodels on their own data.

Estimates, robust and clustered SEs, J, Sargan and the first-stage diagnostics agree to 1e-8
relative on linearmodels' bundled Mroz, Card and MEPS data sets.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest

import estimation

lm_iv = pytest.importorskip("linearmodels.iv")
lm_data = pytest.importorskip("linearmodels.datasets")


def _load(name: str) -> pd.DataFrame:
    return importlib.import_module(f"linearmodels.datasets.{name}").load()

RTOL = 1e-8

MODELS = {
    "mroz": ("lwage ~ 1 + exper + expersq + [educ ~ fatheduc + motheduc]", "age"),
    "card": ("lwage ~ 1 + exper + expersq + black + south + smsa + reg661 + reg662 + reg663"
             " + [educ ~ nearc4 + nearc2]", "exper"),
    "meps": ("ldrugexp ~ 1 + totchr + age + linc + blhisp + [hi_empunion ~ ssiratio + multlc]",
             "age"),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def case(request):
    name = request.param
    df = _load(name)
    formula, cluster_col = MODELS[name]
    used = [c for c in df.columns if c in formula]
    df = df.dropna(subset=used).reset_index(drop=True)
    return name, df, formula, cluster_col


def _close(a, b, rtol=RTOL):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0)


def _match(mine, theirs, rtol=RTOL):
    _close(mine.params[theirs.params.index], theirs.params, rtol)
    _close(mine.bse[theirs.params.index], theirs.std_errors, rtol)


@pytest.mark.parametrize("cov_type, lm_cov, debiased", [
    ("unadjusted", "unadjusted", False),
    ("unadjusted", "unadjusted", True),
    ("robust", "robust", False),
    pytest.param("robust", "robust", True, marks=pytest.mark.slow),
    ("cluster", "clustered", False),
    ("cluster", "clustered", True),
])
def test_2sls_matches_linearmodels(case, cov_type, lm_cov, debiased):
    _, df, formula, ccol = case
    kw = {"clusters": df[ccol]} if lm_cov == "clustered" else {}
    theirs = lm_iv.IV2SLS.from_formula(formula, df).fit(cov_type=lm_cov, debiased=debiased,
                                                         **kw)
    mine = estimation.ivreg(formula, df, cov_type=cov_type, debiased=debiased,
                            clusters=ccol if cov_type == "cluster" else None)
    _match(mine, theirs)
    _close(mine.pvalues[theirs.params.index], theirs.pvalues, 1e-6)
    if cov_type == "unadjusted" and debiased:  # one endogenous regressor: CD = SW = F
        f_theirs = theirs.first_stage.diagnostics["f.stat"].iloc[0]
        _close(mine.diagnostics["cragg_donald"], f_theirs)
        _close(mine.first_stage["sw_f"].iloc[0], f_theirs)
    if theirs.sargan.df > 0:
        _close(mine.sargan.statistic, theirs.sargan.stat)
        assert mine.sargan.df == theirs.sargan.df
        _close(mine.sargan.pvalue, theirs.sargan.pval, 1e-7)
    fs_theirs = theirs.first_stage.diagnostics
    fs_mine = mine.first_stage
    for col in fs_theirs.index:
        _close(fs_mine.loc[col, "rsquared"], fs_theirs.loc[col, "rsquared"])
        _close(fs_mine.loc[col, "partial_rsquared"], fs_theirs.loc[col, "partial.rsquared"])
        _close(fs_mine.loc[col, "shea_rsquared"], fs_theirs.loc[col, "shea.rsquared"])
        stat = "f_stat" if cov_type == "unadjusted" else "wald"
        _close(fs_mine.loc[col, stat], fs_theirs.loc[col, "f.stat"])


@pytest.mark.parametrize("weight_type, lm_weight", [("robust", "robust"),
                                                    ("unadjusted", "unadjusted"),
                                                    ("cluster", "clustered")])
def test_two_step_gmm_matches_linearmodels(case, weight_type, lm_weight):
    _, df, formula, ccol = case
    wkw = {"clusters": df[ccol]} if lm_weight == "clustered" else {}
    ckw = {"clusters": df[ccol]} if lm_weight == "clustered" else {}
    theirs = lm_iv.IVGMM.from_formula(formula, df, weight_type=lm_weight, **wkw).fit(
        cov_type=lm_weight, **ckw)
    mine = estimation.ivreg(formula, df, method="gmm", weight_type=weight_type,
                            cov_type=weight_type,
                            clusters=ccol if weight_type == "cluster" else None)
    _match(mine, theirs)
    _close(mine.j_stat.statistic, theirs.j_stat.stat)
    _close(mine.j_stat.pvalue, theirs.j_stat.pval, 1e-7)
    _close(mine.weight_matrix.to_numpy(), theirs.weight_matrix.to_numpy())
    assert mine.iterations == theirs.iterations == 2


def test_iterated_gmm_matches_linearmodels(case):
    _, df, formula, _ = case
    theirs = lm_iv.IVGMM.from_formula(formula, df).fit(iter_limit=200, tol=1e-24)
    mine = estimation.ivreg(formula, df, method="iterated-gmm", iterate_tol=1e-13)
    _match(mine, theirs, 1e-7)
    _close(mine.j_stat.statistic, theirs.j_stat.stat, 1e-7)
    assert mine.converged


def test_one_step_gmm_with_user_weight(case):
    _, df, formula, _ = case
    d = estimation.iv_design(formula, df)
    Z = pd.concat([d.exog, d.instruments], axis=1).to_numpy()
    # Not the 2SLS weight, but as well scaled: (Z'DZ/n)⁻¹ with row weights D in [1, 3].
    D = 1.0 + np.arange(len(Z)) % 3
    W = np.linalg.inv(Z.T @ (Z * D[:, None]) / len(Z))
    theirs = lm_iv.IVGMM.from_formula(formula, df).fit(iter_limit=1, initial_weight=W)
    mine = estimation.ivreg(formula, df, method="gmm", steps=1, weight=W)
    _match(mine, theirs)
    assert mine.j_stat is None  # not an efficient weighting matrix


def test_centered_and_debiased_gmm(case):
    _, df, formula, _ = case
    theirs = lm_iv.IVGMM.from_formula(formula, df, center=True, debiased=True).fit(
        debiased=True, center=True)
    mine = estimation.ivreg(formula, df, method="gmm", center=True, debiased=True)
    _match(mine, theirs)
    _close(mine.pvalues[theirs.params.index], theirs.pvalues, 1e-6)


def test_arrays_equal_formula():
    df = _load("mroz").dropna(subset=["lwage"]).reset_index(drop=True)
    formula, _ = MODELS["mroz"]
    by_formula = estimation.ivreg(formula, df, method="gmm")
    by_arrays = estimation.ivreg(
        dependent=df["lwage"], exog=df[["exper", "expersq"]].assign(Intercept=1.0)[
            ["Intercept", "exper", "expersq"]],
        endog=df[["educ"]], instruments=df[["fatheduc", "motheduc"]], method="gmm")
    _close(by_arrays.params, by_formula.params, 1e-12)
    _close(by_arrays.bse, by_formula.bse, 1e-12)


def test_2sls_matches_statsmodels():
    from statsmodels.sandbox.regression.gmm import IV2SLS

    df = _load("mroz").dropna(subset=["lwage"]).reset_index(drop=True)
    X = pd.DataFrame({"Intercept": 1.0, "exper": df.exper, "expersq": df.expersq,
                      "educ": df.educ})
    Z = pd.DataFrame({"Intercept": 1.0, "exper": df.exper, "expersq": df.expersq,
                      "fatheduc": df.fatheduc, "motheduc": df.motheduc})
    theirs = IV2SLS(df.lwage, X, Z).fit()
    # statsmodels divides σ̂² by n − k: linearmodels' and our `debiased`.
    mine = estimation.ivreg(dependent=df.lwage, exog=X[["Intercept", "exper", "expersq"]],
                            endog=X[["educ"]], instruments=Z[["fatheduc", "motheduc"]],
                            cov_type="unadjusted", debiased=True)
    _close(mine.params[X.columns], theirs.params)
    _close(mine.bse[X.columns], theirs.bse)
    _close(mine.pvalues[X.columns], theirs.pvalues, 1e-6)


@pytest.mark.parametrize("hc", ["HC0", "HC1", "HC2", "HC3"])
def test_exogenous_model_is_ols_with_statsmodels_hc(hc):
    import statsmodels.api as sm

    df = _load("mroz").dropna(subset=["lwage"]).reset_index(drop=True)
    X = sm.add_constant(df[["educ", "exper", "expersq"]]).rename(columns={"const": "Intercept"})
    theirs = sm.OLS(df.lwage, X).fit(cov_type=hc)
    mine = estimation.ivreg(dependent=df.lwage, exog=X, cov_type=hc)
    _close(mine.params[X.columns], theirs.params)
    _close(mine.bse[X.columns], theirs.bse)


def test_summary_formats_and_vocabulary():
    df = _load("mroz")
    formula, _ = MODELS["mroz"]
    res = estimation.ivreg(formula, df, method="gmm", missing="drop")
    assert res.nobs == 428 and "325 row(s) with missing values dropped" in res.summary()
    # Cluster labels for every row of the data, as a column, a Series or an array.
    by_name = estimation.ivreg(formula, df, clusters="age", missing="drop")
    for labels in (df["age"], df["age"].to_numpy()):
        other = estimation.ivreg(formula, df, clusters=labels, missing="drop")
        _close(other.bse, by_name.bse, 1e-14)
    for fmt, token in (("text", "Hansen's J"), ("markdown", "| Hansen's J |"),
                       ("latex", r"\begin{tabular}")):
        text = res.summary(fmt)
        assert token in text and "educ" in text and "First stage" in text
    ci = res.conf_int()
    assert (ci["lower"] < res.params).all() and (res.params < ci["upper"]).all()
    assert res.cov_params().shape == (4, 4)
    w = estimation.wald_test(res, np.array([[0.0, 0.0, 0.0, 1.0]]))
    _close(w.statistic, res.tvalues["educ"] ** 2, 1e-10)
    # Nonlinear restrictions go through the delta method with a JAX gradient.
    w2 = estimation.wald_test(res, lambda p: p["educ"] / p["exper"], q=1.0)
    d = res.delta_method(lambda p: p["educ"] / p["exper"])
    _close(w2.statistic, ((d["estimate"].iloc[0] - 1.0) / d["std_err"].iloc[0]) ** 2, 1e-10)
    g = np.array([0.0, -res.params["educ"] / res.params["exper"] ** 2, 0.0,
                  1.0 / res.params["exper"]])
    _close(d["std_err"].iloc[0], np.sqrt(g @ res.cov_params().to_numpy() @ g), 1e-10)


def test_linear_gmm_equals_the_normal_equations_and_compiles_nothing():
    """β̂(W) by QR of C'Z'X (W = CC') equals the textbook (X'ZWZ'X)⁻¹X'ZWZ'y to rounding (also
    through the fallback for a W that is not positive definite), and an IV fit builds no XLA
    program: it is closed-form NumPy (a dozen fits once compiled ~50 programs)."""
    from estimation.compilation import compile_stats
    from estimation.iv import linear_gmm

    rng = np.random.default_rng(3)
    n = 400
    z = rng.normal(size=(n, 3))
    X = np.column_stack([np.ones(n), z[:, 0] + rng.normal(size=n), 50 + 10 * z[:, 1] ** 2])
    Z = np.column_stack([np.ones(n), z, z[:, 2] ** 2])
    y = X @ np.array([1.0, -2.0, 0.03]) + rng.normal(size=n)
    before = compile_stats()
    for W in (np.linalg.inv(Z.T @ Z / n), np.diag([1.0, 2.0, 1.0, -1e-3, 1.0])):
        XZW = X.T @ Z @ W
        textbook = np.linalg.solve(XZW @ Z.T @ X, XZW @ Z.T @ y)
        np.testing.assert_allclose(linear_gmm(y, X, Z, W), textbook, rtol=1e-10, atol=1e-12)
    df = pd.DataFrame({"y": y, "x1": X[:, 1], "x2": X[:, 2],
                       **{f"z{j}": Z[:, j + 1] for j in range(4)}})
    for method in ("2sls", "gmm", "iterated-gmm"):
        estimation.ivreg("y ~ 1 + x2 + [x1 ~ z0 + z1 + z3]", df, method=method)
    built = compile_stats() - before
    assert built.compiled + built.loaded == 0
