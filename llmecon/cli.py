"""The ``llmecon`` command line.

Each subcommand lives in its own module under :mod:`llmecon.commands` and exposes
``register(subparsers)``; this module only discovers and dispatches them. Exit status: 0 success,
1 a reproduction missed a tolerance (or a computation failed), 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from llmecon import __version__, commands


class UsageError(Exception):
    """Bad user input: reported as one line on stderr with exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmecon",
        description="Structural-economics estimation toolkit for large language models.",
    )
    parser.add_argument("--version", action="version", version=f"llmecon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"llmecon.commands.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"llmecon {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        # Library validation errors (data, parameters, scenarios) are input errors: one line.
        print(f"llmecon {args.command}: error: {exc}", file=sys.stderr)
        return 2
