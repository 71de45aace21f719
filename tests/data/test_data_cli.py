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


def test_list_has_every_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    import data

    assert main(["data"]) == 0  # no subcommand: list
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["name", "rows", "snapshot", "licence"]
    assert len(lines) == 1 + len(data.DATASETS)
    assert any(line.startswith("request_traces") and "40216" in line for line in lines)
    assert "CC-BY 4.0, credit Epoch AI" in out


def test_validate_user_csv(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    import data

    good = tmp_path / "prices.csv"
    df = data.load("api_prices").head(20)
    df.to_csv(good, index=False)
    assert main(["data", "validate", "api_prices", str(good)]) == 0
    assert "20 rows match the api_prices schema" in capsys.readouterr().out

    bad = tmp_path / "per_token.csv"
    df["output_usd_per_mtok"] = df["output_usd_per_mtok"] / 1e6
    df.to_csv(bad, index=False)
    assert main(["data", "validate", "api_prices", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "'output_usd_per_mtok': row 0" in err and "wrong unit" in err and str(bad) in err


def test_validate_missing_file_and_unknown_name(tmp_path, capsys) -> None:
    assert main(["data", "validate", "models", str(tmp_path / "none.csv")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["data", "validate", "nope", str(tmp_path / "none.csv")]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
