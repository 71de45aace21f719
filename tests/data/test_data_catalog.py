"""Every curated dataset loads, validates, has a datasheet, and matches its known size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import data
from data import DataValidationError

ROWS = {
    "chinchilla": 245,
    "api_prices": 4655,
    "api_price_history": 72,
    "models": 1023,
    "training_costs": 82,
    "capability": 426,
    "eval_tokens": 185,
    "hardware": 194,
    "hardware_prices": 590,
    "ppi": 295,
    "request_traces": 40216,
    "model_crosswalk": 1628,
    "api_market": 54268,
    "api_provider_prices": 33483,
    "api_models": 428,
    "openrouter_crosswalk": 1164,
    "openrouter_list_prices": 4652,
    "demirer2025_figures": 7727,
    "serving_throughput": 18,
}


def test_catalogue_lists_every_dataset() -> None:
    table = data.list()
    assert list(table.columns) == ["name", "rows", "snapshot", "licence", "description"]
    assert set(ROWS) <= set(table["name"])
    for name, rows in ROWS.items():
        assert int(table.loc[table["name"] == name, "rows"].iloc[0]) == rows


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_load_validates_and_revalidates(name: str) -> None:
    df = data.load(name)
    assert len(df) > 0
    if name in ROWS:
        assert len(df) == ROWS[name]
    assert list(df.columns) == data.DATASETS[name].schema.names
    # a loaded table passes its own schema again (round trip of the conversions)
    again = data.validate(df, name)
    pd.testing.assert_frame_equal(again, df)


@pytest.mark.parametrize("name", sorted(data.DATASETS))
def test_datasheet_has_required_sections(name: str) -> None:
    sheet = data.datasheet(name)
    assert sheet.startswith(f"# {name}")
    lowered = sheet.lower()
    for word in ("source", "licence", "transformations", "known problems", "snapshot"):
        assert word in lowered, (name, word)


@pytest.mark.parametrize(
    "name",
    [
        "api_prices",
        "api_price_history",
        "models",
        "training_costs",
        "capability",
        "eval_tokens",
        "hardware",
        "hardware_prices",
    ],
)
def test_epoch_and_mit_attribution_in_datasheets(name: str) -> None:
    sheet = data.datasheet(name)
    if name == "api_prices":
        assert "Pydantic" in sheet and "Berri AI" in sheet and "MIT" in sheet
    else:
        assert "credit epoch ai" in sheet.lower()
        assert "CC-BY 4.0" in sheet


def test_unknown_dataset_lists_known_names() -> None:
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'; known datasets: .*chinchilla"):
        data.load("nope")
    with pytest.raises(KeyError):
        data.datasheet("nope")


# --- user tables validated against a dataset schema ------------------------------------------


def _prices() -> pd.DataFrame:
    return data.load("api_prices").head(50)


def test_prices_in_dollars_per_token_are_rejected_as_wrong_unit() -> None:
    df = _prices()
    df["input_usd_per_mtok"] = df["input_usd_per_mtok"] / 1e6
    with pytest.raises(DataValidationError) as info:
        data.validate(df, "api_prices", source="mine.csv")
    msg = str(info.value)
    assert "mine.csv" in msg and "'input_usd_per_mtok'" in msg and "row 0" in msg
    assert "$/Mtok" in msg and "wrong unit" in msg
    assert "8e-06" in msg  # the offending value: claude-2's $8/Mtok given as $/token


def test_negative_price_names_row_and_value() -> None:
    df = _prices()
    df.loc[7, "output_usd_per_mtok"] = -1.5
    with pytest.raises(
        DataValidationError, match=r"'output_usd_per_mtok': row 7 \(0-based\) has -1.5"
    ):
        data.validate(df, "api_prices")


def test_nan_in_required_column_names_row() -> None:
    df = data.load("models")
    df.loc[3, "model"] = np.nan
    with pytest.raises(DataValidationError, match=r"models: column 'model': row 3 .*missing"):
        data.validate(df, "models")


def test_missing_column_and_empty_table() -> None:
    df = data.load("hardware_prices").drop(columns="date")
    with pytest.raises(DataValidationError, match=r"column 'date' is missing"):
        data.validate(df, "hardware_prices", source="x.csv")
    empty = data.load("ppi").iloc[:0]
    with pytest.raises(DataValidationError, match=r"ppi \(y.csv\): table is empty"):
        data.validate(empty, "ppi", source="y.csv")


def test_compute_in_petaflop_is_out_of_range() -> None:
    df = data.load("hardware")
    row = int(np.flatnonzero(df["bf16_flops"].notna())[0])
    df["bf16_flops"] = df["bf16_flops"] / 1e15  # PFLOP/s where FLOP/s is expected
    with pytest.raises(DataValidationError, match=rf"'bf16_flops': row {row} .*FLOP/s"):
        data.validate(df, "hardware")
