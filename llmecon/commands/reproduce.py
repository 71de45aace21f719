"""``llmecon reproduce NAME|--all [--out DIR] [--quick] [--quiet]``: regenerate a paper's table."""

from __future__ import annotations

import argparse
from pathlib import Path

import papers
from llmecon.commands._inputs import output_dir
from llmecon.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="regenerate a paper's table and check published values")
    p.add_argument("name", nargs="?", help=f"paper: {', '.join(papers.available())}")
    p.add_argument("--all", action="store_true", help="reproduce every paper")
    p.add_argument("--out", type=Path, help="write the table as CSV, Markdown and LaTeX here")
    p.add_argument("--quick", action="store_true", help="fewer starts and draws (CI)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.all == bool(args.name):
        raise UsageError("give one paper NAME or --all; known: " + ", ".join(papers.available()))
    output_dir(args.out)
    names = papers.available() if args.all else [args.name]
    failed = []
    for name in names:
        try:
            module = papers.get(name)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
        out = None
        if args.out is not None:
            out = args.out / name if args.all else args.out
        rep = module.reproduce(out=out, quick=args.quick, progress=not args.quiet)
        print(rep.render())
        for f in rep.files:
            print(f"wrote {f}")
        print()
        if not rep.passed:
            failed.append(name)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0
