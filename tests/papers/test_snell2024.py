"""Reproduction: Snell et al. (2024), FLOPs-matched exchange."""

from __future__ import annotations

import pytest

import papers
from papers import snell2024


def test_reproduction_passes(tmp_path):
    rep = papers.get("snell2024").reproduce(out=tmp_path, progress=False)
    assert rep.passed, rep.render()


@pytest.mark.parametrize("ratio", [0.01, 0.5, 3.0, 100.0])
def test_pipeline_accounting_equals_the_closed_form(ratio):
    for M in (2.0, 14.0, 50.0):
        X = snell2024.inference_multiplier(ratio, M)
        assert X == pytest.approx(M + 3.0 / ratio * (M - 1.0), rel=1e-12)
