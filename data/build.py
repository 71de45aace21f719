"""Regenerate every curated CSV from the raw sources, deterministically.

Usage::

    python -m data.build --sources ../shared/sources --out data/

This is the only code that reads the raw sources; the loaders read the committed CSVs. Each builder
returns a validated DataFrame; :func:`write_csv` fixes the float, date and boolean formats and the
line ending, so two runs on the same sources give byte-identical files.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from data import chinchilla
from data.catalog import DATASETS
from data.schema import validate


def build_chinchilla(sources: Path) -> pd.DataFrame:
    """``chinchilla/svg_extracted_data.csv`` → params, flops, tokens, loss, outlier."""
    raw = pd.read_csv(sources / "chinchilla" / "svg_extracted_data.csv")
    return chinchilla.curate(raw)


BUILDERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "chinchilla": build_chinchilla,
}


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` with ISO dates, True/False, shortest round-trip floats, LF line endings."""
    out = df.copy()
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name].dtype):
            out[name] = out[name].dt.strftime("%Y-%m-%d")
    out.to_csv(path, index=False, lineterminator="\n")


def build(sources: Path, out: Path, names: list[str] | None = None) -> dict[str, int]:
    """Build the named datasets (all by default) into ``out``; returns rows written per dataset."""
    written: dict[str, int] = {}
    for name in names or list(BUILDERS):
        if name not in BUILDERS:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(BUILDERS)}")
        df = BUILDERS[name](sources)
        df = validate(df, DATASETS[name].schema, source=name, allow_extra=False)
        write_csv(df, out / f"{name}.csv")
        written[name] = len(df)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m data.build", description="Regenerate the curated CSVs from raw sources."
    )
    parser.add_argument("--sources", type=Path, default=Path("../shared/sources"))
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    parser.add_argument("names", nargs="*", help="datasets to build (default: all)")
    args = parser.parse_args(argv)
    if not args.sources.is_dir():
        print(f"data.build: error: sources folder {args.sources} not found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in build(args.sources, args.out, args.names or None).items():
        print(f"{name}: {rows} rows -> {args.out / (name + '.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
