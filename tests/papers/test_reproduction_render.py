"""What ``llmecon reproduce`` prints fits a 100-column terminal whatever the paper's table: a wide
table splits into blocks of columns that repeat its index, and each check is one wrapped line with
its source below (the files keep every column)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from papers.reproduction import Check, Reproduction


def test_render_fits_100_columns_and_keeps_every_number():
    table = pd.DataFrame(np.arange(36, dtype=float).reshape(3, 12) * 1e20,
                         columns=[f"tokens (α=.336, β=.283) {i}" for i in range(12)],
                         index=pd.Index(["400M", "1B", "10B"], name="parameters"))
    checks = [Check("growth ×/year inside the published 90% CI 2.0–2.9 (midpoint ± half-width)"
                    " of the frontier training cost", 2.58977, 2.45, 0.45, "abs",
                    "abstract (arXiv v2) and §3; tolerance from the 2025 revision of the cost "
                    "estimates, which moved the point estimate by 0.1")]
    rep = Reproduction("paper", "a title " * 20, table, checks, notes=["a note " * 30])
    lines = rep.render().splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    text = rep.render()
    assert all(f"tokens (α=.336, β=.283) {i}" in text for i in range(12))
    assert sum(line.startswith("10B ") for line in lines) >= 2  # the index repeats per block
    assert "2.58977 vs 2.45 (±0.45)" in " ".join(text.split())
    assert "result: PASS (1/1 within tolerance)" in text
