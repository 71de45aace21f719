"""``llmecon counterfactual SCENARIO.toml --out DIR [--force] [--draws K] [--seed S]
[--scheduler ADDRESS] [--quiet]``.

Thin over :func:`structural.counterfactual.run`: loads the scenario, solves every hypothesis over
the draws, writes tables (CSV, Markdown, LaTeX), ``summary.json`` and plots to DIR, prints the
report. Every option is checked before any work; the files are written into a hidden folder and
moved into DIR only when the run has finished, so an error leaves nothing behind. The solve
streams in chunks of draws sized from available memory, each written as it finishes to the hidden
folder ``.DIR.chunks`` beside DIR (with a progress bar and ETA on a terminal): after Ctrl-C the
same command resumes from the last finished chunk, and the folder goes once the run has finished.
``--scheduler`` solves the chunks on a Dask cluster. A bad scenario (unknown key, missing field,
unreachable target) or option exits 2 with one line.
SCENARIO may also name a bundled example (``guardrails``, ``guardrails.toml`` or
``structural/examples/scenarios/guardrails.toml``); ``--list-examples`` prints their names.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from llmecon.cli import UsageError
from llmecon.commands._early import read_back_from_import
from llmecon.commands._inputs import (
    check_count,
    check_memory,
    check_seed,
    example_or_file,
    output_dir,
    print_examples,
    staged_output,
)

#: Bytes one parameter draw needs at least, before the scenario is read: its parameters
#: (at most ~64 float64) and the solver's outputs (~16 fields) at one price point and Q.
MIN_BYTES_PER_DRAW = (64 + 16) * 8
#: Float64 arrays the report holds per draw, price point, Q and hypothesis: the solve itself
#: streams in chunks, but the break-evens compare whole cost grids (c1 − c2, signs, changes).
FIELDS_PER_POINT = 8


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "counterfactual",
        help="compare investment hypotheses over lifetime queries, with parameter uncertainty",
        description="Solve a counterfactual scenario (TOML) and write its tables and plots.",
    )
    p.add_argument("scenario", type=Path, nargs="?",
                   help="scenario TOML file, or the name of a bundled example (--list-examples)")
    p.add_argument("--out", type=Path, help="directory for tables, JSON, plots (required)")
    p.add_argument("--force", action="store_true",
                   help="replace files already in --out (refused otherwise)")
    p.add_argument("--draws", type=int, default=200,
                   help="parameter draws K for the uncertainty (default 200)")
    p.add_argument("--price-form", choices=("log", "level"), default=None,
                   help="market scenarios only: price in utility as alpha log p or alpha p "
                        "(default: the scenario's market.price_form, else log); decides "
                        "whether cost pass-through exceeds 1")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the draws, 0 to 2**32-1 (default 0)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="solve the chunks of draws on the Dask cluster whose scheduler listens "
                        "at ADDRESS (e.g. tcp://host:8786); needs llmecon[distributed]; same "
                        "results as a local run")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar on the terminal (the report is still printed)")
    p.add_argument("--list-examples", action="store_true",
                   help="print the names of the bundled example scenarios and exit")
    p.set_defaults(func=main)


def check_grid_memory(draws: int, scenario) -> None:
    """Refuse ``--draws`` whose solved grid (draws × prices × Q × hypotheses) would not fit."""
    n_prices = len(next(iter(scenario.prices.values()))) if scenario.prices else 1
    points = (draws + 1) * n_prices * len(scenario.queries) * max(len(scenario.hypotheses), 1)
    check_memory(points * FIELDS_PER_POINT * 8, "--draws", f"solving {draws} draws")


def main(args: argparse.Namespace) -> int:
    if args.list_examples:
        return print_examples("scenarios")
    if args.scenario is None:
        raise UsageError("give a SCENARIO file or example name (see --list-examples)")
    if args.out is None:
        raise UsageError("the following arguments are required: --out")
    check_seed(args.seed)
    check_count(args.draws, "--draws", 1)
    run_name = read_back_early(args)
    check_memory(args.draws * MIN_BYTES_PER_DRAW, "--draws", f"{args.draws} parameter draws")
    output_dir(args.out, force=args.force)
    from estimation.compilation import prefetch_programs
    from llmecon.commands import market_scenario

    record = prefetch_programs(run_name)   # started by the import above: its record
    with example_or_file(args.scenario, "scenarios", "counterfactual") as path:
        if market_scenario.is_market_scenario(path):  # LLM API market: its own runner
            status = market_scenario.main(path, args)
            record()
            return status
        # imported here: a market scenario does not load the engine (structural.counterfactual)
        from structural.counterfactual import load_scenario, run

        if args.price_form is not None:
            raise UsageError("--price-form: only for market scenarios (kind = \"market\")")
        scenario = load_scenario(path)
    check_grid_memory(args.draws, scenario)
    from estimation.progress import Progress, status

    # Compiling and solving takes tens of seconds; a silent terminal looks hung.
    status(f"llmecon counterfactual: solving {scenario.title!r} over {args.draws} draws ...",
           not args.quiet)
    store = chunk_store(args.out)
    try:
        with staged_output(args.out, force=args.force) as tmp, \
                Progress(1, "points", enabled=not args.quiet) as bar:
            result = run(scenario, draws=args.draws, seed=args.seed, out=tmp, store=store,
                         scheduler=args.scheduler, progress=bar, replace_other=True)
    except BaseException as exc:
        kept = len(list(store.glob("chunk-*.npz"))) if store.is_dir() else 0
        if not kept:   # nothing to resume from: leave nothing behind
            shutil.rmtree(store, ignore_errors=True)
            raise
        if not isinstance(exc, KeyboardInterrupt):
            raise
        print(f"llmecon counterfactual: interrupted; {kept} finished chunk(s) kept in {store}: "
              "run the same command again to resume", file=sys.stderr)
        return 130
    shutil.rmtree(store, ignore_errors=True)
    record()
    print(result.render(console=True))
    print(f"Outputs in {args.out}")
    return 0


def read_back_early(args: argparse.Namespace) -> str:
    """The name under which this command line's compiled programs are kept, and their reading
    back started by the library's import (:data:`estimation.compilation.PREFETCH_ENV`) if it is
    not imported yet: a warm run then reads them while the library, pandas and the engine
    import and the scenario loads, instead of from when the engine starts (the first solver of
    ``heavy_training_vs_long_context`` waited for its read). A scenario file edited since the
    last run at most reads some programs it does not use (results are unchanged)."""
    name = (f"llmecon counterfactual|{args.scenario}|draws={args.draws}|seed={args.seed}|"
            f"price_form={args.price_form}")
    read_back_from_import(name)
    return name


def chunk_store(out: Path) -> Path:
    """The hidden folder beside ``out`` where a run's finished chunks wait until it is done."""
    out = out.absolute()
    return out.parent / f".{out.name}.chunks"
