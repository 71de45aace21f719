"""Input checks for the fitted models: every bad cell is reported by column and row.

A fit on a user's CSV must fail before estimation, with one line naming what is wrong: a missing
column, a value that is not a number, NaN, a negative or zero price, or a value outside the
plausible range of its unit (the usual symptom of $/token given where $/Mtok is expected).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from llmecon.errors import InputError

__all__ = ["Field", "FitInputError", "check_table"]


class FitInputError(InputError):
    """A table handed to a fitted model is unusable; the message names the column and the row.

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.fitted.inputs import Field, check_table
    >>> check_table(pd.DataFrame({"loss": [2.1, -1.0]}), [Field("loss", "nats", positive=True)],
    ...             "training runs")
    Traceback (most recent call last):
    ...
    structural.fitted.inputs.FitInputError: training runs: column 'loss' row 1: -1 must be > 0 ...
    """


@dataclass(frozen=True)
class Field:
    """One required numeric column: its unit and plausible range (inclusive).

    Examples
    --------
    >>> from structural.fitted.inputs import Field
    >>> Field("price", "$/Mtok", lo=0.0005, hi=2000.0)
    Field(name='price', unit='$/Mtok', lo=0.0005, hi=2000.0, positive=False, required=True)
    """

    name: str
    unit: str
    lo: float = -np.inf
    hi: float = np.inf
    positive: bool = False
    required: bool = True


def check_table(df: pd.DataFrame, fields: list[Field], what: str) -> pd.DataFrame:
    """Return ``df`` with the listed columns as float64 after checking each cell.

    Raises :class:`FitInputError` for the first problem found, e.g.
    ``api prices: column 'input_usd_per_mtok' row 3: 2e-07 is outside [0.0005, 2000] $/Mtok``.
    Rows are numbered as in the file (0-based data rows, header excluded).

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.fitted.inputs import Field, check_table
    >>> df = check_table(pd.DataFrame({"loss": ["2.1", "1.9"]}), [Field("loss", "nats", lo=0.0)],
    ...                  "training runs")
    >>> df["loss"].dtype
    dtype('float64')
    """
    missing = [f.name for f in fields if f.required and f.name not in df.columns]
    if missing:
        raise FitInputError(
            f"{what}: missing column(s) {', '.join(repr(m) for m in missing)}; expected "
            f"{', '.join(f'{f.name} ({f.unit})' for f in fields if f.required)}"
        )
    out = df.copy()
    for f in fields:
        if f.name not in out.columns:
            continue
        raw = out[f.name]
        num = pd.to_numeric(raw, errors="coerce")
        bad_text = num.isna() & raw.notna()
        if bad_text.any():
            i = int(np.flatnonzero(bad_text.to_numpy())[0])
            raise FitInputError(
                f"{what}: column {f.name!r} row {i}: {raw.iloc[i]!r} is not a number ({f.unit})"
            )
        vals = num.to_numpy(dtype=np.float64)
        if f.required:
            nan = ~np.isfinite(vals)
            if nan.any():
                i = int(np.flatnonzero(nan)[0])
                raise FitInputError(
                    f"{what}: column {f.name!r} row {i}: {vals[i]} is missing or not finite "
                    f"({f.unit})"
                )
        present = np.isfinite(vals)
        if f.positive:
            neg = present & (vals <= 0)
            if neg.any():
                i = int(np.flatnonzero(neg)[0])
                raise FitInputError(
                    f"{what}: column {f.name!r} row {i}: {vals[i]:g} must be > 0 ({f.unit})"
                )
        out_of = present & ((vals < f.lo) | (vals > f.hi))
        if out_of.any():
            i = int(np.flatnonzero(out_of)[0])
            raise FitInputError(
                f"{what}: column {f.name!r} row {i}: {vals[i]:g} is outside [{f.lo:g}, {f.hi:g}] "
                f"{f.unit} (wrong units?)"
            )
        out[f.name] = vals
    return out


def read_csv(path: str | Path, what: str) -> pd.DataFrame:
    """Read a user CSV, turning an unreadable file into a :class:`FitInputError`."""
    p = Path(path)
    if not p.is_file():
        raise FitInputError(f"{what}: no such file {str(p)!r}")
    try:
        return pd.read_csv(p)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FitInputError(f"{what}: cannot read {str(p)!r}: {exc}") from None


def with_years(df: pd.DataFrame, origin: str, what: str) -> pd.DataFrame:
    """Add ``t`` (years since ``origin``) from a ``date`` column when ``t`` is absent."""
    if "t" in df.columns or "date" not in df.columns:
        return df
    dates = pd.to_datetime(df["date"], errors="coerce")
    bad = dates.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FitInputError(f"{what}: column 'date' row {i}: {df['date'].iloc[i]!r} is not a date")
    return df.assign(t=((dates - pd.Timestamp(origin)).dt.days / 365.25).to_numpy())
