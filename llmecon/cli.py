"""The ``llmecon`` command line.

Each subcommand lives in its own module under :mod:`llmecon.commands` and exposes
``register(subparsers)``; this module only discovers and dispatches them. Exit status: 0 success,
1 a reproduction missed a tolerance (or a computation failed), 2 bad input (one line on stderr:
a usage or validation error, a file that cannot be read or written, an estimation error), 141
when the reader of standard output went away (``llmecon ... | head``; nothing more is printed).
"""

from __future__ import annotations

import argparse
import importlib
import os
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
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand and return its exit status.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name.

    Returns
    -------
    int
        0 success, 1 a check or computation failed, 2 bad input (reported on one line of
        stderr), 141 standard output was closed early (SIGPIPE's conventional status).
    """
    try:
        return _dispatch(argv)
    except BrokenPipeError:
        _stdout_to_devnull()
        return 141
    except SystemExit:  # argparse's --help, --version and usage errors
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _stdout_to_devnull()
        raise


def _dispatch(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        sys.stdout.flush()
        return 2
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
        return status
    except BrokenPipeError:
        raise
    except UsageError as exc:
        print(f"llmecon {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except ValueError as exc:
        # Library validation errors (data, parameters, scenarios) are input errors: one line.
        print(f"llmecon {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        # A bad --out (an existing file, an unwritable folder) or an unreadable input file.
        print(f"llmecon: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _is_estimation_error(exc):
            raise
        print(f"llmecon {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2


def _os_message(exc: OSError) -> str:
    """``<filename>: <strerror>`` for an OSError about a file, else its text on one line."""
    if exc.filename is not None and exc.strerror:
        return f"{os.fsdecode(exc.filename)}: {exc.strerror}"
    return _one_line(str(exc))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _is_estimation_error(exc: BaseException) -> bool:
    """Whether ``exc`` is an :class:`estimation.EstimationError` (without importing the engine:
    if :mod:`estimation.errors` was never imported, nothing can have raised one)."""
    errors = sys.modules.get("estimation.errors")
    return errors is not None and isinstance(exc, errors.EstimationError)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout has no file descriptor (captured, closed)
        pass
