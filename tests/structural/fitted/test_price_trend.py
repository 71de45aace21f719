"""Price trend: recovery on simulated prices, the frontier rule, and the GPT-4-level decline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from structural.fitted import price_trend as pt
from structural.fitted.inputs import FitInputError

TRUE = {"log_price_2024": 0.5, "trend": -2.0, "sigma": 0.4}


def test_recovery_inside_95pct_ci():
    sim = pt.simulate(TRUE, np.linspace(-1.5, 1.5, 60), seed=4)
    d = {"t": sim["t"].to_numpy(), "y": np.log(sim["price_usd_per_mtok"].to_numpy())}
    import estimation

    res = estimation.fit(pt.contributions, d, pt.PARAMS, start=TRUE, progress=False)
    ci = res.conf_int(0.05)
    for name, value in TRUE.items():
        assert ci.loc[name, "lower"] <= value <= ci.loc[name, "upper"]
    dcl = pt.decline(res)
    assert dcl["ci_low"] <= np.exp(2.0) <= dcl["ci_high"]


def test_frontier_keeps_only_new_lows_above_threshold():
    obs = pd.DataFrame({"t": [0.0, 0.5, 1.0, 1.5, 2.0], "eci": [130, 120, 131, 135, 132],
                        "price_usd_per_mtok": [10.0, 0.1, 12.0, 5.0, 1.0]})
    f = pt.frontier(obs, 125)
    assert f["price_usd_per_mtok"].tolist() == [10.0, 5.0, 1.0]


def test_gpt4_level_decline_on_curated_data():
    tab = pt.trends(references=("GPT-3.5 Turbo", "GPT-4"))
    gpt4 = tab.set_index("reference").loc["GPT-4"]
    assert gpt4["frontier_points"] >= 5
    # Epoch AI: 40x/year for GPT-4-level GPQA; the ECI-based frontier gives the same order.
    assert 10 < gpt4["decline_per_year"] < 150
    assert gpt4["ci_low"] < pt.EPOCH_GPT4_GPQA < gpt4["ci_high"]
    low = tab.set_index("reference").loc["GPT-3.5 Turbo", "decline_per_year"]
    assert 2 < low < gpt4["decline_per_year"]


def test_negative_price_names_row():
    obs = pd.DataFrame({"t": [0.0, 1.0], "eci": [130, 131], "price_usd_per_mtok": [1.0, -2.0]})
    with pytest.raises(FitInputError, match=r"'price_usd_per_mtok' row 1"):
        pt.frontier(obs, 100)
