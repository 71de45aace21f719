"""Reproduction: Muennighoff et al. (2023), data-constrained scaling."""

from __future__ import annotations

import papers
from papers import muennighoff2023


def test_reproduction_passes(tmp_path):
    rep = papers.get("muennighoff2023").reproduce(out=tmp_path, progress=False)
    assert rep.passed, rep.render()
    assert len(rep.files) == 3


def test_readme_losses_exactly():
    for (N, D, U), published in muennighoff2023.FIG1.items():
        assert abs(muennighoff2023.loss(N, D, U) - published) < 1e-12
    # the more-epochs, fewer-parameters model is better, as the paper's Fig. 1 claims
    assert muennighoff2023.loss(6.34e9, 242e9, 25e9) < muennighoff2023.loss(8.67e9, 178e9, 25e9)
