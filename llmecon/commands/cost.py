"""``llmecon cost PIPELINE.toml``: what each stage of a pipeline costs.

Prints one row per stage — FLOPs, chip-seconds and dollars (once for fixed stages, per query for the
others), dollars over Q queries and the stage's share of the total — then F, v and F + Q v.
Q comes from ``--queries``, else the file's ``[queries] Q``, else 1. PIPELINE may also name a
bundled example (``reasoning``, ``reasoning.toml`` or
``structural/examples/pipelines/reasoning.toml``); ``--list-examples`` prints their names.
"""

from __future__ import annotations

import argparse
import json
import math
import textwrap
import tomllib
from pathlib import Path

from llmecon.cli import UsageError
from llmecon.commands._inputs import example_or_file, print_examples, require_finite


def money(v: float) -> str:
    """Dollars in one style per magnitude: cents from $1 to $1e12 ($2,693,650.00), four
    significant digits below $1 ($0.0001234) and beyond ($1.234e+13)."""
    a = abs(v)
    sign = "-" if v < 0 else ""
    if a == 0:
        return "$0.00"
    if 1 <= a < 1e12:
        return f"{sign}${a:,.2f}"
    return f"{sign}${a:.4g}"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("cost", help="per-stage FLOPs, seconds and dollars of a pipeline",
                              description=__doc__)
    p.add_argument("pipeline", type=Path, nargs="?",
                   help="pipeline TOML file, or the name of a bundled example (--list-examples)")
    p.add_argument("--queries", "-Q", type=float, default=None,
                   help="queries over the model's life (default: the file's [queries] Q, else 1)")
    p.add_argument("--format", choices=("text", "md", "json"), default="text",
                   help="text table (default), Markdown, or strict JSON")
    p.add_argument("--list-examples", action="store_true",
                   help="print the names of the bundled example pipelines and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list_examples:  # before the model's import: listing names needs no JAX
        return print_examples("pipelines")
    from structural.pipeline import Pipeline, queries_from_spec

    if args.pipeline is None:
        raise UsageError("give a PIPELINE file or example name (see --list-examples)")
    with example_or_file(args.pipeline, "pipelines", "cost") as path:
        pipeline = Pipeline.from_toml(path)
        with path.open("rb") as fh:
            spec = tomllib.load(fh)
    Q = args.queries if args.queries is not None else (queries_from_spec(spec) or 1.0)
    if not (Q > 0 and math.isfinite(Q)):
        raise UsageError(f"--queries: expected a positive number, got {Q!r}")
    table = pipeline.cost_table(Q)
    quality = pipeline.quality_measures()
    per_solved = pipeline.cost_per_solved(Q)
    require_finite(pipeline.name, quality=quality, cost_per_solved=per_solved, costs=table)
    serving = pipeline.serving_plan()
    if args.format == "json":
        print(json.dumps({
            "pipeline": pipeline.name, "hardware": pipeline.hardware.name, "queries": Q,
            "stages": [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                        for k, v in row.items()} for row in table.to_dict(orient="records")],
            "quality": quality, "cost_per_solved": per_solved,
            "serving": {k: (None if isinstance(v, float) and math.isinf(v) else v)
                        for k, v in serving.items()},
        }, indent=2, allow_nan=False))  # strict JSON: NaN and Infinity are not JSON
        return 0
    shown = table.copy()
    for col in ("flops", "total_flops"):
        shown[col] = shown[col].map(lambda v: "" if math.isnan(v) else f"{v:.3e}")
    for col in ("seconds",):
        shown[col] = shown[col].map(lambda v: "" if math.isnan(v) else f"{v:.3g}")
    for col in ("dollars", "total_dollars"):
        shown[col] = shown[col].map(lambda v: "" if math.isnan(v) else money(v))
    shown["share"] = shown["share"].map(lambda v: f"{100 * v:.2f}%")
    shown = shown.rename(columns={"flops": "FLOPs (each)", "seconds": "chip-s (each)",
                                  "dollars": "$ (each)", "total_flops": f"FLOPs (Q={Q:g})",
                                  "total_dollars": f"$ (Q={Q:g})"})
    head = (f"{pipeline.name}: {pipeline.hardware.name} ({pipeline.precision_train} training, "
            f"{pipeline.precision_infer} inference), Q = {Q:g} queries; fixed stages are paid "
            f"once, per-query stages Q times")
    tail = (f"quality: model loss {quality['model_loss']:.4f}, "
            f"task loss {quality['task_loss']:.4f}, "
            f"P(solved) {quality['coverage']:.4f}; cost per solved problem {money(per_solved)}\n"
            f"serving: {serving['chips']:g} chip(s) per replica, batch {serving['batch']:.4g} "
            f"({_why(serving)})")
    if args.format == "md":
        print(f"**{head}**\n")
        print(shown.to_markdown(index=False) if _has_tabulate() else _markdown(shown))
        print(f"\n{tail}")
    else:  # a terminal of MAX_WIDTH columns: long lines wrap, wide tables split into blocks
        from estimation.tables import MAX_WIDTH

        print(textwrap.fill(head, MAX_WIDTH))
        print(shown.set_index("stage").rename_axis(None).to_string(line_width=MAX_WIDTH))
        print("\n".join(textwrap.fill(line, MAX_WIDTH, subsequent_indent="  ")
                        for line in tail.splitlines()))
    return 0


def _why(serving: dict) -> str:
    """Why the serving batch is what it is, in words."""
    if serving["batch_limit"] == "memory":
        return ("limited by memory: weights + batch × KV cache at the full context fill the "
                "replica's HBM")
    if serving["batch_limit"] == "cost":
        return "chosen for cost: a larger batch would leave decode compute-bound"
    return "set by serving.batch"


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


def _markdown(frame) -> str:  # type: ignore[no-untyped-def]
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(str(row[c]) for c in cols) + " |")
    return "\n".join(lines)
