"""The ``llmecon`` command line.

Each subcommand lives in its own module under :mod:`llmecon.commands` and exposes
``register(subparsers)``; this module only discovers and dispatches them. Exit status:

- 0 success;
- 1 a reproduction missed a tolerance, or a computation failed
  (:class:`llmecon.errors.ComputationError`: one line on stderr);
- 2 bad input (:class:`llmecon.errors.InputError`: one line on stderr naming the file, column,
  option or value; also a file that cannot be read or written);
- 130 interrupted by Ctrl-C (one line; commands move their files into place only once complete);
- 141 the reader of standard output went away (``llmecon ... | head``; nothing more is printed).

Any other exception is a bug: its traceback is shown with a line asking for a report. Warnings
print as one plain line each.

Every command accepts ``--verbose`` (wall time and JAX compilation time on stderr at the end),
``--cache-dir DIR`` (keep compiled code there) and ``--no-cache`` (compile afresh, keep nothing);
see :mod:`estimation.compilation`. Command modules import the heavy libraries (JAX, pandas, SciPy)
only when they run, so ``llmecon --help`` stays fast.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import importlib
import os
import pkgutil
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

from llmecon import __version__, commands
from llmecon.errors import ComputationError, InputError, MissingExtraError, UsageError

__all__ = ["UsageError", "build_parser", "console_main", "main"]

#: Environment variable that silences progress displays (``estimation.progress.QUIET_ENV``,
#: repeated here so that the command line imports no engine before it runs a command).
QUIET_ENV = "LLMECON_QUIET"

#: The cyclic garbage collector's thresholds for the program (:func:`console_main`): a
#: collection every 50,000 net allocations instead of Python's 700. A command imports JAX,
#: pandas and SciPy (hundreds of thousands of objects that live until the end) and then works in
#: numbers and arrays, so the default collector mostly walks those objects again: 575
#: collections, 0.30 CPU s of a warm ``counterfactual heavy_training_vs_long_context``, against
#: 7 and 0.09 s with these. Only the program sets them: a Python caller of :func:`main` keeps
#: its own.
_GC_THRESHOLDS = (50_000, 10, 10)
#: glibc's ``mallopt`` parameter M_MXFAST (malloc.h): the largest request served from the
#: "fastbins", set to 0 for the program (:func:`_no_fastbins`).
_M_MXFAST = 1


def _no_fastbins() -> bool:
    """Switch off glibc's fastbins for this process (``mallopt(M_MXFAST, 0)``); False where
    the C library has no ``mallopt`` (not glibc). A warm command spends most of its time
    reading compiled programs back: XLA builds each program's instructions from their bytes
    in many small allocations and frees the bytes again, and with fastbins each large
    allocation first merges the small freed chunks (``malloc_consolidate``; with ``free``,
    about a fifth of the read-back under ``perf``). Without them a freed chunk is merged at
    once: the 18 kept programs of a cache that ran ``counterfactual
    heavy_training_vs_long_context`` (and ``firm_training_vs_sampling``) read back in 4.2-4.4
    instead of 4.7-5.2 CPU s on a loaded machine, and the warm heavy-training command took 7.0
    instead of 7.3 CPU s (three runs each, alternating). Only the allocator's bookkeeping
    changes, no result. Only the program sets it (:func:`console_main`), before any work."""
    import ctypes

    try:
        return ctypes.CDLL(None).mallopt(_M_MXFAST, 0) == 1
    # another C library (no mallopt), or Windows (CDLL(None) is a TypeError there): its own
    # allocator, as it is
    except (OSError, AttributeError, TypeError):
        return False

#: Where a user reports a bug (printed under the traceback of an unexpected exception).
BUG_REPORT = ("this is a bug in llmecon, not a problem with your input: please report it with "
              "the command line and the traceback above")


def build_parser() -> argparse.ArgumentParser:
    """The ``llmecon`` argument parser, with every subcommand of :mod:`llmecon.commands`.

    Each command module's ``register(subparsers)`` adds its subcommand; ``--verbose``,
    ``--cache-dir`` and ``--no-cache`` are added to the program and to every subcommand.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> from llmecon.cli import build_parser
    >>> args = build_parser().parse_args(["cost", "reasoning", "--queries", "1e6"])
    >>> args.command, str(args.pipeline), args.queries, args.format
    ('cost', 'reasoning', 1000000.0, 'text')
    """
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
    _plain_help(parser)
    _add_run_options(parser)
    return parser


def _plain_help(parser: argparse.ArgumentParser) -> None:
    """Drop the reStructuredText double backticks of module docstrings used as descriptions,
    which ``--help`` would otherwise print raw."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if sub.description:
                    sub.description = sub.description.replace("``", "")
                _plain_help(sub)


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--verbose``, ``--cache-dir`` and ``--no-cache`` on the program and on every (sub)command,
    so they may be given before or after the command's name."""
    parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="report wall and compilation time on stderr")
    cache = parser.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                       help="keep JAX's compiled code in DIR (default: the user cache "
                            "directory; environment: LLMECON_CACHE_DIR)")
    cache.add_argument("--no-cache", action="store_true", default=argparse.SUPPRESS,
                       help="do not read or write the compilation cache")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _add_run_options(child)


def _apply_cache_options(args: argparse.Namespace) -> None:
    """Point the compilation cache where the flags say: through the environment for a library
    not imported yet, directly if it already is."""
    if getattr(args, "no_cache", False):
        target = "off"
    elif getattr(args, "cache_dir", None) is not None:
        target = str(args.cache_dir)
    else:
        return
    os.environ["LLMECON_CACHE_DIR"] = target
    if "estimation.compilation" in sys.modules:
        sys.modules["estimation.compilation"].configure_cache(True)


def _report_time(t0: float) -> None:
    """The ``--verbose`` line: wall time, and compilation time where JAX compiled anything."""
    wall = time.perf_counter() - t0
    comp = sys.modules.get("estimation.compilation")
    line = comp.compile_stats().line() if comp is not None else "compilation: none (no JAX)"
    cache = comp.cache_in_use() if comp is not None else None
    print(f"llmecon: wall {wall:.2f} s; {line}; cache {cache or 'off'}", file=sys.stderr)


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

    Examples
    --------
    The command line from Python: cost the bundled ``reasoning`` pipeline over a million
    queries (the table is what ``llmecon cost reasoning -Q 1000000`` prints):

    >>> from llmecon.cli import main
    >>> main(["cost", "--list-examples"])
    frontier
    reasoning
    small_long_context
    0
    >>> main(["cost", "reasoning", "--queries", "1000000"])  # doctest: +ELLIPSIS
    reasoning: ..., Q = 1e+06 queries; ...
    total for Q=1e+06 ...
    0

    Bad input is one line on stderr and exit status 2, never a traceback:

    >>> main(["data", "show", "no-such-dataset"])
    2
    """
    try:
        with _plain_warnings():
            return _dispatch(argv)
    except KeyboardInterrupt:
        print("llmecon: interrupted; no output was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _stdout_to_devnull()
        return 141
    except SystemExit:  # argparse's --help, --version and usage errors
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _stdout_to_devnull()
        raise


def console_main() -> None:
    """The ``llmecon`` program (console script and ``python -m llmecon``): :func:`main` on
    ``sys.argv[1:]``, then a fast exit with its status.

    The garbage collector runs at :data:`_GC_THRESHOLDS` meanwhile, and glibc's allocator
    without fastbins (:func:`_no_fastbins`). A run that used compiled
    programs holds tens of megabytes of them (a warm
    ``counterfactual heavy_training_vs_long_context``: 28 MB read back), and the interpreter's
    teardown frees them one object at a time: 0.5-0.65 s of a 5 s command. So once the
    command is done, this finishes what the interpreter would before exiting and nothing
    more: it flushes standard output and error, waits for every non-daemon thread and runs the
    ``atexit`` handlers (in the interpreter's order: threads first), which is where a cache or
    a file being written completes, then ends the process with :func:`os._exit`, leaving the
    memory to the operating system. Never called in-process: :func:`main` returns its status
    to a Python caller, and ``--help``, ``--version`` and usage errors (``SystemExit``) and
    any exception exit the usual way, as does a run under a profiler (``python -m cProfile``
    writes its statistics after the command), a debugger, ``python -i`` or another Python.

    Examples
    --------
    What the console script runs (not called here: it ends the process)::

        from llmecon.cli import console_main
        console_main()   # e.g. sys.argv = ["llmecon", "cost", "reasoning"]

    >>> from llmecon.cli import console_main
    >>> callable(console_main)
    True
    """
    gc.set_threshold(*_GC_THRESHOLDS)
    _no_fastbins()
    status = main()
    status = _flush_standard_streams(status)
    shutdown = getattr(threading, "_shutdown", None)  # the interpreter's own first step
    # Under a profiler, a debugger or ``python -i`` their own work comes after the command
    # (cProfile prints or dumps its statistics): exit the usual way; likewise outside CPython.
    watched = sys.getprofile() is not None or sys.gettrace() is not None or sys.flags.inspect
    if shutdown is None or watched or sys.implementation.name != "cpython":
        sys.exit(status)
    try:
        shutdown()
    except KeyboardInterrupt:   # Ctrl-C while waiting for a thread: as in main, one status
        status = 130
    atexit._run_exitfuncs()
    status = _flush_standard_streams(status)
    os._exit(status)


def _flush_standard_streams(status: int) -> int:
    """Flush stdout and stderr; a reader of stdout gone away makes the status 141, as in
    :func:`main`, and other output lost makes a successful run's status 120, as CPython's exit."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
        status = 141
    except OSError:   # output lost (a full disk): CPython's own exit makes such a run 120
        status = status or 120
    except ValueError:  # closed: nothing left to lose
        pass
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    return status


def _dispatch(argv: list[str] | None) -> int:
    t0 = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        sys.stdout.flush()
        return 2
    _apply_cache_options(args)
    # OpenBLAS to one thread, as importing `estimation` sets it (see there why: its spinning
    # workers cost 10-25x the CPU on our small matrices on a busy machine), but before NumPy
    # loads its own OpenBLAS, which reads the variable once: commands that import `data` or
    # pandas first had NumPy's least squares run threaded (a market fit's first stage: 1.3 CPU
    # s, 0.05 with one thread). A value the user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        with _quiet_if_asked(args):
            status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
        if getattr(args, "verbose", False):
            _report_time(t0)
        return status
    except (BrokenPipeError, KeyboardInterrupt):
        raise
    except InputError as exc:
        # Every package's validation errors derive from InputError: bad input, one line.
        print(f"llmecon {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except ComputationError as exc:
        print(f"llmecon {args.command}: failed: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except MissingExtraError as exc:  # an optional extra not installed: say which
        print(f"llmecon {args.command}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.filename is None:  # not about a file the user named: a bug, shown in full
            return _bug(args.command)
        # A bad --out (an unwritable folder) or an unreadable input file.
        print(f"llmecon: error: {_os_message(exc)}", file=sys.stderr)
        return 2
    except Exception:
        return _bug(args.command)


@contextlib.contextmanager
def _quiet_if_asked(args: argparse.Namespace) -> Iterator[None]:
    """With ``--quiet``, silence every progress display of the command, including those of the
    library calls it makes (``LLMECON_QUIET``, read by :mod:`estimation.progress`, set through
    the environment so the check imports nothing), restoring the environment afterwards."""
    if not getattr(args, "quiet", False):
        yield
        return
    saved = os.environ.get(QUIET_ENV)
    os.environ[QUIET_ENV] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(QUIET_ENV, None)
        else:
            os.environ[QUIET_ENV] = saved


def _bug(command: str) -> int:
    """Show the current exception's traceback and ask for a bug report; exit status 1."""
    traceback.print_exc()
    print(f"llmecon {command}: {BUG_REPORT}", file=sys.stderr)
    return 1


@contextlib.contextmanager
def _plain_warnings() -> Iterator[None]:
    """Warnings as one plain line each (``llmecon: warning: ...``), without the source line and
    file path Python shows by default: the summaries already carry the diagnostics."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"llmecon: warning: {_one_line(str(message))}", file=file or sys.stderr)

    saved = warnings.showwarning
    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = saved


def _os_message(exc: OSError) -> str:
    """``<filename>: <strerror>`` for an OSError about a file, else its text on one line."""
    if exc.filename is not None and exc.strerror:
        return f"{os.fsdecode(exc.filename)}: {exc.strerror}"
    return _one_line(str(exc))


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout has no file descriptor (captured, closed)
        pass
