"""Inference price: recovery of both forms on the real design, the fit on curated prices, markups
and input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from structural.fitted import inference_price as ip
from structural.fitted.inputs import FitInputError


@pytest.fixture(scope="module")
def sample():
    return ip.third_party_open()


def _truth(spec, base, sample):
    k = int(sample["provider_code"].max())
    rng = np.random.default_rng(7)
    truth = dict(base)
    truth.update({f"provider_{j}": float(rng.normal(0, 0.4)) for j in range(1, k + 1)})
    assert set(truth) == set(spec(k).names)
    return truth


def _check_recovery(res, truth, headline):
    ci = res.conf_int(0.05)
    inside = {n: ci.loc[n, "lower"] <= v <= ci.loc[n, "upper"] for n, v in truth.items()}
    for n in headline:
        assert inside[n], (n, truth[n], ci.loc[n])
    # With ~20 parameters about one 95% interval in twenty misses; allow three.
    assert sum(not v for v in inside.values()) <= 3, inside


def test_loglinear_recovery(sample):
    truth = _truth(ip.loglinear_params, {
        "const_input": -2.0, "const_output": -1.2, "elasticity_input": 0.7,
        "elasticity_output": 0.65, "context_elasticity": 0.05, "trend": 0.3,
        "sigma_input": 0.6, "sigma_output": 0.6, "df": 6.0}, sample)
    sim = ip.simulate(truth, sample, "loglinear", seed=11)
    res = ip.fit("loglinear", sim)
    assert res.converged
    _check_recovery(res, truth, ["elasticity_input", "elasticity_output", "const_output"])


def test_roofline_recovery(sample):
    truth = _truth(ip.roofline_params, {
        "u_prefill": 0.2, "u_decode": 0.15, "batch": 150.0, "context_elasticity": 0.0,
        "trend": 0.1, "sigma_input": 0.5, "sigma_output": 0.5, "df": 6.0}, sample)
    sim = ip.simulate(truth, sample, "roofline", seed=12)
    res = ip.fit("roofline", sim)
    assert res.converged
    _check_recovery(res, truth, ["u_prefill", "u_decode"])
    # The effective batch is identified only through the mixture-of-experts rows (the memory term
    # scales with total, the compute term with active parameters); its interval is wide.
    ci99 = res.conf_int(0.01).loc["batch"]
    assert ci99["lower"] <= truth["batch"] <= ci99["upper"]


def test_fit_on_curated_prices(sample):
    assert len(sample) > 250 and sample["model"].nunique() > 50
    res = ip.fit("loglinear", sample)
    assert res.converged
    h = ip.headline(res)
    el = h.loc["price elasticity in active parameters (output)"]
    # Prices rise less than proportionally with active parameters (MoE totals, batching).
    assert 0.4 < el["estimate"] < 0.95 and el["std_err"] < 0.1
    ratio = h.loc["output/input price ratio", "estimate"]
    assert 1.3 < ratio < 4
    m = ip.markups(res).set_index(["group", "price"])
    assert m.loc[("closed models", "output"), "markup"] > 1.5
    assert (m["n"] > 10).all()


def test_long_context_tier_premium():
    res = ip.fit_long_context_tier()
    prem = np.exp(res.params["log_premium_input"])
    # Long-context tiers double the input price in most price lists.
    assert 1.5 < prem < 2.5


def test_price_in_per_token_units_is_rejected(sample):
    bad = sample.copy()
    bad.loc[bad.index[4], "input_usd_per_mtok"] = 2e-7     # $/token, not $/Mtok
    with pytest.raises(FitInputError, match=r"'input_usd_per_mtok' row 4: 2e-07 is outside"):
        ip.long_format(bad)
    bad = sample.drop(columns=["context_window"])
    with pytest.raises(FitInputError, match="missing column"):
        ip.long_format(bad)
    bad = sample.copy()
    bad.loc[bad.index[2], "output_usd_per_mtok"] = np.nan
    with pytest.raises(FitInputError, match=r"'output_usd_per_mtok' row 2"):
        ip.long_format(bad)
    assert isinstance(sample, pd.DataFrame)
