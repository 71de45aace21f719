"""``llmecon fit MODEL`` for the fitted cost functions of :mod:`structural.fitted`.

The ``fit`` command itself belongs to :mod:`llmecon.commands.fit`, which calls
:func:`register_fit_models` to add these models as its subcommands::

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
import math
import textwrap
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
    from ``_arguments_<name>`` and it runs ``run_<name>`` of this module."""
    for name, model in _registry().items():
        p = fit_subparsers.add_parser(name, help=model.summary, formatter_class=_Formatter)
        globals()[f"_arguments_{name}"](p)
        _common(p)
        p.set_defaults(func=_announced(name, globals()[f"run_{name}"]))


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
    registry module imports nothing of ours, so it is loaded from its file on its own unless
    the package is already imported."""
    import importlib.util
    import sys
    from pathlib import Path

    if "structural.fitted" in sys.modules:
        return sys.modules["structural.fitted"].REGISTRY
    top = importlib.util.find_spec("structural")  # finds the package without running it
    path = Path(next(iter(top.submodule_search_locations))) / "fitted" / "__init__.py"
    spec = importlib.util.spec_from_file_location("_llmecon_fitted_registry", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module's names through it
    spec.loader.exec_module(module)
    return module.REGISTRY


def _arguments_training_cost(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", help="CSV of runs: date or t, training_compute_flop, cost_usd")
    p.add_argument("--prices", help="CSV of prices: date or t, usd_per_flop (2023 $/FLOP)")
    p.add_argument("--cost", default="cloud_usd",
                   help="training_costs column for the curated runs (default cloud_usd)")


def _arguments_inference_price(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prices", help="CSV: provider, model, input_usd_per_mtok, "
                   "output_usd_per_mtok, active_parameters, parameters, context_window, date or t")
    p.add_argument("--form", choices=("loglinear", "roofline"), default="loglinear",
                   help="loglinear: log price on log active parameters; roofline: price from "
                        "the serving-cost roofline times a markup (default loglinear)")


def _arguments_price_trend(p: argparse.ArgumentParser) -> None:
    p.add_argument("--observations", help="CSV: date or t, price_usd_per_mtok, eci")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--reference", default="GPT-4", help="model whose ECI is the threshold")
    g.add_argument("--threshold", type=float, help="ECI threshold")


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


def _arguments_usage(p: argparse.ArgumentParser) -> None:
    # A wrong name is also refused with the list when the command runs.
    p.add_argument("--traces", help="CSV with the token column (and optionally trace)")
    p.add_argument("--trace", default="azure_code_2023",
                   help=f"which bundled trace to fit: {TRACE_NAMES} (default "
                        "azure_code_2023); with --traces, a value of its trace column")
    p.add_argument("--column", default="output_tokens",
                   choices=("input_tokens", "output_tokens"),
                   help="token count to fit (default output_tokens)")
    p.add_argument("--components", default="1,2",
                   help="comma-separated numbers of mixture components (default 1,2)")
    p.add_argument("--prices", dest="token_prices",
                   help="IN,OUT[,CACHE] $/Mtok: also print the cost per request, fitting the "
                        "other token column of the same trace")


def _arguments_task_success(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", help="CSV of benchmark runs: task, accuracy, stderr, questions, "
                   "epochs, training_compute_flop (and model, release_date)")
    p.add_argument("--benchmark", default="GPQA diamond",
                   help="benchmark whose kappa, ell_task, phi are printed (default GPQA diamond)")
    p.add_argument("--cutoff", help="also fit on models released before this date (YYYY-MM-DD) "
                   "and print the error on those released after")
    p.add_argument("--bootstrap", type=int, default=0,
                   help="bootstrap replicates, resampling models (default 0: Hessian SEs, "
                        "clustered by model)")


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


def run_training_cost(args: argparse.Namespace) -> int:
    from structural.fitted import training_cost as tc
    from structural.fitted.inputs import check_table

    output_dir(args.out, force=args.force)
    run_cols, price_cols = ("training_compute_flop", "cost_usd"), ("usd_per_flop",)
    runs = _csv(args.runs, "training runs", "2020-01-01", "--runs", run_cols)
    prices = _csv(args.prices, "price series", "2020-01-01", "--prices", price_cols)
    # Cells first (units, ranges), then the count: each equation has a level, a growth and a
    # scale, so it needs three observations (SVD failures and LAPACK noise otherwise).
    if runs is not None:
        runs = check_table(runs, tc.RUN_FIELDS, "training runs")
    if prices is not None:
        prices = check_table(prices, tc.PRICE_FIELDS, "price series")
    if runs is not None:
        _enough(runs, f"--runs {args.runs}", run_cols, 3)
    if prices is not None:
        _enough(prices, f"--prices {args.prices}", price_cols, 3)
    if runs is None:
        runs = tc.training_runs(cost=args.cost)
    if prices is None:
        prices = tc.price_series()
    res = tc.fit(runs, prices)
    growth = tc.growth_factors(res)
    print(_fmt(res, args.format))
    print(_table_text(growth, args.format))
    return _write(args, "training_cost", [("params", res)], {"growth": growth})


def run_inference_price(args: argparse.Namespace) -> int:
    from structural.fitted import inference_price as ip
    from structural.fitted.inputs import FitInputError

    output_dir(args.out, force=args.force)
    table = _csv(args.prices, "open-weights prices", "2024-01-01", "--prices")
    if table is not None:
        for col in ("provider", "model"):
            if col not in table.columns:
                raise FitInputError(f"open-weights prices: missing column {col!r}")
        table = ip.with_provider_codes(table)
    res = ip.fit(args.form, table)
    head = ip.headline(res, args.form)
    print(_fmt(res, args.format))
    from estimation.tables import MAX_WIDTH

    names = ip.providers(table if table is not None else ip.third_party_open())
    print(textwrap.fill("providers (provider_1, provider_2, ...): " + ", ".join(names),
                        width=MAX_WIDTH, subsequent_indent="  "))
    print(_table_text(head, args.format))
    extra = {"headline": head}
    if table is None:
        mk = ip.markups(res, args.form).set_index(["group", "price"])
        print(_table_text(mk, args.format))
        extra["markups"] = mk.reset_index().set_index("group")
    return _write(args, f"inference_price_{args.form}", [("params", res)], extra)


def run_price_trend(args: argparse.Namespace) -> int:
    from structural.fitted import price_trend as pt
    from structural.fitted.inputs import FitInputError

    output_dir(args.out, force=args.force)
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise FitInputError(f"--threshold: expected a finite ECI score, got {args.threshold}")
    obs = _csv(args.observations, "price observations", "2024-01-01", "--observations")
    if obs is None:
        obs = pt.observations()
    if args.threshold is not None:
        tau = args.threshold
    else:
        scores = pt.eci_scores()
        if args.reference not in scores.index:
            raise FitInputError(f"--reference {args.reference!r} has no ECI score")
        tau = float(scores[args.reference])
    res = pt.fit_threshold(obs, tau)
    dcl = pt.decline(res).to_frame().T
    print(_fmt(res, args.format))
    print(_table_text(dcl, args.format))
    return _write(args, "price_trend", [("params", res)], {"decline": dcl})


def _token_prices(text: str) -> dict[str, float]:
    """``IN,OUT[,CACHE]`` in $/Mtok, range-checked like the price tables (0.0005 to 2000)."""
    from structural.fitted.inputs import FitInputError

    bad = f"--prices {text!r}: expected IN,OUT[,CACHE] in $/Mtok"
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        raise FitInputError(bad) from None
    if len(vals) not in (2, 3):
        raise FitInputError(bad)
    names = ("input", "output", "cache_read")
    for name, v in zip(names, vals, strict=False):
        if not 0.0005 <= v <= 2000:
            raise FitInputError(f"--prices {name} = {v:g} is outside [0.0005, 2000] $/Mtok "
                                "(wrong units?)")
    return dict(zip(names, vals, strict=False))


def run_usage(args: argparse.Namespace) -> int:
    from structural.fitted import usage as u
    from structural.fitted.inputs import FitInputError

    output_dir(args.out, force=args.force)
    table = _read(args.traces, "request trace", "--traces") if args.traces else None
    try:
        Ks = tuple(int(k) for k in args.components.split(","))
    except ValueError:
        raise FitInputError(f"--components {args.components!r}: expected e.g. 1,2,3") from None
    if not Ks or min(Ks) < 1 or max(Ks) > 4:
        raise FitInputError(f"--components {args.components!r}: each between 1 and 4")
    prices = _token_prices(args.token_prices) if args.token_prices else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab, fits = u.select_family(args.trace, args.column, Ks, table)
    best = tab.loc[tab["aic"].idxmin(), "K"] if tab["aic"].notna().any() else None
    if best is not None:
        print(_fmt(fits[int(best)], args.format))
    print(_table_text(tab.set_index("family"), args.format))
    extra = {"families": tab.set_index("family")}
    if prices and best is not None:
        other = "input_tokens" if args.column == "output_tokens" else "output_tokens"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            otab, ofits = u.select_family(args.trace, other, Ks, table)
        ok = int(otab.loc[otab["aic"].idxmin(), "K"])
        fin, fout = ((fits[int(best)], ofits[ok]) if args.column == "input_tokens"
                     else (ofits[ok], fits[int(best)]))
        reuse = 0.0
        if table is None and args.trace == "mooncake_conv":
            reuse = float(u.fit_cache_reuse().params["reuse_rate"])
        cost = u.cost_per_request(fin, fout, prices, reuse_rate=reuse)
        print(f"cost per request, $ (prefix-cache reuse {reuse:.3f})")
        print(_table_text(cost, args.format))
        extra["cost_per_request"] = cost
    return _write(args, f"usage_{args.trace}_{args.column}",
                  [(f"K{k}", r) for k, r in fits.items()], extra, ok=best is not None)


def run_task_success(args: argparse.Namespace) -> int:
    import pandas as pd

    from structural.fitted import task_success as ts
    from structural.fitted.inputs import FitInputError

    output_dir(args.out, force=args.force)
    if args.bootstrap < 0 or args.bootstrap == 1:
        raise FitInputError(f"--bootstrap: expected 0 or at least 2 replicates, "
                            f"got {args.bootstrap}")
    if args.cutoff is not None:
        try:
            pd.Timestamp(args.cutoff)
        except ValueError:
            raise FitInputError(f"--cutoff {args.cutoff!r}: expected a date YYYY-MM-DD") from None
    runs = _read(args.runs, "benchmark runs", "--runs") if args.runs else None
    table = ts.runs_table(runs)
    if args.benchmark not in set(table["task"]):
        raise FitInputError(f"--benchmark {args.benchmark!r} is not among the runs' tasks: "
                            f"{', '.join(sorted(table['task'].unique()))}")
    check_bootstrap_memory(args.bootstrap, len(table))
    res = ts.fit(runs, bootstrap=args.bootstrap or None)
    link = pd.DataFrame([ts.link_parameters(res, args.benchmark)], index=[args.benchmark])
    print(_fmt(res, args.format))
    print(_table_text(link.rename_axis("benchmark"), args.format))
    extra = {"link": link.rename_axis("benchmark")}
    fits = [("params", res)]
    if args.cutoff is not None:
        oos = ts.out_of_sample(args.cutoff, runs)
        err = pd.DataFrame({"value": [oos[k] for k in ("n_train", "n_test", "mae", "rmse", "bias",
                                                       "mae_baseline")]},
                           index=["runs before cut-off", "runs after", "MAE", "RMSE",
                                  "mean error", "MAE of benchmark-mean baseline"])
        print(f"out of sample (released on or after {args.cutoff})")
        print(_table_text(err.rename_axis("quantity"), args.format))
        extra["out_of_sample"] = err.rename_axis("quantity")
        fits.append(("params_before_cutoff", oos["fit"]))
    return _write(args, "task_success", fits, extra)
