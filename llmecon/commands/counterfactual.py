"""``llmecon counterfactual SCENARIO.toml --out DIR [--draws K] [--seed S]``.

Thin over :func:`structural.counterfactual.run`: loads the scenario, solves every hypothesis over
the draws, writes tables (CSV, Markdown, LaTeX), ``summary.json`` and plots to DIR, prints the
report. A bad scenario (unknown key, missing field, unreachable target) exits 2 with one line.
SCENARIO may also name a bundled example (``guardrails``, ``guardrails.toml`` or
``structural/examples/scenarios/guardrails.toml``); ``--list-examples`` prints their names.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from llmecon.cli import UsageError
from llmecon.commands._inputs import example_or_file, output_dir, print_examples


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "counterfactual",
        help="compare investment hypotheses over lifetime queries, with parameter uncertainty",
        description="Solve a counterfactual scenario (TOML) and write its tables and plots.",
    )
    p.add_argument("scenario", type=Path, nargs="?",
                   help="scenario TOML file, or the name of a bundled example (--list-examples)")
    p.add_argument("--out", type=Path, help="directory for tables, JSON, plots (required)")
    p.add_argument("--draws", type=int, default=200,
                   help="parameter draws K for the uncertainty (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.add_argument("--list-examples", action="store_true",
                   help="print the names of the bundled example scenarios and exit")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.list_examples:
        return print_examples("scenarios")
    if args.scenario is None:
        raise UsageError("give a SCENARIO file or example name (see --list-examples)")
    if args.out is None:
        raise UsageError("the following arguments are required: --out")
    output_dir(args.out)
    if args.draws < 1:
        raise UsageError(f"--draws: expected a positive integer, got {args.draws}")
    from llmecon.commands import market_scenario
    from structural.counterfactual import run

    with example_or_file(args.scenario, "scenarios", "counterfactual") as path:
        if market_scenario.is_market_scenario(path):  # LLM API market: its own runner
            return market_scenario.main(path, args)
        result = run(path, draws=args.draws, seed=args.seed, out=args.out)
    print(result.render())
    print(f"Outputs in {args.out}")
    return 0
