"""``--scheduler ADDRESS``: a malformed address is bad input (exit 2, one line)."""

from __future__ import annotations

from pathlib import Path

import pytest

import data
from llmecon.cli import main

pytest.importorskip("distributed")


def test_fit_chinchilla_bad_scheduler_address(tmp_path: Path, capsys):
    df = data.load("chinchilla")
    f = tmp_path / "runs.csv"
    df[~df["outlier"]][["params", "tokens", "loss"]].to_csv(f, index=False)
    rc = main(["fit", "chinchilla", "--data", str(f), "--quick", "--quiet", "--scheduler",
               "not-an-address"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "not-an-address" in err[0] and "tcp://host:8786" in err[0]


def test_counterfactual_bad_scheduler_address(tmp_path: Path, capsys):
    rc = main(["counterfactual", "sardana_frankle_13b", "--out", str(tmp_path / "out"),
               "--quiet", "--scheduler", "not-an-address"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "not-an-address" in err[0] and "tcp://host:8786" in err[0]
    assert list(tmp_path.iterdir()) == []      # neither outputs nor a chunk store left
