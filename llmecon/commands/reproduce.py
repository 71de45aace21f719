"""``llmecon reproduce NAME|--all [--out DIR [--force]] [--quick] [--quiet]``: regenerate a paper's
table. Files are written into a temporary folder and moved into DIR once every paper has run."""

from __future__ import annotations

import argparse
from pathlib import Path

import papers
from llmecon.commands._early import read_back_from_import
from llmecon.commands._inputs import staged_output
from llmecon.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="regenerate a paper's table and check published values")
    p.add_argument("name", nargs="?", help=f"paper: {', '.join(papers.available())}")
    p.add_argument("--all", action="store_true", help="reproduce every paper")
    p.add_argument("--out", type=Path,
                   help="write the table as CSV (full precision), Markdown and LaTeX here")
    p.add_argument("--force", action="store_true",
                   help="replace files already in the --out directory")
    p.add_argument("--quick", action="store_true", help="fewer starts and draws (CI)")
    p.add_argument("--quiet", action="store_true", help="no progress display on the terminal")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.all == bool(args.name):
        raise UsageError("give one paper NAME or --all; known: " + ", ".join(papers.available()))
    names = papers.available() if args.all else [args.name]
    unknown = [n for n in names if n not in papers.available()]
    if unknown:
        raise UsageError(f"unknown paper {unknown[0]!r}; known: {', '.join(papers.available())}")
    failed, written = [], []
    read_back_early(args)
    from estimation.progress import status

    with staged_output(args.out, force=args.force) as tmp:
        for name in names:
            module = papers.get(name)
            out = None
            if tmp is not None:
                out = tmp / name if args.all else tmp
            # Some papers refit for minutes: say which one is running (terminal, not --quiet).
            status(f"llmecon reproduce: {name} ...", not args.quiet)
            rep = module.reproduce(out=out, quick=args.quick, progress=not args.quiet)
            print(rep.render())
            print()
            written += [Path(f).relative_to(tmp) for f in rep.files] if tmp is not None else []
            if not rep.passed:
                failed.append(name)
    for f in written:
        print(f"wrote {args.out / f}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


def read_back_early(args: argparse.Namespace) -> None:
    """Name one paper's run (:func:`papers.run_name`) in the variable the library's import reads
    (:func:`llmecon.commands._early.read_back_from_import`) if the library is not imported
    yet: the kept programs its last run used are then read back beside the rest of the imports
    and the data's loading, instead of from when the paper's ``reproduce`` starts. Not for
    ``--all`` (one name a run)."""
    if not args.all:
        read_back_from_import(papers.run_name(args.name, args.quick))
