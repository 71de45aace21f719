"""``llmecon fit MODEL`` for the fitted cost functions of :mod:`structural.fitted`.

The ``fit`` command itself belongs to :mod:`llmecon.commands.fit`, which calls
:func:`register_fit_models` to add every model of :data:`structural.fitted.REGISTRY` as its
subcommand. Each model's module declares its options (as data, read without importing it) and
runs the command with a :class:`_CommandLine` that reads the user's files and prints and writes
the tables; nothing here is specific to one model. Today::

    llmecon fit training_cost   [--runs CSV] [--prices CSV] [--cost COLUMN]
    llmecon fit inference_price [--prices CSV] [--form loglinear|roofline]
    llmecon fit price_trend     [--observations CSV] [--reference MODEL | --threshold ECI]
    llmecon fit usage           [--traces CSV] [--trace NAME] [--column COLUMN] [--components 1,2,3]
    llmecon fit task_success    [--runs CSV] [--benchmark NAME] [--cutoff DATE] [--bootstrap K]

Each prints the engine's summary (``--format text|markdown|latex``) and derived quantities, and with
``--out DIR`` writes them as CSV, Markdown and LaTeX. A CSV with a missing column, a value in the
wrong units (caught by range checks), NaN or a negative price stops with exit status 2 and one line
naming the column and row.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from llmecon.commands._inputs import (
    bundled_values,
    check_bootstrap_memory,
    output_dir,
    read_csv,
    staged_output,
)
from llmecon.errors import ComputationError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("text", "markdown", "latex")


def register_fit_models(fit_subparsers: argparse._SubParsersAction) -> None:
    """Add every model of :data:`structural.fitted.REGISTRY` under ``fit``: its options come
    from its declaration and it runs its module's ``command``."""
    for name, model in _registry().items():
        p = fit_subparsers.add_parser(name, help=model.summary, formatter_class=_Formatter)
        _add_arguments(p, model.arguments)
        _common(p)
        p.set_defaults(func=_announced(name, _runner(model)))


#: Argument types a declaration may name (a declaration holds literals only).
_TYPES = {"int": int, "float": float, "str": str}


def _add_arguments(p: argparse.ArgumentParser, arguments) -> None:
    """The options a model declares: ``[flag, {argparse keywords}]`` with ``type`` naming one
    of :data:`_TYPES` and ``group`` naming a mutually exclusive group."""
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for flag, spec in arguments:
        kw = dict(spec)
        if "type" in kw:
            kw["type"] = _TYPES[kw["type"]]
        group = kw.pop("group", None)
        if group is not None and group not in groups:
            groups[group] = p.add_mutually_exclusive_group()
        (p if group is None else groups[group]).add_argument(flag, **kw)


def _runner(model):
    """The command of ``model``: ``--out`` checked before any work, then its module's
    ``command`` with this command line's reading, printing and writing."""
    def run(args: argparse.Namespace) -> int:
        output_dir(args.out, force=args.force)
        return model.command(args, _CommandLine(args))

    return run


def _announced(name: str, run):
    """``run`` preceded, on a terminal and without ``--quiet``, by a line saying what is being
    fitted (compiling and fitting takes seconds, and a silent terminal looks hung)."""
    def announced(args: argparse.Namespace) -> int:
        from estimation.progress import status

        status(f"llmecon fit {name}: compiling and fitting ...", not args.quiet)
        return run(args)

    return announced


def _registry() -> dict:
    """:data:`structural.fitted.REGISTRY`, read without importing :mod:`structural` (whose
    package imports the engine and JAX, a second of start-up for ``llmecon --help``): the
    registry module imports nothing of ours and reads the models' declarations without importing
    them, so it is loaded from its file on its own unless the package is already imported."""
    import importlib.util
    import sys
    from pathlib import Path

    if "structural.fitted" in sys.modules:
        return sys.modules["structural.fitted"].REGISTRY
    top = importlib.util.find_spec("structural")  # finds the package without running it
    path = Path(next(iter(top.submodule_search_locations))) / "fitted" / "__init__.py"
    # As a package of its directory: the registry lists the modules on its ``__path__``.
    spec = importlib.util.spec_from_file_location("_llmecon_fitted_registry", path,
                                                  submodule_search_locations=[str(path.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's names through it
    spec.loader.exec_module(module)
    return module.REGISTRY


#: Stands for the bundled traces' names in help texts (filled in by :class:`_Formatter`).
TRACE_NAMES = "<bundled trace names>"


class _Formatter(argparse.HelpFormatter):
    """Help that lists the bundled request traces after ``--trace``, read from the CSV only when
    the help is printed (every other command line skips the read) and without pandas."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if text and TRACE_NAMES in text:
            text = text.replace(TRACE_NAMES, ", ".join(bundled_values("request_traces")))
        return text


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="how the summary prints: text (default), markdown or latex")
    p.add_argument("--out", type=Path, help="directory for CSV, Markdown and LaTeX tables")
    p.add_argument("--force", action="store_true",
                   help="replace files already in the --out directory")
    p.add_argument("--quiet", action="store_true", help="no progress line on the terminal")


def _fmt(res, fmt: str) -> str:
    return res.summary(fmt="markdown" if fmt == "markdown" else fmt)


def _table_text(df: pd.DataFrame, fmt: str) -> str:
    if fmt == "markdown":
        cols = [str(c) for c in df.reset_index().columns]
        rows = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r]
                for r in df.reset_index().itertuples(index=False)]
        return "\n".join(["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                         + ["| " + " | ".join(r) + " |" for r in rows])
    if fmt == "latex":
        from estimation.tables import render

        return render("", [], df, "latex")
    from estimation.tables import MAX_WIDTH

    # A wide table wraps its columns into blocks that fit the terminal; the files keep one table.
    return df.to_string(float_format=lambda v: f"{v:.6g}", line_width=MAX_WIDTH)


def _write(args: argparse.Namespace, stem: str, res_list, extra: dict[str, pd.DataFrame],
           ok: bool = True) -> int:
    """Write the tables to ``args.out`` (staged, so an interrupted run leaves nothing) once
    every fit has converged; a failed fit writes no file and exits 1 with one line."""
    if not ok or not all(res.converged for _, res in res_list):
        bad = [name for name, res in res_list if not res.converged]
        raise ComputationError(
            f"{stem}: the fit did not converge ({', '.join(bad) or 'no model could be fitted'})"
            + ("; no files were written" if args.out is not None else ""))
    if args.out is None:
        return 0
    from papers.reproduction import write_tables

    with staged_output(args.out, force=args.force) as out:
        for name, res in res_list:
            with warnings.catch_warnings():  # the summary beside it states the caveats
                warnings.simplefilter("ignore")
                write_tables(res.table().rename_axis("parameter"), out, f"{stem}_{name}")
            (out / f"{stem}_{name}_summary.txt").write_text(res.summary())
        for name, df in extra.items():
            write_tables(df.rename_axis(df.index.name or "quantity"), out, f"{stem}_{name}")
    return 0


def _read(path: str, what: str, flag: str) -> pd.DataFrame:
    """Read a user CSV after checking it is an existing UTF-8 file (not a directory) whose
    header names each column once."""
    return read_csv(Path(path), flag)


def _csv(path: str | None, what: str, origin: str, flag: str,
         columns: tuple[str, ...] = ()) -> pd.DataFrame | None:
    """Read ``path`` (None: use the bundled data), check ``columns`` are present, add ``t``.

    When ``columns`` is given, a ``date`` or ``t`` column is required too.
    """
    from structural.fitted.inputs import FitInputError, with_years

    if path is None:
        return None
    df = _read(path, what, flag)
    if columns:
        missing = [c for c in columns if c not in df.columns]
        if "t" not in df.columns and "date" not in df.columns:
            missing.insert(0, "date (or t)")
        if missing:
            raise FitInputError(
                f"{flag} {path}: missing column(s) {', '.join(repr(c) for c in missing)} "
                f"({what} need date or t, {', '.join(columns)})")
    return with_years(df, origin, what)


def _enough(df: pd.DataFrame, source: str, columns: tuple[str, ...], min_rows: int) -> None:
    """Fail with one line unless ``min_rows`` rows have a value in every one of ``columns``,
    at two or more dates (a growth rate needs a time span)."""
    from structural.fitted.inputs import FitInputError

    complete = df[list(columns)].notna().all(axis=1)
    n = int(complete.sum())
    if n < min_rows:
        raise FitInputError(f"{source}: {n} row(s) with {' and '.join(columns)}; "
                            f"need at least {min_rows} to fit")
    if df.loc[complete, "t"].nunique() < 2:
        raise FitInputError(f"{source}: every row with {' and '.join(columns)} has the same "
                            "date; need at least 2 dates to fit a growth rate")


class _CommandLine:
    """What a model's ``command`` uses of the command line (see
    :class:`structural.fitted.CommandLine`): the user's CSVs, the terminal in ``--format``
    and the ``--out`` directory."""

    def __init__(self, args: argparse.Namespace):
        self.args = args

    def read(self, path: str, what: str, flag: str) -> pd.DataFrame:
        return _read(path, what, flag)

    def csv(self, path: str | None, what: str, origin: str, flag: str,
            columns: tuple[str, ...] = ()) -> pd.DataFrame | None:
        return _csv(path, what, origin, flag, columns)

    def enough(self, df: pd.DataFrame, source: str, columns: tuple[str, ...],
               min_rows: int) -> None:
        _enough(df, source, columns, min_rows)

    def check_bootstrap_memory(self, replicates: int, rows: int) -> None:
        check_bootstrap_memory(replicates, rows)

    def show(self, text: str) -> None:
        print(text)

    def show_fit(self, res) -> None:
        print(_fmt(res, self.args.format))

    def show_table(self, df: pd.DataFrame) -> None:
        print(_table_text(df, self.args.format))

    def write(self, stem: str, fits, extra: dict[str, pd.DataFrame], ok: bool = True) -> int:
        return _write(self.args, stem, fits, extra, ok)
