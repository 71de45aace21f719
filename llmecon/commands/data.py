"""``llmecon data``: list the curated datasets, show one's datasheet and first rows."""

from __future__ import annotations

import argparse

import pandas as pd

import data as datasets
from llmecon.cli import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="list the curated datasets or show one", description=__doc__
    )
    sub = parser.add_subparsers(dest="data_command", metavar="{list,show}")
    p_list = sub.add_parser("list", help="every dataset with rows, snapshot date and licence")
    p_list.set_defaults(func=_list)
    p_show = sub.add_parser("show", help="print a dataset's datasheet, then its first rows")
    p_show.add_argument("name", help="dataset name (see `llmecon data list`)")
    p_show.add_argument("--rows", type=int, default=10, help="rows of the table to print (10)")
    p_show.set_defaults(func=_show)
    parser.set_defaults(func=_list)


def _list(args: argparse.Namespace) -> int:
    table = datasets.list()
    with pd.option_context("display.max_colwidth", 90, "display.width", 250):
        print(table[["name", "rows", "snapshot", "licence"]].to_string(index=False))
    return 0


def _show(args: argparse.Namespace) -> int:
    if args.name not in datasets.DATASETS:
        raise UsageError(
            f"unknown dataset {args.name!r}; known datasets: {', '.join(sorted(datasets.DATASETS))}"
        )
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
