"""``llmecon counterfactual SCENARIO.toml --out DIR [--draws K] [--seed S]``.

Thin over :func:`structural.counterfactual.run`: loads the scenario, solves every hypothesis over
the draws, writes tables (CSV, Markdown, LaTeX), ``summary.json`` and plots to DIR, prints the
report. A bad scenario (unknown key, missing field, unreachable target) exits 2 with one line.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "counterfactual",
        help="compare investment hypotheses over lifetime queries, with parameter uncertainty",
        description="Solve a counterfactual scenario (TOML) and write its tables and plots.",
    )
    p.add_argument("scenario", type=Path, help="scenario TOML file")
    p.add_argument("--out", type=Path, required=True, help="directory for tables, JSON, plots")
    p.add_argument("--draws", type=int, default=200,
                   help="parameter draws K for the uncertainty (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from structural.counterfactual import run

    if args.draws < 1:
        raise ValueError(f"--draws: expected a positive integer, got {args.draws}")
    result = run(args.scenario, draws=args.draws, seed=args.seed, out=args.out)
    print(result.render())
    print(f"Outputs in {args.out}")
    return 0
