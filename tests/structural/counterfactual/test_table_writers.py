"""The Markdown and LaTeX table writers read a frame's cells in one pass, yet write the bytes the
row-by-row writer (a pandas Series per ``iterrows`` row) wrote: numbers-only frames print their
integers as floats, mixed frames keep them, NaN, inf, booleans, missing values, datetimes and
LaTeX escapes included."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from structural.counterfactual import outputs


def _row_by_row_markdown(df: pd.DataFrame) -> str:
    """The writer before the one-pass cells (the reference the new one must equal)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(outputs._fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def _row_by_row_latex(df: pd.DataFrame, caption: str = "") -> str:
    cols = list(df.columns)
    esc = outputs._tex_escape
    out = [r"\begin{table}[ht]", r"\centering", r"\begin{tabular}{" + "l" * len(cols) + "}",
           r"\toprule", " & ".join(esc(str(c)) for c in cols) + r" \\", r"\midrule"]
    for _, row in df.iterrows():
        out.append(" & ".join(esc(outputs._fmt(row[c])) for c in cols) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        out.append(r"\caption{" + esc(caption) + "}")
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def _frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 40
    mixed = pd.DataFrame({
        "product_ids": [f"model_{i}&co #{i} 50% $x_y\\z × → *—" for i in range(n)],
        "market_ids": np.arange(n) * 12345,                       # ints kept as ints
        "price": rng.lognormal(0, 4, n),                           # .4g and .3e ranges
        "share": np.where(np.arange(n) % 7 == 0, np.nan, rng.uniform(0, 1, n)),
        "markup": np.where(np.arange(n) % 9 == 0, np.inf, -rng.uniform(0, 1e-5, n)),
        "open": np.arange(n) % 2 == 0,
        "zero": np.zeros(n),
        "count": pd.array([None if i % 5 == 0 else i for i in range(n)], dtype="Int64"),
        "flag": pd.array([None if i % 6 == 0 else bool(i % 2) for i in range(n)],
                         dtype="boolean"),
        "note": pd.array([None if i % 4 == 0 else f"n{i}" for i in range(n)], dtype="str"),
    })
    numbers_only = pd.DataFrame({"week": np.arange(n) * 100_003,   # printed as floats
                                 "q": rng.normal(0, 1e6, n), "neg_inf": -np.inf})
    return {
        "mixed": mixed,
        "numbers_only": numbers_only,
        "ints_only": pd.DataFrame({"a": np.arange(5) * 10**7, "b": np.arange(5)}),
        "bools_only": pd.DataFrame({"a": [True, False], "b": [False, False]}),
        "float32": pd.DataFrame({"x": np.array([0.1, 3.3e-7, 2e5, np.nan], dtype=np.float32)}),
        "dates": pd.DataFrame({"d": pd.to_datetime(["2024-01-01", "2025-06-30"])}),
        "dates_mixed": pd.DataFrame({"d": pd.to_datetime(["2024-01-01", None]), "v": [1.5, 2]}),
        "repeated_columns": pd.DataFrame([[1.5, "a"], [np.nan, "b"]], columns=["x", "x"]),
        "empty": mixed.iloc[:0],
        "no_columns": pd.DataFrame(index=range(3)),
    }


@pytest.mark.parametrize("name", list(_frames()))
def test_writers_equal_the_row_by_row_writer(name):
    df = _frames()[name]
    if name == "repeated_columns":  # the header join needs str names; cells only
        assert outputs._cells(df) == [[outputs._fmt(r[c]) for c in df.columns]
                                      for _, r in df.iterrows()]
        return
    assert outputs.to_markdown(df) == _row_by_row_markdown(df)
    assert outputs.to_latex(df, "Caption_50% & more") == _row_by_row_latex(df, "Caption_50% & more")


def test_numbers_only_frames_print_integers_as_the_row_by_row_writer_did():
    # iterrows of a numbers-only frame hands out floats: 1234567 prints as 1.235e+06 there
    md = outputs.to_markdown(pd.DataFrame({"a": [1234567], "b": [0.5]}))
    assert "| 1.235e+06 | 0.5 |" in md
    md = outputs.to_markdown(pd.DataFrame({"a": [1234567], "b": ["x"]}))
    assert "| 1234567 | x |" in md


def test_counterfactual_imports_draw_nothing():
    """matplotlib is imported only by a command that draws (its import is most of a second)."""
    code = ("import sys, structural.counterfactual, structural.market.llm_scenarios, "
            "llmecon.commands.counterfactual; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'jinja2')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
