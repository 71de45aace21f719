"""Besiroglu et al. (2024) Table 1: quick reproduction always; the full method with --runslow."""

from __future__ import annotations

import pandas as pd
import pytest

from papers import besiroglu2024


def test_paper_resamples_are_the_notebooks():
    idx = besiroglu2024.paper_resamples(240, 3)
    assert idx.shape == (3, 240) and idx.min() >= 0 and idx.max() < 240
    # np.random.seed(42); np.random.choice(240, 240) starts 102, 179, 92, ...
    assert list(idx[0, :3]) == [102, 179, 92]


def test_quick_reproduction_passes_and_writes_tables(tmp_path):
    rep = besiroglu2024.reproduce(out=tmp_path, quick=True, progress=False)
    assert rep.passed, rep.render()
    table = pd.read_csv(tmp_path / "table1.csv")
    assert list(table.columns) == ["param", "estimate", "std_err", "ci_low", "ci_high"]
    assert list(table["param"]) == ["A", "B", "E", "alpha", "beta", "a"]
    assert (tmp_path / "table1.md").read_text().count("|") > 20
    assert r"\begin{tabular}" in (tmp_path / "table1.tex").read_text()


@pytest.mark.slow
def test_full_reproduction_passes():
    rep = besiroglu2024.reproduce(quick=False, progress=False)
    assert rep.passed, rep.render()


def test_stalled_fit_is_flagged_not_converged():
    import data
    from papers.besiroglu2024 import HOFFMANN_START, hoffmann_stall

    df = data.load("chinchilla")
    res = hoffmann_stall(df[~df["outlier"]])
    assert not res.converged
    assert "scale-free gradient" in res.diagnostics.status
    assert "NO" in res.summary()
    assert res.params["A"] == pytest.approx(HOFFMANN_START["A"], rel=0.01)
    assert res.params["B"] == pytest.approx(HOFFMANN_START["B"], rel=0.01)


def test_reproduction_csv_carries_full_precision(tmp_path):
    """Only Markdown and LaTeX round: a loss checked to 1e-12 reads back exactly from CSV."""
    from papers.reproduction import write_tables

    value = 2.2256440891234567
    table = pd.DataFrame({"loss": [value]}, index=pd.Index(["x"], name="row"))
    csv, md, _ = write_tables(table, tmp_path, "t")
    assert pd.read_csv(csv)["loss"].iloc[0] == value
    assert "2.22564" in md.read_text() and "2.2256440891234567" not in md.read_text()
