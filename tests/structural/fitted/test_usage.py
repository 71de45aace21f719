"""Usage: discretised mixture likelihood, parameter recovery, AIC against a single lognormal,
prefix-cache reuse, reasoning tokens and the cost per request."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from structural.fitted import usage as u
from structural.fitted.inputs import FitInputError


def test_mixture_pmf_matches_scipy_intervals():
    x = np.array([1.0, 2.0, 7.0, 400.0, 1500.0])
    w, mu, s = np.array([0.3, 0.7]), np.array([2.0, 6.0]), np.array([0.5, 0.4])

    def cdf(v, k):
        return stats.lognorm.cdf(v, s[k], scale=np.exp(mu[k]))

    want = np.log([sum(w[k] * (cdf(xx + 0.5, k) - (cdf(xx - 0.5, k) if xx > 1 else 0.0))
                       for k in range(2)) for xx in x])
    got = u.mixture_logpmf(jnp.asarray(x), jnp.zeros(5), jnp.asarray(w), jnp.asarray(mu),
                           jnp.asarray(s))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-9)
    # Censored at the cap: P(X >= cap - 1/2).
    cens = u.mixture_logpmf(jnp.asarray([1500.0]), jnp.ones(1), jnp.asarray(w),
                            jnp.asarray(mu), jnp.asarray(s))
    np.testing.assert_allclose(float(cens[0]), np.log(sum(w[k] * (1 - cdf(1499.5, k))
                                                          for k in range(2))), rtol=1e-9)


TRUE2 = {"mu_1": 4.0, "gap_2": 2.5, "sigma_1": 0.5, "sigma_2": 0.7, "v_1": 0.35}


def test_recovery_two_component_mixture():
    x = u.simulate_mixture(TRUE2, 2, 4000, seed=3)
    res = u.fit_tokens("simulated", "output_tokens", 2, table=pd.DataFrame({"output_tokens": x}))
    ci = res.conf_int(0.05)
    for name, value in TRUE2.items():
        assert ci.loc[name, "lower"] <= value <= ci.loc[name, "upper"], (name, ci.loc[name])


def test_mixture_beats_single_lognormal_on_real_trace():
    tab, _ = u.select_family("azure_code_2023", "output_tokens", Ks=(1, 2))
    assert tab["converged"].all()
    aic = tab.set_index("K")["aic"]
    assert aic[2] < aic[1] - 100
    assert tab["N"].iloc[0] == 8819


def test_cache_reuse_matches_datasheet():
    res = u.fit_cache_reuse()
    # request_traces datasheet: 37.4% of Mooncake input tokens are cacheable.
    assert res.params["reuse_rate"] == pytest.approx(0.374, abs=0.001)
    assert 0 < res.bse["reuse_rate"] < 0.02


def test_reasoning_tokens_by_task():
    res = u.fit_reasoning_tokens()
    med = u.reasoning_medians(res)
    assert len(med) == 3
    assert (med["estimate"] > 100).all() and (med["estimate"] < 5000).all()
    # Competition maths (AIME) takes more tokens per question than GPQA.
    assert med["estimate"].iloc[2] > med["estimate"].iloc[0]


def test_cost_per_request_split():
    class Fake:
        def __init__(self, params):
            self.params = pd.Series(params)

    xin = Fake({"mu_1": 7.0, "sigma_1": 0.8})
    yout = Fake({"mu_1": 5.0, "sigma_1": 0.6})
    tab = u.cost_per_request(xin, yout, {"input": 1.0, "output": 4.0, "cache_read": 0.1},
                             reuse_rate=0.4, reasoning=(6.5, 0.5), draws=20_000)
    assert tab.loc[["context", "output", "reasoning"], "share_of_mean"].sum() == pytest.approx(1)
    expect_ctx = np.exp(7.0 + 0.32) * (0.6 * 1.0 + 0.4 * 0.1) / 1e6
    assert tab.loc["context", "mean"] == pytest.approx(expect_ctx, rel=0.05)
    with pytest.raises(FitInputError, match="'output'"):
        u.cost_per_request(xin, yout, {"input": 1.0, "output": 4e-6 * 0})


def test_bad_token_column_names_row():
    bad = pd.DataFrame({"input_tokens": [10, 20, np.nan]})
    with pytest.raises(FitInputError, match=r"'input_tokens' row 2"):
        u.token_data("x", "input_tokens", bad)
