"""The schema system: every kind, range and table rule, and the one-line error messages."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data import Column, DataValidationError, Schema
from data.schema import validate

SCHEMA = Schema(
    name="toy",
    columns=(
        Column("name", "str", description="key"),
        Column("n", "int", "tokens", min=0, max=1000),
        Column("price", "float", "$/Mtok", min=5e-4, max=2000, allow_zero=True, nullable=True),
        Column("open", "bool", nullable=True),
        Column("flag", "bool"),
        Column("day", "date", min="2020-01-01", max="2025-12-31"),
        Column("note", "str", nullable=True),
    ),
    unique=("name",),
)


def _toy() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["a", "b", "c"],
            "n": [1, 2, 3],
            "price": [0.0, 2.5, np.nan],
            "open": ["True", None, "false"],
            "flag": [True, False, True],
            "day": ["2021-01-02", "2022-03-04", "2025-12-31"],
            "note": ["x", "", None],
        }
    )


def test_conversion_of_every_kind() -> None:
    out = validate(_toy(), SCHEMA)
    assert out["n"].dtype == np.int64
    assert out["price"].dtype == np.float64 and np.isnan(out["price"].iloc[2])
    assert out["open"].dtype == "boolean" and out["open"].isna().iloc[1]
    assert list(out["open"].dropna()) == [True, False]
    assert out["flag"].dtype == bool
    assert pd.api.types.is_datetime64_any_dtype(out["day"])
    assert out["note"].isna().tolist() == [False, True, True]  # empty string is missing


def _error(df: pd.DataFrame, **kw) -> str:
    with pytest.raises(DataValidationError) as info:
        validate(df, SCHEMA, source="toy.csv", **kw)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("toy (toy.csv): ")
    return msg


@pytest.mark.parametrize(
    ("column", "values", "pattern"),
    [
        ("n", [1, 2.5, 3], r"column 'n': row 1 \(0-based\) has 2.5: not an integer"),
        ("n", [1, 2, 1001], r"column 'n': row 2 .* 1001: above the admissible range"),
        ("n", [1, "x", 3], r"column 'n': row 1 .* 'x': not a number"),
        ("price", [1.0, 2.5e-6, 0.0], r"'price': row 1 .*2.5e-06.*wrong unit.*\$/Mtok"),
        ("price", [1.0, np.inf, 0.0], r"'price': row 1 .* inf: not finite"),
        ("flag", [True, "maybe", False], r"'flag': row 1 .* 'maybe': not a boolean"),
        ("flag", [True, None, False], r"'flag': row 1 .* NaN: missing value \(not nullable\)"),
        (
            "day",
            ["2021-01-01", "2021-13-45", "2022-01-01"],
            r"'day': row 1 .*'2021-13-45': not a date",
        ),
        ("day", ["2019-12-31", "2021-01-01", "2022-01-01"], r"'day': row 0 .*'2019-12-31': before"),
        ("name", ["a", "b", "a"], r"'name': row 2 \(0-based\) repeats key"),
        ("name", ["a", " ", "c"], r"'name': row 1 .*missing value"),
    ],
)
def test_errors_name_column_row_value(column: str, values: list, pattern: str) -> None:
    df = _toy()
    df[column] = values
    assert re.search(pattern, _error(df)), _error(df)


def test_table_level_errors() -> None:
    assert "column 'day' is missing" in _error(_toy().drop(columns="day"))
    assert "table is empty (0 rows)" in _error(_toy().iloc[:0])
    msg = _error(_toy().assign(extra=1), allow_extra=False)
    assert "column 'extra' is not in the schema" in msg
    out = validate(_toy().assign(extra=1), SCHEMA)
    assert list(out.columns)[-1] == "extra"
    with pytest.raises(DataValidationError, match="expected a pandas DataFrame"):
        validate([1, 2], SCHEMA)  # type: ignore[arg-type]


def test_describe_and_expectation() -> None:
    table = SCHEMA.describe()
    assert list(table["column"]) == SCHEMA.names
    assert table.loc[table["column"] == "price", "range"].iloc[0] == "[0.0005, 2000]"
    assert SCHEMA.column("price").expectation() == (
        "a finite number in [0.0005, 2000] or exactly 0 ($/Mtok)"
    )
    with pytest.raises(ValueError, match="kind 'complex'"):
        Column("z", "complex")  # type: ignore[arg-type]


def test_loaders_never_read_raw_sources() -> None:
    # Only the build script may read ../shared/sources; loaders read the packaged CSVs.
    package = Path(__file__).resolve().parents[2] / "data"
    for path in package.glob("*.py"):
        if path.name == "build.py":
            continue
        text = path.read_text()
        assert "shared/sources" not in text and "read_json(" not in text, path.name


def _repeated_strings() -> pd.DataFrame:
    """A toy table of 300 rows whose string columns repeat few values, padded and blank."""
    df = pd.concat([_toy()] * 100, ignore_index=True)
    df["name"] = [f" m{i} " for i in range(len(df))]
    df["open"] = [" Yes", "n", None, "T ", "0", "FALSE"] * 50
    df["flag"] = ["true", " no "] * 150
    df["note"] = [" x", "", "  ", None, "y z "] * 60
    return df


def test_distinct_string_work_equals_the_per_row_work(monkeypatch) -> None:
    """Strings are stripped and tested once per distinct value (pandas.factorize); the result
    and every error message equal the per-row conversion's."""
    import data.schema as schema

    bad = {"flag": ["true", "maybe"] * 150, "name": [" m ", "\t"] * 150,
           "day": ["2021-01-02", "2021-13-45"] * 150}
    fast = validate(_repeated_strings(), SCHEMA)
    fast_errors = {c: _error(_repeated_strings().assign(**{c: v})) for c, v in bad.items()}
    monkeypatch.setattr(schema, "_distinct_strings", lambda values: None)
    pd.testing.assert_frame_equal(fast, validate(_repeated_strings(), SCHEMA))
    assert fast["open"].tolist()[:6] == [True, False, pd.NA, True, False, False]
    assert fast["note"].isna().tolist()[:5] == [False, True, True, True, False]
    assert fast["note"].iloc[4] == "y z" and fast["name"].iloc[0] == "m0"
    for c, v in bad.items():
        assert _error(_repeated_strings().assign(**{c: v})) == fast_errors[c]
    assert "row 1 (0-based) has 'maybe': not a boolean" in fast_errors["flag"]
    assert "row 1 (0-based) has '\\t': missing value" in fast_errors["name"]


def test_mixed_object_columns_take_the_per_row_path() -> None:
    # factorize would count 1, 1.0 and True as one value; str() tells them apart
    df = _toy().assign(note=pd.Series([1, 1.0, True], dtype=object))
    assert validate(df, SCHEMA)["note"].tolist() == ["1", "1.0", "True"]
