"""``llmecon fit MODEL ...``: estimate a structural model on a CSV and write its parameters.

``llmecon fit chinchilla --data FILE.csv [--estimator huber|huber-mle] [--bootstrap B] [--seed S]
[--out DIR [--force]] [--quick] [--full-grid] [--scheduler ADDRESS] [--quiet]`` prints the summary
and, with ``--out``, writes DIR/params.csv (param,estimate,std_err,ci_low,ci_high, full precision)
and DIR/summary.txt, only once the fit has converged (a failed fit exits 1 and writes nothing).
The grid's starts are screened by the summed Huber loss at each start and the best 64 run to
convergence (``--full-grid``: all of them). ``--scheduler`` runs the start grid and the bootstrap
on a Dask cluster. Fitted cost-function models register their own subcommands here too.
"""

from __future__ import annotations

import argparse
import importlib
import warnings
from pathlib import Path

from llmecon.commands._inputs import (
    check_bootstrap_memory,
    check_count,
    check_seed,
    output_dir,
    read_csv,
    staged_output,
)
from llmecon.errors import ComputationError

ESTIMATORS = {
    "huber": "summed Huber loss on log residuals (Besiroglu et al.'s Table 1 method; default)",
    "huber-mle": "Huber-density maximum likelihood with a free scale (their printed point "
                 "estimate); give --bootstrap for its SEs",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="estimate a structural model on data")
    models = p.add_subparsers(dest="model", metavar="MODEL")
    c = models.add_parser("chinchilla", help="the Chinchilla loss law L(N, D) on training runs")
    c.add_argument("--data", type=Path, required=True,
                   help="CSV with columns params,tokens,loss (one training run per row)")
    c.add_argument("--estimator", choices=tuple(ESTIMATORS), default="huber",
                   help="; ".join(f"{k}: {v}" for k, v in ESTIMATORS.items()))
    c.add_argument("--bootstrap", type=int, default=0,
                   help="bootstrap replicates, 0 or at least 2 (0: asymptotic sandwich or "
                        "Hessian SEs)")
    c.add_argument("--seed", type=int, default=0,
                   help="seed of the bootstrap resampling, 0 to 2^32-1 (default 0)")
    c.add_argument("--out", type=Path, default=None,
                   help="also write params.csv and summary.txt to this directory")
    c.add_argument("--force", action="store_true",
                   help="replace files already in the --out directory")
    c.add_argument("--quick", action="store_true", help="a 243-point start grid instead of 4,500")
    c.add_argument("--full-grid", action="store_true",
                   help="run every start of the grid to convergence (default: the 64 starts with "
                        "the lowest summed Huber loss, which on the bundled runs reach the full "
                        "grid's optimum; the summary says so)")
    c.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the start grid and the bootstrap on the Dask cluster whose "
                        "scheduler listens at ADDRESS (e.g. tcp://host:8786); needs "
                        "llmecon[distributed]; same results as a local run")
    c.add_argument("--quiet", action="store_true",
                   help="no progress line on the terminal (the summary is still printed)")
    c.set_defaults(func=run_chinchilla)
    try:  # fitted per-stage cost functions add their own models
        extra = importlib.import_module("llmecon.commands.fit_costs")
    except ImportError:
        extra = None
    if extra is not None and hasattr(extra, "register_fit_models"):
        extra.register_fit_models(models)
    importlib.import_module("llmecon.commands.fit_demand").register_fit_models(models)
    importlib.import_module("llmecon.commands.fit_llm_demand").register_fit_models(models)
    p.set_defaults(func=lambda args: _no_model(p))


def _no_model(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_chinchilla(args: argparse.Namespace) -> int:
    # Every argument is checked before any work (the start grid alone takes seconds).
    import pandas as pd

    check_count(args.bootstrap, "--bootstrap", 2, zero_ok=True)
    check_seed(args.seed)
    output_dir(args.out, force=args.force)
    df = read_csv(args.data, "--data")

    import data
    import estimation
    from structural.chinchilla_fit import (
        HOFFMANN_GRID,
        QUICK_GRID,
        SCREEN_STARTS,
        check_identified,
        fit_chinchilla,
    )

    df = data.validate_chinchilla_fit_input(df, source=str(args.data))
    check_identified(df)
    check_bootstrap_memory(args.bootstrap, len(df))
    boot = estimation.Bootstrap(draws=args.bootstrap, seed=args.seed) if args.bootstrap else None
    with staged_output(args.out, force=args.force) as out:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", estimation.NotConvergedWarning)
            res = fit_chinchilla(df, estimator=args.estimator,
                                 starts=QUICK_GRID if args.quick else HOFFMANN_GRID,
                                 bootstrap=boot, progress=not args.quiet,
                                 scheduler=args.scheduler,
                                 screen=None if args.full_grid else SCREEN_STARTS)
        names = ["A", "B", "E", "alpha", "beta"]
        with warnings.catch_warnings():  # the summary carries the covariance caveats
            warnings.simplefilter("ignore", estimation.CovarianceWarning)
            ci = res.conf_int()
            table = pd.DataFrame({"estimate": res.params[names], "std_err": res.bse[names],
                                  "ci_low": ci["lower"][names], "ci_high": ci["upper"][names]})
        table.index.name = "param"
        summary = res.summary()
        if res.bootstrap is not None:
            summary += "\n" + res.bootstrap.summary_line()
        print(summary)
        if not res.converged:
            raise ComputationError(
                f"the fit did not converge ({res.diagnostics.status}); no files were written")
        if out is not None:
            table.to_csv(out / "params.csv")  # full precision: only the summary rounds
            (out / "summary.txt").write_text(summary + "\n")
    if args.out is not None:
        print(f"wrote {args.out / 'params.csv'} and {args.out / 'summary.txt'}")
    return 0
