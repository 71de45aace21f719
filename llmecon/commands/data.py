"""``llmecon data``: list the curated datasets, show one, check a CSV against a schema, or
convert the installed genai-prices package's current prices to the api_prices schema."""

from __future__ import annotations

import argparse
from pathlib import Path

from llmecon.commands._inputs import read_csv, staged_file, write_file_atomically
from llmecon.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="list the curated datasets or show one",
        description=(__doc__ or "").replace("``", ""),
    )
    sub = parser.add_subparsers(dest="data_command", metavar="{list,show,validate,live-prices}")
    p_list = sub.add_parser("list", help="every dataset with rows, snapshot date and licence")
    p_list.set_defaults(func=_list)
    p_show = sub.add_parser("show", help="print a dataset's datasheet, then its first rows")
    p_show.add_argument("name", help="dataset name (see `llmecon data list`)")
    p_show.add_argument("--rows", type=int, default=10, help="rows of the table to print (10)")
    p_show.set_defaults(func=_show)
    p_val = sub.add_parser(
        "validate", help="check your own CSV against a dataset's schema (columns, units, ranges)"
    )
    p_val.add_argument("name", help="dataset whose schema to use")
    p_val.add_argument("file", type=Path, help="CSV file to check")
    p_val.set_defaults(func=_validate)
    p_live = sub.add_parser(
        "live-prices",
        help="current API prices from the installed genai-prices package (no network), "
        "in the api_prices schema",
    )
    p_live.add_argument("--rows", type=int, default=10, help="rows of the table to print (10)")
    p_live.add_argument("--out", type=Path, help="also write the table to this CSV file")
    p_live.add_argument("--force", action="store_true", help="replace the --out file if it exists")
    p_live.add_argument(
        "--on", help="snapshot date YYYY-MM-DD that decides the current price (default: today)"
    )
    p_live.set_defaults(func=_live_prices)
    parser.set_defaults(func=_list)


def _list(args: argparse.Namespace) -> int:
    import data as datasets

    table = datasets.list()
    cols = ["name", "rows", "snapshot", "licence"]
    widths = {c: max(len(c), *(len(str(v)) for v in table[c])) for c in cols}
    head = [c.rjust(widths[c]) if c == "rows" else c.ljust(widths[c]) for c in cols]
    print("  ".join(head).rstrip())
    for _, row in table.iterrows():
        cells = [
            str(row[c]).rjust(widths[c]) if c == "rows" else str(row[c]).ljust(widths[c])
            for c in cols
        ]
        print("  ".join(cells).rstrip())
    return 0


def _check_name(name: str) -> None:
    import data as datasets

    if name not in datasets.DATASETS:
        raise UsageError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(datasets.DATASETS))}"
        )


def _validate(args: argparse.Namespace) -> int:
    import data as datasets

    _check_name(args.name)
    if not args.file.exists():
        raise UsageError(f"file {args.file} not found")
    df = read_csv(args.file, None, keep_default_na=False, na_values=[""])
    out = datasets.validate(df, args.name, source=str(args.file))  # raises a one-line ValueError
    print(f"{args.file}: {len(out)} rows match the {args.name} schema")
    return 0


def _show(args: argparse.Namespace) -> int:
    import pandas as pd

    import data as datasets

    _check_name(args.name)
    if args.rows < 0:
        raise UsageError(f"--rows must be >= 0, got {args.rows}")
    print(datasets.datasheet(args.name).rstrip())
    print()
    df = datasets.load(args.name)
    print(f"## First {min(args.rows, len(df))} of {len(df)} rows")
    print()
    with pd.option_context("display.max_columns", 50, "display.width", 200):
        print(df.head(args.rows).to_string())
    return 0


def _live_prices(args: argparse.Namespace) -> int:
    import pandas as pd

    from data import build, live_prices

    if args.rows < 0:
        raise UsageError(f"--rows must be >= 0, got {args.rows}")
    if args.out is not None:
        staged_file(args.out, force=args.force)
    try:
        df = live_prices.current_api_prices(on=args.on)
    except live_prices.LivePricesUnavailable as exc:
        raise UsageError(str(exc)) from None
    version = df.attrs["genai_prices_version"]
    snap = df["snapshot"].iloc[0].date().isoformat()
    note = " (today; the package records no data date)" if df.attrs["snapshot_is_run_date"] else ""
    print(f"genai-prices package {version}, bundled data (no network); snapshot {snap}{note}")
    print(f"{len(df)} rows, {int(df['current'].sum())} current")
    print()
    with pd.option_context("display.max_columns", 50, "display.width", 200):
        print(df.head(args.rows).to_string())
    if args.out is not None:
        write_file_atomically(args.out, lambda tmp: build.write_csv(df, tmp))
        print(f"\nwrote {len(df)} rows to {args.out}")
    return 0
