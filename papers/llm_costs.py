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
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from papers.reproduction import Check, Reproduction, write_tables

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


def reproduce(out: Path | None = None, quick: bool = False, progress: bool = True) -> Reproduction:
    """Fit every cost function and assemble the results table (``quick``: fewer variants)."""
    from structural.fitted import inference_price as ip
    from structural.fitted import price_trend as pt
    from structural.fitted import task_success as ts
    from structural.fitted import training_cost as tc
    from structural.fitted import usage as us

    rows: list[dict] = []
    notes: list[str] = []
    converged: list[bool] = []

    # Training cost.
    res = tc.fit()
    rows += _rows("training_cost", res)
    g = tc.growth_factors(res)
    rows += _derived("training_cost", g, res)
    converged.append(res.converged)
    oom = -float(res.params["price_growth"]) / np.log(10)
    notes.append("training_cost: runs since 2016 with a cloud cost estimate (training_costs) and "
                 "on-demand data-centre GPU/TPU prices (hardware_prices), 2023 USD")

    # Inference price: both forms, tier premium, markups.
    forms = ("loglinear",) if quick else ("loglinear", "roofline")
    sample = ip.third_party_open()
    prov = ", ".join(f"provider_{i + 1} = {p}" for i, p in enumerate(ip.providers(sample)))
    for form in forms:
        r = ip.fit(form, sample)
        rows += _rows(f"inference_price ({form})", r)
        rows += _derived(f"inference_price ({form})", ip.headline(r, form), r)
        mk = ip.markups(r, form)
        mk.index = [f"markup over third-party cost: {a}, {b} price (n={n})"
                    for a, b, n in zip(mk["group"], mk["price"], mk["n"], strict=True)]
        mk["std_err"] = np.nan
        mk = mk.rename(columns={"markup": "estimate"})
        rows += _derived(f"inference_price ({form})", mk, r)
        converged.append(r.converged)
    notes.append(f"inference_price provider effects: {prov}; pooled small providers = 0")
    r = ip.fit_long_context_tier()
    rows += _rows("long-context tier premium", r)
    prem = r.delta_method(
        lambda p: jnp.exp(jnp.stack([p["log_premium_input"], p["log_premium_output"]])),
        ["long-tier/base price ratio, input", "long-tier/base price ratio, output"])
    rows += _derived("long-context tier premium", prem, r)
    converged.append(r.converged)

    # Price trend.
    refs = ("GPT-3.5 Turbo", "GPT-4") if quick else pt.REFERENCE_MODELS
    obs = pt.observations()
    tr = pt.trends(obs, refs)
    for ref, tau in zip(tr["reference"], tr["eci_threshold"], strict=True):
        r = pt.fit_threshold(obs, tau)
        name = f"price_trend (ECI >= {tau:.1f}, {ref} level)"
        rows += _rows(name, r)
        rows += _derived(name, pt.decline(r).to_frame().T, r)
        converged.append(r.converged)

    # Usage.
    pairs = ([("azure_code_2023", "output_tokens")] if quick
             else [(t, c) for t in us.TRACES for c in us.COLUMNS])
    Ks = (1, 2)
    fam_tables = []
    best_fits: dict[tuple[str, str], Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for trace, col in pairs:
            tab, fits = us.select_family(trace, col, Ks)
            fam_tables.append(tab)
            best = int(tab.loc[tab["aic"].idxmin(), "K"])
            n = int(tab["N"].iloc[0])
            rows += _rows(f"usage {trace} {col} (lognormal mixture K={best})", fits[best], n)
            converged.append(bool(fits[best].converged))
            best_fits[(trace, col)] = fits[best]
    fam = pd.concat(fam_tables, ignore_index=True)
    d_aic = fam.pivot_table(index=["trace", "column"], columns="K", values="aic")
    beats = (d_aic[1] - d_aic.drop(columns=1).min(axis=1)) > 0
    notes.append("usage: ΔAIC of the best mixture over a single lognormal: "
                 + "; ".join(f"{t}/{c} {v:,.0f}" for (t, c), v in
                             (d_aic[1] - d_aic.drop(columns=1).min(axis=1)).items()))
    r = us.fit_cache_reuse()
    rows += _rows("usage prefix-cache reuse (mooncake_conv)", r)
    reuse = float(r.params["reuse_rate"])
    r = us.fit_reasoning_tokens()
    rows += _rows("usage reasoning tokens per question (eval_tokens)", r)
    rows += _derived("usage reasoning tokens per question (eval_tokens)",
                     us.reasoning_medians(r), r)
    converged.append(r.converged)

    if ("mooncake_conv", "input_tokens") in best_fits:
        # Cost per request of the Mooncake (Kimi) traffic at example open-weights prices, with
        # its prefix-cache reuse and, for a reasoning variant, GPQA-like reasoning tokens.
        mu = float(r.params["mu_0"])
        sd = float(r.params["sigma_0"])
        for label, reasoning in [("no reasoning", None), ("GPQA-like reasoning", (mu, sd))]:
            cost = us.cost_per_request(best_fits[("mooncake_conv", "input_tokens")],
                                       best_fits[("mooncake_conv", "output_tokens")],
                                       EXAMPLE_PRICES, reuse_rate=reuse, reasoning=reasoning)
            for comp, c in cost.iterrows():
                rows.append({"model": f"usage cost per request, mooncake_conv, {label}",
                             "quantity": f"{comp}: mean $ (median {c['median']:.3g}, "
                                         f"p99 {c['p99']:.3g}, share {c['share_of_mean']:.2f})",
                             "estimate": float(c["mean"]), "std_err": np.nan,
                             "ci_low": np.nan, "ci_high": np.nan, "N": 100_000, "llf": np.nan,
                             "aic": np.nan, "bic": np.nan, "converged": True})
        notes.append("cost per request at $/Mtok input {input}, cached input {cache_read}, "
                     "output {output} (example open-weights prices); input and output drawn "
                     "independently from the fitted mixtures".format(**EXAMPLE_PRICES))
    # Loss → task success.
    r = ts.fit()
    rows += _rows("task_success (loss-to-success link)", r)
    converged.append(r.converged)
    oos = ts.out_of_sample(ts.CUTOFF)
    converged.append(oos["fit"].converged)
    label = f"task_success out of sample (released >= {ts.CUTOFF})"
    for q, key in [("mean absolute error of accuracy", "mae"), ("RMSE of accuracy", "rmse"),
                   ("mean error (predicted - observed)", "bias"),
                   ("MAE of the benchmark-mean baseline", "mae_baseline")]:
        rows.append({"model": label, "quantity": q, "estimate": oos[key], "std_err": np.nan,
                     "ci_low": np.nan, "ci_high": np.nan, "N": oos["n_test"], "llf": np.nan,
                     "aic": np.nan, "bic": np.nan, "converged": bool(oos["fit"].converged)})
    notes.append(f"task_success: {r.nobs} Epoch runs with a training compute; L*(C) from the "
                 "Besiroglu et al. 2024 law; out of sample: fit on "
                 f"{oos['n_train']} runs of models released before {ts.CUTOFF}, predict "
                 f"{oos['n_test']} after, on {', '.join(oos['benchmarks'])} (models after the "
                 "cut-off beat what their pretraining compute predicts: post-training and "
                 "reasoning are not in L*)")
    recovery_z = None
    if not quick:
        rr, rec = ts.recovery()
        converged.append(rr.converged)
        recovery_z = float(rec["z"].abs().max())
        for name, rw in rec.iterrows():
            rows.append({"model": "task_success recovery (simulated runs)",
                         "quantity": f"{name} (true {rw['true']:g})",
                         "estimate": float(rw["estimate"]), "std_err": float(rw["std_err"]),
                         "ci_low": float(rw["estimate"] - 1.96 * rw["std_err"]),
                         "ci_high": float(rw["estimate"] + 1.96 * rw["std_err"]),
                         "N": rr.nobs, "llf": rr.llf, "aic": rr.aic, "bic": rr.bic,
                         "converged": bool(rr.converged)})

    table = pd.DataFrame(rows)
    declines = tr.set_index("reference")["decline_per_year"]
    checks = [
        Check("ML GPU price per FLOP falls, orders of magnitude per year", oom,
              EPOCH_GPU_PRICE_PERFORMANCE_OOM, 0.05, "abs",
              "Epoch AI 'Trends in ML hardware', as used by Cottier et al. 2024's code"),
        Check("decline x/year, cheapest price at GPT-4 level", float(declines["GPT-4"]),
              EPOCH_GPT4_DECLINE, 0.5, "rel",
              "Epoch AI data insight 2025-03-12 (GPQA; here ECI: see notes)"),
        Check("slowest decline x/year across thresholds", float(declines.min()),
              EPOCH_DECLINE_RANGE[0], 0.5, "rel", "Epoch AI data insight 2025-03-12"),
        Check("Mooncake prefix-cache reuse share", reuse, MOONCAKE_REUSE, 0.01, "abs",
              "Mooncake trace description; request_traces datasheet 37.4%"),
        Check("share of traces where a mixture beats one lognormal by AIC",
              float(beats.mean()), 1.0, 0.0, "abs", "project requirement"),
        Check("share of fits converged", float(np.mean(converged)), 1.0, 0.0, "abs",
              "engine diagnostics"),
    ]
    if recovery_z is not None:
        checks.append(Check("task_success recovery: max |estimate - true| / SE", recovery_z,
                            0.0, 4.0, "abs", "simulated runs from known parameters"))
    if not quick:
        checks.insert(3, Check("fastest decline x/year across thresholds", float(declines.max()),
                               EPOCH_DECLINE_RANGE[1], 0.5, "rel",
                               "Epoch AI data insight 2025-03-12"))
    notes.append("price_trend thresholds are ECI scores of reference models, not a single "
                 "benchmark; early prices are partly current list prices dated at release, which "
                 "understates declines")
    rep = Reproduction("llm_costs", TITLE, table, checks, notes)
    if out is not None:
        out = Path(out)
        rep.files.extend(write_tables(table, out, "llm_costs"))
        rep.files.extend(write_tables(fam, out, "llm_costs_usage_families"))
    return rep
