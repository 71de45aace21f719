"""Training cost: parameter recovery on simulated data, the fit on Epoch's data, input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from structural.fitted import training_cost as tc
from structural.fitted.inputs import FitInputError

TRUE = {"log_usd_per_eflop_2020": 2.0, "price_growth": -0.35, "sigma_price": 0.5,
        "utilisation": 0.4, "sigma_cost": 0.4, "log_compute_2020": 3.0, "compute_growth": 1.4,
        "sigma_compute": 0.8, "df": 6.0}


@pytest.fixture(scope="module")
def recovered():
    rng = np.random.default_rng(1)
    runs, prices = tc.simulate(TRUE, rng.uniform(-4, 5, 150), rng.uniform(-3, 5, 300),
                               cost_share=0.6, seed=2)
    return tc.fit(runs, prices)


def test_recovery_true_values_inside_95pct_ci(recovered):
    ci = recovered.conf_int(0.05)
    assert recovered.converged
    for name, value in TRUE.items():
        assert ci.loc[name, "lower"] <= value <= ci.loc[name, "upper"], (name, ci.loc[name])
    # The growth of cost is the product of compute growth and price change.
    g = tc.growth_factors(recovered).loc["frontier training cost, x/year"]
    assert g["ci_low"] <= np.exp(1.4 - 0.35) <= g["ci_high"]


def test_fit_on_epoch_data_is_plausible():
    res = tc.fit()
    assert res.converged
    assert res.nobs > 300
    u = res.params["utilisation"]
    assert 0.2 < u < 0.9
    assert (res.bse > 0).all()
    g = tc.growth_factors(res)
    # A FLOP of rented data-centre compute gets cheaper each year (Epoch: ~0.14 OOM/year for GPUs).
    assert 0.55 < g.loc["price per FLOP, x/year", "estimate"] < 0.9
    assert 2.0 < g.loc["frontier training cost, x/year", "estimate"] < 5.0


def test_price_series_units():
    p = tc.price_series()
    assert len(p) > 200
    # 2023 $ per FLOP of an H100-class chip: ~$2-4/h over ~1e15 FLOP/s ≈ 1e-18.
    h100 = p[p["hardware"].str.contains("H100")]["usd_per_flop"].median()
    assert 3e-19 < h100 < 3e-18


def test_bad_inputs_name_column_and_row():
    runs = pd.DataFrame({"t": [1.0, 2.0], "training_compute_flop": [1e23, -5.0],
                         "cost_usd": [1e6, 2e6]})
    prices = pd.DataFrame({"t": [0.0], "usd_per_flop": [1e-18]})
    with pytest.raises(FitInputError, match=r"'training_compute_flop' row 1"):
        tc.stack(runs, prices)
    with pytest.raises(FitInputError, match=r"missing column\(s\) 'usd_per_flop'"):
        tc.stack(runs.iloc[:1], pd.DataFrame({"t": [0.0]}))
    # $/FLOP given per 10^18 FLOP by mistake is caught by the range check.
    with pytest.raises(FitInputError, match=r"'usd_per_flop' row 0: 2 is outside"):
        tc.stack(runs.iloc[:1], pd.DataFrame({"t": [0.0], "usd_per_flop": [2.0]}))
