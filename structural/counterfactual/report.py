"""Run a scenario end to end: solve, summarise, write tables, JSON and plots.

:func:`run` is the library entry point behind ``llmecon counterfactual``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estimation.compilation import prefetch_programs
from estimation.errors import SpecificationError
from estimation.tables import MAX_WIDTH
from structural.counterfactual import outputs, plots, sensitivity
from structural.counterfactual.engine import (
    Solution,
    breakevens,
    probability_cheapest,
    solve_grid,
)
from structural.counterfactual.params import ParameterDraws, Published, make_draws
from structural.counterfactual.scenario import (
    Scenario,
    draw_targets,
    load_scenario,
    point_parameters,
)
from structural.counterfactual.sensitivity import _wrap, decomposition_json, variance_lines
from structural.counterfactual.shocks import shock_table
from structural.counterfactual.stream import sweep

__all__ = ["CounterfactualResult", "decomposition_json", "run", "variance_lines"]

#: The figures a run draws, in the order :meth:`CounterfactualResult.write` lists them.
FIGURES = ("cost_vs_queries", "probability_cheapest", "cost_shares", "guardrail_costs")


@dataclass
class CounterfactualResult:
    """What a run produced: ``tables`` (name → DataFrame), the assumptions it rests on, how the
    parameters were drawn, and the raw :class:`Solution` (``solution``) for further analysis.

    Examples
    --------
    >>> from importlib.resources import files
    >>> from structural.counterfactual import run
    >>> res = run(files("structural.examples.scenarios") / "equal_spend_tradeoff.toml", draws=20)
    >>> sorted(res.tables)
    ['breakeven', 'costs', 'prices', 'provenance', 'stage_shares', 'variance_decomposition']
    >>> res.render().splitlines()[0]
    '# Erdil (2024): equal spending on training and inference'
    """

    scenario: Scenario
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)
    draws: ParameterDraws | None = None
    solution: Solution | None = None
    breakevens: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self, console: bool = False) -> str:
        """A short text report: assumptions, break-evens, parameters, what drives the answer.

        ``console``: fit a terminal of 100 columns (long references cut with "…", the variance
        shares one line per quantity); ``report.md`` and the tables keep everything."""
        lines = [f"# {self.scenario.title}", ""]
        if self.draws is not None:
            lines += _wrap(f"Parameters: {self.draws.describe()}")
        lines += ["", "Assumptions:"]
        lines += [w for a in self.assumptions for w in _wrap(f"- {a}")] + [""]
        if "breakeven" in self.tables and len(self.tables["breakeven"]):
            lines.append("Break-even lifetime queries (price point 0):")
            for _, r in self.tables["breakeven"].query("price_point == 0").iterrows():
                lines += _wrap(_breakeven_line(r))
        if "guardrail_summary" in self.tables:
            lines.append("")
            lines.append(outputs.to_markdown(self.tables["guardrail_summary"]))
        if "provenance" in self.tables:
            prov = self.tables["provenance"]
            lines += ["", "## Parameters: value, source and reference", "",
                      _narrow_markdown(prov) if console
                      else outputs.to_markdown(prov)]
        if "variance_decomposition" in self.tables:
            lines += ["", "## What drives the answer: share of variance by parameter group", ""]
            lines += variance_lines(self.tables["variance_decomposition"], console)
        lines += ["", *[w for n in self.notes for w in _wrap(n)]]
        if self.files:
            lines.append(f"Wrote {len(self.files)} files.")
        return "\n".join(lines)

    def write(self, out: str | Path, drawer: plots.Drawer | None = None) -> list[Path]:
        """Write every table (CSV, Markdown, LaTeX), ``summary.json``, ``report.md``, plots
        (those ``drawer`` was given already drawn there, see :meth:`figure`)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files: list[Path] = []
        captions = {
            "costs": "Minimised total cost by hypothesis and lifetime queries",
            "breakeven": "Break-even lifetime queries between hypotheses",
            "stage_shares": "Share of total cost by stage at the reference Q",
            "shocks": "Shocks: cost per query, optimal levers and the cheapest hypothesis",
            "prices": "Price points",
            "provenance": "Every parameter: value, source (fitted, published, assumed), reference",
            "variance_decomposition": "Share of each headline quantity's variance due to each "
                                      "parameter group (first-order Sobol index)",
            "guardrail_summary": "Adversary's expected cost of one disallowed output",
            "guardrail_elasticities": "Elasticity of the adversary's cost to each parameter",
            "guardrail_sweep": "Adversary's cost against per-attempt success probability",
        }
        for name, df in self.tables.items():
            if len(df):
                files += outputs.write_table(df, out, name, captions.get(name, name))
        sc = self.scenario
        summary = {
            "title": sc.title, "description": sc.description, "source": sc.source,
            "unit": sc.unit, "assumptions": self.assumptions,
            "parameter_draws": self.draws.describe() if self.draws else None,
            "parameters": [p.as_dict() for p in sc.provenance],
            "variance_decomposition": decomposition_json(self.tables.get(
                "variance_decomposition")),
            "target": ({"kind": sc.target.kind, "value": sc.target.value}
                       if sc.technology is not None else None),
            "hypotheses": [{"name": h.name, "free": list(h.free), "fixed": dict(h.fixed),
                            "charge_pretraining": h.charge_pretraining,
                            "description": h.description} for h in sc.hypotheses],
            "tables": {k: outputs.records(v) for k, v in self.tables.items()},
            "notes": self.notes,
        }
        files.append(outputs.write_json(summary, out / "summary.json"))
        for name in FIGURES:
            job = self.figure(name, out)
            if job is not None:
                path, draw, args = job
                files.append((drawer.result(path) if drawer is not None else None)
                             or draw(*args))
        report = out / "report.md"
        report.write_text(self.render() + "\n")
        files.append(report)
        self.files = files
        return files

    def figure(self, name: str, out: str | Path, tables: dict[str, pd.DataFrame] | None = None
               ) -> tuple[Path, Any, tuple] | None:
        """Figure ``name`` (one of :data:`FIGURES`) of the tables so far (or of ``tables``),
        written to ``out``: (path, drawing function, its arguments), or None where its table
        is missing.

        Examples
        --------
        >>> from importlib.resources import files
        >>> from structural.counterfactual import run
        >>> res = run(files("structural.examples.scenarios") / "equal_spend_tradeoff.toml",
        ...           draws=20)
        >>> path, draw, args = res.figure("probability_cheapest", "out")
        >>> path.name, draw.__name__, res.figure("guardrail_costs", "out")
        ('probability_cheapest.png', 'plot_probability_cheapest', None)
        """
        sc, t, out = self.scenario, self.tables if tables is None else tables, Path(out)
        path = out / f"{name}.png"
        if name == "cost_vs_queries" and "costs" in t:
            return path, plots.plot_cost_vs_queries, (t["costs"], t.get("breakeven",
                                                      pd.DataFrame()), path, sc.title, sc.unit)
        if name == "probability_cheapest" and "costs" in t:
            return path, plots.plot_probability_cheapest, (
                t["costs"], path, f"{sc.title}: P(cheapest) over parameter draws")
        if name == "cost_shares" and "stage_shares" in t:
            return path, plots.plot_cost_shares, (t["stage_shares"], path,
                                                  f"{sc.title}: cost by stage")
        if name == "guardrail_costs" and "guardrail_sweep" in t:
            return path, plots.plot_guardrail_costs, (t["guardrail_sweep"], path, sc.title)
        return None


def _narrow_markdown(df: pd.DataFrame) -> str:
    """``df`` as Markdown with each row's last cell cut (with "…") so that no line passes the
    console width."""
    out = []
    for line in outputs.to_markdown(df).splitlines():
        over = len(line) - MAX_WIDTH
        if over > 0:
            head, _, cell = line[:-2].rpartition(" | ")
            line = f"{head} | {cell[:max(len(cell) - over - 1, 8)]}… |"
        out.append(line)
    return "\n".join(out)


def _breakeven_line(r: pd.Series) -> str:
    """One pair's break-even for the console: the point value, the draws' 95% interval, and
    the share of draws whose costs never cross on the Q grid (their break-even is undefined,
    so the interval describes only the draws that do cross)."""
    q = r["Q_breakeven"]
    ci = (f"[{r['Q_lo']:.3g}, {r['Q_hi']:.3g}]" if "Q_lo" in r and
          np.isfinite(r.get("Q_lo", np.nan)) else "")
    text = f"- {r['pair']}: " + (f"Q = {q:.4g}" if np.isfinite(q) else str(r["note"]))
    crossing = r.get("draws_crossing", np.nan)
    never = 1.0 - crossing if np.isfinite(crossing) else 0.0
    if never <= 0:
        return text + (f" {ci}" if ci and np.isfinite(q) else "")
    pct = f"{never:.0%}" if never >= 0.01 else f"{never:.2%}"
    text += f"; {pct} of draws never cross on the Q grid"
    if ci:
        text += f", the others cross in {ci} (95%)"
    return text


def assumptions_of(sc: Scenario) -> list[str]:
    """The assumptions a scenario's results rest on: the scenario's own, then those implied by
    the levers and parameters it uses."""
    out = list(sc.assumptions)
    if sc.technology is None:
        return out
    p = point_parameters(sc)
    if sc.technology.name == "firm":
        out.append("Firm's problem of structural.firm (SQP-Newton to convergence; unconverged "
                   "points are reported, never averaged): costs of structural.costs (decode as a "
                   "roofline, KV cache, one price per chip-hour for every stage; data cost on the "
                   "unique tokens U), quality composition of structural.quality (its defaults "
                   f"are assumptions where no published value exists); hardware "
                   f"{sc.price_table.attrs.get('hardware', '')}")
        return out
    if sc.technology.name == "tradeoff":
        out.append(f"Erdil (2024) trade-off: performance w_T·log T + w_I·log I with w_T = "
                   f"{p['w_T']:g}, w_I = {p['w_I']:g} (iso-performance slope "
                   f"{-p['w_T'] / p['w_I']:g})")
        return out
    used = {lv for h in sc.hypotheses for lv in h.free} | {
        lv for h in sc.hypotheses for lv, v in h.fixed.items()
        if (lv == "D_F" and v > 0) or (lv == "k" and v > 1) or (lv == "c" and v > 0)}
    out.append(f"Pretraining loss: Chinchilla law with A = {p['A']:g}, B = {p['B']:g}, "
               f"E = {p['E']:g}, α = {p['alpha']:g}, β = {p['beta']:g}; tokens beyond the unique "
               "stock U are repeats worth less (Muennighoff et al. 2023); data cost = price × "
               "min(D, U)")
    if p["task_data_share"] != 1.0:
        out.append(f"ρ = {p['task_data_share']:g} of pretraining tokens count as task data "
                   "(assumption)")
    if "c" in used or p["ctx_alpha"] > 0:
        out.append(f"Context → task link (assumption, no transferable published law): excess task "
                   f"loss (α_c/(c + x))^β_c with α_c = {p['ctx_alpha']:g}, β_c = "
                   f"{p['ctx_beta']:g} (the form of Xiong et al. 2023)")
    if "D_F" in used:
        out.append(f"Fine-tuning as transferred data (Hernandez et al. 2021): D_T = k (χ D_F)^α_T "
                   f"N^β_T / χ with k = {p['ft_k']:g}, α_T = {p['ft_alpha']:g}, β_T = "
                   f"{p['ft_beta']:g}, χ = {p['chars_per_token']:g} characters/token; D_F + D_T "
                   "added to task data (eq. 1.1)")
    if sc.target.kind == "success":
        src = {r.name: r.source for r in sc.provenance}.get("kappa", "assumed")
        out.append(f"Loss → success link μ = σ(κ(ℓ_task − L)) with κ = {p['kappa']:g}, ℓ_task = "
                   f"{p['ell_task']:g}, φ = {p['phi']:g} ({src}; see the parameter table)")
    if "k" in used or sc.target.kind == "success":
        rule = sc.technology.selection
        how = {"oracle": "a free, perfect verifier picks a correct attempt when one exists "
                         "(pass@k, an upper bound)",
               "majority": "majority vote over the k attempts, no verifier",
               "verifier": f"a verifier checks attempts one at a time (false positives "
                           f"{p['verifier_fpr']:g}, false negatives {p['verifier_fnr']:g}; each "
                           "check priced as the prefill of one answer)"}[rule]
        out.append(f"Repeated sampling: Beta-distributed per-problem success (φ = {p['phi']:g}); "
                   f"answer selection: {how}")
    if (p["tokens_in_logsd"] > 0 or p["tokens_out_logsd"] > 0) and not any(
            "request trace" in a for a in out):
        out.append("Tokens per query lognormal (usage distribution), independent input/output; "
                   "the per-query cost is its expectation over them")
    if sc.unit == "dollars":
        u = sc.price_table.attrs.get("utilisation", {})
        out.append(f"Dollars: the cost accounting of structural.costs (training FLOPs / (peak × "
                   f"utilisation); prefill and decode rooflines with weight and KV-cache reads, "
                   f"serving batch limited by accelerator memory, else chosen for cost) × "
                   f"$/chip-hour per stage; hardware {sc.price_table.attrs.get('hardware', '')}; "
                   "utilisation " + ", ".join(f"{k} {v:g}" for k, v in u.items())
                   + " (training: the fitted value when a fit supplies u_train; see the "
                   "parameter table)")
    else:
        out.append("Costs in FLOPs (training 6ND, inference 2N per token without attention), no "
                   "dollar prices")
    return out


def _pct(a: np.ndarray, q: float, axis: int = 0) -> np.ndarray:
    """Percentile over finite values (inf = unreachable draws are excluded and counted apart)."""
    a = np.where(np.isfinite(a), a, np.nan)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanpercentile(a, q, axis=axis)


def run(scenario: Scenario | str | Path, draws: int = 200, seed: int = 0,
        out: str | Path | None = None, *, store: str | Path | None = None,
        scheduler: Any = None, progress: Any = None,
        replace_other: bool = False) -> CounterfactualResult:
    """Solve a scenario and (if ``out``) write its tables, JSON and plots.

    Parameters
    ----------
    scenario : Scenario or path
        The scenario, or the path of its TOML file.
    draws : int
        K parameter draws for the uncertainty (ignored for published constants).
    seed : int
        Seed of the draws.
    out : path, optional
        Directory for the outputs.
    store : folder, optional
        Stream the solve in chunks of draws written there (:func:`~.stream.sweep`); a run
        interrupted after some chunks resumes from them when called again with the same store.
    scheduler : Dask scheduler address or ``distributed.Client``, optional
        Solve the chunks on that cluster (needs ``store``; same bytes as one process).
    progress : estimation.progress.Progress, optional
        Advanced by the points solved (with ``store``).
    replace_other : bool
        A ``store`` holding another sweep is emptied and reused instead of refused.

    Returns
    -------
    CounterfactualResult

    Examples
    --------
    Erdil's (2024) equal-spending result, from a shipped scenario (pass ``out=`` to write the
    tables, report and plots):

    >>> from importlib.resources import files
    >>> from structural.counterfactual import run
    >>> res = run(files("structural.examples.scenarios") / "equal_spend_tradeoff.toml", draws=20)
    >>> res.tables["costs"].columns.tolist()
    ['hypothesis', 'price_point', 'Q', 'total', 'per_query', 'fixed', 'variable_per_query', 'T',
    'I', 'status', 'p_cheapest']
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    # The programs this scenario's last run used are read back on a second thread meanwhile
    # (a warm run's largest cost: XLA deserialising a dozen solvers' machine code).
    record = prefetch_programs(f"counterfactual.run|{sc.title}|{[repr(h) for h in sc.hypotheses]}"
                               f"|{len(sc.queries)}")
    res = CounterfactualResult(sc, assumptions=assumptions_of(sc))
    if scheduler is not None and store is None:
        raise SpecificationError("scheduler= needs store=: the folder where the cluster's "
                                 "chunks are written")
    # the figures drawn on a thread as their tables are made (matplotlib imported there first)
    drawer = plots.Drawer() if out is not None else None
    finished = False
    try:
        _run(sc, res, draws, seed, out, store, scheduler, progress, replace_other, record,
             drawer)
        finished = True
    finally:
        if drawer is not None:
            drawer.close(cancel=not finished)
    return res


def _run(sc: Scenario, res: CounterfactualResult, draws: int, seed: int, out: str | Path | None,
         store: str | Path | None, scheduler: Any, progress: Any, replace_other: bool,
         record: Any, drawer: plots.Drawer | None) -> None:
    """:func:`run` once the scenario is loaded: solve, tabulate, write to ``out``."""
    if sc.hypotheses:
        _solve(sc, res, draws, seed, store, scheduler, progress, replace_other,
               overlap=record.ahead > 0, drawer=drawer, out=out)
    if sc.guardrails is not None:
        g = sc.guardrails.analyse()
        res.tables.update(g)
        if not sc.hypotheses:     # the guardrail question alone: its provenance, no draws
            res.tables["provenance"] = pd.DataFrame([p.as_dict() for p in sc.provenance])
            res.tables["variance_decomposition"] = _no_variance_table(
                [f"log expected cost: {r}" for r in g["guardrail_summary"]["route"]])
        thr = g["guardrail_summary"].attrs.get("p_threshold", 0.0)
        if thr > 0:
            res.notes.append(f"Guardrail: below a per-attempt success of {thr:.3g} the API route "
                             "is dearer than fine-tuning open weights, so a stronger guardrail "
                             "shifts no further cost.")
    record()
    if out is not None:
        res.write(out, drawer)


def _draws(sc: Scenario, res: CounterfactualResult, draws: int, seed: int) -> ParameterDraws:
    """The parameter draws (row 0 the point estimate) with their targets, and the provenance
    table."""
    pdraws = make_draws(sc.parameters, point_parameters(sc),
                        0 if isinstance(sc.parameters, Published) else draws, seed,
                        sc.technology.positive)
    targets = draw_targets(sc, pdraws.theta)
    if targets is not None:   # a relative target: the reference pipeline's quality per draw
        pdraws.theta["target"] = targets
    res.draws = pdraws
    if sc.provenance:
        prov = pd.DataFrame([p.as_dict() for p in sc.provenance])
        # an infinite value is a switched-off cap (e.g. the serving batch), not "unreachable"
        prov["value"] = prov["value"].map(lambda v: "inf" if np.isinf(v) else v).astype(object)
        res.tables["provenance"] = prov
    return pdraws


def _solve(sc: Scenario, res: CounterfactualResult, draws: int, seed: int,
           store: str | Path | None = None, scheduler: Any = None, progress: Any = None,
           replace_other: bool = False, overlap: bool = False,
           drawer: plots.Drawer | None = None, out: str | Path | None = None) -> None:
    """Solve the hypotheses and tabulate costs, break-evens, stage shares and shocks into
    ``res`` (``overlap``: the stage shares and shocks on a second thread beside the break-even
    search, for a run whose programs are already compiled: a cold run would compile the
    programs they share twice at once). ``drawer``: each figure is drawn there (into ``out``)
    as soon as its table is made."""
    tech = sc.technology
    pdraws = _draws(sc, res, draws, seed)
    with_draws = pdraws.used > 0
    if store is None:
        sol = solve_grid(tech, sc.hypotheses, pdraws.theta, sc.prices, sc.queries)
    else:   # the same bytes, a chunk of draws at a time (memory maps of the chunk store)
        sol = sweep(tech, sc.hypotheses, pdraws.theta, sc.prices, sc.queries, store,
                    scheduler=scheduler, progress=progress,
                    replace_other=replace_other).solution()
    res.solution = sol
    refit = {h: n for h, n in sol.fallbacks.items() if n}
    if refit:   # non-convergence is reported, never hidden
        res.notes.append("Solver: " + ", ".join(
            f"{n} of {sol.values[h]['total'].size} points of {h}" for h, n in refit.items())
            + " failed projected Newton's KKT test (a kink of the cost, e.g. where the serving "
            "replica's chips change) and could not be certified along the serving ridge, so "
            "were solved by nested bisection instead.")
    pc = probability_cheapest(sol) if with_draws else None
    if with_draws:
        # P(cheapest) over draws only (row 0 is the point estimate).
        sub = Solution(sol.hypotheses, sol.Q, {h: {k: v[1:] for k, v in d.items()}
                                               for h, d in sol.values.items()})
        pc = probability_cheapest(sub)
    else:
        pc = probability_cheapest(sol)
    P = len(next(iter(sc.prices.values())))
    res.tables["costs"] = _costs_table(tech, sol, pc, with_draws, P)
    _tabulated(res, drawer, out, "probability_cheapest")

    # With ``overlap`` the stage shares' and the shock table's solves run on a second thread
    # beside the break-even search (compiled solvers release the GIL; a point's result is the
    # same whichever thread solves it); the tables are added in the same order either way.
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="stage-shares-and-shocks") as pool:
        side = pool.submit(_stage_shares_and_shocks, sc, pdraws, with_draws) if overlap \
            else None
        if side is not None:   # its figure drawn as soon as its table is made
            side.add_done_callback(lambda f: f.exception() is None and _tabulated(
                res, drawer, out, "cost_shares", {"stage_shares": f.result()[0]}))
        res.tables["breakeven"] = _breakeven_table(sc, res, pdraws, sol, with_draws, P,
                                                   overlap)
        _tabulated(res, drawer, out, "cost_vs_queries")
        stage_shares, shocks = side.result() if side is not None \
            else _stage_shares_and_shocks(sc, pdraws, with_draws)
    res.tables["stage_shares"] = stage_shares
    if side is None:
        _tabulated(res, drawer, out, "cost_shares")
    if len(shocks):
        res.tables["shocks"] = shocks
    if len(sc.price_table):
        res.tables["prices"] = sc.price_table.reset_index()
    _drivers(sc, res, pdraws, sol)
    if pdraws.dropped:
        res.notes.append("Dropped draws: " + ", ".join(f"{n} {k}" for k, n in
                                                       pdraws.dropped.items()))


def _costs_table(tech: Any, sol: Solution, pc: dict[str, np.ndarray], with_draws: bool,
                 P: int) -> pd.DataFrame:
    """The costs table: a row per hypothesis, price point and Q (point estimate, the draws'
    interval and unreachable share, levers, status, P(cheapest))."""
    rows = []
    levers = [lv for lv in tech.levers]
    for h in sol.hypotheses:
        v = sol.values[h]
        # the draws' percentiles of every (price, Q) at once: each column's are those of the
        # column alone (NumPy takes them column by column), without 3 calls per row
        band = {q: _pct(v["total"][1:], q) for q in (50, 2.5, 97.5)} if with_draws else {}
        for p in range(P):
            for qi, Q in enumerate(sol.Q):
                tot = v["total"][:, p, qi]
                row = {"hypothesis": h, "price_point": p, "Q": Q, "total": tot[0]}
                if with_draws:
                    row.update(total_median=float(band[50][p, qi]),
                               total_lo=float(band[2.5][p, qi]),
                               total_hi=float(band[97.5][p, qi]),
                               unreachable_share=float(np.mean(~np.isfinite(tot[1:]))))
                row["per_query"] = tot[0] / Q if Q > 0 else float(v["variable"][0, p, qi])
                row["fixed"] = float(v["fixed"][0, p, qi])
                row["variable_per_query"] = float(v["variable"][0, p, qi])
                for lv in levers:
                    row[lv] = float(v[f"lever_{lv}"][0, p, qi])
                row["status"] = ["binding", "slack", "unreachable", "unconverged"][
                    int(v["status"][0, p, qi])]
                row["p_cheapest"] = float(pc[h][p, qi])
                rows.append(row)
    return pd.DataFrame(rows)


def _tabulated(res: CounterfactualResult, drawer: plots.Drawer | None, out: str | Path | None,
               name: str, tables: dict[str, pd.DataFrame] | None = None) -> None:
    """Figure ``name`` handed to ``drawer`` (nothing without one), its table made (in
    ``res.tables``, or in ``tables``)."""
    if drawer is None or out is None:
        return
    job = res.figure(name, out, tables)
    if job is not None:
        path, draw, args = job
        # the drawing thread gets copies: the main thread reads the same tables meanwhile
        # (writing them), and pandas promises no thread safety, not even for two readers
        drawer.submit(path, draw, *(a.copy() if isinstance(a, pd.DataFrame) else a
                                    for a in args))


def _stage_shares_and_shocks(sc: Scenario, pdraws: ParameterDraws, with_draws: bool
                             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The share of each stage in the total cost at the reference Q (point estimate, price point
    0), and the shock table (:func:`.shocks.shock_table`)."""
    tech = sc.technology
    ref = solve_grid(tech, sc.hypotheses, {k: v[:1] for k, v in pdraws.theta.items()},
                     {k: v[:1] for k, v in sc.prices.items()}, np.array([sc.reference_queries]))
    rows = []
    for h in ref.hypotheses:
        v = ref.values[h]
        fixed_stages = tech.fixed_stages
        parts = {k[5:]: float(x[0, 0, 0]) * (1.0 if k[5:] in fixed_stages
                                              else sc.reference_queries)
                 for k, x in v.items() if k.startswith("cost_")}
        total = sum(parts.values())
        for stage, c in parts.items():
            rows.append({"hypothesis": h, "Q": sc.reference_queries, "stage": stage, "cost": c,
                         "share": c / total if total > 0 and np.isfinite(total) else 0.0})
    return pd.DataFrame(rows), shock_table(sc, pdraws.theta, with_draws)


def _breakeven_table(sc: Scenario, res: CounterfactualResult, pdraws: ParameterDraws,
                     sol: Solution, with_draws: bool, P: int,
                     parallel: bool = False) -> pd.DataFrame:
    """Break-even Q of every pair of hypotheses per price point (point value, draws' interval);
    the per-draw break-evens are kept in ``res.breakevens`` (``parallel``: the hypotheses of
    each search step solved on threads of their own, see :func:`.engine.breakevens`)."""
    tech = sc.technology
    rows = []
    # every pair searched at once: a hypothesis in several pairs is solved once per step
    pairs = list(itertools.combinations(sc.hypotheses, 2))
    found = breakevens(tech, pairs, pdraws.theta, sc.prices, sc.queries, sol, parallel=parallel)
    for (h1, h2), be in zip(pairs, found, strict=True):
        pair = f"{h1.name} vs {h2.name}"
        res.breakevens[pair] = be
        for p in range(P):
            q = be["Q"][:, p]
            row = {"pair": pair, "price_point": p, "Q_breakeven": q[0]}
            if with_draws:
                qd = q[1:]
                row.update(Q_median=float(_pct(qd, 50)), Q_lo=float(_pct(qd, 2.5)),
                           Q_hi=float(_pct(qd, 97.5)),
                           draws_crossing=float(np.mean(be["crossed"][1:, p])))
            below = be["cheaper_below"][0, p]
            row["cheaper_below"] = h1.name if below > 0 else h2.name if below < 0 else ""
            row["note"] = ("" if np.isfinite(q[0]) else
                           f"no break-even for Q in [{sol.Q[0]:.3g}, {sol.Q[-1]:.3g}]")
            if be["crossings"][0, p] > 1:
                row["note"] = f"{be['crossings'][0, p]} crossings; the first is shown"
            rows.append(row)
    return pd.DataFrame(rows)


def _drivers(sc: Scenario, res: CounterfactualResult, pdraws: ParameterDraws,
             sol: Solution) -> None:
    """The variance decomposition of the headline quantities (:mod:`.sensitivity`): break-even Q
    (log) per pair and cost at the reference Q (log) per hypothesis at price point 0, and whether
    each hypothesis is the cheapest there."""
    qi = int(np.argmin(np.abs(sol.Q - sc.reference_queries)))
    if pdraws.used < 2:
        res.tables["variance_decomposition"] = _no_variance(res, sol, qi)
        return
    groups = pdraws.groups or {n: (n,) for n in pdraws.drawn}
    with np.errstate(divide="ignore", invalid="ignore"):
        quantities = {f"log break-even Q: {pair}": np.log(be["Q"][1:, 0])
                      for pair, be in res.breakevens.items()}
        totals = {h: sol.total(h)[1:, 0, qi] for h in sol.hypotheses}
        quantities.update({f"log cost at Q = {sol.Q[qi]:.3g}: {h}": np.log(t)
                           for h, t in totals.items()})
    if len(totals) > 1:
        stack = np.stack(list(totals.values()))
        best = np.argmin(stack, axis=0)
        for i, h in enumerate(totals):
            quantities[f"cheapest at Q = {sol.Q[qi]:.3g}: {h}"] = (best == i).astype(float)
    table = sensitivity.decomposition(quantities, pdraws.theta, groups)
    if len(table):
        table.attrs["method"] = sensitivity.METHOD
        res.tables["variance_decomposition"] = table


#: The decomposition's method when no parameter is drawn.
NO_VARIANCE = ("none: every parameter is a point value (published or pinned by the scenario), so "
               "each headline quantity has zero parameter variance and no share to attribute")


def _no_variance(res: CounterfactualResult, sol: Solution, qi: int) -> pd.DataFrame:
    """The decomposition of a scenario with no parameter draws: each headline quantity (as
    :func:`_drivers` names them) with no share, and the reason as the method, so that
    ``summary.json`` and ``report.md`` say why instead of leaving the section out."""
    names = [f"log break-even Q: {pair}" for pair in res.breakevens]
    names += [f"log cost at Q = {sol.Q[qi]:.3g}: {h}" for h in sol.hypotheses]
    if len(sol.hypotheses) > 1:
        names += [f"cheapest at Q = {sol.Q[qi]:.3g}: {h}" for h in sol.hypotheses]
    return _no_variance_table(names)


def _no_variance_table(names: list[str]) -> pd.DataFrame:
    table = pd.DataFrame({"quantity": names, "group": "no parameter drawn", "parameters": "",
                          "first_order_share": np.nan, "draws_used": 0})
    table.attrs["method"] = NO_VARIANCE
    return table
