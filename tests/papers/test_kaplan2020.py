"""Reproduction: Kaplan et al. (2020) Table 1."""

from __future__ import annotations

import papers
from papers import kaplan2020


def test_reproduction_passes(tmp_path):
    rep = papers.get("kaplan2020").reproduce(out=tmp_path, progress=False)
    assert rep.passed, rep.render()
    total = rep.table.loc["Total (non-embedding)"]
    assert total["parameters"] == 12 * 48 * 1600**2
    assert total["flops_per_token"] == 2 * 12 * 48 * 1600**2 + 2 * 48 * 1024 * 1600
    assert {p.suffix for p in rep.files} == {".csv", ".md", ".tex"}
    assert all(p.exists() for p in rep.files)
    assert "PASS" in rep.render()


def test_table_for_another_configuration():
    rows = {r["operation"]: r for r in kaplan2020.flops.kaplan_table1(
        n_layer=2, d_model=8, d_attn=4, d_ff=16, n_ctx=10, n_vocab=100)}
    assert rows["Attention: Mask"]["flops_per_token"] == 2 * 2 * 10 * 4
    assert rows["Total (non-embedding)"]["parameters"] == 2 * 8 * 2 * (2 * 4 + 16)
