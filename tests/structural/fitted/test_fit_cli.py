"""``llmecon fit MODEL`` for the fitted cost functions: bad CSVs exit 2 naming column and row."""

from __future__ import annotations

import pandas as pd
import pytest

from llmecon.cli import main
from structural.fitted import inference_price as ip


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory):
    t = ip.third_party_open()
    cols = ["provider", "model", "input_usd_per_mtok", "output_usd_per_mtok",
            "active_parameters", "parameters", "context_window", "date"]
    path = tmp_path_factory.mktemp("csv") / "prices.csv"
    t[cols].to_csv(path, index=False)
    return path


def _edit(src, tmp_path, changes):
    df = pd.read_csv(src).astype({"date": object})
    for (col, row), value in changes.items():
        df.loc[row, col] = value
    out = tmp_path / "edited.csv"
    df.to_csv(out, index=False)
    return out


@pytest.mark.parametrize("change, message", [
    ({("input_usd_per_mtok", 5): 3e-7}, "column 'input_usd_per_mtok' row 5: 3e-07 is outside"),
    ({("output_usd_per_mtok", 7): float("nan")}, "column 'output_usd_per_mtok' row 7"),
    ({("output_usd_per_mtok", 2): -1.0}, "column 'output_usd_per_mtok' row 2: -1 must be > 0"),
    ({("date", 3): "soon"}, "column 'date' row 3"),
])
def test_bad_price_csv_exits_2(prices_csv, tmp_path, capsys, change, message):
    path = _edit(prices_csv, tmp_path, change)
    assert main(["fit", "inference_price", "--prices", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_column_exits_2(prices_csv, tmp_path, capsys):
    df = pd.read_csv(prices_csv).drop(columns=["active_parameters"])
    path = tmp_path / "missing.csv"
    df.to_csv(path, index=False)
    assert main(["fit", "inference_price", "--prices", str(path)]) == 2
    assert "missing column(s) 'active_parameters'" in capsys.readouterr().err


def test_training_runs_csv_errors(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    pd.DataFrame({"date": ["2020-01-01", "2021-06-01"], "training_compute_flop": [1e23, 2e23],
                  "cost_usd": [1e6, float("nan")]}).to_csv(runs, index=False)
    prices = tmp_path / "prices.csv"
    pd.DataFrame({"date": ["2020-01-01"], "usd_per_flop": [1.2]}).to_csv(prices, index=False)
    assert main(["fit", "training_cost", "--runs", str(runs), "--prices", str(prices)]) == 2
    assert "column 'usd_per_flop' row 0: 1.2 is outside" in capsys.readouterr().err


def test_usage_csv_errors(tmp_path, capsys):
    path = tmp_path / "trace.csv"
    pd.DataFrame({"output_tokens": [10, 20, -3]}).to_csv(path, index=False)
    assert main(["fit", "usage", "--traces", str(path), "--trace", "x"]) == 2
    assert "column 'output_tokens' row 2" in capsys.readouterr().err
    assert main(["fit", "usage", "--traces", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_price_trend_runs_and_writes_tables(tmp_path, capsys):
    assert main(["fit", "price_trend", "--reference", "GPT-4", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "decline x/year" in out
    assert (tmp_path / "price_trend_decline.tex").exists()
    assert (tmp_path / "price_trend_params.csv").exists()


def test_usage_token_prices_in_wrong_units_exit_2(capsys):
    # $/token instead of $/Mtok: rejected before any fitting.
    assert main(["fit", "usage", "--prices", "2.7e-7,1.1e-6"]) == 2
    assert "--prices input = 2.7e-07 is outside [0.0005, 2000] $/Mtok" in capsys.readouterr().err


def test_printed_tables_fit_100_columns():
    """A wide table (the usage families: 12 columns) prints in blocks of at most 100 columns;
    the files keep it whole."""
    import numpy as np
    import pandas as pd

    from llmecon.commands.fit_costs import _table_text

    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(3, 12)) * 1e5,
                        columns=[f"statistic_{i}" for i in range(12)])
    text = _table_text(wide, "text")
    assert max(len(line) for line in text.splitlines()) <= 100
    assert all(f"statistic_{i}" in text for i in range(12))


def test_fit_inference_price_prints_within_100_columns(capsys):
    assert main(["fit", "inference_price", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert any(line.startswith("providers (provider_1") for line in lines)
