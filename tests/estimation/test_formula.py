"""Design matrices from formulas: a probit in three lines equals statsmodels; the IV formula
splits as linearmodels splits it; missing values and bad columns are named."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import estimation
from estimation import SpecificationError


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(3)
    n = 600
    df = pd.DataFrame({"gre": rng.normal(5.8, 1.1, n), "gpa": rng.uniform(2.5, 4.0, n),
                       "rank": rng.integers(1, 5, n)})
    xb = -3.0 + 0.2 * df.gre + 0.6 * df.gpa - 0.3 * (df["rank"] == 3) - 0.5 * (df["rank"] == 4)
    df["admit"] = (xb + rng.normal(size=n) > 0).astype(float)
    return df


def test_probit_in_three_lines_equals_statsmodels(frame):
    import statsmodels.formula.api as smf

    d = estimation.design("admit ~ gre + gpa + C(rank)", frame)
    probit = lambda p, data: jax.scipy.stats.norm.logcdf((2 * data["y"] - 1) * d.linear(p, data))  # noqa: E731
    res = estimation.fit(probit, d.data, d.params, progress=False)

    theirs = smf.probit("admit ~ gre + gpa + C(rank)", frame).fit(disp=0, tol=1e-12)
    assert sorted(res.params.index) == sorted(theirs.params.index)  # patsy orders by degree
    np.testing.assert_allclose(res.params[theirs.params.index], theirs.params, rtol=1e-6)
    np.testing.assert_allclose(res.bse[theirs.params.index], theirs.bse, rtol=1e-6)
    np.testing.assert_allclose(res.llf, theirs.llf, rtol=1e-10)


def test_iv_formula_splits_like_linearmodels(frame):
    lm = pytest.importorskip("linearmodels.iv")
    df = frame.assign(z1=np.arange(len(frame)) % 7, z2=np.sqrt(np.arange(len(frame)) + 1.0))
    f = "np.log(gre) ~ 1 + gpa + C(rank) + [admit ~ z1 + np.log(z2)]"
    mine = estimation.iv_design(f, df)
    theirs = lm.IV2SLS.from_formula(f, df)
    for a, b in ((mine.exog, theirs.exog.pandas), (mine.endog, theirs.endog.pandas),
                 (mine.instruments, theirs.instruments.pandas)):
        assert list(a.columns) == list(b.columns)
        np.testing.assert_allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-15)
    np.testing.assert_allclose(mine.dependent, theirs.dependent.pandas.iloc[:, 0], rtol=1e-15)


def test_formula_without_bracket_or_intercept(frame):
    d = estimation.iv_design("admit ~ 0 + gre + gpa", frame)
    assert list(d.exog.columns) == ["gre", "gpa"] and d.endog.shape[1] == 0


def test_formula_uses_callers_functions(frame):
    def centred(x):
        return x - x.mean()

    d = estimation.design("admit ~ centred(gre)", frame)
    assert abs(d.X["centred(gre)"].mean()) < 1e-12


def test_missing_values_named_or_dropped(frame):
    df = frame.copy()
    df.loc[[4, 9], "gpa"] = np.nan
    with pytest.raises(SpecificationError,
                       match=r"column 'gpa' has missing values \(rows \[4, 9\]"):
        estimation.design("admit ~ gre + gpa", df)
    d = estimation.design("admit ~ gre + gpa", df, missing="drop")
    assert d.dropped == [4, 9] and len(d.X) == len(df) - 2 and len(d.y) == len(d.X)
    # A column the formula does not use does not matter.
    estimation.design("admit ~ gre", df)


def test_bad_columns_named(frame):
    df = frame.assign(name=["a", "b"] * (len(frame) // 2))
    with pytest.raises(SpecificationError, match="left-hand side"):
        estimation.design("name ~ gre", df)
    with pytest.raises(SpecificationError, match="regressors"):
        estimation.design("admit ~ nope", df)
    with pytest.raises(SpecificationError, match=r"np.log\(gre - 100\)"), \
            np.errstate(invalid="ignore"):
        estimation.design("admit ~ np.log(gre - 100)", df)  # NaN after the transformation
    df.loc[3, "gre"] = 0.0
    with pytest.raises(SpecificationError, match=r"'np.log\(gre\)' is not finite \(rows \[3\]"), \
            np.errstate(divide="ignore"):
        estimation.design("admit ~ np.log(gre)", df)
