"""A small schema system for the curated tables and for users' own CSV files.

A :class:`Schema` is a tuple of :class:`Column` declarations (name, kind, unit, admissible range,
nullability). :func:`validate` checks a DataFrame against it and returns a copy with every column
converted to its declared kind; the first problem found raises
:class:`data.errors.DataValidationError` with a one-line message that names the dataset or file,
the column, the first offending row (0-based position and value) and what was expected.

The range checks are unit checks too: a price column in $/Mtok declares a smallest plausible
non-zero value, so prices given in $/token (a factor 1e6 too small) are rejected rather than
silently fitted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd

from data.errors import DataValidationError

Kind = Literal["float", "int", "str", "bool", "date"]
KINDS: tuple[str, ...] = ("float", "int", "str", "bool", "date")

#: Largest magnitude any numeric column may hold: beyond it, a square or a product of two values
#: overflows float64 (a 1e308 in a CSV is a typo or a sentinel, never a measurement).
LARGEST = 1e100

_TRUE = {"true", "1", "yes", "t", "y"}
_FALSE = {"false", "0", "no", "f", "n"}


@dataclass(frozen=True)
class Column:
    """One column of a table.

    Parameters
    ----------
    name : str
        Column name in the CSV header.
    kind : {"float", "int", "str", "bool", "date"}
        Value kind; dates are ISO 8601 (``YYYY-MM-DD``) and load as ``datetime64``.
    unit : str
        Unit of the values (``"$/Mtok"``, ``"FLOP"``, ``"tokens"``); printed in error messages.
    min, max : float or str, optional
        Inclusive admissible range (ISO date strings for ``kind="date"``).
    positive : bool
        Values must be strictly greater than zero.
    allow_zero : bool
        Exactly zero is admissible even when ``min`` is positive (free prices: ``min`` then bounds
        the non-zero values, which is what catches a wrong unit).
    nullable : bool
        Missing values (empty cells, NaN) are admissible.
    description : str
        What the column means, for datasheets and ``llmecon data show``.

    Examples
    --------
    A price in $/Mtok: zero (a free tier) is admissible, but a non-zero price below one cent
    per million tokens is almost surely a price per token:

    >>> from data import Column
    >>> price = Column("price", "float", unit="$/Mtok", min=0.01, allow_zero=True)
    >>> price.expectation()
    'a finite number in [0.01, inf] or exactly 0 ($/Mtok)'
    """

    name: str
    kind: Kind
    unit: str = ""
    min: float | str | None = None
    max: float | str | None = None
    positive: bool = False
    allow_zero: bool = False
    nullable: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Column {self.name!r}: kind {self.kind!r} is not one of {KINDS}")

    def expectation(self) -> str:
        """Human-readable statement of what the column must contain."""
        parts = {
            "float": "a finite number",
            "int": "an integer",
            "str": "a non-empty string",
            "bool": "True or False",
            "date": "an ISO date (YYYY-MM-DD)",
        }[self.kind]
        if self.positive:
            parts += " > 0"
        if self.min is not None or self.max is not None:
            lo = "-inf" if self.min is None else _fmt(self.min)
            hi = "inf" if self.max is None else _fmt(self.max)
            parts += f" in [{lo}, {hi}]"
            if self.allow_zero:
                parts += " or exactly 0"
        if self.unit:
            parts += f" ({self.unit})"
        return parts


@dataclass(frozen=True)
class Schema:
    """Columns of a table plus table-level rules.

    Parameters
    ----------
    name : str
        Dataset name used in messages.
    columns : tuple of Column
        Declared columns, in the order the curated CSV stores them.
    min_rows : int
        Fewest admissible rows (an empty table is always an error unless this is 0).
    unique : tuple of str
        Columns whose combined values must be unique (the table's key), if any.

    Examples
    --------
    A schema for your own table, and :func:`data.schema.validate` converting and checking it:

    >>> import pandas as pd
    >>> from data import Column, Schema
    >>> from data.schema import validate
    >>> schema = Schema("prices", (Column("model", "str"),
    ...                            Column("price", "float", unit="$/Mtok", min=0.01,
    ...                                   allow_zero=True)), unique=("model",))
    >>> validate(pd.DataFrame({"model": ["a", "b"], "price": ["1.5", "0"]}), schema)["price"]
    0    1.5
    1    0.0
    Name: price, dtype: float64
    >>> validate(pd.DataFrame({"model": ["a", "b"], "price": [1.5, 2e-6]}), schema)
    Traceback (most recent call last):
    ...
    data.errors.DataValidationError: prices: column 'price': row 1 (0-based) has 2e-06: ...
    """

    name: str
    columns: tuple[Column, ...]
    min_rows: int = 1
    unique: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def describe(self) -> pd.DataFrame:
        """The schema as a table: column, kind, unit, range, nullable, description."""
        rows = []
        for c in self.columns:
            rng = ""
            if c.min is not None or c.max is not None:
                lo = "" if c.min is None else _fmt(c.min)
                hi = "" if c.max is None else _fmt(c.max)
                rng = f"[{lo}, {hi}]"
            rows.append(
                {
                    "column": c.name,
                    "kind": c.kind,
                    "unit": c.unit,
                    "range": rng,
                    "nullable": c.nullable,
                    "description": c.description,
                }
            )
        return pd.DataFrame(rows)


def _fmt(v: float | str) -> str:
    if isinstance(v, str):
        return v
    return f"{v:g}"


def _where(schema: Schema, source: str | None) -> str:
    return f"{schema.name} ({source})" if source and source != schema.name else schema.name


def _fail(schema: Schema, source: str | None, col: Column | str, msg: str) -> DataValidationError:
    name = col.name if isinstance(col, Column) else col
    return DataValidationError(f"{_where(schema, source)}: column {name!r}: {msg}")


def _show(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return _fmt(value) if np.isfinite(value) or np.isinf(value) else "NaN"
    if value is None or value is pd.NA or value is pd.NaT:
        return "NaN"
    return repr(value)


def _row_msg(pos: int, value: object, col: Column, problem: str) -> str:
    return f"row {pos} (0-based) has {_show(value)}: {problem}; expected {col.expectation()}"


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _distinct_strings(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(codes, uniques)`` of a column whose present cells are all str (code -1 where missing),
    else None.

    A column of strings repeats few distinct values (model and provider names over weeks), so
    the per-string work (strip, blank and boolean tests) is done once per distinct value and
    spread back by the codes, instead of once per row. Only all-str columns: factorize counts
    1, 1.0 and True as one value, which ``str`` tells apart.
    """
    if pd.api.types.infer_dtype(values, skipna=True) != "string":
        return None
    codes, uniques = pd.factorize(values)
    return codes, np.asarray(uniques, dtype=object)


def _by_code(codes: np.ndarray, per_unique: list, missing_value: object) -> np.ndarray:
    """``per_unique[code]`` for every row; ``missing_value`` where the code is -1 (missing)."""
    return np.array([*per_unique, missing_value], dtype=object)[codes]


def _missing_mask(raw: pd.Series, strings: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    m = raw.isna().to_numpy()
    if strings is not None:
        codes, uniques = strings
        return m | _by_code(codes, [not u.strip() for u in uniques], False).astype(bool)
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
        s = raw.astype("string").str.strip()
        m = m | (s == "").fillna(False).to_numpy(dtype=bool)
    return m


def _convert(raw: pd.Series, col: Column, schema: Schema, source: str | None) -> pd.Series:
    """Convert one column to its declared kind, raising on the first unconvertible value."""
    values = raw.to_numpy(dtype=object)
    strings = None
    if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
        strings = _distinct_strings(values)
    missing = _missing_mask(raw, strings)
    if not col.nullable:
        pos = _first(missing)
        if pos is not None:
            raise _fail(
                schema,
                source,
                col,
                _row_msg(pos, raw.iloc[pos], col, "missing value (not nullable)"),
            )
    fail = partial(_fail, schema, source, col)
    if col.kind in ("float", "int"):
        return _to_number(raw, values, missing, col, fail)
    if col.kind == "bool":
        return _to_bool(raw, values, missing, strings, col, fail)
    if col.kind == "date":
        if pd.api.types.is_datetime64_any_dtype(raw.dtype):
            return raw.astype("datetime64[ns]")
        out = pd.to_datetime(raw.where(~missing), errors="coerce", format="ISO8601")
        bad = out.isna().to_numpy() & ~missing
        pos = _first(bad)
        if pos is not None:
            raise fail(_row_msg(pos, values[pos], col, "not a date"))
        return out.astype("datetime64[ns]")
    # str: strip surrounding blanks; missing stays NaN (only reachable when nullable)
    if strings is not None:
        codes, uniques = strings
        out = _by_code(codes, [u.strip() for u in uniques], np.nan)
        out[missing] = np.nan
    else:
        out = [np.nan if missing[pos] else str(v).strip() for pos, v in enumerate(values)]
    return pd.Series(out, index=raw.index, dtype="str")


def _to_number(raw: pd.Series, values: np.ndarray, missing: np.ndarray, col: Column,
               fail: Callable[[str], Exception]) -> pd.Series:
    """A float or int column: numeric, finite, within ``LARGEST``, integral for ints."""
    num = pd.to_numeric(raw.where(~missing), errors="coerce")
    bad = num.isna().to_numpy() & ~missing
    pos = _first(bad)
    if pos is not None:
        raise fail(_row_msg(pos, values[pos], col, "not a number"))
    arr = num.to_numpy(dtype=float)
    pos = _first(~np.isfinite(arr) & ~missing)
    if pos is not None:
        raise fail(_row_msg(pos, arr[pos], col, "not finite"))
    pos = _first((np.abs(arr) > LARGEST) & ~missing)
    if pos is not None:
        raise fail(_row_msg(pos, arr[pos], col, f"beyond {LARGEST:g}, too large to compute with"))
    if col.kind == "int":
        pos = _first((arr != np.round(arr)) & ~missing)
        if pos is not None:
            raise fail(_row_msg(pos, arr[pos], col, "not an integer"))
        out = pd.Series(arr, index=raw.index).round().astype("Int64" if col.nullable else "int64")
        if col.nullable:
            out[missing] = pd.NA
        return out
    return pd.Series(arr, index=raw.index, dtype="float64")


def _to_bool(raw: pd.Series, values: np.ndarray, missing: np.ndarray, strings, col: Column,
             fail: Callable[[str], Exception]) -> pd.Series:
    """A boolean column: true/false words (once per distinct string), 0/1 numbers, bools."""
    if pd.api.types.is_bool_dtype(raw.dtype) and not col.nullable:
        return raw.astype(bool)
    if strings is not None:
        codes, uniques = strings
        low = [u.strip().lower() for u in uniques]
        flags = _by_code(codes, [True if w in _TRUE else False if w in _FALSE else None
                                 for w in low], None)
        pos = _first(np.equal(flags, None) & ~missing)
        if pos is not None:
            raise fail(_row_msg(pos, values[pos], col, "not a boolean"))
        flags[missing] = pd.NA
        return pd.Series(flags, index=raw.index, dtype="boolean" if col.nullable else bool)
    out = []
    for pos, v in enumerate(values):
        if missing[pos]:
            out.append(pd.NA)
            continue
        if isinstance(v, bool | np.bool_):
            out.append(bool(v))
            continue
        s = str(v).strip().lower()
        if isinstance(v, float | int | np.integer | np.floating) and v in (0, 1):
            out.append(bool(v))
        elif s in _TRUE:
            out.append(True)
        elif s in _FALSE:
            out.append(False)
        else:
            raise fail(_row_msg(pos, v, col, "not a boolean"))
    return pd.Series(out, index=raw.index, dtype="boolean" if col.nullable else bool)


def _check_range(series: pd.Series, col: Column, schema: Schema, source: str | None) -> None:
    if col.kind not in ("float", "int", "date"):
        return
    if col.kind == "date":
        vals = series
        present = vals.notna().to_numpy()
        lo = pd.Timestamp(col.min) if col.min is not None else None
        hi = pd.Timestamp(col.max) if col.max is not None else None
        below = present & (vals < lo).fillna(False).to_numpy(dtype=bool) if lo is not None else None
        above = present & (vals > hi).fillna(False).to_numpy(dtype=bool) if hi is not None else None
        for mask, what in (
            (below, "before the earliest admissible date"),
            (above, "after the latest admissible date"),
        ):
            if mask is None:
                continue
            pos = _first(mask)
            if pos is not None:
                v = vals.iloc[pos].date().isoformat()
                raise _fail(schema, source, col, _row_msg(pos, v, col, what))
        return
    arr = series.astype("float64").to_numpy(dtype=float, na_value=np.nan)
    present = ~np.isnan(arr)
    zero_ok = col.allow_zero & (arr == 0)
    if col.positive:
        pos = _first(present & (arr <= 0))
        if pos is not None:
            raise _fail(schema, source, col, _row_msg(pos, _num(arr[pos]), col, "not positive"))
    if col.min is not None:
        pos = _first(present & (arr < float(col.min)) & ~zero_ok)
        if pos is not None:
            hint = _unit_hint(arr[pos], col)
            raise _fail(
                schema,
                source,
                col,
                _row_msg(pos, _num(arr[pos]), col, "below the admissible range" + hint),
            )
    if col.max is not None:
        pos = _first(present & (arr > float(col.max)))
        if pos is not None:
            hint = _unit_hint(arr[pos], col)
            raise _fail(
                schema,
                source,
                col,
                _row_msg(pos, _num(arr[pos]), col, "above the admissible range" + hint),
            )


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() and abs(v) < 1e15 else float(v)


def _unit_hint(v: float, col: Column) -> str:
    if col.unit and v != 0:
        return f" (wrong unit? values must be in {col.unit})"
    return ""


def validate(
    df: pd.DataFrame,
    schema: Schema,
    source: str | None = None,
    *,
    allow_extra: bool = True,
) -> pd.DataFrame:
    """Check ``df`` against ``schema`` and return a converted copy.

    Parameters
    ----------
    df : pandas.DataFrame
        The table to check (as read by ``pandas.read_csv`` or built in memory).
    schema : Schema
        The declared columns and table rules.
    source : str, optional
        Where the table came from (a file name); named in every error message.
    allow_extra : bool
        Keep columns that the schema does not declare (after the declared ones). If False,
        an undeclared column is an error.

    Returns
    -------
    pandas.DataFrame
        Declared columns first, in schema order, each converted to its kind (float64, int64 or
        Int64, str, bool or boolean, datetime64), then any extra columns; a fresh RangeIndex.

    Raises
    ------
    DataValidationError
        On the first problem: not a DataFrame, empty table, missing or undeclared column,
        missing value in a non-nullable column, unconvertible value, non-finite number,
        non-positive value where positive is required, value out of range (often a wrong unit),
        duplicate key.
    """
    where = _where(schema, source)
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError(f"{where}: expected a pandas DataFrame, got {type(df).__name__}")
    df = df.reset_index(drop=True)
    missing_cols = [c.name for c in schema.columns if c.name not in df.columns]
    if missing_cols:
        raise DataValidationError(
            f"{where}: column {missing_cols[0]!r} is missing; expected columns "
            f"{', '.join(schema.names)} (found {', '.join(map(str, df.columns)) or 'none'})"
        )
    extra = [c for c in df.columns if c not in schema.names]
    if extra and not allow_extra:
        raise DataValidationError(
            f"{where}: column {extra[0]!r} is not in the schema; "
            f"expected only {', '.join(schema.names)}"
        )
    if len(df) < schema.min_rows:
        raise DataValidationError(
            f"{where}: table is empty ({len(df)} rows); expected at least {schema.min_rows} row"
            + ("s" if schema.min_rows != 1 else "")
        )
    out = {}
    for col in schema.columns:
        series = _convert(df[col.name], col, schema, source)
        _check_range(series, col, schema, source)
        out[col.name] = series
    for name in extra:
        out[name] = df[name]
    result = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    if schema.unique:
        dup = result.duplicated(subset=list(schema.unique), keep="first").to_numpy()
        pos = _first(dup)
        if pos is not None:
            key = {k: result[k].iloc[pos] for k in schema.unique}
            raise DataValidationError(
                f"{where}: column {schema.unique[0]!r}: row {pos} (0-based) repeats key {key}; "
                f"expected ({', '.join(schema.unique)}) to be unique"
            )
    return result
