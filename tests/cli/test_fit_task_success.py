"""``llmecon fit task_success``: bad input exits 2 with one line before any fitting."""

from __future__ import annotations

import pandas as pd
import pytest

import data
from llmecon.cli import main


@pytest.fixture()
def runs_csv(tmp_path):
    path = tmp_path / "runs.csv"
    data.load("benchmark_runs").to_csv(path, index=False)
    return path


def _edit(path, tmp_path, col, row, value):
    df = pd.read_csv(path).astype({col: object})
    df.loc[row, col] = value
    out = tmp_path / "edited.csv"
    df.to_csv(out, index=False)
    return out


@pytest.mark.parametrize("col,row,value,message", [
    ("accuracy", 4, 1.7, "column 'accuracy' row 4: 1.7 is outside"),
    ("questions", 2, "many", "column 'questions' row 2: 'many' is not a number"),
    ("training_compute_flop", 9, -1.0, "column 'training_compute_flop' row 9: -1 must be > 0"),
])
def test_bad_cell_exits_2_naming_column_and_row(runs_csv, tmp_path, capsys, col, row, value,
                                                message):
    assert main(["fit", "task_success", "--runs", str(_edit(runs_csv, tmp_path, col, row, value))
                 ]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_column_and_unknown_benchmark_exit_2(runs_csv, tmp_path, capsys):
    df = pd.read_csv(runs_csv).drop(columns=["epochs"])
    path = tmp_path / "missing.csv"
    df.to_csv(path, index=False)
    assert main(["fit", "task_success", "--runs", str(path)]) == 2
    assert "missing column(s) 'epochs'" in capsys.readouterr().err
    assert main(["fit", "task_success", "--benchmark", "HellaSwag"]) == 2
    assert "--benchmark 'HellaSwag' is not among" in capsys.readouterr().err
    assert main(["fit", "task_success", "--cutoff", "soon"]) == 2
    assert "--cutoff 'soon'" in capsys.readouterr().err
