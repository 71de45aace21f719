"""Bad input to ivreg and gmm: each error names the column, parameter or shape at fault."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import estimation
from estimation.errors import EstimationFailed, ModelFunctionError, SpecificationError


@pytest.fixture(scope="module")
def df():
    rng = np.random.default_rng(5)
    n = 300
    z1, z2, w, v = rng.normal(size=(4, n))
    x = z1 + 0.5 * z2 + v
    y = 1.0 + 0.5 * x - w + v + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "w": w, "z1": z1, "z2": z2, "g": np.arange(n) % 30})


F = "y ~ 1 + w + [x ~ z1 + z2]"


@pytest.mark.parametrize("formula, data_change, pattern", [
    ("y ~ 1 + w + [x + w2 ~ z1]", {"w2": lambda d: d.w ** 2},
     r"2 endogenous regressor\(s\) \['x', 'w2'\] but only 1 excluded instrument"),
    ("y ~ 1 + w + [x ~ z1 + z2 + z3]", {"z3": lambda d: d.z1 - 2 * d.z2},
     r"column 'z3' is a linear combination of \['Intercept', 'w', 'z1', 'z2'\]"),
    ("y ~ 1 + w + w3 + [x ~ z1 + z2]", {"w3": lambda d: 2 * d.w},
     r"regressors are collinear: column 'w3'"),
    ("y ~ 1 + w + [x ~ z1 + z2]", {"z2": lambda d: d.z2.where(d.index != 7)},
     r"column 'z2' has missing values \(rows \[7\]\)"),
    ("y ~ 1 + w + [x ~ z1 + z0]", {"z0": lambda d: 0.0 * d.z1}, r"column 'z0' is identically zero"),
    ("lab ~ 1 + w + [x ~ z1 + z2]", {"lab": lambda d: np.where(d.index % 2, "a", "b")},
     "left-hand side"),
    ("y ~ 1 + w + [x ~ z1 + z2", {}, "cannot parse formula"),
])
def test_ivreg_formula_errors(df, formula, data_change, pattern):
    d = df.assign(**{k: f(df) for k, f in data_change.items()})
    with pytest.raises(SpecificationError, match=pattern):
        estimation.ivreg(formula, d)


def test_irrelevant_instruments_named(df):
    # x moves with w only: the excluded instruments are exactly orthogonal to it net of exog.
    Z = np.column_stack([np.ones(len(df)), df.w, df.z1, df.z2])
    e = np.random.default_rng(1).normal(size=len(df))
    e -= Z @ np.linalg.lstsq(Z, e, rcond=None)[0]
    d = df.assign(x=df.w + e)
    with pytest.raises(SpecificationError, match=r"endogenous regressor\(s\) \['x'\] are not "
                                                 "identified"):
        estimation.ivreg(F, d)


def test_weak_joint_identification_shows_in_sanderson_windmeijer(df):
    """Both endogenous regressors load on the same instrument combination: each first-stage F
    is large, but neither is identified apart from the other (SW F and Cragg-Donald small)."""
    rng = np.random.default_rng(9)
    n = len(df)
    z3 = rng.normal(size=n)
    common = df.z1 + 0.5 * df.z2 + 0.01 * z3
    d = df.assign(z3=z3, x1=common + 0.3 * rng.normal(size=n), x2=common + 0.3 * rng.normal(size=n))
    res = estimation.ivreg("y ~ 1 + w + [x1 + x2 ~ z1 + z2 + z3]", d, cov_type="unadjusted",
                           debiased=True)
    fs = res.first_stage
    assert (fs["f_stat"] > 100).all()
    assert (fs["sw_f"] < 10).all() and res.diagnostics["cragg_donald"] < 10
    strong = estimation.ivreg("y ~ 1 + w + [x1 + x2 ~ z1 + z2 + z3]",
                              d.assign(x2=d.z3 + 0.3 * rng.normal(size=n)), cov_type="unadjusted")
    assert (strong.first_stage["sw_f"] > 100).all()


def test_ivreg_array_errors(df):
    with pytest.raises(SpecificationError, match=r"exog: column\(s\) \['name'\] are not numeric"):
        estimation.ivreg(dependent=df.y, exog=df[["w"]].assign(name="a"), endog=df[["x"]],
                         instruments=df[["z1"]])
    with pytest.raises(SpecificationError, match=r"instruments: column 'z1' has missing"):
        estimation.ivreg(dependent=df.y, exog=df[["w"]], endog=df[["x"]],
                         instruments=df[["z1"]].mask(df[["z1"]].index.to_frame().eq(3).to_numpy()))
    with pytest.raises(SpecificationError, match=r"clusters has shape \(5,\)"):
        estimation.ivreg(F, df, cov_type="cluster", clusters=np.arange(5))
    with pytest.raises(SpecificationError, match="needs clusters="):
        estimation.ivreg(F, df, cov_type="cluster")
    with pytest.raises(SpecificationError, match="cov_type must be one of"):
        estimation.ivreg(F, df, cov_type="HC9")
    with pytest.raises(SpecificationError, match="defined for 2SLS"):
        estimation.ivreg(F, df, method="gmm", cov_type="HC3")
    with pytest.raises(SpecificationError, match="pass method='gmm'"):
        estimation.ivreg(F, df, weight=np.eye(4))


def test_too_few_clusters_for_efficient_weight(df):
    with pytest.raises(EstimationFailed, match="more clusters than moments"), \
            pytest.warns(estimation.CovarianceWarning, match="3 clusters for 4 moment"):
        estimation.ivreg(F, df.assign(g=df.index % 3), method="gmm", weight_type="cluster",
                         cov_type="cluster", clusters="g")


def _moments(p, d):
    u = d["y"] - p["a"] - p["b"] * d["x"]
    return jnp.stack([u, d["z1"] * u, d["z2"] * u], axis=1)


def test_gmm_errors(df):
    with pytest.raises(SpecificationError, match=r"3 moment conditions cannot identify 4 "
                                                 r"parameters \(\['a', 'b', 'c', 'd'\]\)"):
        estimation.gmm(_moments, df, ["a", "b", "c", "d"], start=np.zeros(4))
    with pytest.raises(ModelFunctionError, match=r"bad returned shape \(300,\); expected "
                                                 r"\(300, m\)"):
        def bad(p, d):
            return d["y"] - p["a"]

        estimation.gmm(bad, df, ["a"], start={"a": 0.0})
    with pytest.raises(ModelFunctionError, match=r"boom failed at the start \{'a': 0.0\}: "
                                                 "KeyError"):
        def boom(p, d):
            return d["nope"] * p["a"]

        estimation.gmm(boom, df, ["a"], start={"a": 0.0})
    with pytest.raises(ModelFunctionError, match=r"log_fail is not finite at the start "
                                                 r"\{'a': 0.0\} \(rows \[0"):
        def log_fail(p, d):
            return jnp.log(p["a"] - 10.0 + 0 * d["y"])[:, None] * jnp.ones((1, 2))

        estimation.gmm(log_fail, df, ["a"], start={"a": 0.0})
    with pytest.raises(SpecificationError, match="residuals= needs instruments="):
        estimation.gmm(residuals=lambda p, d: d["y"] - p["a"], data=df, params=["a"],
                       start={"a": 0.0})
    with pytest.raises(SpecificationError, match=r"unadjusted .* needs moments of the form"):
        estimation.gmm(_moments, df, ["a", "b"], start=np.zeros(2), weight_type="unadjusted")
    with pytest.raises(SpecificationError, match=r"start: parameter 'b' .*-1.0.*, expected > 0"):
        estimation.gmm(_moments, df, ["a", estimation.Param("b", transform="log")],
                       start={"a": 0.0, "b": -1.0})
    with pytest.raises(SpecificationError, match="defined for one equation"):
        estimation.gmm(residuals=lambda p, d: jnp.stack([d["y"] - p["a"], d["x"] - p["a"]], 1),
                       data=df, params=["a"], start={"a": 0.0}, instruments=[df[["z1"]]] * 2,
                       weight_type="unadjusted")
    with pytest.raises(SpecificationError, match=r"weight must be a symmetric \(3, 3\) array"):
        estimation.gmm(_moments, df, ["a", "b"], start=np.zeros(2), weight=np.eye(2))
