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

SCENARIOS = sorted((Path(structural.__file__).parent / "examples" / "scenarios").glob("*.toml"))


def test_the_four_required_examples_ship():
    names = {p.stem for p in SCENARIOS}
    assert {"heavy_training_vs_long_context", "reasoning_vs_bigger_model",
            "finetune_vs_long_context", "guardrails"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_example_runs_and_writes_tables_and_plots(tmp_path, path, capsys):
    out = tmp_path / path.stem
    rc = main(["counterfactual", str(path), "--out", str(out), "--draws", "6", "--seed", "1"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["title"]
    assert summary["assumptions"], "every scenario names its assumptions"
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
