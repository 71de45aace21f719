"""Reproduction: Hoffmann et al. (2022), Approach 3 exponents and projections."""

from __future__ import annotations

import numpy as np
import pytest

import papers
from papers import hoffmann2022


def test_reproduction_passes(tmp_path):
    rep = papers.get("hoffmann2022").reproduce(out=tmp_path, progress=False)
    assert rep.passed, rep.render()
    assert len(rep.table) == len(hoffmann2022.MODEL_SIZES)
    assert len(rep.files) == 3


def test_exponents_and_a_known_point():
    a = hoffmann2022.BETA / (hoffmann2022.ALPHA + hoffmann2022.BETA)
    assert a == pytest.approx(0.4516129, abs=1e-7)
    table = hoffmann2022.reproduce(progress=False).table
    # with α, β to three decimals the 175B row needs 1.26e13 tokens
    proj = table["projection"]
    row = proj[proj.parameters == 175e9].iloc[0]
    assert row["tokens (α=.336, β=.283)"] == pytest.approx(1.2628e13, rel=1e-3)
    assert np.all(np.diff(proj["tokens_per_parameter"].to_numpy()) > 0)


def test_table_a3_column_and_typo():
    rep = hoffmann2022.reproduce(progress=False)
    a3 = [c for c in rep.checks if c.quantity.startswith("Table A3")]
    assert len(a3) == 2 * len(hoffmann2022.TABLE_A3) + 1 and all(c.passed for c in a3)
    typo = next(c for c in a3 if "typo" in c.quantity)
    assert typo.reproduced == pytest.approx(1.26e25, rel=1e-3)
