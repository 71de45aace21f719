"""``llmecon fit MODEL ...``: estimate a structural model on a CSV and write its parameters.

``llmecon fit chinchilla --data FILE.csv [--estimator huber|huber-mle] [--bootstrap B] [--seed S]
[--out DIR] [--quick] [--quiet]`` prints the summary and, with ``--out``, writes DIR/params.csv
(param,estimate,std_err,ci_low,ci_high) and DIR/summary.txt. Fitted cost-function models register
their own subcommands here too.
"""

from __future__ import annotations

import argparse
import importlib
import warnings
from pathlib import Path

import pandas as pd

from llmecon.cli import UsageError
from llmecon.commands._inputs import input_file, output_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="estimate a structural model on data")
    models = p.add_subparsers(dest="model", metavar="MODEL")
    c = models.add_parser("chinchilla", help="the Chinchilla loss law L(N, D) on training runs")
    c.add_argument("--data", type=Path, required=True,
                   help="CSV with columns params,tokens,loss (one training run per row)")
    c.add_argument("--estimator", choices=("huber", "huber-mle"), default="huber")
    c.add_argument("--bootstrap", type=int, default=0,
                   help="bootstrap replicates (0: asymptotic sandwich / Hessian SEs)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", type=Path, default=None,
                   help="also write params.csv and summary.txt to this directory")
    c.add_argument("--quick", action="store_true", help="a 243-point start grid instead of 4,500")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=run_chinchilla)
    try:  # fitted per-stage cost functions add their own models
        extra = importlib.import_module("llmecon.commands.fit_costs")
    except ImportError:
        extra = None
    if extra is not None and hasattr(extra, "register_fit_models"):
        extra.register_fit_models(models)
    importlib.import_module("llmecon.commands.fit_demand").register_fit_models(models)
    p.set_defaults(func=lambda args: _no_model(p))


def _no_model(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_chinchilla(args: argparse.Namespace) -> int:
    import data
    import estimation
    from structural.chinchilla_fit import HOFFMANN_GRID, QUICK_GRID, fit_chinchilla

    input_file(args.data, ".csv", flag="--data")
    output_dir(args.out)
    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap must be ≥ 0, got {args.bootstrap}")
    try:
        df = pd.read_csv(args.data)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise UsageError(f"{args.data}: cannot read as CSV ({exc})") from None
    df = data.validate_chinchilla_fit_input(df, source=str(args.data))
    boot = estimation.Bootstrap(draws=args.bootstrap, seed=args.seed) if args.bootstrap else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", estimation.NotConvergedWarning)
        res = fit_chinchilla(df, estimator=args.estimator,
                             starts=QUICK_GRID if args.quick else HOFFMANN_GRID,
                             bootstrap=boot, progress=not args.quiet)
    names = ["A", "B", "E", "alpha", "beta"]
    ci = res.conf_int()
    table = pd.DataFrame({"estimate": res.params[names], "std_err": res.bse[names],
                          "ci_low": ci["lower"][names], "ci_high": ci["upper"][names]})
    table.index.name = "param"
    summary = res.summary()
    if res.bootstrap is not None:
        summary += "\n" + res.bootstrap.summary_line()
    print(summary)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out / "params.csv", float_format="%.10g")
        (args.out / "summary.txt").write_text(summary + "\n")
        print(f"wrote {args.out / 'params.csv'} and {args.out / 'summary.txt'}")
    return 0 if res.converged else 1
