r"""The cheapest price at or above a capability threshold, over time.

Following Epoch AI's data insight "LLM inference prices have fallen rapidly but unequally across
tasks" (2025-03-12): for a capability threshold τ, the frontier observations are the price
records that undercut every earlier record of a model scoring at least τ; on those,

.. math::

    \ln p_i = a_\tau + b_\tau (t_i - 2024) + \varepsilon_i, \qquad
    \varepsilon_i \sim N(0, \sigma_\tau^2),

and the annual decline factor is exp(−b_τ) with a delta-method CI. Epoch reports declines of 9× to
900× per year across benchmarks and thresholds, and 40× per year for GPT-4's score on GPQA Diamond.

Differences from Epoch's data, which the comparison must state:

- capability is the Epoch Capabilities Index (ECI, one latent score per model), not a single
  benchmark: the thresholds are the ECI scores of reference models (GPT-3.5 Turbo, GPT-4, …);
- prices: Epoch's dated API price records (``api_price_history``, 2021-11 … 2025-01) plus, for
  scored models without a record, the current list price (``api_prices`` snapshot 2026) dated at
  the model's release. List prices that were cut after release make early prices look lower than
  they were, which understates the decline; Epoch used Artificial Analysis prices as well;
- price = 3:1 blend of input and output $/Mtok (Epoch's convention); rows without an output price,
  fine-tuned prices and prompt tiers above 128k are left out.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

import estimation
from structural.fitted import Collector, CommandLine
from structural.fitted.distributions import normal_logpdf
from structural.fitted.inputs import Field, FitInputError, check_table

__all__ = ["decline", "fit_threshold", "frontier", "observations", "trends"]

#: ``llmecon fit price_trend`` and this model's place in the registry (literals: read without
#: importing this module).
COMMAND = {
    "order": 3,
    "summary": "cheapest price at or above a capability threshold over time",
    "section": "price trends",
    "arguments": [
        ["--observations", {"help": "CSV: date or t, price_usd_per_mtok, eci"}],
        ["--reference", {"group": "threshold", "default": "GPT-4",
                         "help": "model whose ECI is the threshold"}],
        ["--threshold", {"group": "threshold", "type": "float", "help": "ECI threshold"}],
    ],
}

T0 = pd.Timestamp("2024-01-01")
#: Reference models whose ECI defines a threshold.
REFERENCE_MODELS = ("GPT-3.5 Turbo", "GPT-4", "GPT-4o", "Claude 3.5 Sonnet", "o1")
#: Epoch AI (2025-03-12): GPT-4 level on GPQA.
EPOCH_GPT4_GPQA = 40.0

OBS_FIELDS = [
    Field("t", "years since 2024-01-01", -10, 10),
    Field("price_usd_per_mtok", "$/Mtok", 0.0005, 2000, positive=True),
    Field("eci", "ECI points", 0, 300),
]

PARAMS = estimation.ParamSpec([
    estimation.Param("log_price_2024", start=0.0),
    estimation.Param("trend", start=-1.0),
    estimation.Param("sigma", start=1.0, transform="log"),
])


def eci_scores() -> pd.Series:
    """The highest ECI score of each Epoch model name."""
    import data

    cap = data.load("capability").dropna(subset=["eci"])
    return cap.groupby("model")["eci"].max()


def observations() -> pd.DataFrame:
    """Dated price observations with the model's ECI: ``date``, ``model``, ``source``,
    ``price_usd_per_mtok`` (3:1 blend), ``eci``, ``t``.

    Examples
    --------
    >>> from structural.fitted.price_trend import observations
    >>> sorted(observations().columns)
    ['date', 'eci', 'model', 'price_usd_per_mtok', 'source', 't']
    """
    import data

    eci = eci_scores()
    cw = data.load("model_crosswalk")
    h = data.load("api_price_history")
    h = h[~h["fine_tuned"] & (h["context_tier"] != ">128k")].dropna(subset=["output_usd_per_mtok"])
    ids = cw[cw["dataset"] == "api_price_history"].set_index("id")["model"]
    hist = pd.DataFrame({
        "date": h["date"], "model": h["model"].map(ids).fillna(h["model"]),
        "source": "api_price_history",
        "price_usd_per_mtok": (3 * h["input_usd_per_mtok"] + h["output_usd_per_mtok"]) / 4,
    })
    cap = data.load("capability").dropna(subset=["release_date"])
    release = cap.groupby("model")["release_date"].min()
    p = data.load("api_prices")
    p = p[p["current"] & p["time_window"].isna()].dropna(subset=["output_usd_per_mtok"])
    p = p[(p["input_usd_per_mtok"] > 0) & (p["output_usd_per_mtok"] > 0)]
    pid = cw[cw["dataset"] == "api_prices"].set_index("id")["model"]
    p = p.assign(epoch=p["model"].map(pid)).dropna(subset=["epoch"])
    p = p[~p["epoch"].isin(set(hist["model"]))]
    blend = (3 * p["input_usd_per_mtok"] + p["output_usd_per_mtok"]) / 4
    # The cheapest current list price of each model, dated at its release.
    cur = blend.groupby(p["epoch"]).min()
    listed = pd.DataFrame({"date": cur.index.map(release), "model": cur.index,
                           "source": "api_prices at release", "price_usd_per_mtok": cur.values})
    obs = pd.concat([hist, listed.dropna(subset=["date"])], ignore_index=True)
    obs["eci"] = obs["model"].map(eci)
    obs = obs.dropna(subset=["eci", "price_usd_per_mtok"])
    obs["t"] = (pd.to_datetime(obs["date"]) - T0).dt.days / 365.25
    return obs.sort_values(["date", "price_usd_per_mtok"]).reset_index(drop=True)


def frontier(obs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Records that undercut every earlier record at or above ``threshold`` (the first counts).

    Examples
    --------
    >>> from structural.fitted.price_trend import eci_scores, frontier, observations
    >>> front = frontier(observations(), threshold=float(eci_scores()["GPT-4"]))
    >>> bool(front["price_usd_per_mtok"].is_monotonic_decreasing)
    True
    """
    obs = check_table(obs, OBS_FIELDS, "price observations")
    above = obs[obs["eci"] >= threshold].sort_values(["t", "price_usd_per_mtok"])
    best = np.inf
    keep = []
    for i, p in zip(above.index, above["price_usd_per_mtok"], strict=True):
        if p < best:
            keep.append(i)
            best = p
    return above.loc[keep]


def contributions(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """Normal log-likelihood of ln price around the log-linear trend."""
    return normal_logpdf(d["y"], p["log_price_2024"] + p["trend"] * d["t"], p["sigma"])


def fit_threshold(obs: pd.DataFrame, threshold: float, progress: bool = False) -> Any:
    """Fit the trend on the frontier at ``threshold`` (needs at least 3 frontier points).

    Examples
    --------
    >>> from structural.fitted.price_trend import eci_scores, fit_threshold, observations
    >>> res = fit_threshold(observations(), threshold=float(eci_scores()["GPT-4"]))
    >>> res.converged
    True
    """
    f = frontier(obs, threshold)
    if len(f) < 3:
        raise estimation.SpecificationError(
            f"only {len(f)} frontier price(s) at ECI >= {threshold:.1f}; need 3 for a trend")
    d = {"t": f["t"].to_numpy(), "y": np.log(f["price_usd_per_mtok"].to_numpy())}
    b = np.polyfit(d["t"], d["y"], 1)
    s = max(float(np.std(d["y"] - np.polyval(b, d["t"]))), 0.05)
    return estimation.fit(contributions, d, PARAMS, kind="mle",
                          start={"log_price_2024": b[1], "trend": b[0], "sigma": s},
                          progress=progress, name=f"cheapest price at ECI >= {threshold:.1f}")


def decline(res: Any, alpha: float = 0.05) -> pd.Series:
    """Annual decline factor exp(−trend): delta-method SE, and the CI as exp of the CI of −trend
    (a factor's sampling distribution is skewed; the log-scale interval stays positive).

    Examples
    --------
    >>> from structural.fitted.price_trend import decline, eci_scores, fit_threshold, observations
    >>> res = fit_threshold(observations(), threshold=float(eci_scores()["GPT-4"]))
    >>> decline(res).round(1)
    estimate     40.7
    std_err      24.2
    ci_low       12.7
    ci_high     130.5
    Name: decline x/year, dtype: float64
    """
    row = res.delta_method(lambda p: jnp.exp(-p["trend"])[None], ["decline x/year"], alpha=alpha)
    ci = res.conf_int(alpha).loc["trend"]
    out = row.iloc[0].copy()
    out["ci_low"], out["ci_high"] = float(np.exp(-ci["upper"])), float(np.exp(-ci["lower"]))
    return out


def trends(obs: pd.DataFrame | None = None, references: tuple[str, ...] = REFERENCE_MODELS
           ) -> pd.DataFrame:
    """One row per threshold: reference model, ECI, frontier points, span, decline ×/year + CI.

    Examples
    --------
    >>> from structural.fitted.price_trend import trends
    >>> trends().iloc[:, :3].round(1)
               reference  eci_threshold  frontier_points
    0      GPT-3.5 Turbo          119.4               10
    1              GPT-4          125.7                8
    2             GPT-4o          129.1                5
    3  Claude 3.5 Sonnet          133.6                4
    4                 o1          140.8                4
    """
    obs = observations() if obs is None else obs
    eci = eci_scores()
    rows = []
    for ref in references:
        tau = float(eci[ref])
        f = frontier(obs, tau)
        row = {"reference": ref, "eci_threshold": tau, "frontier_points": len(f),
               "first": f["date"].min(), "last": f["date"].max()}
        try:
            res = fit_threshold(obs, tau)
        except estimation.EstimationError:
            rows.append({**row, "decline_per_year": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "converged": False})
            continue
        dcl = decline(res)
        rows.append({**row, "decline_per_year": dcl["estimate"], "ci_low": dcl["ci_low"],
                     "ci_high": dcl["ci_high"], "converged": res.converged})
    return pd.DataFrame(rows)


def simulate(params: dict[str, float], t: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Frontier-like prices on the trend at times ``t`` (for recovery tests)."""
    rng = np.random.default_rng(seed)
    y = params["log_price_2024"] + params["trend"] * t + params["sigma"] * rng.standard_normal(
        len(t))
    return pd.DataFrame({"t": t, "price_usd_per_mtok": np.exp(y), "eci": 200.0,
                         "date": T0 + pd.to_timedelta(t * 365.25, unit="D")})


def command(args: Any, cli: CommandLine) -> int:
    """``llmecon fit price_trend``: the trend above ``--threshold`` (or the ECI of
    ``--reference``) on ``--observations`` (default: the curated prices)."""
    import math

    if args.threshold is not None and not math.isfinite(args.threshold):
        raise FitInputError(f"--threshold: expected a finite ECI score, got {args.threshold}")
    obs = cli.csv(args.observations, "price observations", "2024-01-01", "--observations")
    if obs is None:
        obs = observations()
    if args.threshold is not None:
        tau = args.threshold
    else:
        scores = eci_scores()
        if args.reference not in scores.index:
            raise FitInputError(f"--reference {args.reference!r} has no ECI score")
        tau = float(scores[args.reference])
    res = fit_threshold(obs, tau)
    dcl = decline(res).to_frame().T
    cli.show_fit(res)
    cli.show_table(dcl)
    return cli.write("price_trend", [("params", res)], {"decline": dcl})


def llm_costs(c: Collector, quick: bool) -> None:
    """The ``llm_costs`` section: the trend at the ECI of each reference model and its decline
    per year (``c.found["declines"]``)."""
    refs = ("GPT-3.5 Turbo", "GPT-4") if quick else REFERENCE_MODELS
    obs = observations()
    tr = trends(obs, refs)
    for ref, tau in zip(tr["reference"], tr["eci_threshold"], strict=True):
        r = fit_threshold(obs, tau)
        name = f"price_trend (ECI >= {tau:.1f}, {ref} level)"
        c.add_fit(name, r)
        c.add_derived(name, decline(r).to_frame().T, r)
        c.converged.append(r.converged)
    c.found["declines"] = tr.set_index("reference")["decline_per_year"]
