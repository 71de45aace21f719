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

``[market] price_form`` (or ``llmecon counterfactual … --price-form``) picks how price enters
utility: ``"log"`` (default, α log p) or ``"level"`` (α p). It is the assumption behind the
compute-price shock's pass-through: above one for closed models in log price, where the markup is
proportional to the price, below one in level price (:mod:`structural.market.llm_api`).

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

from structural.counterfactual.plots import import_in_background
from structural.counterfactual.sensitivity import decomposition_json, variance_lines
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
_MARKET_KEYS = {"model", "nests", "freq", "market_size", "hardware", "draws", "nodes", "seed",
                "price_form"}


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
    market["price_form"] = _checked_price_form(market.get("price_form", "log"),
                                               "market.price_form")
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


def run(path: Path, out: Path, draws: int | None = None, seed: int | None = None,
        price_form: str | None = None) -> dict:
    """Run a market scenario; write its tables, report and plot to ``out``; return a summary.

    Parameters
    ----------
    path, out : Path
        The scenario's TOML file and the folder written.
    draws, seed : int, optional
        Parametric draws of the demand parameters and their seed (default: the scenario's
        ``market.draws`` / ``market.seed``, else 100 and 0).
    price_form : {"log", "level"}, optional
        How price enters utility (default: the scenario's ``market.price_form``, else "log"):
        see :data:`structural.market.llm_api.PRICE_FORMS`. It decides pass-through: above one
        for closed models in log price (markup ∝ price), below one in level price.

    Examples
    --------
    A merger of two labs, with two parameter draws (the shipped scenario uses more):

    >>> import tempfile
    >>> from importlib.resources import files
    >>> from structural.market.llm_scenarios import run
    >>> with tempfile.TemporaryDirectory() as out:
    ...     summary = run(files("structural.examples.scenarios") / "lab_merger.toml", out, draws=2)
    >>> summary["change"]["type"], summary["draws"], summary["price_form"]
    ('merger', 2, 'log')
    """
    sc = load(path)
    m = sc.market
    draws = int(m.get("draws", 100) if draws is None else draws)
    seed = int(m.get("seed", 0) if seed is None else seed)
    form = _checked_price_form(m.get("price_form", "log") if price_form is None else price_form,
                               "price_form")
    products = llm_api.llm_products(m.get("freq", "W"), float(m.get("market_size", 2.0)),
                                    m.get("hardware", "H100"), nests=m.get("nests", "tier"))
    _check_targets(sc.change, products)
    fit = llm_api.fit_llm_demand(products, m["model"], draws=max(draws, 2), seed=seed,
                                 nodes=int(m.get("nodes", llm_api.RC_NODES)), price_form=form,
                                 diagnostics=False, supply=False)
    _check_downward_sloping(fit)
    th, al = llm_api.parameter_draws(fit.results, max(draws, 2), seed)
    plotting = import_in_background()  # beside the equilibria's compiled code
    solved = _solve_draws(fit, sc.change, products, th, al)
    table, P, S = _products_table(fit, sc.change, products, solved)
    surplus, totals = _surplus_table(fit, products, solved)
    summary = _summary(fit, sc, table, solved, totals)
    if "pass_through" in table:
        lo, hi = _pass_through_interval(fit, table, P, solved)
        summary["median_pass_through_closed_low"] = lo
        summary["median_pass_through_closed_high"] = hi
    heads = _headlines(table, P, S, solved, totals)
    prov = provenance(fit, sc, products)
    vd = variance_decomposition(heads, fit, th, al)
    summary["parameters"] = prov.to_dict(orient="records")
    summary["variance_decomposition"] = decomposition_json(vd)
    summary["parameter_draws"] = (f"{len(solved['ok']) - 1} draws of the demand parameters "
                                  "(θ, α) ~ N(estimate, GMM covariance), draw 0 the estimate")
    plotting.join()
    _write(out, sc, table, surplus, summary, prov, vd)
    return summary


def _checked_price_form(form: str, where: str) -> str:
    if form not in llm_api.PRICE_FORMS:
        raise ScenarioError(where, f"expected one of {', '.join(llm_api.PRICE_FORMS)}, got "
                            f"{form!r}")
    return form


def _check_downward_sloping(fit: llm_api.LLMDemandFit) -> None:
    """A price coefficient that is not negative has no Bertrand–Nash equilibrium to solve for
    (the nested logit in level price on these data: α ≈ +0.10, s.e. 0.07)."""
    a = float(fit.results.price_coefficient)
    if not a < 0:
        se = float(fit.results.bse.get("prices", np.nan))
        raise ScenarioError("market.price_form", f"the {fit.model} demand in {fit.mm.price_form} "
                            f"price has a price coefficient {a:.3g} (s.e. {se:.2g}) that is not "
                            "negative: demand does not slope down and no Bertrand–Nash "
                            "equilibrium exists; use price_form = \"log\" or another model")


def _check_targets(ch: dict, products: pd.DataFrame) -> None:
    """The models a withdrawal names and the firms a merger names exist in the data."""
    if ch["type"] == "withdraw":
        unknown = [x for x in ch.get("models", []) if x not in set(products["product_ids"])]
        if not ch.get("models") or unknown:
            raise ScenarioError("change.models", f"unknown model {unknown[0]!r} (not an inside "
                                f"product of the data)" if unknown else "list at least one model")
    if ch["type"] == "merger":
        firms = set(products["firm_ids"])
        unknown = [x for x in ch.get("firms", []) if x not in firms]
        if len(ch.get("firms", [])) < 2 or unknown:
            raise ScenarioError("change.firms", f"unknown firm {unknown[0]!r}" if unknown
                                else "list at least two firms")


def _new_costs(ch: dict, c, roof, closed):
    """Marginal costs after a compute-price or guardrail change (others leave them)."""
    if ch["type"] == "compute_price":
        f = float(ch["factor"]) - 1.0
        share = float(ch.get("compute_share", 1.0))
        return jnp.where(jnp.isfinite(roof), c + f * jnp.nan_to_num(roof),
                         c + f * share * jnp.maximum(c, 0.0))
    if ch["type"] == "guardrail":
        extra = float(ch.get("cost", 0.0)) + float(ch.get("share", 0.0)) * c
        return jnp.where(closed, c + extra, c)
    return c


def _market_change(ch: dict, products: pd.DataFrame, prob, closed_long) -> dict:
    """The ``equilibrium`` keywords of a withdrawal (mask) or a merger (owners)."""
    lay = prob.layout
    if ch["type"] == "withdraw":
        gone = lay.pad(products["product_ids"].isin(ch["models"]).to_numpy(), fill=False)
        return {"mask": prob.mask & ~jnp.asarray(gone)}
    if ch["type"] == "merger":
        firm_long = products["firm_ids"].to_numpy()
        merged = np.where(np.isin(firm_long, ch["firms"]) & closed_long, "merged:"
                          + "+".join(ch["firms"]), firm_long)
        return {"owners": jnp.asarray(lay.pad(pd.factorize(merged)[0], fill=-1))}
    return {}


def _entry_equilibrium(mm: llm_api.MarketModel, theta, alpha, d, c1, entrant, x_e,
                       nest_e: int, groups: int | None = None, fallback: bool = True):
    """The equilibrium with the entrant as an extra, competitively priced slot per market:
    ``entrant`` its (cost, quality_z), ``x_e`` its x β per market without the price term
    (:func:`_entrant_delta`), ``nest_e`` its nest code (:func:`_entrant_nest`); ``groups`` and
    ``fallback``: see :func:`structural.market.llm_api.equilibrium`."""
    prob = mm.results.problem
    T, J = prob.mask.shape
    c_e, qz_e = entrant
    mu, w, a_rc, rho_j = mm.params(theta, alpha)
    price_term = np.log(c_e) if mm.log_price else c_e
    d_e = jnp.asarray(x_e) + alpha * price_term
    if prob.K2:
        coefs = jax.vmap(random_coefficients, in_axes=(None, None, 0, 0))(
            *prob.unpack(theta)[:2], prob.nodes, prob.demog)
        mu_e = jnp.einsum("k,tki->ti", jnp.array([price_term, qz_e]), coefs)
    else:
        mu_e = jnp.zeros((T, mu.shape[2]))
    rho_e = jnp.full(T, prob.unpack(theta)[2][0]) if prob.nests is not None else jnp.zeros(T)
    terms = (jnp.concatenate([mu, mu_e[:, None, :]], axis=1), w, a_rc, _augment(rho_j, rho_e))
    nest0 = jnp.asarray(prob.nests_pad) if prob.nests is not None else jnp.zeros((T, J), int)
    return llm_api.equilibrium(
        mm, theta, alpha, _augment(d, d_e), _augment(c1, jnp.full(T, c_e)),
        owners=_augment(jnp.asarray(mm.owners), jnp.full(T, J + 10_000)),
        closed=_augment(jnp.asarray(mm.closed), jnp.zeros(T, bool)),
        mask=_augment(prob.mask, jnp.ones(T, bool)),
        prices=_augment(jnp.asarray(mm.levels), jnp.full(T, c_e)), terms=terms,
        nest=_augment(nest0, jnp.full(T, nest_e)), groups=groups, fallback=fallback)


def _solve_draws(fit: llm_api.LLMDemandFit, ch: dict, products: pd.DataFrame, th, al) -> dict:
    """Back out costs at the observed prices, apply the change and solve the new equilibrium
    for every parameter draw (batches of :data:`DRAW_BATCH` vmapped draws in one compiled map).

    Everything the solver needs from the tables (roofline costs, the change's mask or owners,
    the entrant's cost, utility and nest) is computed here as arrays, so the compiled map is a
    kept program (:func:`structural.market.llm_api.kept_program`) that a later run reads back
    instead of tracing.

    Returns numpy arrays over draws: ``p``, ``s`` (T, J[+1]), ``dcs`` (T,), ``dc`` (T, J),
    ``ok`` (converged), and ``entrant`` (its cost and quality_z) for an entry."""
    return _solve_program(fit, ch, products)(th, al)


def _solve_program(fit: llm_api.LLMDemandFit, ch: dict, products: pd.DataFrame):
    """The compiled map over draws of :func:`_solve_draws`: a function of (θ draws, α draws)."""
    mm, prob = fit.mm, fit.results.problem
    lay = prob.layout
    roof = lay.pad(products["roofline_cost"].to_numpy(float), fill=np.nan)
    kw = {k: np.asarray(v) for k, v in _market_change(ch, products, prob,
                                                      lay.unpad(mm.closed)).items()}
    entry = None
    if ch["type"] == "open_model_entry":
        entry = (_entrant(fit, ch), np.asarray(_entrant_delta(fit, ch, None)),
                 _entrant_nest(prob, products, ch))
    # the nested equilibrium's unknowns, one per owner × nest of closed products (the entrant
    # is priced competitively): counted here, where the arrays have values
    groups = llm_api.firm_nest_groups(
        kw.get("owners", mm.owners), mm.closed, kw.get("mask", np.asarray(prob.mask)),
        prob.nests_pad if prob.nests is not None else np.zeros(prob.mask.shape, int))
    costs = {k: v for k, v in ch.items() if k in ("type", "factor", "compute_share", "cost",
                                                   "share")}

    def one(theta, alpha, fallback):
        d = mm.delta(theta)
        _, eta, _, cs0 = llm_api.supply_terms(mm, theta, alpha, d)
        c = jnp.where(prob.mask, jnp.asarray(mm.levels) - eta, 0.0)
        c1 = _new_costs(costs, c, jnp.asarray(roof), jnp.asarray(mm.closed))
        if entry is not None:
            p, s1, cs1, _, ok = _entry_equilibrium(mm, theta, alpha, d, c1, *entry, groups,
                                                   fallback)
        else:
            p, s1, cs1, _, ok = llm_api.equilibrium(
                mm, theta, alpha, d, c1, groups=groups, fallback=fallback,
                **{k: jnp.asarray(v) for k, v in kw.items()})
        return p, s1, cs1 - cs0, c1 - c, jnp.all(ok)

    def program(fallback: bool):
        # draws in vmapped batches: Newton's Jacobian of the nested first-order conditions
        # holds a J × J × J tangent per market, too much memory to vmap over every draw at once
        return llm_api.kept_program(
            "llm_scenarios equilibria", lambda t, a: jax.lax.map(
                lambda x: one(*x, fallback), (t, a), batch_size=DRAW_BATCH),
            mm, costs, roof, kw, entry, groups, DRAW_BATCH, fallback)

    nested = prob.nests is not None

    def run(th, al) -> dict:
        th, al = jnp.asarray(th), jnp.asarray(al)
        # the nested logit without its fallback Newton first (a smaller program, read back
        # faster: llm_api.equilibrium); where a draw has a market the fallback would have
        # worked on, every draw again with it, so the results are those of the full solver
        p_d, s_d, dcs_d, dc_d, ok_d = program(not nested)(th, al)
        if nested and not np.all(np.asarray(ok_d)):
            p_d, s_d, dcs_d, dc_d, ok_d = program(True)(th, al)
        ok = np.asarray(ok_d)
        if not ok[0]:
            from llmecon.errors import ComputationError

            raise ComputationError("the counterfactual equilibrium did not converge at the "
                                   "point estimate")
        return {"p": np.asarray(p_d), "s": np.asarray(s_d), "dcs": np.asarray(dcs_d),
                "dc": np.asarray(dc_d), "ok": ok, "entrant": None if entry is None
                else entry[0]}

    return run


def _products_table(fit: llm_api.LLMDemandFit, ch: dict, products: pd.DataFrame,
                    solved: dict) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Prices and shares before and after, per product and market, with 2.5–97.5 % intervals
    over the converged draws; cost change and pass-through for cost changes. Also returns the
    draws' prices and shares in the table's rows (draws × rows)."""
    lay = fit.results.problem.layout
    T = lay.T
    entry = solved["entrant"] is not None
    rows_t = np.concatenate([lay.t, np.arange(T)]) if entry else lay.t
    rows_j = np.concatenate([lay.j, np.full(T, lay.mask.shape[1])]) if entry else lay.j
    P = solved["p"][:, rows_t, rows_j]
    S = solved["s"][:, rows_t, rows_j]
    extra = T if entry else 0
    price = np.concatenate([products["prices"].to_numpy(), np.full(extra, np.nan)])
    share = np.concatenate([products["shares"].to_numpy(), np.zeros(extra)])
    if ch["type"] == "withdraw":
        gone = products["product_ids"].isin(ch["models"]).to_numpy()
        P[:, gone] = np.nan
        S[:, gone] = 0.0
    good = solved["ok"]
    closed = lay.unpad(fit.mm.closed)
    table = pd.DataFrame({
        "market_ids": pd.to_datetime(pd.Series(list(products["market_ids"])
                                               + (list(lay.market_ids) if entry else [])))
        .dt.date.astype(str),
        "product_ids": list(products["product_ids"])
        + [ch.get("name", "entrant/open-model")] * extra,
        "pricing": list(np.where(closed, "bertrand", "competitive")) + ["competitive"] * extra,
        "price": price, "new_price": P[0],
        "new_price_low": np.nanquantile(P[good], 0.025, axis=0),
        "new_price_high": np.nanquantile(P[good], 0.975, axis=0),
        "share": share, "new_share": S[0],
        "new_share_low": np.quantile(S[good], 0.025, axis=0),
        "new_share_high": np.quantile(S[good], 0.975, axis=0)})
    if ch["type"] in ("compute_price", "guardrail"):
        dc = solved["dc"][0][lay.t, lay.j]
        with np.errstate(divide="ignore", invalid="ignore"):
            table["cost_change"] = dc
            table["pass_through"] = np.where(np.abs(dc) > 1e-12,
                                             (table["new_price"] - table["price"]) / dc, np.nan)
    return table, P, S


def _surplus_table(fit: llm_api.LLMDemandFit, products: pd.DataFrame,
                   solved: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """Change in consumer surplus per market in $ (per-Mtok CS × the market's potential Mtok),
    with intervals, and its total over the window per draw."""
    lay = fit.results.problem.layout
    potential_mtok = np.asarray(
        products.groupby("market_ids", sort=False).apply(
            lambda g: (g["tokens"] / g["shares"]).iloc[0], include_groups=False
        ).reindex(lay.market_ids)) * 1e3
    dcs = solved["dcs"] * potential_mtok[None, :]
    good = solved["ok"]
    surplus = pd.DataFrame({"market_ids": pd.to_datetime(pd.Series(lay.market_ids)).dt.date
                            .astype(str),
                            "change_in_cs_usd": dcs[0],
                            "change_in_cs_low": np.quantile(dcs[good], 0.025, axis=0),
                            "change_in_cs_high": np.quantile(dcs[good], 0.975, axis=0)})
    return surplus, dcs.sum(axis=1)


def _summary(fit: llm_api.LLMDemandFit, sc: MarketScenario, table: pd.DataFrame, solved: dict,
             tot: np.ndarray) -> dict:
    """The headline numbers of ``summary.json`` (before provenance and variance shares)."""
    good = solved["ok"]
    summary = {"scenario": sc.title, "change": sc.change, "model": sc.market["model"],
               "price_form": fit.mm.price_form,
               "draws_converged": int(good.sum()), "draws": len(good),
               "alpha": float(fit.results.price_coefficient),
               "cs_change_total_usd": float(tot[0]),
               "cs_change_total_low": float(np.quantile(tot[good], 0.025)),
               "cs_change_total_high": float(np.quantile(tot[good], 0.975))}
    if "pass_through" in table:
        pt = table.loc[table["pricing"] == "bertrand", "pass_through"].dropna()
        summary["median_pass_through_closed"] = float(pt.median()) if len(pt) else None
    if solved["entrant"] is not None:
        T = fit.results.problem.layout.T
        summary["entrant_cost_per_mtok"] = solved["entrant"][0]
        summary["entrant_share_mean"] = float(table.iloc[-T:]["new_share"].mean())
    return summary


def _pass_through_interval(fit: llm_api.LLMDemandFit, table: pd.DataFrame, P: np.ndarray,
                           solved: dict) -> tuple[float | None, float | None]:
    """2.5–97.5 % over the converged draws of the closed models' median pass-through
    Δp/Δc (each draw's own backed-out costs, cost change and equilibrium)."""
    lay = fit.results.problem.layout
    n = len(lay.t)
    dc = solved["dc"][:, lay.t, lay.j]
    closed = (table["pricing"] == "bertrand").to_numpy()[:n] & (np.abs(dc) > 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        pt = np.where(closed, (P[:, :n] - table["price"].to_numpy()[None, :n]) / dc, np.nan)
    med = np.nanmedian(pt[solved["ok"]], axis=1) if closed.any() else np.array([])
    med = med[np.isfinite(med)]
    if not len(med):
        return None, None
    return float(np.quantile(med, 0.025)), float(np.quantile(med, 0.975))


def _headlines(table: pd.DataFrame, P: np.ndarray, S: np.ndarray, solved: dict,
               tot: np.ndarray) -> dict:
    """Per-draw headline quantities for the variance decomposition (NaN where the draw's
    equilibrium did not converge); ``P``, ``S`` the draws' prices and shares in the table's
    rows."""
    closed = (table["pricing"] == "bertrand").to_numpy()
    p_obs = table["price"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        heads = {"consumer surplus change, $ (window)": tot,
                 "mean closed-model price change, %": 100 * np.nanmean(
                     P[:, closed] / p_obs[None, closed] - 1.0, axis=1)}
    if solved["entrant"] is not None:
        T = solved["p"].shape[1]  # the entrant's rows, one per market, come last
        heads["entrant share (mean over weeks)"] = S[:, -T:].mean(axis=1)
    return {k: np.where(solved["ok"], v, np.nan) for k, v in heads.items()}


def provenance(fit: llm_api.LLMDemandFit, sc: MarketScenario,
               products: pd.DataFrame) -> pd.DataFrame:
    """Every parameter of a market scenario: name, value, source, reference.

    ``fitted``: the demand estimates (two-step GMM on the bundled OpenRouter tables, with their
    standard errors; the serving utilisations of ``llmecon fit serving``, held at their point
    estimates); ``published``: the roofline's hardware constants (the chip's datasheet);
    ``assumed``: the market size, the byte widths of :func:`structural.costs.cost_parameters`
    and the scenario's own change (the question asked)."""
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
    for name in ("u_prefill", "u_decode"):  # the serving fit's estimates, held at their points
        rows.append(Provenance(name, float(theta[name]), "fitted",
                               "serving_throughput, llmecon fit serving (NLS on TensorRT-LLM's "
                               "published throughput; see structural.costs.PREFILL_UTILISATION); "
                               "held at the point estimate, not drawn"))
    for name in ("bytes_per_param", "bytes_kv"):
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
    return out


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
    # the figure drawn without pyplot (its import and backend machinery are half a second)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

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
    fig = Figure(figsize=(12, 5))
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 2)
    ax[0].barh(movers["product_ids"], movers["dprice"].fillna(0.0))
    ax[0].set_xlabel("price change, $/Mtok (last week)")
    ax[0].set_title("Largest price changes")
    ax[1].barh(top["product_ids"], top["new_share"] - top["share"])
    ax[1].set_xlabel("share change (last week)")
    ax[1].set_title("Share changes of the 15 largest products")
    fig.suptitle(sc.title)
    fig.tight_layout()
    fig.savefig(out / "changes.png", dpi=100)
    lines = [f"# {sc.title}", "", sc.description, "", "## Assumptions", ""]
    lines += [f"- {a}" for a in sc.assumptions]
    log_form = summary["price_form"] == "log"
    lines += [f"- Demand: {summary['model']} logit family fitted on the bundled OpenRouter data; "
              f"price enters utility as α {'log p' if log_form else 'p'} (price form "
              f"'{summary['price_form']}'), α = {summary['alpha']:.4g} per "
              f"{'log $/Mtok' if log_form else '$/Mtok'}.",
              "- Pass-through of a cost change into closed prices is decided by that form: "
              + ("with α log p the markup is a share of the price (p = c/(1 − L)), so closed "
                 "prices move by more than the cost (pass-through above 1); rerun with "
                 "--price-form level for the alternative" if log_form else
                 "with α p the markup 1/(−α(1 − s)) shrinks as the price rises, so closed "
                 "prices move by less than the cost (pass-through below 1); the default "
                 "--price-form log gives the alternative") + ".",
              "- Closed models priced by their lab (Bertrand–Nash); open-weights models at "
              "marginal cost (competitive providers).",
              f"- Intervals: 2.5–97.5 % over {summary['draws_converged']} of "
              f"{summary['draws']} parametric draws of the demand parameters.", "",
              "## Result", "",
              f"Consumer surplus changes by ${summary['cs_change_total_usd']:,.0f} over the "
              f"window (95 % interval ${summary['cs_change_total_low']:,.0f} to "
              f"${summary['cs_change_total_high']:,.0f}).", ""]
    for k in ("median_pass_through_closed", "median_pass_through_closed_low",
              "median_pass_through_closed_high", "entrant_cost_per_mtok", "entrant_share_mean"):
        if summary.get(k) is not None:
            lines.append(f"- {k.replace('_', ' ')}: {summary[k]:.4g}")
    lines += ["", "## Parameters: value, source and reference", "", to_markdown(prov),
              "", "## What drives the answer: share of variance by parameter group", "",
              *variance_lines(vd, console=False)]
    lines += ["", "## Consumer surplus by week", "", to_markdown(surplus), "",
              "## Largest price changes (last week)", "",
              to_markdown(movers.drop(columns=["dprice"])), "", "![changes](changes.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
