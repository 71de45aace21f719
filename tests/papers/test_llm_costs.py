"""The project's results table: every fitted parameter with SE, CI, N and fit statistics."""

from __future__ import annotations

import numpy as np
import pytest

import papers


@pytest.fixture(scope="module")
def rep(tmp_path_factory):
    return papers.get("llm_costs").reproduce(out=tmp_path_factory.mktemp("llm_costs"),
                                             quick=True, progress=False)


def test_passes_and_writes_three_formats(rep):
    assert rep.passed, rep.render()
    names = {p.name for p in rep.files}
    assert {"llm_costs.csv", "llm_costs.md", "llm_costs.tex"} <= names


def test_every_parameter_has_se_ci_and_fit_statistics(rep):
    t = rep.table
    params = t[t["llf"].notna() | t["quantity"].eq("reuse_rate")]
    assert {"training_cost", "inference_price (loglinear)", "long-context tier premium"} <= set(
        t["model"])
    assert (params["std_err"] > 0).all()
    assert (params["ci_low"] <= params["estimate"]).all()
    assert (params["estimate"] <= params["ci_high"]).all()
    assert (t["N"] > 0).all() and t["converged"].all()
    u = t.set_index(["model", "quantity"]).loc[("training_cost", "utilisation"), "estimate"]
    assert 0 < u < 1
    el = t[t["quantity"] == "price elasticity in active parameters (output)"]["estimate"]
    assert np.all((el > 0.3) & (el < 1.2))


def test_console_report_fits_100_columns_and_the_files_keep_every_column(rep):
    import pandas as pd

    lines = rep.render().splitlines()
    assert max(len(x) for x in lines) <= 100, max(lines, key=len)
    for model in rep.table["model"].unique():  # every model has its heading on the console
        assert any(x.startswith(model[:60]) for x in lines), model
    csv = pd.read_csv(next(p for p in rep.files if p.name == "llm_costs.csv"))
    assert {"llf", "aic", "bic", "ci_low", "ci_high", "N"} <= set(csv.columns)
    assert len(csv) == len(rep.table)
