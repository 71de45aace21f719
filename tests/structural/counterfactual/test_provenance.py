"""Fitted by default: scenario parameters carry their source, and fitted ones are drawn jointly
from the fit's own bootstrap replicates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import structural
from structural.counterfactual import make_draws
from structural.counterfactual.fits import fitted_source
from structural.counterfactual.model import POSITIVE
from structural.counterfactual.scenario import load_scenario, point_parameters
from structural.published import BESIROGLU_2024

SCENARIOS = Path(structural.__file__).parent / "examples" / "scenarios"


@pytest.fixture(scope="module")
def heavy():
    return load_scenario(SCENARIOS / "heavy_training_vs_long_context.toml")


def test_the_refit_matches_besiroglu_table_1_with_its_bootstrap_spread():
    fit = fitted_source("besiroglu2024")
    for k in ("alpha", "beta"):
        assert fit.point[k] == pytest.approx(BESIROGLU_2024[k], abs=0.002)
    assert fit.point["E"] == pytest.approx(BESIROGLU_2024["E"], abs=0.001)
    for k in ("A", "E", "alpha", "beta"):     # 400 of the paper's resamples: within 15%
        assert fit.se[k] == pytest.approx(BESIROGLU_2024.se[k], rel=0.15)


def test_bundled_scenario_draws_the_fit_jointly(heavy):
    rows = {r.name: r for r in heavy.provenance}
    assert {rows[k].source for k in ("A", "B", "E", "alpha", "beta")} == {"fitted"}
    assert "bootstrap" in rows["A"].reference
    assert rows["u_train"].source == "fitted" and rows["R_D_star"].source == "published"
    assert rows["ctx_alpha"].source == "assumed" and "range" in rows["ctx_alpha"].reference
    d = make_draws(heavy.parameters, point_parameters(heavy), 300, seed=0, positive=POSITIVE)
    A, alpha = d.theta["A"][1:], d.theta["alpha"][1:]
    # the refit's bootstrap: corr(A, α) ≈ 0.98, SD(A) ≈ 124 — not independent marginals
    assert np.corrcoef(A, alpha)[0, 1] > 0.9
    assert np.std(A) == pytest.approx(124.5, rel=0.25)
    assert "besiroglu2024 (fitted)" in d.groups and "context law" in d.groups
    lo, hi = (r for r in (2.5, 7.5))
    assert lo <= d.theta["ctx_alpha"][1:].min() and d.theta["ctx_alpha"][1:].max() <= hi
