r"""Training cost: FLOPs × dollars per FLOP at the training date / effective utilisation.

The cost model (dollars = FLOPs / (peak FLOP/s × utilisation) × price per chip-hour / 3600, as in
:mod:`structural.costs`) written for observed training runs i and hardware rental prices j:

.. math::

    \ln \pi_j &= a_p + b_p t_j + e_j, \\
    \ln C_i &= \ln F_i + (a_p + b_p t_i) - \ln u + \varepsilon_i, \\
    \ln F_i &= a_F + g_F t_i + \nu_i

for the price series (π: 2023 $ per FLOP of a chip rented for its peak FLOP/s), the training cost
(u: effective utilisation) and the frontier compute, with t in years since 2020-01-01 and e, ε, ν
Student-t with their own scales and one shared degrees-of-freedom parameter (robust to the
order-of-magnitude guesses in the cost data). The likelihood of run i is f(F_i) f(C_i | F_i); runs
without a cost estimate contribute f(F_i) only.

The annual growth factor of frontier training cost is exp(g_F + b_p): compute growth times the
change in the price of a FLOP, utilisation held fixed. Cottier et al. (2024, arXiv:2405.21015)
estimate the growth directly as the slope of ln cost on publication date; :func:`fit_cost_trend`
does that reduced-form regression (normal errors reproduce their OLS; Student-t errors are the
robust variant).

Data: ``hardware_prices`` (on-demand $/chip-hour) over ``hardware`` peak FLOP/s (tensor
BF16/FP16, else TF32, else FP32, as Epoch's cost code orders them), deflated to 2023 USD with
``ppi``; ``training_costs`` for F and C (``cloud_usd`` by default: rental cost, the same concept
as the price series, so u is a utilisation; with ``capex_energy_usd`` u is an *effective*
utilisation that also absorbs the gap between amortised and rental prices).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

import estimation
from structural.fitted import Collector, CommandLine
from structural.fitted.distributions import df_param, normal_logpdf, student_t_logpdf
from structural.fitted.inputs import Field, FitInputError, check_table

__all__ = ["fit", "fit_cost_trend", "growth_factors", "price_series", "training_runs"]

#: ``llmecon fit training_cost`` and this model's place in the registry (literals: read without
#: importing this module).
COMMAND = {
    "order": 1,
    "summary": "training cost = FLOPs x $/FLOP / utilisation; growth of frontier cost",
    "section": "training cost",
    "arguments": [
        ["--runs", {"help": "CSV of runs: date or t, training_compute_flop, cost_usd"}],
        ["--prices", {"help": "CSV of prices: date or t, usd_per_flop (2023 $/FLOP)"}],
        ["--cost", {"default": "cloud_usd",
                    "help": "training_costs column for the curated runs (default cloud_usd)"}],
    ],
}

EPOCH_2020 = pd.Timestamp("2020-01-01")
LN_EFLOP = float(np.log(1e18))   # prices are modelled per 10^18 FLOP to keep parameters O(1)
LN_ZFLOP = float(np.log(1e21))   # compute is modelled in units of 10^21 FLOP

#: Chips rented for training runs (data-centre accelerators); consumer and workstation cards,
#: which never trained a frontier model, are left out of the price series.
DATACENTRE_CHIPS = ("A100", "H100", "H200", "H800", "A800", "V100", "P100", "K80", "TPU", "B200",
                    "GB200", "MI250", "MI300")

PRICE_FIELDS = [
    Field("t", "years since 2020-01-01", -30, 30),
    Field("usd_per_flop", "2023 $/FLOP", 1e-22, 1e-12, positive=True),
]
RUN_FIELDS = [
    Field("t", "years since 2020-01-01", -30, 30),
    Field("training_compute_flop", "FLOP", 1e15, 1e30, positive=True),
    Field("cost_usd", "2023 USD", 1.0, 1e12, positive=True, required=False),
]

PARAMS = estimation.ParamSpec([
    estimation.Param("log_usd_per_eflop_2020", start=1.5),
    estimation.Param("price_growth", start=-0.3),
    estimation.Param("sigma_price", start=0.8, transform="log"),
    estimation.Param("utilisation", start=0.3, transform="logit"),
    estimation.Param("sigma_cost", start=0.8, transform="log"),
    estimation.Param("log_compute_2020", start=2.0),
    estimation.Param("compute_growth", start=1.2),
    estimation.Param("sigma_compute", start=1.5, transform="log"),
    df_param(5.0),
])


def years_since_2020(dates: pd.Series) -> np.ndarray:
    """Dates as fractional years since 2020-01-01 (365.25-day years)."""
    return ((pd.to_datetime(dates) - EPOCH_2020).dt.days / 365.25).to_numpy(dtype=np.float64)


def price_series(chips: tuple[str, ...] | None = DATACENTRE_CHIPS) -> pd.DataFrame:
    """Dated rental prices per FLOP in 2023 USD from the Epoch hardware tables.

    π = on-demand $/chip-hour × PPI factor to 2023 USD / (3600 × peak FLOP/s). Rows whose chip
    has no peak FLOP/s are dropped; ``chips`` keeps names containing one of the given patterns.

    Examples
    --------
    >>> from structural.fitted.training_cost import price_series
    >>> prices = price_series()
    >>> sorted(prices.columns)
    ['date', 'hardware', 'on_demand_usd_per_chip_hour', 'peak_flops', 't', 'usd_per_flop', 'vendor']
    """
    import data

    hp = data.load("hardware_prices").dropna(subset=["on_demand_usd_per_chip_hour"])
    hw = data.load("hardware")
    ppi = data.load("ppi")
    x = hp.merge(hw[["hardware", "bf16_flops", "tf32_flops", "fp16_flops", "fp32_flops"]],
                 on="hardware", how="left")
    tpu = x["hardware"].str.contains("TPU")
    peak = x["bf16_flops"].fillna(x["tf32_flops"])
    peak = peak.fillna(x["fp16_flops"].where(tpu)).fillna(x["fp32_flops"])
    month = x["date"].dt.to_period("M").dt.to_timestamp()
    factor = month.map(ppi.set_index("date")["to_2023_usd"]).fillna(1.0)
    x = x.assign(peak_flops=peak,
                 usd_per_flop=x["on_demand_usd_per_chip_hour"] * factor / (3600.0 * peak))
    x = x.dropna(subset=["usd_per_flop"])
    if chips:
        pattern = "|".join(chips)
        x = x[x["hardware"].str.contains(pattern)]
    x = x.assign(t=years_since_2020(x["date"]))
    return x[["date", "hardware", "vendor", "peak_flops", "on_demand_usd_per_chip_hour",
              "usd_per_flop", "t"]].reset_index(drop=True)


def compute_rank_at_release(runs: pd.DataFrame) -> pd.Series:
    """Rank of each run's training compute among all models published on or before its date.

    The pool is every model with a compute estimate in ``models`` (language models) and in
    ``training_costs`` (which adds the non-language frontier models Epoch costed). Rank 1 is the
    most compute-intensive model at the time.
    """
    import data

    m = data.load("models")[["model", "date", "training_compute_flop"]]
    c = data.load("training_costs")[["model", "date", "training_compute_flop"]]
    pool = pd.concat([m, c]).dropna().drop_duplicates("model")
    d = pool["date"].to_numpy()
    f = pool["training_compute_flop"].to_numpy()
    ranks = [int(((d <= di) & (f > fi)).sum()) + 1
             for di, fi in zip(runs["date"].to_numpy(), runs["training_compute_flop"].to_numpy(),
                               strict=True)]
    return pd.Series(ranks, index=runs.index, name="compute_rank")


def training_runs(cost: str = "cloud_usd", start: str | None = "2016-01-01",
                  end: str | None = None, top: int | None = None) -> pd.DataFrame:
    """Training runs from ``training_costs`` with date, compute and the chosen cost column.

    ``top`` keeps runs whose compute ranked in the top ``top`` when published
    (:func:`compute_rank_at_release`); ``start``/``end`` bound the publication date
    (``end`` exclusive). ``cost_usd`` is NaN where the method has no estimate.

    Examples
    --------
    >>> from structural.fitted.training_cost import training_runs
    >>> runs = training_runs()
    >>> len(runs) > 50, sorted(runs.columns)[:4]
    (True, ['compute_rank', 'cost_usd', 'date', 'model'])
    """
    import data

    tc = data.load("training_costs")
    if cost not in tc.columns:
        raise FitInputError(f"training_costs has no cost column {cost!r}")
    tc = tc.dropna(subset=["training_compute_flop", "date"])
    if start is not None:
        tc = tc[tc["date"] >= pd.Timestamp(start)]
    if end is not None:
        tc = tc[tc["date"] < pd.Timestamp(end)]
    tc = tc.assign(compute_rank=compute_rank_at_release(tc))
    if top is not None:
        tc = tc[tc["compute_rank"] <= top]
    out = tc[["model", "date", "training_compute_flop", "compute_rank"]].copy()
    out["cost_usd"] = tc[cost]
    out["t"] = years_since_2020(out["date"])
    return out.reset_index(drop=True)


def stack(runs: pd.DataFrame, prices: pd.DataFrame) -> dict[str, np.ndarray]:
    """Long-format data for the three equations: one row per price (eq 0), one row per run for
    its compute (eq 1) and one row per run with a cost (eq 2). ``unit`` labels the price
    observation or run a row belongs to (for clustered SEs and bootstraps)."""
    runs = check_table(runs, RUN_FIELDS, "training runs")
    prices = check_table(prices, PRICE_FIELDS, "price series")
    n_p, n_r = len(prices), len(runs)
    cost = runs["cost_usd"].to_numpy() if "cost_usd" in runs else np.full(n_r, np.nan)
    has_cost = np.isfinite(cost)
    log_flop = np.log(runs["training_compute_flop"].to_numpy()) - LN_ZFLOP
    t_run = runs["t"].to_numpy()
    unit_run = n_p + np.arange(n_r)
    return {
        "eq": np.concatenate([np.zeros(n_p, np.int64), np.ones(n_r, np.int64),
                              np.full(int(has_cost.sum()), 2, np.int64)]),
        "t": np.concatenate([prices["t"].to_numpy(), t_run, t_run[has_cost]]),
        "y": np.concatenate([np.log(prices["usd_per_flop"].to_numpy()) + LN_EFLOP, log_flop,
                             np.log(cost[has_cost])]),
        "log_flop": np.concatenate([np.zeros(n_p), log_flop, log_flop[has_cost]]),
        "unit": np.concatenate([np.arange(n_p), unit_run, unit_run[has_cost]]),
    }


def log_price_per_eflop(p: dict[str, Any], t: Any) -> Any:
    """ln(2023 $ per 10^18 FLOP) at time t: a_p + b_p t."""
    return p["log_usd_per_eflop_2020"] + p["price_growth"] * t


def predicted_log_cost(p: dict[str, Any], t: Any, log_flop: Any) -> Any:
    """ln C = ln F + ln π(t) − ln u, with ln F = log_flop + ln 10^21 and π per 10^18 FLOP."""
    return log_flop + (LN_ZFLOP - LN_EFLOP) + log_price_per_eflop(p, t) - jnp.log(p["utilisation"])


def contributions(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """Per-row log-likelihood: a Student-t density whose location and scale depend on the row's
    equation (price, compute or cost; module docstring). One density evaluation per row keeps the
    compiled Hessian small."""
    eq, t = d["eq"], d["t"]
    loc = jnp.where(eq == 0, log_price_per_eflop(p, t),
                    jnp.where(eq == 1, p["log_compute_2020"] + p["compute_growth"] * t,
                              predicted_log_cost(p, t, d["log_flop"])))
    scale = jnp.where(eq == 0, p["sigma_price"],
                      jnp.where(eq == 1, p["sigma_compute"], p["sigma_cost"]))
    return student_t_logpdf(d["y"], loc, scale, p["df"])


def simulate(params: dict[str, float], t_runs: np.ndarray, t_prices: np.ndarray,
             cost_share: float = 1.0, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw a price series and training runs from the model at ``params``.

    Returns ``(runs, prices)`` in the layouts :func:`stack` expects; a fraction ``cost_share`` of
    runs has a cost.
    """
    rng = np.random.default_rng(seed)
    df = params["df"]

    def t_noise(n: int, scale: float) -> np.ndarray:
        return scale * rng.standard_t(df, size=n)

    t_prices = np.asarray(t_prices, np.float64)
    t_runs = np.asarray(t_runs, np.float64)
    lp = (params["log_usd_per_eflop_2020"] + params["price_growth"] * t_prices
          + t_noise(len(t_prices), params["sigma_price"]))
    prices = pd.DataFrame({"t": t_prices, "usd_per_flop": np.exp(lp - LN_EFLOP)})
    lf = (params["log_compute_2020"] + params["compute_growth"] * t_runs
          + t_noise(len(t_runs), params["sigma_compute"]))
    lc = (lf + (LN_ZFLOP - LN_EFLOP) + params["log_usd_per_eflop_2020"]
          + params["price_growth"] * t_runs - np.log(params["utilisation"])
          + t_noise(len(t_runs), params["sigma_cost"]))
    cost = np.where(rng.random(len(t_runs)) < cost_share, np.exp(lc), np.nan)
    runs = pd.DataFrame({"t": t_runs, "training_compute_flop": np.exp(lf + LN_ZFLOP),
                         "cost_usd": cost})
    return runs, prices


def starts(d: dict[str, np.ndarray]) -> dict[str, float]:
    """Data-driven starting values: OLS lines for price and compute, median implied utilisation."""
    price = d["eq"] == 0
    run = d["eq"] == 1
    bp = np.polyfit(d["t"][price], d["y"][price], 1)
    bf = np.polyfit(d["t"][run], d["y"][run], 1)
    c = d["eq"] == 2
    implied = (d["log_flop"][c] + (LN_ZFLOP - LN_EFLOP) + np.polyval(bp, d["t"][c]) - d["y"][c])
    u = float(np.clip(np.exp(np.median(implied)), 0.02, 0.98)) if c.any() else 0.3
    return {
        "log_usd_per_eflop_2020": bp[1], "price_growth": bp[0],
        "sigma_price": max(float(np.std(d["y"][price] - np.polyval(bp, d["t"][price]))), 0.05),
        "utilisation": u, "sigma_cost": 0.7,
        "log_compute_2020": bf[1], "compute_growth": bf[0],
        "sigma_compute": max(float(np.std(d["y"][run] - np.polyval(bf, d["t"][run]))), 0.05),
        "df": 5.0,
    }


def fit(runs: pd.DataFrame | None = None, prices: pd.DataFrame | None = None,
        progress: bool = False, **kwargs: Any) -> Any:
    """Fit the training-cost model by MLE; defaults: runs with a cloud cost since 2016 and the
    data-centre rental price series. Extra keywords go to :func:`estimation.fit`.

    Examples
    --------
    >>> from structural.fitted import training_cost
    >>> res = training_cost.fit()
    >>> res.converged
    True
    >>> res.params.round(2)
    log_usd_per_eflop_2020    2.05
    price_growth             -0.34
    sigma_price               0.52
    utilisation               0.62
    sigma_cost                0.37
    log_compute_2020          3.10
    compute_growth            1.50
    sigma_compute             0.82
    df                        2.54
    Name: estimate, dtype: float64
    """
    if runs is None:
        runs = training_runs()
    if prices is None:
        prices = price_series()
    d = stack(runs, prices)
    kwargs.setdefault("name", "training cost")
    return estimation.fit(contributions, d, PARAMS, kind="mle", start=starts(d),
                          progress=progress, **kwargs)


def growth_factors(res: Any, alpha: float = 0.05) -> pd.DataFrame:
    """Annual factors with delta-method CIs: price of a FLOP, frontier compute, frontier cost.

    Examples
    --------
    >>> from structural.fitted import training_cost
    >>> training_cost.growth_factors(training_cost.fit()).round(2)
                                    estimate  std_err  ci_low  ci_high
    price per FLOP, x/year              0.71     0.01    0.68     0.74
    frontier compute, x/year            4.50     0.27    3.98     5.02
    frontier training cost, x/year      3.21     0.20    2.82     3.61
    """

    def factors(p: dict[str, Any]) -> Any:
        return jnp.exp(jnp.stack([p["price_growth"], p["compute_growth"],
                                  p["compute_growth"] + p["price_growth"]]))

    return res.delta_method(factors, ["price per FLOP, x/year", "frontier compute, x/year",
                                      "frontier training cost, x/year"], alpha=alpha)


# --- the reduced-form cost trend (Cottier et al. 2024, Section 3) ---------------------------------

TREND_NORMAL = estimation.ParamSpec([
    estimation.Param("log_cost_2020", start=13.0),
    estimation.Param("growth", start=0.9),
    estimation.Param("sigma", start=1.0, transform="log"),
])
TREND_T = estimation.ParamSpec([*TREND_NORMAL.params,
                                df_param(5.0)])


def trend_normal(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """ln C_i = c + g t_i + ε_i, ε ~ N(0, σ²): OLS of log cost on date as an MLE."""
    return normal_logpdf(d["y"], p["log_cost_2020"] + p["growth"] * d["t"], p["sigma"])


def trend_t(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """ln C_i = c + g t_i + ε_i, ε ~ Student-t(σ, ν): the robust variant."""
    return student_t_logpdf(d["y"], p["log_cost_2020"] + p["growth"] * d["t"], p["sigma"],
                            p["df"])


def trend_residuals(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """r_i = ln C_i − c − g t_i, for M-estimation with a robust loss."""
    return d["y"] - p["log_cost_2020"] - p["growth"] * d["t"]


def fit_cost_trend(runs: pd.DataFrame, errors: str = "normal", progress: bool = False,
                   **kwargs: Any) -> Any:
    """Growth of training cost: regress ln cost on years since 2020.

    ``errors``: ``"normal"`` (MLE = OLS), ``"t"`` (Student-t MLE) or ``"huber"`` (M-estimation
    with Huber's loss, δ = 1.345 × the normalised MAD of the OLS residuals, sandwich SEs). The
    annual growth factor is exp(growth); its CI is exp of the CI of ``growth``.

    Examples
    --------
    The reduced form of Cottier et al. (2024): ln cost on years since 2020, normal errors:

    >>> import numpy as np
    >>> from structural.fitted.training_cost import fit_cost_trend, training_runs
    >>> res = fit_cost_trend(training_runs())
    >>> round(float(np.exp(res.params["growth"])), 2)
    3.04
    """
    runs = check_table(runs.dropna(subset=["cost_usd"]),
                       [RUN_FIELDS[0], Field("cost_usd", "2023 USD", 1.0, 1e12, positive=True)],
                       "training runs")
    d = {"t": runs["t"].to_numpy(), "y": np.log(runs["cost_usd"].to_numpy())}
    b = np.polyfit(d["t"], d["y"], 1)
    s = float(np.std(d["y"] - np.polyval(b, d["t"])))
    start = {"log_cost_2020": b[1], "growth": b[0], "sigma": s}
    if errors == "normal":
        spec, model = TREND_NORMAL, trend_normal
    elif errors == "t":
        spec, model = TREND_T, trend_t
        start["df"] = 5.0
    elif errors == "huber":
        r = d["y"] - np.polyval(b, d["t"])
        mad = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        del start["sigma"]
        return estimation.fit(None, d, TREND_NORMAL.params[:2], residuals=trend_residuals,
                              loss=estimation.Huber(1.345 * mad), kind="m", start=start,
                              progress=progress, **kwargs)
    else:
        raise estimation.SpecificationError(
            f"errors must be 'normal', 't' or 'huber', got {errors!r}")
    return estimation.fit(model, d, spec, kind="mle", start=start, progress=progress, **kwargs)


def command(args: Any, cli: CommandLine) -> int:
    """``llmecon fit training_cost``: the fit on ``--runs``/``--prices`` (default: the curated
    tables) and the growth factors."""
    run_cols, price_cols = ("training_compute_flop", "cost_usd"), ("usd_per_flop",)
    runs = cli.csv(args.runs, "training runs", "2020-01-01", "--runs", run_cols)
    prices = cli.csv(args.prices, "price series", "2020-01-01", "--prices", price_cols)
    # Cells first (units, ranges), then the count: each equation has a level, a growth and a
    # scale, so it needs three observations (SVD failures and LAPACK noise otherwise).
    if runs is not None:
        runs = check_table(runs, RUN_FIELDS, "training runs")
    if prices is not None:
        prices = check_table(prices, PRICE_FIELDS, "price series")
    if runs is not None:
        cli.enough(runs, f"--runs {args.runs}", run_cols, 3)
    if prices is not None:
        cli.enough(prices, f"--prices {args.prices}", price_cols, 3)
    if runs is None:
        runs = training_runs(cost=args.cost)
    if prices is None:
        prices = price_series()
    res = fit(runs, prices)
    growth = growth_factors(res)
    cli.show_fit(res)
    cli.show_table(growth)
    return cli.write("training_cost", [("params", res)], {"growth": growth})


def llm_costs(c: Collector, quick: bool) -> None:
    """The ``llm_costs`` section: the fit, its growth factors and the price-per-FLOP trend in
    orders of magnitude per year (``c.found["oom"]``)."""
    res = fit()
    c.add_fit("training_cost", res)
    c.add_derived("training_cost", growth_factors(res), res)
    c.converged.append(res.converged)
    c.found["oom"] = -float(res.params["price_growth"]) / np.log(10)
    c.notes.append("training_cost: runs since 2016 with a cloud cost estimate (training_costs) "
                   "and on-demand data-centre GPU/TPU prices (hardware_prices), 2023 USD")
