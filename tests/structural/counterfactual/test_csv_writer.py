"""The fast CSV writer of output tables (``write_table``; ``fit llm_demand``'s 175,000-row
elasticities table) writes the bytes ``DataFrame.to_csv(index=False)`` writes, for the column
types it handles itself and for those it hands back to pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from structural.counterfactual.outputs import write_csv

EDGE_FLOATS = [1e16, 1e-5, -0.0, np.inf, -np.inf, np.nan, 1 / 3, 123456789.0, 1e-4,
               9.999999999999999e15, 5e-324, 1.7976931348623157e308]


def _frame(**override) -> pd.DataFrame:
    n = len(EDGE_FLOATS)
    cols = {"x": EDGE_FLOATS,
            "d": pd.to_datetime(["2026-01-05"] * (n - 1) + [None]),
            "s": ["openai/gpt-5"] * (n - 2) + [None, "a b"],
            "i": np.arange(n),
            "o": [1, "x", 2.5, None] * (n // 4)}
    return pd.DataFrame({**cols, **override})


@pytest.mark.parametrize("case", [
    {},  # floats at the edges of repr, dates, strings with a missing value, ints, mixed objects
    {"s": ["a,b"] + ["x"] * 11},  # a value the CSV format quotes: pandas writes it
    {"d": pd.to_datetime(["2026-01-05 10:30"] + ["2026-01-06 00:00"] * 11)},  # times
    {"b": [True, False] * 6},  # a type it leaves to pandas
    {"x": np.float32([0.1] * 11 + [np.nan])},  # single precision: pandas' shortest float32
    {"x": pd.array([0.1] * 11 + [None], dtype="Float64")},  # nullable floats
    {"s": ["line\nbreak"] + ["x"] * 11},
    {"x": EDGE_FLOATS[::-1], "x2": EDGE_FLOATS},  # renamed below to a repeated name
])
def test_fast_csv_writer_writes_the_bytes_of_pandas(tmp_path, case) -> None:
    df = _frame(**case)
    if "x2" in df:
        df = df.rename(columns={"x2": "x"})
    df.to_csv(tmp_path / "pandas.csv", index=False)
    write_csv(df, tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_fast_csv_writer_on_an_empty_and_a_long_table(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    long = pd.DataFrame({"market_ids": pd.to_datetime("2026-02-23") + pd.to_timedelta(
        rng.integers(0, 10, n) * 7, unit="D"), "product_j": rng.choice(["a/b", "c-d"], n),
        "elasticity": rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, n),
        "elasticity_low": np.where(rng.random(n) < 0.9, np.nan, rng.normal(size=n))})
    for df in (long, long.iloc[:0]):
        df.to_csv(tmp_path / "pandas.csv", index=False)
        write_csv(df, tmp_path / "fast.csv")
        assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
