"""``llmecon counterfactual`` for scenarios with ``kind = "market"``: the LLM API market.

Thin over :func:`structural.market.llm_scenarios.run`: writes ``products``/``surplus`` tables
(CSV, Markdown, LaTeX), ``summary.json``, ``report.md`` and ``changes.png`` into ``--out`` only
when the run succeeds; a bad scenario (unknown key, unknown model or firm) exits 2 with one line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from llmecon.cli import UsageError
from llmecon.commands._inputs import staged_output


def main(path: Path, args: argparse.Namespace) -> int:
    from structural.errors import MarketDataError
    from structural.market import llm_scenarios

    if args.draws < 2:
        raise UsageError(f"--draws: a market scenario needs at least 2 draws, got {args.draws}")
    from estimation.progress import status

    # Equilibria over the draws take tens of seconds; a silent terminal looks hung.
    status(f"llmecon counterfactual: solving the market scenario {path.name} over {args.draws} "
           "draws ...", not args.quiet)
    with staged_output(args.out, force=args.force) as out:
        try:
            summary = llm_scenarios.run(path, out, draws=args.draws, seed=args.seed,
                                        price_form=getattr(args, "price_form", None))
        except MarketDataError as exc:
            raise UsageError(str(exc)) from None
    print(json.dumps(summary, indent=2, default=str))
    print(f"Outputs in {args.out}")
    return 0


def is_market_scenario(path: Path) -> bool:
    """True when the scenario file declares ``kind = "market"``."""
    from structural.market.llm_scenarios import is_market_scenario as check

    return check(path)
