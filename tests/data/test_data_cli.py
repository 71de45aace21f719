"""``llmecon data list`` and ``llmecon data show``."""

from __future__ import annotations

import pytest

from llmecon.cli import main


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "chinchilla" in out
    assert "245" in out
    assert "2024-05-14" in out


def test_show_prints_datasheet_then_head(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "show", "chinchilla", "--rows", "3"]) == 0
    out = capsys.readouterr().out
    assert out.index("# chinchilla") < out.index("First 3 of 245 rows")
    assert "arXiv:2404.10102" in out
    assert "5.005582" in out


def test_show_unknown_name_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "show", "nope"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err
    assert "unknown dataset 'nope'" in err
    assert "chinchilla" in err
    assert captured.out == ""
