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
# Market scenarios (``kind = "market"``) run on the fitted demand system instead of the pipeline
# engine; they write the same provenance table and variance decomposition (checked below).
MARKET = [p for p in ALL if p.read_text().lstrip().startswith('kind = "market"')]
SCENARIOS = [p for p in ALL if p not in MARKET]
# The structural.firm example compiles the firm's SQP solver: full run and a reduced run (three
# Q, two hypotheses, two draws) only with --runslow. Of the market scenarios (an rc
# demand fit each), entry runs by default and the others with --runslow; the compute-price shock's
# provenance table is also checked by tests/cli/test_llm_market_cli.py on a logit fit.
SLOW = {"firm_training_vs_sampling", "compute_price_shock", "guardrail_cost", "lab_merger",
        "model_withdrawal"}


def test_the_four_required_examples_ship():
    names = {p.stem for p in SCENARIOS}
    assert {"heavy_training_vs_long_context", "reasoning_vs_bigger_model",
            "finetune_vs_long_context", "guardrails"} <= names


def _check_outputs(out: Path, path: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["title"]
    assert summary["assumptions"], "every scenario names its assumptions"
    # every parameter with its value, source and reference; what drives the answer
    rows = summary["parameters"]
    assert rows and all(set(r) == {"name", "value", "source", "reference"} for r in rows)
    assert {r["source"] for r in rows} <= {"fitted", "published", "assumed"}
    report = (out / "report.md").read_text()
    assert "## Parameters: value, source and reference" in report
    assert "| name | value | source | reference |" in report
    # every headline quantity is in the decomposition; without draws each says why it has no
    # shares (zero parameter variance) instead of the section being left out
    vd = summary["variance_decomposition"]
    headline = "log expected cost" if "guardrail" in path.stem else "log cost at Q"
    assert vd["method"] and any(k.startswith(headline) for k in vd)
    assert "## What drives the answer" in report
    drawn = bool(summary["parameter_draws"]) and "draws of" in summary["parameter_draws"]
    assert vd["method"].startswith("none") != drawn
    if not drawn:
        assert all(v == {"no parameter drawn": None} for k, v in vd.items() if k != "method")
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


# Under the priced verifier the firm's SQP compiles the verifier's quadrature inside its second
# derivatives (the reduced run: about 3 minutes on 2 shared cores, 2 of them compiling; was 7), so
# even the reduced run is exhaustive; by default the firm's verifier path is checked by
# tests/structural/test_firm_selection.py.
@pytest.mark.slow
@pytest.mark.parametrize("stem", sorted(SLOW & {p.stem for p in SCENARIOS}))
def test_slow_example_reduced(tmp_path, stem):
    path = next(p for p in SCENARIOS if p.stem == stem)
    sc = load_scenario(path)
    sc.queries = np.array([1e7, sc.reference_queries, 1e12])
    sc.hypotheses = sc.hypotheses[:2]
    res = run(sc, draws=2, seed=0, out=tmp_path / stem)
    assert (res.tables["costs"]["status"] == "binding").all()
    _check_outputs(tmp_path / stem, path)


def _check_market_outputs(out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    rows = summary["parameters"]
    assert rows and all(set(r) == {"name", "value", "source", "reference"} for r in rows)
    assert {r["source"] for r in rows} == {"fitted", "published", "assumed"}
    assert any(r["name"] == "prices" and r["source"] == "fitted" for r in rows)
    vd = summary["variance_decomposition"]
    assert vd["method"] and any(k.startswith("consumer surplus") for k in vd)
    shares = [v for k, g in vd.items() if k != "method" for v in g.values()]
    assert shares and all(v is not None and 0.0 <= v <= 1.0 for v in shares)  # 22 draws ≥ 20
    report = (out / "report.md").read_text()
    assert "## Parameters: value, source and reference" in report
    assert "| name | value | source | reference |" in report
    assert "## What drives the answer" in report
    assert summary["draws_converged"] == summary["draws"]  # convergence reported, all draws
    for stem in ("products", "surplus", "provenance", "variance_decomposition"):
        for ext in ("csv", "md", "tex"):
            assert (out / f"{stem}.{ext}").stat().st_size > 0
    img = mpimg.imread(out / "changes.png")
    assert img.ndim == 3 and np.std(img[..., :3]) > 0.01


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p for p in MARKET],
    ids=lambda p: p.stem)
def test_market_example_writes_provenance_and_variance_decomposition(tmp_path, path, capsys):
    out = tmp_path / path.stem
    assert main(["counterfactual", str(path), "--out", str(out), "--draws", "22",
                 "--seed", "1"]) == 0
    _check_market_outputs(out)
