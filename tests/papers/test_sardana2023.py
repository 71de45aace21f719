"""Reproduction: Sardana & Frankle (2023), inference-aware optimum via the firm's solver."""

from __future__ import annotations

import papers


def test_reproduction_passes(tmp_path):
    rep = papers.get("sardana2023").reproduce(out=tmp_path, progress=False)
    assert rep.passed, rep.render()
    table = rep.table
    small = table.loc["inference-aware optimum (firm.solve)"]
    chinchilla = table.loc["13B Chinchilla-optimal"]
    # the inference-aware model is smaller, trained longer, and cheaper over its life
    assert small["N"] < chinchilla["N"]
    assert small["D_train"] > chinchilla["D_train"]
    assert small["lifetime FLOPs"] < chinchilla["lifetime FLOPs"]
    assert abs(small["loss"] - chinchilla["loss"]) < 1e-10
