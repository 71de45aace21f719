"""``llmecon fit llm_demand [--model nested|rc|logit] [--freq W|D] [--market-size M] --out DIR``.

Demand and supply of the LLM API market on the bundled OpenRouter tables
(:mod:`structural.market.llm_api`): writes ``params.csv``, ``elasticities.csv`` (own with
intervals, and cross, by model and market), ``markups.csv`` (price, marginal cost, markup with
intervals; for open-weights models the roofline serving cost beside the price), ``open_ratio.csv``
(open-weights price / roofline cost with its interval), ``sensitivity.csv`` (the market-size
assumption) and ``summary.txt`` (estimates, first stage, assumptions). Bad input exits 2 with one
line and writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from llmecon.cli import UsageError
from llmecon.commands._inputs import (
    check_memory,
    check_seed,
    output_dir,
    read_csv,
    staged_output,
)

if TYPE_CHECKING:
    import pandas as pd

ASSUMPTIONS = """Assumptions
- Markets: {freq_name} of OpenRouter's price window; products: paid base slugs with a quality
  index ({coverage:.1%} of inside tokens); the rest of OpenRouter's tokens (free variants,
  unscored or unpriced slugs) and all direct API use are the outside good.
- Market size: potential tokens = {size:g} x observed OpenRouter tokens of the period (see
  sensitivity.csv for other sizes).
- Prices: traffic-weighted input/output price blended at the model's own mix, $/Mtok; utility
  is {price_term} ({price_note}).
- Nests (--model nested): {nests}.
- Supply: a lab prices its closed (and unknown-weights) models as a multi-product Bertrand-Nash
  firm; an open-weights model is sold by a competitive provider set at marginal cost, so its
  price is its marginal cost, compared with the roofline serving cost on {hardware}
  (structural.costs defaults for that chip, {tokens:g} tokens per query).
- Routing: OpenRouter routes a model's requests between its providers roughly as 1/price^2;
  that is a within-model response (it moves the weighted price users pay), separate from the
  choice between models estimated here; see papers/demirer2025.py for the cross-provider
  elasticity."""


def register_fit_models(models: argparse._SubParsersAction) -> None:
    d = models.add_parser("llm_demand",
                          help="LLM API demand and supply on the bundled OpenRouter data")
    d.add_argument("--model", choices=("nested", "rc", "logit"), default="nested",
                   help="nested logit (default), random coefficient on quality, or logit; "
                        "price enters as alpha log p")
    d.add_argument("--nests", choices=("tier", "weights"), default="tier",
                   help="nests of --model nested: capability tier (default; ECI above or below "
                        "the median) or open/closed/unknown weights")
    d.add_argument("--price-form", choices=("log", "level"), default="log",
                   help="price in utility as alpha log p (default) or alpha p ($/Mtok)")
    d.add_argument("--freq", choices=("W", "D"), default="W", help="markets: weeks or days")
    d.add_argument("--market-size", type=float, default=2.0,
                   help="potential tokens as a multiple of observed tokens (default 2)")
    d.add_argument("--sensitivity", type=str, default="2,5,10",
                   help="market sizes of the sensitivity table, refitting --model ('' for none)")
    d.add_argument("--hardware", default="H100", help="chip of the roofline cost (default H100)")
    d.add_argument("--draws", type=int, default=200,
                   help="parameter draws for intervals (default 200)")
    d.add_argument("--nodes", type=int, default=15,
                   help="Gauss-Hermite nodes for --model rc (default 15)")
    d.add_argument("--seed", type=int, default=0, help="seed of draws and agents")
    d.add_argument("--market", type=Path, default=None,
                   help="a token table in api_market's layout (default: the bundled one)")
    d.add_argument("--provider-prices", type=Path, default=None,
                   help="a price table in api_provider_prices' layout (default: bundled)")
    d.add_argument("--out", type=Path, required=True, help="output directory")
    d.add_argument("--force", action="store_true", help="replace an existing --out folder")
    d.add_argument("--quiet", action="store_true",
                   help="no progress line on the terminal (the results are still printed)")
    d.set_defaults(func=run_llm_demand)


#: Float64 arrays of markets × J × J each parameter draw holds at once: the price derivatives
#: of every market and their product with the ownership matrix (``llm_api.fit_llm_demand``).
MATRICES_PER_DRAW = 2


def _check_memory(args: argparse.Namespace, products: pd.DataFrame) -> None:
    """Refuse ``--draws`` whose per-draw price-derivative matrices, or (random coefficients)
    ``--nodes`` whose agents × products choice probabilities, would not fit in memory."""
    markets = products["market_ids"].nunique()
    largest = int(products.groupby("market_ids").size().max())
    check_memory(args.draws * markets * largest**2 * 8 * MATRICES_PER_DRAW, "--draws",
                 f"{args.draws} parameter draws of {markets} markets with up to {largest} "
                 "products")
    if args.model == "rc":  # probabilities and their derivatives per agent and product
        check_memory(args.nodes * markets * largest * 8 * MATRICES_PER_DRAW, "--nodes",
                     f"{args.nodes} agents in each of {markets} markets")


def _sizes(text: str) -> list[float]:
    if not text.strip():
        return []
    try:
        sizes = [float(x) for x in text.split(",")]
    except ValueError:
        raise UsageError(f"--sensitivity: expected comma-separated numbers, got {text!r}") from None
    if any(not s >= 1 for s in sizes):
        raise UsageError(f"--sensitivity: market sizes must be >= 1, got {text!r}")
    return sizes


_PRICE_FORM_TEXT = {
    "log": {"price_term": "alpha log p (--price-form log)",
            "price_note": "prices span four orders of magnitude; with a linear price term a "
                          "lab's products would share one absolute markup, above the price of "
                          "its cheap models; the markup is a share of the price, so cost "
                          "pass-through to closed prices exceeds 1"},
    "level": {"price_term": "alpha p (--price-form level)",
              "price_note": "the alternative to the default alpha log p: a lab's products share "
                            "one absolute markup, so cheap closed models get negative marginal "
                            "costs, and cost pass-through to closed prices is below 1"}}


def _negative_cost_lines(markups: pd.DataFrame) -> str:
    """The flagged product-weeks (negative backed-out marginal cost) with their intervals and the
    price check, for summary.txt: shown, never dropped."""
    neg = markups[markups["flag"] != ""]
    if neg.empty:
        return "Negative marginal costs: none"
    cols = ["market_ids", "product_ids", "prices", "markup", "marginal_cost",
            "marginal_cost_low", "marginal_cost_high", "price_vs_model_median", "flag"]
    return (f"Negative marginal costs ({len(neg)} of {len(markups)} product-weeks, flagged in "
            "markups.csv, kept in every table; price_vs_model_median: the week's blended price "
            "over the model's median week, far from 1 would point at the price series)\n"
            + neg[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))


def _refuse(fit, problem: str, out: Path, force: bool) -> None:
    """A demand that does not slope down: write the estimates and the first stage (params.csv,
    summary.txt led by the reason), no markups, elasticities or open ratio, and stop with
    exit status 1 and the reason on one line."""
    from llmecon.errors import ComputationError

    text = "\n\n".join([f"NOT IDENTIFIED: {problem}.", fit.results.summary(),
                         fit.first_stage, "\n".join(f"note: {n}" for n in fit.notes)]).strip()
    print(text)
    with staged_output(out, force=force) as o:
        fit.params.to_csv(o / "params.csv")
        (o / "summary.txt").write_text(text + "\n")
    hint = " (--price-form log is identified)" if fit.mm.price_form == "level" else ""
    raise ComputationError(f"{problem}; wrote only params.csv and "
                           f"summary.txt to {out}{hint}")


def run_llm_demand(args: argparse.Namespace) -> int:
    if not args.market_size >= 1:
        raise UsageError(f"--market-size: expected a number >= 1, got {args.market_size}")
    if args.draws < 2:
        raise UsageError(f"--draws: expected at least 2, got {args.draws}")
    if args.nodes < 2:
        raise UsageError(f"--nodes: expected at least 2, got {args.nodes}")
    check_seed(args.seed)
    sizes = _sizes(args.sensitivity)
    output_dir(args.out, force=args.force)
    import data

    tables = {}
    for flag, path, name, key in (
            ("--market", args.market, "api_market", "market"),
            ("--provider-prices", args.provider_prices, "api_provider_prices", "provider_prices")):
        if path is not None:  # checked like `llmecon data validate`: units, columns, names
            tables[key] = data.validate(read_csv(path, flag), name, source=str(path))
    from estimation.progress import status
    from structural.counterfactual.outputs import write_csv
    from structural.errors import MarketDataError
    from structural.market import llm_api

    try:
        products = llm_api.llm_products(args.freq, args.market_size, args.hardware,
                                        nests=args.nests, **tables)
        _check_memory(args, products)
        # Fitting and the draws take tens of seconds; a silent terminal looks hung.
        status(f"llmecon fit llm_demand: fitting the {args.model} model and {args.draws} "
               "draws ...", not args.quiet)
        fit = llm_api.fit_llm_demand(products, args.model, draws=args.draws, seed=args.seed,
                                     nodes=args.nodes, price_form=args.price_form)
        problem = llm_api.identification_problem(fit)
        if problem is not None:
            _refuse(fit, problem, args.out, force=args.force)
        # the sensitivity refits in log price: the fit above is its row at --market-size
        sens = llm_api.sensitivity(sizes, args.model, args.freq, draws=20, seed=args.seed,
                                   tables=tables, hardware=args.hardware, nodes=args.nodes,
                                   nests=args.nests,
                                   fits={args.market_size: fit}
                                   if args.price_form == "log" else None) \
            if sizes else None
    except MarketDataError as exc:
        raise UsageError(str(exc)) from None
    h = fit.headline()
    text = "\n\n".join([
        fit.results.summary(), fit.first_stage,
        "Headline\n" + "\n".join(f"  {k}: {v:.4g}" for k, v in h.items()),
        "Open-weights price / roofline cost (token-weighted geometric mean, bootstrap over "
        "models)\n" + fit.open_ratio.to_string(index=False),
        (f"Market-size sensitivity ({args.model}, 20 draws each)\n" + sens.to_string(index=False))
        if sens is not None
        else "",
        ASSUMPTIONS.format(freq_name="ISO weeks" if args.freq == "W" else "days",
                           coverage=products.attrs["coverage"], size=args.market_size,
                           hardware=args.hardware, tokens=llm_api.QUERY_TOKENS,
                           **_PRICE_FORM_TEXT[args.price_form],
                           nests="capability tier, ECI above or at/below the sample median"
                           if args.nests == "tier" else "open / closed / unknown weights"),
        _negative_cost_lines(fit.markups),
        "\n".join(f"note: {n}" for n in fit.notes)]).strip()
    print(text)
    with staged_output(args.out, force=args.force) as out:
        fit.params.to_csv(out / "params.csv")  # full precision: only the summary rounds
        write_csv(fit.elasticities, out / "elasticities.csv")  # 175k rows: the fast writer
        fit.markups.to_csv(out / "markups.csv", index=False)
        fit.open_ratio.to_csv(out / "open_ratio.csv", index=False)
        if sens is not None:
            sens.to_csv(out / "sensitivity.csv", index=False)
        (out / "summary.txt").write_text(text + "\n")
    print(f"wrote {args.out}")
    return 0
