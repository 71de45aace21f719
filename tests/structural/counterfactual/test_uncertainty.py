"""Parameter uncertainty: draws come from the engine (fitted covariance or bootstrap draws)."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from structural.counterfactual import Draws, Normal, Published, from_results, make_draws, run
from structural.counterfactual.model import PIPELINE_DEFAULTS, POSITIVE
from structural.counterfactual.scenario import scenario_from_dict

DOC = {
    "title": "uncertainty test",
    "target": {"kind": "loss", "value": 2.056},
    "workload": {"queries": {"min": 1e6, "max": 1e13, "points": 15}, "tokens_in": 500,
                 "tokens_out": 300},
    "prices": {"hardware": "H100", "train_chip_hour": 2.0, "serve_chip_hour": 2.0},
    "parameters": {"preset": "sardana2023", "fit": [], "pinned": ["u_prefill", "u_decode"],
                   "values": {"ctx_alpha": 5.0, "ctx_beta": 0.5}},
    "base": {"N": 7e9, "D": 2e12, "c": 0},
    "hypotheses": {"heavy_training": {"kind": "heavy_training"},
                   "long_context": {"kind": "long_context", "bounds": {"c": [1, 1048576]}}},
}
NAMES = ["A", "alpha", "ctx_alpha"]
SD = np.array([5.0, 0.001, 0.1])
PAIR = "heavy_training vs long_context"


def _scenario(scale: float):
    sc = scenario_from_dict(copy.deepcopy(DOC))
    mean = pd.Series({"A": 406.4, "alpha": 0.336, "ctx_alpha": 5.0})
    cov = pd.DataFrame(np.diag((SD * scale) ** 2), index=NAMES, columns=NAMES)
    sc.parameters = Normal(mean, cov)
    return sc


def test_breakeven_ci_shrinks_with_the_covariance():
    widths, points = [], []
    for scale in (1.0, 0.5, 0.25):
        res = run(_scenario(scale), draws=64, seed=3)
        be = res.breakevens[PAIR]
        q = be["Q"][1:, 0]
        assert np.isfinite(q).all()
        lo, hi = np.percentile(np.log(q), [2.5, 97.5])
        widths.append(hi - lo)
        points.append(be["Q"][0, 0])
    assert widths[0] > widths[1] > widths[2] > 0
    # Locally linear: the interval scales with the standard deviation.
    assert widths[1] / widths[0] == pytest.approx(0.5, abs=0.12)
    assert widths[2] / widths[0] == pytest.approx(0.25, abs=0.08)
    # The point estimate does not depend on the covariance.
    np.testing.assert_allclose(points, points[0], rtol=1e-9)


def test_costs_have_intervals_and_probabilities():
    res = run(_scenario(1.0), draws=32, seed=1)
    costs = res.tables["costs"]
    ok = np.isfinite(costs["total_lo"])
    assert (costs["total_lo"][ok] <= costs["total_hi"][ok]).all()
    by_q = costs.groupby(["price_point", "Q"])["p_cheapest"].sum()
    np.testing.assert_allclose(by_q.to_numpy(), 1.0)


def test_normal_draws_are_seeded_and_use_the_covariance():
    base = dict(PIPELINE_DEFAULTS)
    mean = pd.Series({"A": 400.0, "B": 410.0})
    cov = pd.DataFrame([[100.0, 60.0], [60.0, 100.0]], index=["A", "B"], columns=["A", "B"])
    d1 = make_draws(Normal(mean, cov), base, 4000, seed=7, positive=POSITIVE)
    d2 = make_draws(Normal(mean, cov), base, 4000, seed=7, positive=POSITIVE)
    np.testing.assert_array_equal(d1.theta["A"], d2.theta["A"])
    assert d1.theta["A"][0] == 400.0  # row 0 is the point estimate
    x = np.stack([d1.theta["A"][1:], d1.theta["B"][1:]])
    np.testing.assert_allclose(np.cov(x), cov.to_numpy(), rtol=0.1)
    assert np.all(d1.theta["E"] == base["E"])  # undrawn parameters stay at their value


def test_bootstrap_draws_drop_unconverged_and_out_of_domain_with_counts():
    draws = pd.DataFrame({"alpha": [0.33, 0.34, -0.1, 0.35, 0.32], "A": [400, 410, 405, 1e9, 390]})
    conv = pd.Series([True, True, True, False, True])
    d = make_draws(Draws(draws, conv), dict(PIPELINE_DEFAULTS), 10, seed=0, positive=POSITIVE)
    assert d.used == 3
    assert d.dropped == {"unconverged": 1, "alpha <= 0": 1}
    assert "3 draws" in d.describe() and "1 unconverged" in d.describe()


def test_results_objects_by_duck_typing():
    params = pd.Series({"A": 406.4, "alpha": 0.336})
    cov = pd.DataFrame(np.diag([4.0, 1e-6]), index=params.index, columns=params.index)
    boot = SimpleNamespace(draws=pd.DataFrame({"A": [400.0, 410.0], "alpha": [0.33, 0.34]}),
                           converged=pd.Series([True, False]))
    fitted = SimpleNamespace(params=params, cov_params=lambda: cov, bootstrap=boot)
    src = from_results(fitted)
    assert isinstance(src, Draws)
    d = make_draws(src, dict(PIPELINE_DEFAULTS), 5, seed=0)
    assert d.used == 1 and d.theta["A"][0] == 406.4 and d.theta["A"][1] == 400.0
    src = from_results(fitted, method="asymptotic")
    assert isinstance(src, Normal)


def test_unknown_parameter_in_a_source_is_named():
    with pytest.raises(ValueError, match="unknown parameter 'gamma'"):
        make_draws(Published({"gamma": 1.0}), dict(PIPELINE_DEFAULTS), 1, 0)


def test_the_source_label_says_whether_the_covariance_was_fitted():
    doc = copy.deepcopy(DOC)
    doc["parameters"]["uncertainty"] = {"kind": "normal", "sd": {"ctx_alpha": 0.5}}
    assumed = scenario_from_dict(doc).parameters.blocks["scenario uncertainty"]
    assert isinstance(assumed, Normal) and "assumed, not fitted" in assumed.label
    params = pd.Series({"A": 406.4})
    fitted = SimpleNamespace(params=params, bootstrap=None,
                             cov_params=lambda: pd.DataFrame([[4.0]], index=["A"], columns=["A"]))
    assert from_results(fitted).label == "asymptotic normal (fitted covariance)"


def test_a_non_utf8_covariance_file_is_named(tmp_path):
    from structural.counterfactual.scenario import ScenarioError, load_scenario

    (tmp_path / "cov.csv").write_bytes(b"\xff\xfe,ctx_alpha\n")
    doc = (tmp_path / "s.toml")
    src = (Path(__file__).parents[3] / "structural/examples/scenarios/"
           "finetune_vs_long_context.toml").read_text()
    doc.write_text(src.replace("ctx_beta = 0.5 }\n", 'ctx_beta = 0.5 }\n\n[parameters.uncertainty]'
                               '\nkind = "normal"\ncov_csv = "cov.csv"\n'))
    with pytest.raises(ScenarioError, match=r"cov\.csv is not UTF-8"):
        load_scenario(doc)
