"""Equilibrium counterfactuals in the LLM API market, from TOML scenarios with ``kind = "market"``.

A scenario fits demand on the bundled OpenRouter data (:mod:`structural.market.llm_api`), backs out
marginal costs (Bertrand–Nash for closed models, price = cost for open weights), applies one change
and solves the new equilibrium in every market, for the point estimate and for parametric draws
of (θ, α) from the estimates' covariance (all draws in one ``vmap``). Changes (``[change] type``):

``open_model_entry``
    An open-weights model of a given quality and size enters at its roofline marginal cost
    (competitive pricing: its price is that cost).
``compute_price``
    $/chip-hour × ``factor``: marginal costs move by (factor − 1) × the roofline serving cost for
    models of known size, and by (factor − 1) × ``compute_share`` × mc otherwise (the cost is
    linear in $/chip-hour); reports pass-through dp/dc.
``withdraw``
    Listed models leave the market.
``merger``
    Listed firms (authors) price their closed models jointly.
``guardrail``
    A per-token safety overhead on closed models: ``cost`` $/Mtok, or ``share`` of marginal cost.

Each run writes ``products.csv/.md/.tex`` (prices, shares with intervals), ``surplus.csv/.md/.tex``
(consumer surplus change per market in $ per week), ``report.md``, ``summary.json`` and a plot.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from structural.errors import PipelineError
from structural.market import llm_api
from structural.market.demand import random_coefficients

__all__ = ["MarketScenario", "ScenarioError", "is_market_scenario", "load", "run"]

CHANGES = {"open_model_entry": {"quality", "parameters", "active_parameters", "name",
                                "context_length", "reasoning"},
           "compute_price": {"factor", "compute_share"},
           "withdraw": {"models"},
           "merger": {"firms"},
           "guardrail": {"cost", "share"}}
#: Parameter draws solved together (vmapped) in one batch of the compiled map over draws.
DRAW_BATCH = 4
_MARKET_KEYS = {"model", "nests", "freq", "market_size", "hardware", "draws", "nodes", "seed"}


class ScenarioError(PipelineError):
    r"""A market scenario that is malformed or names a model or firm the data do not have.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from structural.market.llm_scenarios import load
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "bad.toml"
    ...     _ = path.write_text('kind = "market"\ntitle = "t"\n[change]\ntype = "tariff"\n')
    ...     load(path)
    Traceback (most recent call last):
    ...
    structural.market.llm_scenarios.ScenarioError: change.type: expected one of ..., got 'tariff'
    """


@dataclass
class MarketScenario:
    """A market counterfactual read from TOML (``kind = "market"``): its ``title``,
    ``description`` and ``assumptions``, the ``market`` to fit (demand ``model``, ``freq``,
    ``market_size``, ``draws``, …) and the ``change`` (``type`` one of :data:`CHANGES`).

    Examples
    --------
    >>> from importlib.resources import files
    >>> from structural.market.llm_scenarios import load
    >>> sc = load(files("structural.examples.scenarios") / "lab_merger.toml")
    >>> sc.title, sc.change["type"]
    ('Two labs price their closed models jointly', 'merger')
    """

    title: str
    description: str
    assumptions: list[str]
    market: dict
    change: dict


def is_market_scenario(path: Path) -> bool:
    """True when the TOML file declares ``kind = "market"`` (read without validating).

    Examples
    --------
    >>> from importlib.resources import files
    >>> from structural.market.llm_scenarios import is_market_scenario
    >>> scenarios = files("structural.examples.scenarios")
    >>> is_market_scenario(scenarios / "lab_merger.toml")
    True
    >>> is_market_scenario(scenarios / "equal_spend_tradeoff.toml")
    False
    """
    try:
        return tomllib.loads(Path(path).read_text()).get("kind") == "market"
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
        return False


def load(path: Path) -> MarketScenario:
    """Parse and check a market scenario; unknown keys and bad values raise ScenarioError.

    Examples
    --------
    >>> from importlib.resources import files
    >>> from structural.market.llm_scenarios import load
    >>> sc = load(files("structural.examples.scenarios") / "model_withdrawal.toml")
    >>> sc.change["type"], sc.market["model"]
    ('withdraw', 'nested')
    """
    try:
        raw = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(str(path), f"not valid TOML ({exc})") from None
    top = {"kind", "title", "description", "assumptions", "market", "change"}
    bad = set(raw) - top
    if bad:
        raise ScenarioError(sorted(bad)[0], f"unknown key; expected {', '.join(sorted(top))}")
    market = dict(raw.get("market", {}))
    bad = set(market) - _MARKET_KEYS
    if bad:
        raise ScenarioError(f"market.{sorted(bad)[0]}", f"unknown key; expected "
                            f"{', '.join(sorted(_MARKET_KEYS))}")
    market.setdefault("model", "nested")
    if market["model"] not in llm_api.MODELS:
        raise ScenarioError("market.model", f"expected one of {', '.join(llm_api.MODELS)}, got "
                            f"{market['model']!r}")
    change = dict(raw.get("change", {}))
    kind = change.pop("type", None)
    if kind not in CHANGES:
        raise ScenarioError("change.type", f"expected one of {', '.join(CHANGES)}, got {kind!r}")
    bad = set(change) - CHANGES[kind]
    if bad:
        raise ScenarioError(f"change.{sorted(bad)[0]}", f"unknown key for {kind}; expected "
                            f"{', '.join(sorted(CHANGES[kind]))}")
    for k, v in change.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not (
                np.isfinite(v) and v >= 0):
            raise ScenarioError(f"change.{k}", f"expected a finite non-negative number, got {v!r}")
    change["type"] = kind
    return MarketScenario(raw.get("title", Path(path).stem), raw.get("description", ""),
                          list(raw.get("assumptions", [])), market, change)


def _entrant(fit: llm_api.LLMDemandFit, ch: dict):
    """The entrant's roofline marginal cost ($/Mtok; its competitive price) and quality_z."""
    df = fit.products
    for k in ("quality", "parameters"):
        if k not in ch:
            raise ScenarioError(f"change.{k}", "required for open_model_entry")
    q = df["quality"].to_numpy()
    qz = (float(ch["quality"]) - q.mean()) / q.std()
    N = float(ch["parameters"])
    Na = float(ch.get("active_parameters", N))
    c_e = float(llm_api.serving_cost(np.array([N]), np.array([Na]),
                                     float(df["input_share"].median()),
                                     df.attrs.get("hardware", "H100"))[0])
    return c_e, qz


def _augment(a, extra):
    return jnp.concatenate([a, jnp.asarray(extra)[:, None]], axis=1)


def run(path: Path, out: Path, draws: int | None = None, seed: int | None = None) -> dict:
    """Run a market scenario; write its tables, report and plot to ``out``; return a summary.

    Examples
    --------
    A merger of two labs, with two parameter draws (the shipped scenario uses more):

    >>> import tempfile
    >>> from importlib.resources import files
    >>> from structural.market.llm_scenarios import run
    >>> with tempfile.TemporaryDirectory() as out:
    ...     summary = run(files("structural.examples.scenarios") / "lab_merger.toml", out, draws=2)
    >>> summary["change"]["type"], summary["draws"]
    ('merger', 2)
    """
    sc = load(path)
    m = sc.market
    draws = int(m.get("draws", 100) if draws is None else draws)
    seed = int(m.get("seed", 0) if seed is None else seed)
    products = llm_api.llm_products(m.get("freq", "W"), float(m.get("market_size", 2.0)),
                                    m.get("hardware", "H100"), nests=m.get("nests", "tier"))
    ch = sc.change
    known_models = set(products["product_ids"])
    if ch["type"] == "withdraw":
        unknown = [x for x in ch.get("models", []) if x not in known_models]
        if not ch.get("models") or unknown:
            raise ScenarioError("change.models", f"unknown model {unknown[0]!r} (not an inside "
                                f"product of the data)" if unknown else "list at least one model")
    if ch["type"] == "merger":
        firms = set(products["firm_ids"])
        unknown = [x for x in ch.get("firms", []) if x not in firms]
        if len(ch.get("firms", [])) < 2 or unknown:
            raise ScenarioError("change.firms", f"unknown firm {unknown[0]!r}" if unknown
                                else "list at least two firms")
    fit = llm_api.fit_llm_demand(products, m["model"], draws=max(draws, 2), seed=seed,
                                 nodes=int(m.get("nodes", llm_api.RC_NODES)))
    res, mm = fit.results, fit.mm
    prob = res.problem
    lay = prob.layout
    th, al = llm_api.parameter_draws(res, max(draws, 2), seed)
    closed_long = lay.unpad(mm.closed)
    roof = lay.pad(products["roofline_cost"].fillna(np.nan).to_numpy(), fill=np.nan)
    firm_long = products["firm_ids"].to_numpy()
    potential_mtok = np.asarray(
        products.groupby("market_ids", sort=False).apply(
            lambda g: (g["tokens"] / g["shares"]).iloc[0], include_groups=False
        ).reindex(lay.market_ids)) * 1e3
    T, J = lay.mask.shape
    entry = ch["type"] == "open_model_entry"
    if entry:
        c_e, qz_e = _entrant(fit, ch)

    def one(theta, alpha):
        d = mm.delta(theta)
        _, eta, s0, cs0 = llm_api.supply_terms(mm, theta, alpha, d)
        p_obs = jnp.asarray(mm.levels)
        c = jnp.where(prob.mask, p_obs - eta, 0.0)
        kw = {}
        c1 = c
        if ch["type"] == "compute_price":
            f = float(ch["factor"]) - 1.0
            share = float(ch.get("compute_share", 1.0))
            c1 = jnp.where(jnp.isfinite(roof), c + f * jnp.nan_to_num(jnp.asarray(roof)),
                           c + f * share * jnp.maximum(c, 0.0))
        elif ch["type"] == "guardrail":
            extra = float(ch.get("cost", 0.0)) + float(ch.get("share", 0.0)) * c
            c1 = jnp.where(jnp.asarray(mm.closed), c + extra, c)
        elif ch["type"] == "withdraw":
            gone = lay.pad(products["product_ids"].isin(ch["models"]).to_numpy(), fill=False)
            kw["mask"] = prob.mask & ~jnp.asarray(gone)
        elif ch["type"] == "merger":
            merged = np.where(np.isin(firm_long, ch["firms"]) & closed_long, "merged:"
                              + "+".join(ch["firms"]), firm_long)
            kw["owners"] = jnp.asarray(lay.pad(pd.factorize(merged)[0], fill=-1))
        if entry:
            mu, w, a_rc, rho_j = mm.params(theta, alpha)
            beta_x = _entrant_delta(fit, ch, alpha)
            d_e = beta_x + alpha * np.log(c_e)  # demand is in log price
            if prob.K2:
                coefs = jax.vmap(random_coefficients, in_axes=(None, None, 0, 0))(
                    *prob.unpack(theta)[:2], prob.nodes, prob.demog)
                x2 = jnp.array([np.log(c_e), qz_e])
                mu_e = jnp.einsum("k,tki->ti", x2, coefs)
            else:
                mu_e = jnp.zeros((T, mu.shape[2]))
            nest_id = _entrant_nest(prob, fit.products, ch)
            rho_e = jnp.full(T, prob.unpack(theta)[2][0]) if prob.nests is not None \
                else jnp.zeros(T)
            terms = (jnp.concatenate([mu, mu_e[:, None, :]], axis=1), w, a_rc,
                     _augment(rho_j, rho_e))
            nest0 = jnp.asarray(prob.nests_pad) if prob.nests is not None else jnp.zeros(
                (T, J), int)
            p, s1, cs1, _, ok = llm_api.equilibrium(
                mm, theta, alpha, _augment(d, d_e), _augment(c1, jnp.full(T, c_e)),
                owners=_augment(jnp.asarray(mm.owners), jnp.full(T, J + 10_000)),
                closed=_augment(jnp.asarray(mm.closed), jnp.zeros(T, bool)),
                mask=_augment(prob.mask, jnp.ones(T, bool)),
                prices=_augment(p_obs, jnp.full(T, c_e)), terms=terms,
                nest=_augment(nest0, jnp.full(T, nest_id)))
        else:
            p, s1, cs1, _, ok = llm_api.equilibrium(mm, theta, alpha, d, c1, **kw)
        return p, s1, cs1 - cs0, c1 - c, jnp.all(ok), s0

    # draws in vmapped batches: Newton's Jacobian of the nested first-order conditions holds a
    # J × J × J tangent per market, too much memory to vmap over every draw at once
    solve = jax.jit(lambda t, a: jax.lax.map(lambda x: one(*x), (t, a), batch_size=DRAW_BATCH))
    p_d, s_d, dcs_d, dc_d, ok_d, _ = solve(th, al)
    ok = np.asarray(ok_d)
    if not ok[0]:
        from llmecon.errors import ComputationError

        raise ComputationError("the counterfactual equilibrium did not converge at the point "
                               "estimate")
    lo, hi = 0.025, 0.975
    Jx = p_d.shape[2]
    rows_t = np.concatenate([lay.t, np.arange(T)]) if entry else lay.t
    rows_j = np.concatenate([lay.j, np.full(T, J)]) if entry else lay.j
    pid = list(products["product_ids"]) + ([ch.get("name", "entrant/open-model")] * T
                                           if entry else [])
    mids = list(products["market_ids"]) + (list(lay.market_ids) if entry else [])
    P = np.asarray(p_d)[:, rows_t, rows_j]
    S = np.asarray(s_d)[:, rows_t, rows_j]
    p_obs_l = np.concatenate([products["prices"].to_numpy(), np.full(T, np.nan)]) if entry \
        else products["prices"].to_numpy()
    s_obs_l = np.concatenate([products["shares"].to_numpy(), np.zeros(T)]) if entry \
        else products["shares"].to_numpy()
    gone = ~np.asarray(jnp.ones((T, Jx), bool))[rows_t, rows_j]
    if ch["type"] == "withdraw":
        gone = np.asarray(products["product_ids"].isin(ch["models"]).to_numpy())
        P[:, gone] = np.nan
        S[:, gone] = 0.0
    good = ok
    table = pd.DataFrame({
        "market_ids": pd.to_datetime(pd.Series(mids)).dt.date.astype(str),
        "product_ids": pid,
        "pricing": list(np.where(closed_long, "bertrand", "competitive"))
        + (["competitive"] * T if entry else []),
        "price": p_obs_l, "new_price": P[0],
        "new_price_low": np.nanquantile(P[good], lo, axis=0),
        "new_price_high": np.nanquantile(P[good], hi, axis=0),
        "share": s_obs_l, "new_share": S[0],
        "new_share_low": np.quantile(S[good], lo, axis=0),
        "new_share_high": np.quantile(S[good], hi, axis=0)})
    if ch["type"] in ("compute_price", "guardrail"):
        dc = np.asarray(dc_d)[0][lay.t, lay.j]
        with np.errstate(divide="ignore", invalid="ignore"):
            table["cost_change"] = dc
            table["pass_through"] = np.where(np.abs(dc) > 1e-12,
                                             (table["new_price"] - table["price"]) / dc, np.nan)
    dcs = np.asarray(dcs_d) * potential_mtok[None, :]
    surplus = pd.DataFrame({"market_ids": pd.to_datetime(pd.Series(lay.market_ids)).dt.date
                            .astype(str),
                            "change_in_cs_usd": dcs[0],
                            "change_in_cs_low": np.quantile(dcs[good], lo, axis=0),
                            "change_in_cs_high": np.quantile(dcs[good], hi, axis=0)})
    tot = dcs.sum(axis=1)
    summary = {"scenario": sc.title, "change": ch, "model": m["model"],
               "draws_converged": int(good.sum()), "draws": len(good),
               "alpha": float(res.price_coefficient),
               "cs_change_total_usd": float(tot[0]),
               "cs_change_total_low": float(np.quantile(tot[good], lo)),
               "cs_change_total_high": float(np.quantile(tot[good], hi))}
    bert = table["pricing"] == "bertrand"
    if "pass_through" in table:
        pt = table.loc[bert, "pass_through"].dropna()
        summary["median_pass_through_closed"] = float(pt.median()) if len(pt) else None
    if entry:
        e = table.iloc[-T:]
        summary["entrant_cost_per_mtok"] = c_e
        summary["entrant_share_mean"] = float(e["new_share"].mean())
    # per-draw headline quantities (NaN where the draw's equilibrium did not converge)
    closed_rows = np.asarray(table["pricing"] == "bertrand")[: len(p_obs_l)]
    with np.errstate(invalid="ignore", divide="ignore"):
        heads = {"consumer surplus change, $ (window)": tot,
                 "mean closed-model price change, %": 100 * np.nanmean(
                     P[:, closed_rows] / p_obs_l[None, closed_rows] - 1.0, axis=1)}
    if entry:
        heads["entrant share (mean over weeks)"] = S[:, -T:].mean(axis=1)
    heads = {k: np.where(good, v, np.nan) for k, v in heads.items()}
    prov = provenance(fit, sc, products)
    vd = variance_decomposition(heads, fit, th, al)
    summary["parameters"] = prov.to_dict(orient="records")
    summary["variance_decomposition"] = _decomposition_json(vd)
    summary["parameter_draws"] = (f"{len(good) - 1} draws of the demand parameters (θ, α) ~ "
                                  "N(estimate, GMM covariance), draw 0 the estimate")
    _write(out, sc, table, surplus, summary, prov, vd)
    return summary


def provenance(fit: llm_api.LLMDemandFit, sc: MarketScenario,
               products: pd.DataFrame) -> pd.DataFrame:
    """Every parameter of a market scenario: name, value, source, reference.

    ``fitted``: the demand estimates (two-step GMM on the bundled OpenRouter tables, with their
    standard errors); ``published``: the roofline's hardware constants (the chip's datasheet);
    ``assumed``: the market size, the serving defaults of :func:`structural.costs.
    cost_parameters` and the scenario's own change (the question asked)."""
    from structural.costs import cost_parameters
    from structural.counterfactual.provenance import Provenance, published_reference

    m = sc.market
    hw = products.attrs.get("hardware", m.get("hardware", "H100"))
    data_ref = (f"api_market/api_models/api_provider_prices, {products['market_ids'].nunique()} "
                f"weeks × {products['product_ids'].nunique()} models; {fit.model} demand in log "
                "price, two-step GMM")
    rows = [Provenance(str(k), float(v), "fitted",
                       f"{data_ref}; s.e. {fit.params.loc[k, 'std_err']:.3g}")
            for k, v in fit.params["estimate"].items()]
    rows.append(Provenance("market_size", float(products.attrs.get("market_size", 2.0)),
                           "assumed", "potential tokens = M × observed OpenRouter tokens "
                           "(sensitivity: llmecon fit llm_demand writes sensitivity.csv)"))
    theta = cost_parameters(hw)
    for name in ("peak_infer", "bandwidth", "price_per_hour"):
        ref = published_reference(name, None, hw) or f"{hw} preset (structural.hardware)"
        rows.append(Provenance(name, float(theta[name]), "published", ref))
    for name in ("u_prefill", "u_decode", "bytes_per_param", "bytes_kv"):
        rows.append(Provenance(name, float(theta[name]), "assumed",
                               "structural.costs.cost_parameters default (roofline serving)"))
    rows.append(Provenance("query_tokens", llm_api.QUERY_TOKENS, "assumed",
                           "tokens per query of the roofline (structural.market.llm_api)"))
    for k, v in sc.change.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            rows.append(Provenance(f"change.{k}", float(v), "assumed",
                                   f"the scenario's {sc.change['type']} (the question asked)"))
    return pd.DataFrame([r.as_dict() for r in rows])


def variance_decomposition(heads: dict, fit: llm_api.LLMDemandFit, th, al) -> pd.DataFrame:
    """First-order variance shares of each headline quantity by demand-parameter group
    (:func:`structural.counterfactual.sensitivity.decomposition`, the pipeline scenarios'
    estimator): the price coefficient α and each nonlinear parameter (σ, ρ). Draw 0 (the
    estimate) is left out; NaN where fewer than 20 draws converged."""
    from structural.counterfactual import sensitivity

    prob = fit.results.problem
    theta = {"prices": np.asarray(al)}
    groups = {"price coefficient α": ["prices"]}
    for i, (kind, _, _) in enumerate(prob.locations):
        if kind != "beta":
            name = str(fit.results.params.index[i])
            theta[name] = np.asarray(th)[:, i]
            groups[f"{'nesting' if kind == 'rho' else 'random coefficient'} {name}"] = [name]
    vd = sensitivity.decomposition({k: np.asarray(v)[1:] for k, v in heads.items()}, theta,
                                   groups)
    vd.attrs["method"] = sensitivity.METHOD
    return vd


def _decomposition_json(vd: pd.DataFrame) -> dict:
    from structural.counterfactual.report import _decomposition_json as as_json

    return as_json(vd)


def _entrant_delta(fit, ch, alpha):
    """x_e β of the entrant per market (T,), without the price term."""
    del alpha
    res = fit.results
    prob = res.problem
    df = fit.products
    q = df["quality"].to_numpy()
    qz = (float(ch["quality"]) - q.mean()) / q.std()
    ctx = float(ch.get("context_length", df["context_length"].median()))
    x = {"1": 1.0, "quality_z": qz, "log_context": np.log(ctx), "context_missing": 0.0,
         "reasoning": float(bool(ch.get("reasoning", False))), "log_age": 0.0,
         "open_weights_known": 1.0}
    names = prob.products.X1_names
    order = list(pd.Series(prob.layout.market_ids).sort_values().index)
    T = prob.layout.T
    out = np.zeros(T)
    for t in range(T):
        xt = dict(x)
        rank = order.index(t)
        for i in range(1, T):
            xt[f"wk{i}"] = float(rank == i)
        out[t] = sum(res.beta[k] * xt[n] for k, n in enumerate(names) if n != "prices")
    return jnp.asarray(out)


def _entrant_nest(prob, products: pd.DataFrame, ch: dict) -> int:
    """The entrant's nest code: its capability tier, or "open" with nests by weights."""
    if prob.nests is None:
        return 0
    uniq = sorted(pd.unique(pd.Series(prob.products.nesting_ids)))
    if products.attrs.get("nests") == "tier":
        name = str(llm_api.capability_tier([ch["quality"]], products.attrs["quality_median"])[0])
    else:
        name = "open"
    return uniq.index(name) if name in uniq else 0


def _write(out: Path, sc: MarketScenario, table: pd.DataFrame, surplus: pd.DataFrame,
           summary: dict, prov: pd.DataFrame, vd: pd.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from structural.counterfactual.outputs import to_markdown, write_json, write_table

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_table(table, out, "products", sc.title)
    write_table(surplus, out, "surplus", "Change in consumer surplus ($ per week)")
    write_table(prov, out, "provenance",
                "Every parameter: value, source (fitted, published, assumed), reference")
    write_table(vd, out, "variance_decomposition", "Share of each headline quantity's variance "
                "due to each parameter group (first-order Sobol index)")
    write_json(summary, out / "summary.json")
    last = table[table["market_ids"] == table["market_ids"].max()].copy()
    last["dprice"] = last["new_price"] - last["price"]
    movers = last.reindex(last["dprice"].abs().sort_values(ascending=False).index).head(15)
    top = last.sort_values("new_share", ascending=False).head(15)
    fig, ax = plt.subplots(1, 2, figsize=(12, 5))
    ax[0].barh(movers["product_ids"], movers["dprice"].fillna(0.0))
    ax[0].set_xlabel("price change, $/Mtok (last week)")
    ax[0].set_title("Largest price changes")
    ax[1].barh(top["product_ids"], top["new_share"] - top["share"])
    ax[1].set_xlabel("share change (last week)")
    ax[1].set_title("Share changes of the 15 largest products")
    fig.suptitle(sc.title)
    fig.tight_layout()
    fig.savefig(out / "changes.png", dpi=100)
    plt.close(fig)
    lines = [f"# {sc.title}", "", sc.description, "", "## Assumptions", ""]
    lines += [f"- {a}" for a in sc.assumptions]
    lines += [f"- Demand: {summary['model']} logit family fitted on the bundled OpenRouter data; "
              f"price coefficient {summary['alpha']:.4g} per $/Mtok.",
              "- Closed models priced by their lab (Bertrand–Nash); open-weights models at "
              "marginal cost (competitive providers).",
              f"- Intervals: 2.5–97.5 % over {summary['draws_converged']} of "
              f"{summary['draws']} parametric draws of the demand parameters.", "",
              "## Result", "",
              f"Consumer surplus changes by ${summary['cs_change_total_usd']:,.0f} over the "
              f"window (95 % interval ${summary['cs_change_total_low']:,.0f} to "
              f"${summary['cs_change_total_high']:,.0f}).", ""]
    for k in ("median_pass_through_closed", "entrant_cost_per_mtok", "entrant_share_mean"):
        if summary.get(k) is not None:
            lines.append(f"- {k.replace('_', ' ')}: {summary[k]:.4g}")
    from structural.counterfactual.report import _variance_lines

    lines += ["", "## Parameters: value, source and reference", "", to_markdown(prov),
              "", "## What drives the answer: share of variance by parameter group", "",
              *_variance_lines(vd, console=False)]
    lines += ["", "## Consumer surplus by week", "", to_markdown(surplus), "",
              "## Largest price changes (last week)", "",
              to_markdown(movers.drop(columns=["dprice"])), "", "![changes](changes.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
