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
['training cost', 'inference prices', 'price trends', 'usage traces', 'task success']
>>> llm_costs.EXAMPLE_PRICES
{'input': 0.27, 'output': 1.1, 'cache_read': 0.0675}
>>> llm_costs.EPOCH_DECLINE_RANGE, llm_costs.EPOCH_GPT4_DECLINE, llm_costs.MOONCAKE_REUSE
((9.0, 900.0), 40.0, 0.37)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.progress import status
from papers.reproduction import CONSOLE_WIDTH, Check, Reproduction, write_tables
from structural.fitted import REGISTRY

__all__ = ["EPOCH_DECLINE_RANGE", "EPOCH_GPT4_DECLINE", "EXAMPLE_PRICES", "MOONCAKE_REUSE",
           "SECTIONS", "TITLE", "console_table", "reproduce"]

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
#: Example prices ($/Mtok) for the cost-per-request rows: DeepSeek-V3's list prices at release
#: (api_price_history, 2024-12-26: input 0.27, output 1.10) with a cache read at a quarter of the
#: input price (an assumption).
EXAMPLE_PRICES = {"input": 0.27, "output": 1.10, "cache_read": 0.0675}


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


def _training_cost(c: _Collected, quick: bool) -> None:
    from structural.fitted import training_cost as tc

    res = tc.fit()
    c.rows += _rows("training_cost", res)
    c.rows += _derived("training_cost", tc.growth_factors(res), res)
    c.converged.append(res.converged)
    c.found["oom"] = -float(res.params["price_growth"]) / np.log(10)
    c.notes.append("training_cost: runs since 2016 with a cloud cost estimate (training_costs) "
                   "and on-demand data-centre GPU/TPU prices (hardware_prices), 2023 USD")


def _inference_price(c: _Collected, quick: bool) -> None:
    """Both forms (log-linear and roofline), their markups, and the long-context tier premium."""
    from structural.fitted import inference_price as ip

    sample = ip.third_party_open()
    prov = ", ".join(f"provider_{i + 1} = {p}" for i, p in enumerate(ip.providers(sample)))
    for form in ("loglinear",) if quick else ("loglinear", "roofline"):
        r = ip.fit(form, sample)
        c.rows += _rows(f"inference_price ({form})", r)
        c.rows += _derived(f"inference_price ({form})", ip.headline(r, form), r)
        mk = ip.markups(r, form)
        mk.index = [f"markup over third-party cost: {a}, {b} price (n={n})"
                    for a, b, n in zip(mk["group"], mk["price"], mk["n"], strict=True)]
        mk["std_err"] = np.nan
        mk = mk.rename(columns={"markup": "estimate"})
        c.rows += _derived(f"inference_price ({form})", mk, r)
        c.converged.append(r.converged)
    c.notes.append(f"inference_price provider effects: {prov}; pooled small providers = 0")
    r = ip.fit_long_context_tier()
    c.rows += _rows("long-context tier premium", r)
    prem = r.delta_method(
        lambda p: jnp.exp(jnp.stack([p["log_premium_input"], p["log_premium_output"]])),
        ["long-tier/base price ratio, input", "long-tier/base price ratio, output"])
    c.rows += _derived("long-context tier premium", prem, r)
    c.converged.append(r.converged)


def _price_trend(c: _Collected, quick: bool) -> None:
    from structural.fitted import price_trend as pt

    refs = ("GPT-3.5 Turbo", "GPT-4") if quick else pt.REFERENCE_MODELS
    obs = pt.observations()
    tr = pt.trends(obs, refs)
    for ref, tau in zip(tr["reference"], tr["eci_threshold"], strict=True):
        r = pt.fit_threshold(obs, tau)
        name = f"price_trend (ECI >= {tau:.1f}, {ref} level)"
        c.rows += _rows(name, r)
        c.rows += _derived(name, pt.decline(r).to_frame().T, r)
        c.converged.append(r.converged)
    c.found["declines"] = tr.set_index("reference")["decline_per_year"]


def _usage(c: _Collected, quick: bool) -> None:
    """Lognormal mixtures per trace and column (best K by AIC), prefix-cache reuse, reasoning
    tokens, and the cost per request of the Mooncake traffic."""
    from structural.fitted import usage as us

    pairs = ([("azure_code_2023", "output_tokens")] if quick
             else [(t, col) for t in us.TRACES for col in us.COLUMNS])
    fam_tables = []
    best_fits: dict[tuple[str, str], Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for trace, col in pairs:
            tab, fits = us.select_family(trace, col, (1, 2))
            fam_tables.append(tab)
            best = int(tab.loc[tab["aic"].idxmin(), "K"])
            n = int(tab["N"].iloc[0])
            c.rows += _rows(f"usage {trace} {col} (lognormal mixture K={best})", fits[best], n)
            c.converged.append(bool(fits[best].converged))
            best_fits[(trace, col)] = fits[best]
    fam = pd.concat(fam_tables, ignore_index=True)
    c.found["families"] = fam
    d_aic = fam.pivot_table(index=["trace", "column"], columns="K", values="aic")
    gain = d_aic[1] - d_aic.drop(columns=1).min(axis=1)
    c.found["mixture_beats"] = float((gain > 0).mean())
    c.notes.append("usage: ΔAIC of the best mixture over a single lognormal: "
                   + "; ".join(f"{t}/{col} {v:,.0f}" for (t, col), v in gain.items()))
    r = us.fit_cache_reuse()
    c.rows += _rows("usage prefix-cache reuse (mooncake_conv)", r)
    c.found["reuse"] = reuse = float(r.params["reuse_rate"])
    r = us.fit_reasoning_tokens()
    c.rows += _rows("usage reasoning tokens per question (eval_tokens)", r)
    c.rows += _derived("usage reasoning tokens per question (eval_tokens)",
                       us.reasoning_medians(r), r)
    c.converged.append(r.converged)
    if ("mooncake_conv", "input_tokens") in best_fits:
        _cost_per_request(c, us, best_fits, reuse, float(r.params["mu_0"]),
                          float(r.params["sigma_0"]))


def _cost_per_request(c: _Collected, us: Any, best_fits: dict, reuse: float, mu: float,
                      sd: float) -> None:
    """Cost per request of the Mooncake (Kimi) traffic at example open-weights prices, with its
    prefix-cache reuse and, for a reasoning variant, GPQA-like reasoning tokens."""
    for label, reasoning in [("no reasoning", None), ("GPQA-like reasoning", (mu, sd))]:
        cost = us.cost_per_request(best_fits[("mooncake_conv", "input_tokens")],
                                   best_fits[("mooncake_conv", "output_tokens")],
                                   EXAMPLE_PRICES, reuse_rate=reuse, reasoning=reasoning)
        for comp, r in cost.iterrows():
            c.rows.append({"model": f"usage cost per request, mooncake_conv, {label}",
                           "quantity": f"{comp}: mean $ (median {r['median']:.3g}, "
                                       f"p99 {r['p99']:.3g}, share {r['share_of_mean']:.2f})",
                           "estimate": float(r["mean"]), "std_err": np.nan,
                           "ci_low": np.nan, "ci_high": np.nan, "N": 100_000, "llf": np.nan,
                           "aic": np.nan, "bic": np.nan, "converged": True})
    c.notes.append("cost per request at $/Mtok input {input}, cached input {cache_read}, "
                   "output {output} (example open-weights prices); input and output drawn "
                   "independently from the fitted mixtures".format(**EXAMPLE_PRICES))


def _task_success(c: _Collected, quick: bool) -> None:
    """The loss → success link, its out-of-sample error and (full run) parameter recovery."""
    from structural.fitted import task_success as ts

    r = ts.fit()
    c.rows += _rows("task_success (loss-to-success link)", r)
    c.converged.append(r.converged)
    oos = ts.out_of_sample(ts.CUTOFF)
    c.converged.append(oos["fit"].converged)
    label = f"task_success out of sample (released >= {ts.CUTOFF})"
    for q, key in [("mean absolute error of accuracy", "mae"), ("RMSE of accuracy", "rmse"),
                   ("mean error (predicted - observed)", "bias"),
                   ("MAE of the benchmark-mean baseline", "mae_baseline")]:
        c.rows.append({"model": label, "quantity": q, "estimate": oos[key], "std_err": np.nan,
                       "ci_low": np.nan, "ci_high": np.nan, "N": oos["n_test"], "llf": np.nan,
                       "aic": np.nan, "bic": np.nan, "converged": bool(oos["fit"].converged)})
    c.notes.append(f"task_success: {r.nobs} Epoch runs with a training compute; L*(C) from the "
                   "Besiroglu et al. 2024 law; out of sample: fit on "
                   f"{oos['n_train']} runs of models released before {ts.CUTOFF}, predict "
                   f"{oos['n_test']} after, on {', '.join(oos['benchmarks'])} (models after the "
                   "cut-off beat what their pretraining compute predicts: post-training and "
                   "reasoning are not in L*)")
    if quick:
        return
    rr, rec = ts.recovery()
    c.converged.append(rr.converged)
    c.found["recovery_z"] = float(rec["z"].abs().max())
    for name, rw in rec.iterrows():
        c.rows.append({"model": "task_success recovery (simulated runs)",
                       "quantity": f"{name} (true {rw['true']:g})",
                       "estimate": float(rw["estimate"]), "std_err": float(rw["std_err"]),
                       "ci_low": float(rw["estimate"] - 1.96 * rw["std_err"]),
                       "ci_high": float(rw["estimate"] + 1.96 * rw["std_err"]),
                       "N": rr.nobs, "llf": rr.llf, "aic": rr.aic, "bic": rr.bic,
                       "converged": bool(rr.converged)})


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


#: The section of :func:`reproduce` that fits each model of :data:`structural.fitted.REGISTRY`,
#: with what it fits (for the progress line).
_SECTION_OF = {"training_cost": ("training cost", _training_cost),
               "inference_price": ("inference prices", _inference_price),
               "price_trend": ("price trends", _price_trend),
               "usage": ("usage traces", _usage),
               "task_success": ("task success", _task_success)}
#: The sections in the registry's order. A model registered without a section here stops the
#: import, so none is left out of the table.
SECTIONS = tuple(_SECTION_OF[name] for name in REGISTRY)


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
    c = _Collected()
    for i, (what, section) in enumerate(SECTIONS):
        # The full run takes minutes: say which fit is running (on a terminal, unless quiet).
        status(f"llm_costs: [{i + 1}/{len(SECTIONS)}] fitting {what} ...", progress)
        section(c, quick)
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
