"""Every shipped example scenario runs through the command line and writes tables and plots."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

import structural
from llmecon.cli import main
from structural.counterfactual import load_scenario, run

ALL = sorted((Path(structural.__file__).parent / "examples" / "scenarios").glob("*.toml"))
# Market scenarios (``kind = "market"``) run on the fitted demand system, not this engine; their
# outputs are checked in tests/cli/test_llm_market_cli.py.
SCENARIOS = [p for p in ALL if not p.read_text().lstrip().startswith('kind = "market"')]
# The structural.firm example compiles the firm's SQP solver: full run only with --runslow, a
# reduced run (three Q, two hypotheses, two draws) by default.
SLOW = {"firm_training_vs_sampling"}


def test_the_four_required_examples_ship():
    names = {p.stem for p in SCENARIOS}
    assert {"heavy_training_vs_long_context", "reasoning_vs_bigger_model",
            "finetune_vs_long_context", "guardrails"} <= names


def _check_outputs(out: Path, path: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["title"]
    assert summary["assumptions"], "every scenario names its assumptions"
    if "guardrail" not in path.stem:
        # every parameter with its value, source and reference; what drives the answer
        rows = summary["parameters"]
        assert rows and all(set(r) == {"name", "value", "source", "reference"} for r in rows)
        assert {r["source"] for r in rows} <= {"fitted", "published", "assumed"}
        report = (out / "report.md").read_text()
        assert "## Parameters: value, source and reference" in report
        assert "| name | value | source | reference |" in report
        if summary["parameter_draws"] and "draws of" in summary["parameter_draws"]:
            vd = summary["variance_decomposition"]
            assert vd["method"] and any(k.startswith("log cost at Q") for k in vd)
            assert "## What drives the answer" in report
    pngs = list(out.glob("*.png"))
    assert pngs
    for png in pngs:
        img = mpimg.imread(png)
        assert png.stat().st_size > 5000 and img.ndim == 3 and img.shape[0] > 100
        assert np.std(img[..., :3]) > 0.01, f"{png.name} is blank"
    for stem in ("costs", "breakeven", "stage_shares") if "costs.csv" in {
            p.name for p in out.iterdir()} else ("guardrail_summary", "guardrail_sweep"):
        for ext in ("csv", "md", "tex"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0
        assert len(pd.read_csv(out / f"{stem}.csv")) > 0
    if "guardrail" not in path.stem:
        assert {"cost_vs_queries.png", "cost_shares.png"} <= {p.name for p in pngs}
    else:
        assert (out / "guardrail_costs.png").exists()


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p for p in SCENARIOS],
    ids=lambda p: p.stem)
def test_example_runs_and_writes_tables_and_plots(tmp_path, path, capsys):
    out = tmp_path / path.stem
    rc = main(["counterfactual", str(path), "--out", str(out), "--draws", "6", "--seed", "1"])
    assert rc == 0
    _check_outputs(out, path)


@pytest.mark.parametrize("stem", sorted(SLOW))
def test_slow_example_reduced(tmp_path, stem):
    path = next(p for p in SCENARIOS if p.stem == stem)
    sc = load_scenario(path)
    sc.queries = np.array([1e7, sc.reference_queries, 1e12])
    sc.hypotheses = sc.hypotheses[:2]
    res = run(sc, draws=2, seed=0, out=tmp_path / stem)
    assert (res.tables["costs"]["status"] == "binding").all()
    _check_outputs(tmp_path / stem, path)
