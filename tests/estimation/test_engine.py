"""Engine checks: float64, derivatives vs finite differences, recovery, SEs, tests, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from jax.scipy.stats import norm as jnorm

import estimation
from estimation import Param, ParamSpec


def test_float64_everywhere():
    assert jax.config.jax_enable_x64
    assert jnp.asarray(1.0).dtype == jnp.float64


def _normal_model(p, d):
    return jnorm.logpdf(d["y"], loc=p["mu"], scale=p["sigma"])


SPEC = ParamSpec([Param("mu"), Param("sigma", transform="log")])


def test_bootstrap_se_of_a_mean_matches_theory_and_flags():
    rng = np.random.default_rng(11)
    y = rng.normal(2.0, 3.0, 500)
    res = estimation.fit(_normal_model, {"y": y}, SPEC, start={"mu": 0.0, "sigma": 1.0},
                         bootstrap=estimation.Bootstrap(draws=600, seed=5), progress=False)
    b = res.bootstrap
    assert b.n_converged == b.n_draws == 600
    # SE of the mean is σ/√n; with 600 replicates the bootstrap SE is within ~10%.
    assert res.bse["mu"] == pytest.approx(y.std() / np.sqrt(len(y)), rel=0.1)
    # Percentile CI: the 2.5% and 97.5% quantiles of the replicates; normal CI: estimate ± 1.96
    # bootstrap SE. Both are close to the textbook ȳ ± 1.96 σ/√n here.
    draws = b.draws["mu"].to_numpy()
    lo, hi = res.conf_int(method="percentile").loc["mu"]
    np.testing.assert_allclose([lo, hi], np.quantile(draws, [0.025, 0.975]), rtol=1e-12)
    normal = b.conf_int(method="normal").loc["mu"]
    half = 1.959963984540054 * np.std(draws, ddof=1)
    np.testing.assert_allclose([normal["lower"], normal["upper"]],
                               [y.mean() - half, y.mean() + half], rtol=1e-8)
    textbook = 1.96 * y.std() / np.sqrt(len(y))
    assert hi - lo == pytest.approx(2 * textbook, rel=0.15)
    # Replicates are reproducible from the seed.
    again = estimation.fit(_normal_model, {"y": y}, SPEC, start={"mu": 0.0, "sigma": 1.0},
                           bootstrap=estimation.Bootstrap(draws=600, seed=5), progress=False)
    pd.testing.assert_frame_equal(b.draws, again.bootstrap.draws)


def test_delta_method_wald_and_lr_known_answers():
    rng = np.random.default_rng(2)
    y = rng.normal(1.0, 2.0, 400)
    res = estimation.fit(_normal_model, {"y": y}, SPEC, start={"mu": 0.0, "sigma": 1.0},
                         progress=False)
    n = len(y)
    s = y.std()
    # Var(μ̂) = σ²/n, Var(σ̂) = σ²/(2n) from the information matrix.
    assert res.bse["mu"] == pytest.approx(s / np.sqrt(n), rel=1e-5)
    dm = res.delta_method(lambda p: p["mu"] ** 2, names=["mu2"])
    assert dm.loc["mu2", "std_err"] == pytest.approx(2 * abs(y.mean()) * s / np.sqrt(n), rel=1e-5)
    wald = estimation.wald_test(res, np.array([[1.0, 0.0]]), np.array([1.0]))
    assert wald.statistic == pytest.approx(((y.mean() - 1.0) / (s / np.sqrt(n))) ** 2, rel=1e-5)
    restricted = estimation.fit(lambda p, d: jnorm.logpdf(d["y"], loc=1.0, scale=p["sigma"]),
                                {"y": y}, [Param("sigma", start=1.0, transform="log")],
                                progress=False)
    lr = estimation.lr_test(restricted, res)
    s0 = np.sqrt(np.mean((y - 1.0) ** 2))
    assert lr.df == 1
    assert lr.statistic == pytest.approx(2 * n * np.log(s0 / s), rel=1e-6)


def test_multistart_table_and_sobol_starts():
    rng = np.random.default_rng(4)
    y = rng.normal(0.5, 1.5, 200)
    starts = estimation.sobol_starts({"mu": (-5, 5), "sigma": (0.1, 10)}, 16, seed=1)
    res = estimation.fit(_normal_model, {"y": y}, SPEC, start=starts, progress=False)
    assert len(res.starts) == 16 and res.starts["converged"].all()
    assert res.params["mu"] == pytest.approx(y.mean(), abs=1e-8)
    g = estimation.grid_starts({"mu": [0, 1], "sigma": [1, 2, 3]})
    assert len(g) == 6 and list(g.columns) == ["mu", "sigma"]


@pytest.mark.parametrize("fmt, marker", [("text", "Converged"), ("markdown", "| Converged |"),
                                         ("latex", r"\begin{tabular}")])
def test_summary_formats(fmt, marker):
    y = np.random.default_rng(0).normal(size=50)
    res = estimation.fit(_normal_model, {"y": y}, SPEC, start={"mu": 0.0, "sigma": 1.0},
                         progress=False)
    text = res.summary(fmt)
    assert marker in text and "mu" in text
    # The numbers, not just the labels: estimate, SE and the observation count are printed.
    from estimation.tables import _fmt
    for value in (res.params["mu"], res.bse["mu"], res.params["sigma"]):
        assert _fmt(value) in text
    assert "50" in text


def test_bad_inputs_name_the_culprit():
    y = np.array([1.0, 2.0, 3.0])
    with pytest.raises(estimation.SpecificationError, match=r"'sigma'.*> 0"):
        estimation.fit(_normal_model, {"y": y}, SPEC, start={"mu": 0.0, "sigma": -1.0})
    with pytest.raises(estimation.SpecificationError, match="row 1"):
        estimation.fit(_normal_model, {"y": np.array([1.0, np.nan, 3.0])}, SPEC,
                       start={"mu": 0.0, "sigma": 1.0})
    with pytest.raises(estimation.SpecificationError, match="missing value"):
        estimation.fit(_normal_model, {"y": y}, SPEC, start={"mu": 0.0})
    with pytest.raises(estimation.SpecificationError, match="cov_type"):
        estimation.fit(_normal_model, {"y": y}, SPEC, start={"mu": 0.0, "sigma": 1.0},
                       cov_type="sandwich")

