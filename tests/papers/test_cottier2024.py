"""Cottier et al. (2024): the reproduced growth lands inside the published 90% CI."""

from __future__ import annotations

import papers
from papers import cottier2024


def test_reproduction_lands_in_published_ci(tmp_path):
    rep = papers.get("cottier2024").reproduce(out=tmp_path, quick=True, progress=False)
    assert rep.passed, rep.render()
    g = rep.table.loc[0, "growth_per_year"]
    assert cottier2024.PUBLISHED_CI90[0] <= g <= cottier2024.PUBLISHED_CI90[1]
    assert rep.table.loc[0, "selection"] == "top-10 at release"
    assert 40 <= rep.table.loc[0, "N"] <= 70
    assert {p.suffix for p in rep.files} == {".csv", ".md", ".tex"}
    assert "top 10" in rep.render()
