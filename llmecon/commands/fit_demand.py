"""``llmecon fit demand --products F.csv [--agents F.csv] --spec SPEC.toml [--supply] [--out DIR]``.

Estimates logit, nested-logit or random-coefficients demand (with Bertrand supply under
``--supply``) and prints the summary; with ``--out`` writes ``params.csv``, ``elasticities.csv``,
``markups.csv`` and ``summary.txt``. SPEC.toml holds the formulas of
:class:`structural.market.DemandSpec` at top level, starting values under ``[start]`` (``sigma``,
``pi``, ``rho``) and options under ``[estimation]`` (``method``, ``optimizer``, ``W_type``,
``se_type``, ``initial_update``, ``costs_bounds``). Bad input exits 2 with one line; nothing is
written unless the estimation succeeds, and files already in ``--out`` are replaced only with
``--force``. CSVs carry full precision.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from llmecon.cli import UsageError
from llmecon.commands._inputs import input_file, output_dir, staged_output

if TYPE_CHECKING:
    import pandas as pd

_SPEC_KEYS = {"linear", "random", "demographics", "cost", "absorb", "demand_instruments",
              "supply_instruments", "costs_type", "nesting", "rho_per_nest"}
_SECTIONS = {"start": {"sigma", "pi", "rho"},
             "estimation": {"method", "optimizer", "W_type", "se_type", "initial_update",
                            "costs_bounds"}}


def register_fit_models(models: argparse._SubParsersAction) -> None:
    d = models.add_parser("demand", help="differentiated-products demand (logit, nested, BLP)")
    d.add_argument("--products", type=Path, required=True,
                   help="CSV: market_ids, product_ids, firm_ids, shares, prices, characteristics, "
                        "demand_instruments0…")
    d.add_argument("--agents", type=Path, default=None,
                   help="CSV: market_ids, weights, nodes0…, demographics (random coefficients)")
    d.add_argument("--spec", type=Path, required=True, help="TOML demand specification")
    d.add_argument("--supply", action="store_true",
                   help="estimate Bertrand supply jointly (the spec needs a cost formula)")
    d.add_argument("--out", type=Path, default=None,
                   help="write params.csv, elasticities.csv, markups.csv, summary.txt here")
    d.add_argument("--force", action="store_true",
                   help="replace files already in the --out directory")
    d.add_argument("--quiet", action="store_true",
                   help="no progress line on the terminal (the summary is still printed)")
    d.set_defaults(func=run_demand)


def _read_csv(path: Path, flag: str) -> pd.DataFrame:
    import pandas as pd

    input_file(path, ".csv", flag=flag)
    try:
        df = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise UsageError(f"{path}: cannot read as CSV ({exc})") from None
    if df.empty:
        raise UsageError(f"{path}: no rows")
    return df


def _read_spec(path: Path) -> dict:
    input_file(path, ".toml", flag="--spec")
    try:
        spec = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    for key, value in spec.items():
        if isinstance(value, dict):
            if key not in _SECTIONS:
                raise UsageError(f"{path}: unknown section [{key}]; expected "
                                 f"{', '.join(sorted(_SECTIONS))}")
            bad = set(value) - _SECTIONS[key]
            if bad:
                raise UsageError(f"{path}: unknown key {sorted(bad)[0]!r} in [{key}]; expected "
                                 f"{', '.join(sorted(_SECTIONS[key]))}")
        elif key not in _SPEC_KEYS:
            raise UsageError(f"{path}: unknown key {key!r}; expected "
                             f"{', '.join(sorted(_SPEC_KEYS))}")
    if "linear" not in spec:
        raise UsageError(f"{path}: missing 'linear' (the X1 formula, e.g. \"1 + prices + x\")")
    return spec


def run_demand(args: argparse.Namespace) -> int:
    import pandas as pd

    from structural.market import DemandSpec, build_agents, build_products, estimate_demand, post

    output_dir(args.out, force=args.force)
    spec_dict = _read_spec(args.spec)
    products = _read_csv(args.products, "--products")
    agents = _read_csv(args.agents, "--agents") if args.agents is not None else None
    start = spec_dict.pop("start", {})
    options = spec_dict.pop("estimation", {})
    if args.supply and "cost" not in spec_dict:
        raise UsageError(f"{args.spec}: --supply needs a 'cost' formula (X3)")
    if not args.supply:
        spec_dict.pop("cost", None)
    spec = DemandSpec(**spec_dict)
    if spec.random is not None and agents is None:
        raise UsageError("--agents: random coefficients need agent data (nodes, weights)")
    p = build_products(products, spec)
    a = build_agents(p, agents) if spec.random is not None else None
    if "costs_bounds" in options:
        options["costs_bounds"] = tuple(options["costs_bounds"])
    from estimation.progress import status

    # Random coefficients take tens of seconds to estimate; a silent terminal looks hung.
    status("llmecon fit demand: estimating ...", not args.quiet)
    res = estimate_demand(p, a, **start, **options)
    summary = res.summary()
    print(summary)
    if args.out is None:
        return 0
    params = pd.DataFrame({"estimate": res.params, "std_err": res.bse})
    params.index.name = "param"
    mixed = res.problem.nests is None
    files = {}
    if mixed:
        files["elasticities"] = post.long_matrix(res, post.elasticities(res), "elasticity")
        eta = post.markups(res)
        files["markups"] = pd.DataFrame({"market_ids": p.market_ids,
                                         "product_ids": p.product_ids, "prices": p.prices,
                                         "markup": eta, "costs": p.prices - eta,
                                         "lerner": eta / p.prices})
    note = "" if mixed else "\nnote: elasticities and markups are written for logit and BLP only"
    with staged_output(args.out, force=args.force) as out:  # all files or none
        params.to_csv(out / "params.csv")  # full precision: only the summary rounds
        for name, frame in files.items():
            frame.to_csv(out / f"{name}.csv", index=False)
        (out / "summary.txt").write_text(summary + note + "\n")
    return 0
