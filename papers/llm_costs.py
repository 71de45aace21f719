"""The project's own results: every fitted cost-function parameter of :mod:`structural.fitted`.

One table (``llmecon reproduce llm_costs`` writes it as CSV, Markdown and LaTeX) with, for each
model, each parameter's estimate, standard error and 95% CI from the estimation engine, the number
of observations and the fit statistics (log-likelihood, AIC, BIC, convergence), followed by the
derived quantities each model exists to measure (growth factors, elasticities, price ratios,
markups, declines, cache reuse, reasoning tokens):

- ``training_cost``: utilisation, price-per-FLOP change and frontier compute and cost growth;
- ``inference_price`` (log-linear and roofline), the long-context tier premium and markups;
- ``price_trend``: the cheapest price at or above ECI thresholds of reference models;
- ``usage``: lognormal mixtures for context and output tokens of three traces (best by AIC against
  a single lognormal), Mooncake prefix-cache reuse, reasoning tokens per task;
- ``task_success``: the loss-to-success link μ = σ(κ(ℓ_b − L*(C))) with the between-model and
  question-difficulty spreads ψ, φ on Epoch's benchmark runs, its out-of-sample error on models
  released after 2025-01-01 and (full run) its parameter recovery on simulated runs.

The checks compare numbers that have an outside reference: the price-performance trend of ML GPUs
that Cottier et al.'s cost code assumes (0.14 orders of magnitude per year, Epoch AI, "Trends in
machine learning hardware"), Epoch AI's price declines (9×–900× per year across thresholds, 40× per
year at GPT-4 level; data insight of 2025-03-12), the 37% prefix reuse stated for the Mooncake
trace, and the project's requirement that the usage mixtures beat a single lognormal by AIC.

Examples
--------
>>> from papers import llm_costs
>>> llm_costs.TITLE
'Fitted cost functions: parameters, standard errors, CIs and fit statistics'
>>> [name for name, _ in llm_costs.SECTIONS]
['training cost', 'inference prices', 'price trends', 'usage traces', 'task success',
 'serving utilisation']
>>> llm_costs.EXAMPLE_PRICES
{'input': 0.27, 'output': 1.1, 'cache_read': 0.0675}
>>> llm_costs.EPOCH_DECLINE_RANGE, llm_costs.EPOCH_GPT4_DECLINE, llm_costs.MOONCAKE_REUSE
((9.0, 900.0), 40.0, 0.37)
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import structural.fitted
from estimation.progress import status
from papers.reproduction import CONSOLE_WIDTH, Check, Reproduction, write_tables
from structural.fitted import FittedModel
from structural.fitted.usage import EXAMPLE_PRICES  # the cost-per-request rows' prices

__all__ = ["EPOCH_DECLINE_RANGE", "EPOCH_GPT4_DECLINE", "EXAMPLE_PRICES", "MOONCAKE_REUSE",
           "SECTIONS", "TITLE", "console_table", "reproduce", "sections"]

TITLE = "Fitted cost functions: parameters, standard errors, CIs and fit statistics"

#: Epoch AI, "Trends in machine learning hardware" (2023), as used in Cottier et al.'s cost code
#: (``ML_GPU_PRICE_PERFORMANCE_OOMS_PER_YEAR = 0.14``): FLOP/s per dollar of ML GPUs.
EPOCH_GPU_PRICE_PERFORMANCE_OOM = 0.14
#: Epoch AI data insight "LLM inference prices have fallen rapidly but unequally across tasks".
EPOCH_DECLINE_RANGE = (9.0, 900.0)
EPOCH_GPT4_DECLINE = 40.0
#: Mooncake trace description (kvcache-ai/Mooncake FAST25-release): about 37% of prefix blocks
#: repeat; the request_traces datasheet measures 37.4% of input tokens.
MOONCAKE_REUSE = 0.37


def _rows(model: str, res: Any, n: int | None = None) -> list[dict]:
    ci = res.conf_int(0.05)
    n = res.nobs if n is None else n
    k = len(res.params)
    llf = res.llf if res.kind == "mle" else np.nan
    stats = {"N": n, "llf": llf, "aic": 2 * k - 2 * llf if res.kind == "mle" else np.nan,
             "bic": k * np.log(n) - 2 * llf if res.kind == "mle" else np.nan,
             "converged": bool(res.converged)}
    return [{"model": model, "quantity": name, "estimate": float(res.params[name]),
             "std_err": float(res.bse[name]), "ci_low": float(ci.loc[name, "lower"]),
             "ci_high": float(ci.loc[name, "upper"]), **stats} for name in res.params.index]


def _derived(model: str, df: pd.DataFrame, res: Any, n: int | None = None) -> list[dict]:
    n = res.nobs if n is None else n
    return [{"model": model, "quantity": str(q), "estimate": float(r["estimate"]),
             "std_err": float(r["std_err"]), "ci_low": float(r["ci_low"]),
             "ci_high": float(r["ci_high"]), "N": n, "llf": np.nan, "aic": np.nan,
             "bic": np.nan, "converged": bool(res.converged)} for q, r in df.iterrows()]


@dataclass
class _Collected:
    """What the sections of :func:`reproduce` add to: result rows, notes, convergence flags and
    the numbers the checks compare."""

    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    converged: list[bool] = field(default_factory=list)
    found: dict[str, Any] = field(default_factory=dict)

    def add_fit(self, model: str, res: Any, n: int | None = None) -> None:
        """A fit's parameter rows: estimate, SE, 95% CI, N and fit statistics."""
        self.rows += _rows(model, res, n)

    def add_derived(self, model: str, df: pd.DataFrame, res: Any, n: int | None = None) -> None:
        """Rows of derived quantities (``df``: estimate, std_err, ci_low, ci_high) of ``res``."""
        self.rows += _derived(model, df, res, n)


def _checks(c: _Collected, quick: bool) -> list[Check]:
    """Each number with an outside reference beside its reproduction."""
    declines = c.found["declines"]
    checks = [
        Check("ML GPU price per FLOP falls, orders of magnitude per year", c.found["oom"],
              EPOCH_GPU_PRICE_PERFORMANCE_OOM, 0.05, "abs",
              "Epoch AI 'Trends in ML hardware', as used by Cottier et al. 2024's code"),
        Check("decline x/year, cheapest price at GPT-4 level", float(declines["GPT-4"]),
              EPOCH_GPT4_DECLINE, 0.5, "rel",
              "Epoch AI data insight 2025-03-12 (GPQA; here ECI: see notes)"),
        Check("slowest decline x/year across thresholds", float(declines.min()),
              EPOCH_DECLINE_RANGE[0], 0.5, "rel", "Epoch AI data insight 2025-03-12"),
        Check("Mooncake prefix-cache reuse share", c.found["reuse"], MOONCAKE_REUSE, 0.01, "abs",
              "Mooncake trace description; request_traces datasheet 37.4%"),
        Check("share of traces where a mixture beats one lognormal by AIC",
              c.found["mixture_beats"], 1.0, 0.0, "abs", "project requirement"),
        Check("share of fits converged", float(np.mean(c.converged)), 1.0, 0.0, "abs",
              "engine diagnostics"),
    ]
    if "recovery_z" in c.found:
        checks.append(Check("task_success recovery: max |estimate - true| / SE",
                            c.found["recovery_z"], 0.0, 4.0, "abs",
                            "simulated runs from known parameters"))
    if not quick:
        checks.insert(3, Check("fastest decline x/year across thresholds", float(declines.max()),
                               EPOCH_DECLINE_RANGE[1], 0.5, "rel",
                               "Epoch AI data insight 2025-03-12"))
    return checks


def sections(registry: dict[str, FittedModel] | None = None) -> tuple[tuple[str, Any], ...]:
    """(heading, section) of each model of ``registry`` (default
    :data:`structural.fitted.REGISTRY`) in its order: each section is the model module's
    ``llm_costs``, imported when it runs.

    Examples
    --------
    >>> from papers.llm_costs import sections
    >>> [what for what, _ in sections()][-1]
    'serving utilisation'
    """
    registry = structural.fitted.REGISTRY if registry is None else registry
    return tuple((model.section, model.llm_costs) for model in registry.values())


#: The sections :func:`reproduce` fits, one per registered model.
SECTIONS = sections()


def console_table(table: pd.DataFrame, width: int = CONSOLE_WIDTH) -> str:
    """The results table in ``width`` columns: one heading per model (N, convergence), then one
    line per quantity with its estimate, standard error and 95% CI. Long names are shortened
    with "…"; the log-likelihood, AIC and BIC are in the files.

    Examples
    --------
    >>> import pandas as pd
    >>> from papers.llm_costs import console_table
    >>> table = pd.DataFrame({"model": ["usage"], "N": [100], "converged": [True],
    ...                       "quantity": ["median tokens"], "estimate": [512.0],
    ...                       "std_err": [12.5], "ci_low": [488.0], "ci_high": [537.0]})
    >>> print(console_table(table, width=80))
      quantity                estimate    std_err  95% CI
    usage (N = 100, converged)
      median tokens                512       12.5  [488, 537]
    """
    num = 10
    name_w = width - 2 - 3 * (num + 1) - 2 * num - 4
    lines = [f"  {'quantity':<{name_w}} {'estimate':>{num}} {'std_err':>{num}}  95% CI"]
    for model, g in table.groupby("model", sort=False):
        conv = "converged" if bool(g["converged"].all()) else "NOT converged"
        lines.append(_shorten(f"{model} (N = {int(g['N'].iloc[0]):,}, {conv})", width))
        for _, r in g.iterrows():
            ci = (f"[{_num(r['ci_low'])}, {_num(r['ci_high'])}]"
                  if np.isfinite(r["ci_low"]) else "")
            lines.append(f"  {_shorten(str(r['quantity']), name_w):<{name_w}} "
                         f"{_num(r['estimate']):>{num}} {_num(r['std_err']):>{num}}  {ci}")
    return "\n".join(line.rstrip() for line in lines)


def _num(x: float) -> str:
    return "" if not np.isfinite(x) else f"{x:.4g}"


def _shorten(s: str, width: int) -> str:
    return s if len(s) <= width else s[:width - 1] + "…"


#: Sections started first when several run at once, longest first, so the others fill the
#: second thread meanwhile; the rest start in the registry's order. Cold, the first two compile
#: the longest; warm, the usage traces take the longest (their SciPy BFGS fits and its import:
#: about 0.9 of 2.5 CPU s of sections), then the inference prices (0.7), task success (0.35)
#: and the rest (0.1-0.25 each): started third rather than fifth, they no longer finish alone
#: after the others (warm sections' wall on two threads ~1.6 -> ~1.3 s).
LONGEST_FIRST = ("task success", "inference prices", "usage traces")


def _threads(sections: int) -> int:
    """How many sections run at once: one per CPU this process may use (at most 4: the
    compilations are what runs in parallel, and each holds its program in memory)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(sections, cpus, 4))


def _fit_sections(quick: bool, progress: bool) -> _Collected:
    """Every section of :data:`SECTIONS`, each into a :class:`_Collected` of its own, merged in
    the registry's order (so the table and notes do not depend on which finished first).

    The sections are independent fits of different models, so they run in threads, one per
    CPU: most of a cold run is XLA compiling each model's program and most of a warm one reading
    it back and running it, and JAX releases the interpreter lock for both, so two compilations
    proceed at once. Each section's status line is written when it starts, in the order they
    start. The first section to fail (in the registry's order) raises once the others stop.
    """
    n = len(SECTIONS)
    parts = [_Collected() for _ in range(n)]
    order = sorted(range(n), key=lambda i: (SECTIONS[i][0] not in LONGEST_FIRST, i))
    said = [threading.Event() for _ in range(n + 1)]
    said[0].set()

    def run(pos: int, i: int) -> None:
        what, section = SECTIONS[i]
        said[pos].wait()  # the status lines in the order the sections start
        try:
            # The full run takes minutes: say which fit is running (on a terminal, unless
            # quiet).
            status(f"llm_costs: [{i + 1}/{n}] fitting {what} ...", progress)
        finally:
            said[pos + 1].set()
        section(parts[i], quick)

    workers = _threads(n)
    if workers == 1:
        for pos, i in enumerate(order):
            run(pos, i)
    else:
        # The sections' own warning filters (catch_warnings) are process-wide and not
        # thread-safe: whatever they leave is undone when all have run.
        with warnings.catch_warnings():
            pool = ThreadPoolExecutor(workers, thread_name_prefix="llm_costs")
            try:
                futures = {i: pool.submit(run, pos, i) for pos, i in enumerate(order)}
                for i in range(n):
                    futures[i].result()
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    c = _Collected()
    for part in parts:
        c.rows += part.rows
        c.notes += part.notes
        c.converged += part.converged
        c.found.update(part.found)
    return c


def reproduce(out: Path | None = None, quick: bool = False, progress: bool = True) -> Reproduction:
    """Fit every cost function and assemble the results table (``quick``: fewer variants);
    ``progress`` says which section is fitting on a terminal.

    Examples
    --------
    Fitting every cost function takes about a minute; ``quick`` fits fewer variants:

    >>> from papers import llm_costs
    >>> [name for name, _ in llm_costs.SECTIONS][:2]
    ['training cost', 'inference prices']
    >>> rep = llm_costs.reproduce(quick=True, progress=False)  # doctest: +SKIP
    >>> rep.passed  # doctest: +SKIP
    True
    """
    c = _fit_sections(quick, progress)
    c.notes.append("price_trend thresholds are ECI scores of reference models, not a single "
                   "benchmark; early prices are partly current list prices dated at release, "
                   "which understates declines")
    table = pd.DataFrame(c.rows)
    rep = Reproduction("llm_costs", TITLE, table, _checks(c, quick), c.notes,
                       console=console_table(table))
    if out is not None:
        out = Path(out)
        rep.files.extend(write_tables(table, out, "llm_costs"))
        rep.files.extend(write_tables(c.found["families"], out, "llm_costs_usage_families"))
    return rep
