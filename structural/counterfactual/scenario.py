"""Scenarios: the question a counterfactual answers, as a Python object or a TOML file.

A scenario names a quality target, a workload (lifetime queries Q, tokens per query), prices,
the investment hypotheses to compare, where the parameters come from and, optionally, shocks and a
guardrail question. The TOML loader is strict: an unknown key, a missing field or a target no
hypothesis can reach raises :class:`ScenarioError` (a ``ValueError``) with one line naming the key
or the target, so ``llmecon counterfactual`` exits 2.

Layout of a scenario file (every table but ``[target]``, ``[workload]`` and ``[hypotheses.*]`` is
optional; see ``structural/examples/scenarios/`` for complete files)::

    title = "..."
    assumptions = ["..."]              # stated in every output
    [technology]  name = "pipeline" | "tradeoff" | "firm";  attention = true  (pipeline)
                  selection = "majority" | "verifier" | "oracle"  (pipeline: answer selection
                  among k attempts; default majority vote, never a free perfect verifier)
                  hardware = "H100";  iterations = 60  (firm: structural.firm's problem)
    [target]      kind = "loss" | "success";  value = 2.0   (or  match = {N = 13e9}: the
                  quality of that pipeline, re-evaluated at every parameter draw)
    [workload]    queries = {min = 1e6, max = 1e13, points = 29} | [..];  reference_queries = 1e10
                  tokens_in = 500;  tokens_out = 300;  tokens_in_logsd = 0;  tokens_out_logsd = 0
                  (or  usage = "azure_conv_2023": lognormal fitted to a request trace)
    [prices]      unit = "dollars" | "flops";  hardware = "H100";  train_chip_hour = 2.0 | [..]
                  serve_chip_hour = ..;  data_per_token = ..;  ft_data_per_token = ..;
                  cache_hit = ..;  cache_discount = ..;  precision = "bf16"
    [prices.utilisation]  training = 0.4;  finetune = 0.3;  prefill = 0.5;  decode = 0.5
    [parameters]  preset = "sardana2023";  values = {ctx_alpha = 2e3, ...}
    [parameters.uncertainty]  kind = "normal";  sd = {A = 20.0}  | cov_csv = "cov.csv"
                              kind = "draws";  draws_csv = "draws.csv"
    [base]        N = 7e9;  D = 2e12;  U = 3e14;  D_F = 0;  c = 0;  k = 1   (fixed levers)
    [hypotheses.NAME]  kind = "heavy_training" | "long_context" | "reasoning" | "fine_tuning"
                       | "custom";  free = [..];  fixed = {..};  bounds = {c = [1, 131072]}
                       charge_pretraining = true;  description = ".."
    [shocks.compute_price]  factor = 0.5
    [shocks.data_price]     to = 1e-6      (or factor)
    [shocks.model_life]     factor = 3
    [guardrails]  ...  (see structural.guardrails)
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estimation.compilation import traced_jit
from llmecon.errors import InputError
from structural import costs, published
from structural.counterfactual import model as M
from structural.counterfactual import provenance
from structural.counterfactual.engine import Hypothesis
from structural.counterfactual.params import Blocks, Draws, Normal, Published, Source, Uniform
from structural.pretraining import compute_optimal_for_size

__all__ = ["Scenario", "ScenarioError", "Shock", "load_scenario", "scenario_from_dict"]


class ScenarioError(InputError):
    """A scenario that cannot be run; the message is one line naming the key or the target.

    Examples
    --------
    >>> from structural.counterfactual.scenario import scenario_from_dict
    >>> scenario_from_dict({"title": "t", "technology": {"name": "tradeoff"}, "colour": "red"})
    Traceback (most recent call last):
    ...
    structural.counterfactual.scenario.ScenarioError: unknown key 'colour' in [top level] ...
    """


#: Published parameter sets a scenario can start from (:mod:`structural.published`).
PRESETS = published.CHINCHILLA

HYPOTHESIS_KINDS: dict[str, tuple[str, ...]] = {
    "heavy_training": ("N", "D"), "bigger_model": ("N", "D"), "long_context": ("c",),
    "reasoning": ("k",), "fine_tuning": ("D_F",),
}

#: [prices.utilisation] keys → structural.costs' utilisations (defaults: costs.cost_parameters).
UTILISATION_KEYS = {"training": "u_train", "finetune": "u_finetune", "prefill": "u_prefill",
                    "decode": "u_decode"}


@dataclass(frozen=True)
class Shock:
    """A counterfactual change: ``kind`` is compute_price, data_price or model_life; the new value
    is ``factor`` × old, or ``to`` (data price only).

    Examples
    --------
    >>> from importlib.resources import files
    >>> from structural.counterfactual import load_scenario
    >>> sc = load_scenario(files("structural.examples.scenarios") / "sardana_frankle_13b.toml")
    >>> [(s.kind, s.factor, s.to) for s in sc.shocks]
    [('model_life', 5.0, None)]
    """

    kind: str
    factor: float | None = None
    to: float | None = None

    def label(self) -> str:
        what = {"compute_price": "compute price", "data_price": "data price",
                "model_life": "model life (Q)"}[self.kind]
        return f"{what} × {self.factor:g}" if self.factor is not None else f"{what} → {self.to:g}"


@dataclass
class Scenario:
    """A counterfactual question (see the module docstring for the TOML form).

    ``prices`` maps each engine price field (:data:`structural.counterfactual.model.PRICE_FIELDS`)
    to one value per price point; ``price_table`` describes the points in the user's units.

    Examples
    --------
    >>> from importlib.resources import files
    >>> from structural.counterfactual import load_scenario
    >>> sc = load_scenario(files("structural.examples.scenarios") / "equal_spend_tradeoff.toml")
    >>> sc.title, [h.name for h in sc.hypotheses], len(sc.queries)
    ('Erdil (2024): equal spending on training and inference', ['trade_off', 'fixed_inference'], 10)
    """

    title: str
    technology: Any
    hypotheses: list[Hypothesis]
    queries: np.ndarray
    prices: dict[str, np.ndarray]
    parameters: Source
    base_parameters: dict[str, float]
    reference_queries: float
    price_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    assumptions: list[str] = field(default_factory=list)
    description: str = ""
    shocks: list[Shock] = field(default_factory=list)
    guardrails: Any = None
    unit: str = "dollars"
    source: str = ""
    provenance: list = field(default_factory=list)
    #: The levers of the reference pipeline of a ``match`` target (None for a fixed value): the
    #: target is that pipeline's quality under each parameter draw (:func:`draw_targets`).
    target_match: dict | None = None

    @property
    def target(self) -> M.Target:
        return self.technology.target


# -- strict reading ----------------------------------------------------------------------------
def _table(d: Any, where: str) -> dict:
    if not isinstance(d, dict):
        raise ScenarioError(f"[{where}]: expected a table, got {type(d).__name__}")
    return d


def _keys(d: Mapping, allowed: set[str], where: str, required: tuple[str, ...] = ()) -> None:
    for k in d:
        if k not in allowed:
            raise ScenarioError(f"unknown key {k!r} in [{where}] (expected one of: "
                                f"{', '.join(sorted(allowed))})")
    for k in required:
        if k not in d:
            raise ScenarioError(f"missing field {k!r} in [{where}]")


def _num(v: Any, where: str, positive: bool = False, nonneg: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ScenarioError(f"{where}: expected a number, got {v!r}")
    x = float(v)
    if not np.isfinite(x) or (positive and x <= 0) or (nonneg and x < 0):
        kind = "a positive" if positive else "a non-negative" if nonneg else "a finite"
        raise ScenarioError(f"{where}: expected {kind} number, got {v!r}")
    return x


def _num_or_list(v: Any, where: str, nonneg: bool = True) -> list[float]:
    if isinstance(v, list):
        if not v:
            raise ScenarioError(f"{where}: expected at least one value")
        return [_num(x, f"{where}[{i}]", nonneg=nonneg) for i, x in enumerate(v)]
    return [_num(v, where, nonneg=nonneg)]


def _queries(v: Any, where: str) -> np.ndarray:
    if isinstance(v, dict):
        _keys(v, {"min", "max", "points"}, where, ("min", "max"))
        lo, hi = _num(v["min"], f"{where}.min", positive=True), _num(v["max"], f"{where}.max",
                                                                     positive=True)
        n = int(v.get("points", 25))
        if not hi > lo or n < 2:
            raise ScenarioError(f"{where}: expected min < max and points >= 2")
        return np.geomspace(lo, hi, n)
    q = np.array(_num_or_list(v, where), dtype=float)
    if len(q) > 1 and np.any(np.diff(q) <= 0):
        raise ScenarioError(f"{where}: expected increasing values")
    return q


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file (relative CSV paths resolve next to it).

    Examples
    --------
    >>> from importlib.resources import files
    >>> from structural.counterfactual import load_scenario
    >>> sc = load_scenario(files("structural.examples.scenarios") / "guardrails.toml")
    >>> sc.title
    'Guardrails as cost shifting: jailbreaking an API vs fine-tuning open weights'
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ScenarioError(f"scenario file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path.name}: not valid TOML ({exc})") from None
    return scenario_from_dict(doc, base_dir=path.parent, source=str(path))


def scenario_from_dict(doc: Mapping[str, Any], base_dir: Path | None = None,
                       source: str = "") -> Scenario:
    """Build a :class:`Scenario` from the parsed TOML (a nested dict).

    Examples
    --------
    >>> from structural.counterfactual.scenario import scenario_from_dict
    >>> sc = scenario_from_dict({
    ...     "title": "Equal spending", "technology": {"name": "tradeoff"},
    ...     "target": {"kind": "performance", "value": 60.0},
    ...     "workload": {"queries": {"min": 1e3, "max": 1e12, "points": 5}},
    ...     "prices": {"unit": "flops"}, "base": {"T": 1e24, "I": 1e12},
    ...     "hypotheses": {"trade_off": {"kind": "custom", "free": ["T", "I"]}}})
    >>> sc.technology.name, sc.queries.round(0).tolist()
    ('tradeoff', [1000.0, 177828.0, 31622777.0, 5623413252.0, 1000000000000.0])
    """
    base_dir = base_dir or Path.cwd()
    _keys(doc, {"title", "description", "assumptions", "technology", "target", "workload",
                "prices", "parameters", "base", "hypotheses", "shocks", "guardrails"},
          "top level", ("title",))
    title, assumptions, guardrails = _header(doc)
    if "hypotheses" not in doc:
        if guardrails is None:
            raise ScenarioError("missing field 'hypotheses' (at least one [hypotheses.NAME])")
        return Scenario(title, None, [], np.zeros(0), {}, Published({}), {}, 0.0,
                        assumptions=list(assumptions), description=str(doc.get("description", "")),
                        guardrails=guardrails, source=source,
                        provenance=provenance.guardrail_rows(guardrails.parameters()))
    tdoc = _table(doc.get("technology", {}), "technology")
    tech_name = _technology_name(tdoc)
    if tech_name == "firm":
        return _firm_scenario(doc, tdoc, title, assumptions, guardrails, base_dir, source)
    tg = _target_table(doc, tech_name)

    pdoc = _table(doc.get("parameters", {}), "parameters")
    _keys(pdoc, PARAMETER_KEYS, "parameters")
    base_params, known = _base_parameters(pdoc, tech_name)
    queries, ref_q, assumptions, usage_ref = _workload(doc, tech_name, base_params, assumptions)
    prices, price_table, unit, hw = _prices(_table(doc.get("prices", {}), "prices"))
    given = _table(pdoc.get("values", {}), "parameters.values")
    base_params.update({k: v for k, v in hw.items() if k in known and k not in given})

    base_levers, hyps = _hypotheses(doc, tech_name)
    selection = _selection(tdoc)
    # every field checked before the fits run (a typo in [shocks] costs no fitting)
    shocks = _shocks(_table(doc.get("shocks", {}), "shocks"))
    used = _used(base_params, hyps, tg["kind"], unit, selection)
    source_, prov = _parameter_sources(pdoc, tech_name, base_params, used,
                                       price_table.attrs.get("hardware", ""), base_dir, usage_ref,
                                       tg["kind"])
    tech, match = _technology(tdoc, tech_name, tg, unit, base_levers, base_params, selection)
    sc = Scenario(title, tech, hyps, queries, prices, source_, base_params, ref_q, price_table,
                  list(assumptions), str(doc.get("description", "")), shocks, guardrails, unit,
                  source, prov, match)
    check_reachable(sc)
    return sc


def _header(doc: Mapping[str, Any]) -> tuple[str, list, Any]:
    """The title, the scenario's own assumptions and its guardrail analysis (or None)."""
    title = str(doc["title"])
    assumptions = doc.get("assumptions", [])
    if not isinstance(assumptions, list) or not all(isinstance(a, str) for a in assumptions):
        raise ScenarioError("assumptions: expected a list of sentences")
    guardrails = None
    if "guardrails" in doc:
        from structural.guardrails import GuardrailScenario
        guardrails = GuardrailScenario.from_dict(_table(doc["guardrails"], "guardrails"))
    return title, assumptions, guardrails


def _technology_name(tdoc: dict) -> str:
    """The [technology] table's name, its keys checked."""
    tech_name = tdoc.get("name", "pipeline")
    if tech_name not in ("pipeline", "tradeoff", "firm"):
        raise ScenarioError(f"technology.name: expected 'pipeline', 'tradeoff' or 'firm', "
                            f"got {tech_name!r}")
    _keys(tdoc, {"name", "attention", "selection"} if tech_name == "pipeline" else
          {"name", "hardware", "iterations", "selection"} if tech_name == "firm" else {"name"},
          "technology")
    return tech_name


def _target_table(doc: Mapping[str, Any], tech_name: str) -> dict:
    """The [target] table: a kind the technology knows, and a value or a match (not both)."""
    if "target" not in doc:
        raise ScenarioError("missing field 'target' (a [target] table)")
    tg = _table(doc["target"], "target")
    _keys(tg, {"kind", "value", "match"}, "target", ("kind",))
    kind = tg["kind"]
    allowed_kinds = ("loss", "success") if tech_name == "pipeline" else ("performance",)
    if kind not in allowed_kinds:
        raise ScenarioError(f"target.kind: expected one of {', '.join(allowed_kinds)}, "
                            f"got {kind!r}")
    if ("value" in tg) == ("match" in tg):
        raise ScenarioError("missing field 'value' in [target] (give value or match, not both)")
    return tg


def _base_parameters(pdoc: dict, tech_name: str) -> tuple[dict[str, float], Mapping]:
    """The technology's default parameters with the scenario's preset and values applied, and
    the parameter names it knows."""
    if tech_name == "pipeline":
        base_params = dict(M.PIPELINE_DEFAULTS)
        known = M.PIPELINE_PARAMETERS
        if "preset" in pdoc:
            _apply_preset(pdoc["preset"], base_params)
    else:
        base_params = dict(M.TRADEOFF_DEFAULTS)
        known = M.TRADEOFF_PARAMETERS
    _apply_values(pdoc, base_params, known)
    return base_params, known


def _hypotheses(doc: Mapping[str, Any], tech_name: str) -> tuple[dict, list[Hypothesis]]:
    """The base lever values ([base] over the technology's defaults) and the hypotheses."""
    levers = M.PIPELINE_LEVERS if tech_name == "pipeline" else ("T", "I")
    bdoc = _table(doc.get("base", {}), "base")
    _keys(bdoc, set(levers), "base")
    base_levers = ({"N": 7e9, "D": 1.4e11, "U": M.UNIQUE_TOKENS_DEFAULT, "D_F": 0.0, "c": 0.0,
                    "k": 1.0}
                   if tech_name == "pipeline" else {"T": 1e24, "I": 1e12})
    for k, v in bdoc.items():
        base_levers[k] = _num(v, f"base.{k}", nonneg=True)
    hdoc = _table(doc["hypotheses"], "hypotheses")
    if not hdoc:
        raise ScenarioError("missing field 'hypotheses' (at least one [hypotheses.NAME])")
    hyps = [_hypothesis(name, _table(h, f"hypotheses.{name}"), levers, base_levers)
            for name, h in hdoc.items()]
    return base_levers, hyps


def _selection(tdoc: dict) -> str:
    """[technology] selection: the answer-selection rule (pipeline; majority vote by default)."""
    from structural.quality import SELECTION_RULES

    rule = tdoc.get("selection", "majority")
    if rule not in SELECTION_RULES:
        raise ScenarioError(f"technology.selection: expected one of {', '.join(SELECTION_RULES)}, "
                            f"got {rule!r}")
    return rule


def _firm_selection(tdoc: dict) -> str:
    """[technology] selection of a firm scenario: the answer-selection rule of a ``success``
    target, the priced verifier by default (the firm's solver needs a rule smooth in k, so not
    majority vote; ``oracle`` is the free perfect verifier, which ``coverage`` also names)."""
    from structural.firm import FIRM_SELECTION

    rule = tdoc.get("selection", "verifier")
    if rule not in FIRM_SELECTION:
        raise ScenarioError(f"technology.selection: expected one of {', '.join(FIRM_SELECTION)} "
                            f"for the firm (its solver needs success smooth in k; majority vote "
                            f"is a step function of k), got {rule!r}")
    return rule


def _technology(tdoc: dict, tech_name: str, tg: dict, unit: str, base_levers: dict,
                base_params: dict, selection: str = "majority") -> tuple[Any, dict | None]:
    """The technology with its target (the given value, or the quality of the matched levers at
    the point values), and the matched levers (None for a given value)."""
    tech_cls = M.PipelineTechnology if tech_name == "pipeline" else M.TradeoffTechnology
    extra: dict[str, Any] = {"unit": unit}
    if tech_name == "pipeline":
        extra["attention"] = bool(tdoc.get("attention", True))
        extra["selection"] = selection
        if base_params.get("tokens_in_logsd", 0) > 0 or base_params.get("tokens_out_logsd", 0) > 0:
            extra["token_nodes"] = M.TOKEN_NODES   # expected cost over the usage distribution
    match = None
    if "value" in tg:
        target_value = _num(tg["value"], "target.value")
    else:
        match = _match_levers(tg["match"], base_levers, base_params)
        target_value = _match_target(match, tg["kind"], base_params, extra)
    return tech_cls(M.Target(tg["kind"], target_value), **extra), match


def _workload(doc: Mapping[str, Any], tech_name: str, base_params: dict,
              assumptions: list) -> tuple[np.ndarray, float, list, dict[str, str]]:
    """[workload]: the Q grid, the reference Q (always a grid point) and the tokens per query
    (usage moments are parameters of the technology, fitted to a trace when ``usage`` names
    one: their provenance is returned)."""
    fitted_usage: dict[str, str] = {}
    if "workload" not in doc:
        raise ScenarioError("missing field 'workload' (a [workload] table)")
    wl = _table(doc["workload"], "workload")
    usage = {"tokens_in", "tokens_out", "tokens_in_logsd", "tokens_out_logsd"}
    _keys(wl, {"queries", "reference_queries"} | (usage | {"usage"} if tech_name == "pipeline"
                                                   else set()), "workload", ("queries",))
    queries = _queries(wl["queries"], "workload.queries")
    if "usage" in wl:
        from structural.counterfactual.usage import fit_usage

        if usage & set(wl):
            raise ScenarioError("workload: give usage or fixed tokens_in/tokens_out, not both")
        fitted = fit_usage(str(wl["usage"]))
        base_params.update({k: v for k, v in fitted.items() if k in usage})
        assumptions = [*assumptions, (
            f"Tokens per query lognormal, fitted to the {wl['usage']} request trace "
            f"({fitted['requests']:.0f} requests): input mean {fitted['tokens_in']:.0f} "
            f"(log-sd {fitted['tokens_in_logsd']:.2f}), output mean {fitted['tokens_out']:.0f} "
            f"(log-sd {fitted['tokens_out_logsd']:.2f}); the per-query cost is its expectation "
            "over this distribution (Gauss-Hermite), served by one shared batch")]
        fitted_usage = {k: (f"request_traces, trace {wl['usage']} ({fitted['requests']:.0f} "
                            "requests); lognormal moments") for k in usage}
    for k in usage & set(wl):
        base_params[k] = _num(wl[k], f"workload.{k}", nonneg=True)
    ref_q = _num(wl.get("reference_queries", float(np.median(queries))),
                 "workload.reference_queries", nonneg=True)
    queries = np.union1d(queries, [ref_q])  # the reference Q is always a grid point

    return queries, ref_q, list(assumptions), fitted_usage


PARAMETER_KEYS = {"preset", "fit", "values", "uncertainty", "ranges", "pinned"}
#: Fits a pipeline or firm scenario uses unless it names its own (``fit = [...]``, ``[]``: none);
#: a success or coverage target adds the fitted loss-to-success link (:data:`SUCCESS_FITS`).
DEFAULT_FITS = ("besiroglu2024", "training_cost", "serving_utilisation")
SUCCESS_FITS = ("success_link",)


def _used(params: dict, hyps: list[Hypothesis], kind: str, unit: str,
          selection: str = "majority") -> set[str]:
    """The assumed parameters that matter to this scenario (those drawn over their range)."""
    free = {lv for h in hyps for lv in h.free} | {
        lv for h in hyps for lv, v in h.fixed.items() if lv in ("c", "D_F", "k") and v > 0
        and not (lv == "k" and v == 1)}
    used = set()
    published_ctx = all(provenance.published_reference(k, None, "", params.get(k)) is not None
                        for k in ("ctx_alpha", "ctx_beta"))
    if params.get("ctx_alpha", 0) > 0 and not published_ctx:   # a published law is held
        used |= {"ctx_alpha", "ctx_beta"}
    if kind in ("success", "coverage"):
        used |= set(provenance.success_link())
        if selection == "verifier":
            used |= {"verifier_fpr", "verifier_fnr"}
    if "D_F" in free:
        used.add("chars_per_token")
    if params.get("task_data_share", 1.0) != 1.0:
        used.add("task_data_share")
    if unit == "dollars":
        used |= {"u_prefill", "u_decode", "serve_price_scale"}
    return used


def _fits(pdoc: dict, tech_name: str, kind: str = "loss") -> list[str]:
    if tech_name == "tradeoff":
        default: tuple[str, ...] = ()
    else:
        default = DEFAULT_FITS if "preset" not in pdoc else DEFAULT_FITS[1:]
        if kind in ("success", "coverage"):
            default = (*default, *SUCCESS_FITS)
    names = pdoc.get("fit", list(default))
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ScenarioError("parameters.fit: expected a fit name or a list of fit names")
    return names


def _parameter_sources(pdoc: dict, tech_name: str, base: dict, used: set[str], hardware: str,
                       base_dir: Path, fitted_usage: Mapping[str, str] | None = None,
                       kind: str = "loss") -> tuple[Source, list]:
    """The scenario's parameter source (fits' joint draws, its own uncertainty, assumed ranges,
    each a block) and its provenance table (:mod:`structural.counterfactual.provenance`)."""
    from structural.counterfactual.fits import UnknownFitError, fitted_source

    given = set(_table(pdoc.get("values", {}), "parameters.values"))
    pinned = pdoc.get("pinned", [])
    if not isinstance(pinned, list) or any(p not in base for p in pinned):
        bad = next((p for p in pinned if p not in base), pinned) if isinstance(pinned, list) \
            else pinned
        raise ScenarioError(f"parameters.pinned: unknown parameter {bad!r}")
    blocks: dict[str, Any] = {}
    fitted: dict[str, str] = dict(fitted_usage or {})
    for name in _fits(pdoc, tech_name, kind):
        try:
            fit = fitted_source(name)
        except UnknownFitError as exc:
            raise ScenarioError(str(exc)) from None
        cols = [c for c in fit.draws.columns if c in base and c not in given]
        base.update({c: fit.point[c] for c in cols})
        blocks[f"{name} (fitted)"] = Draws(fit.draws[cols], point={c: fit.point[c] for c in cols},
                                           label=f"{name} fit")
        fitted.update({c: fit.reference(c) for c in cols})
    own = _uncertainty(pdoc.get("uncertainty"), base, base_dir)
    own_names = set(own.mean.index if isinstance(own, Normal) else
                    own.draws.columns if isinstance(own, Draws) else ())
    if own_names:
        blocks["scenario uncertainty"] = own
        for blk in list(blocks.values())[:-1]:   # the scenario's own draws replace a fit's
            blk.draws.drop(columns=[c for c in own_names if c in blk.draws], inplace=True)
    ranges_doc = _table(pdoc.get("ranges", {}), "parameters.ranges")
    _keys(ranges_doc, set(base), "parameters.ranges")
    ranges = provenance.assumed_ranges(base, used, {k: _range(v, k) for k, v in
                                                    ranges_doc.items()}, set(pinned))
    ranges = {k: v for k, v in ranges.items() if k not in fitted and k not in own_names}
    for name, rng in ranges.items():
        blocks.setdefault(provenance.group_of(name), Uniform({}))
        blocks[provenance.group_of(name)] = Uniform({**blocks[provenance.group_of(name)].ranges,
                                                     name: rng})
    prov = []
    preset = pdoc.get("preset")
    for name, value in base.items():
        ref = provenance.published_reference(name, preset, hardware, value)
        if name in fitted:
            row = ("fitted", fitted[name])
        elif name in own_names:
            row = ("assumed", f"scenario's [parameters.uncertainty]: {own.label}")
        elif name in ranges:
            row = ("assumed", f"range [{ranges[name][0]:.4g}, {ranges[name][1]:.4g}], uniform")
        elif ref is not None and name not in given:
            row = ("published", ref)
        else:
            why = ("pinned by the scenario" if name in pinned or name in given
                   else "no cap: accelerator memory and cost choose the serving batch"
                   if name == "batch" and np.isinf(value) else "part of the question (pinned)")
            row = ("assumed", why)
        prov.append(provenance.Provenance(name, float(value), *row))
    blocks = {k: v for k, v in blocks.items()
              if not (isinstance(v, Draws) and v.draws.shape[1] == 0)}
    if not blocks:
        return Published(dict(base)), prov
    return Blocks(blocks, point=dict(base)), prov


def _range(v: Any, name: str) -> tuple[float, float]:
    where = f"parameters.ranges.{name}"
    if not (isinstance(v, list) and len(v) == 2):
        raise ScenarioError(f"{where}: expected [low, high]")
    lo, hi = (_num(x, where) for x in v)
    if not lo < hi:
        raise ScenarioError(f"{where}: expected low < high")
    return lo, hi


def _firm_scenario(doc: Mapping[str, Any], tdoc: dict, title: str, assumptions: list,
                   guardrails: Any, base_dir: Path, source: str) -> Scenario:
    """A scenario on :mod:`structural.firm` (``[technology] name = "firm"``): the firm's cost
    accounting and quality composition, its quality modes as target kinds, its pipeline
    quantities in ``[base]`` and its prices (per chip-hour, per data token) in ``[prices]``."""
    from structural import firm
    from structural.counterfactual.firm_backend import (
        FIRM_PRICE_FIELDS,
        FirmTechnology,
        firm_parameters,
    )

    hardware = tdoc.get("hardware", "H100")
    try:
        base_params = firm_parameters(hardware)
        theta0 = firm.default_parameters(hardware)
    except ValueError as exc:
        raise ScenarioError(f"technology.hardware: {exc}") from None
    if "target" not in doc:
        raise ScenarioError("missing field 'target' (a [target] table)")
    tg = _table(doc["target"], "target")
    _keys(tg, {"kind", "value"}, "target", ("kind", "value"))
    if tg["kind"] not in ("success", "coverage", "task_loss", "model_loss"):
        raise ScenarioError(f"target.kind: expected one of success, coverage, task_loss, "
                            f"model_loss, got {tg['kind']!r}")
    selection = _firm_selection(tdoc)
    pdoc = _table(doc.get("parameters", {}), "parameters")
    _keys(pdoc, PARAMETER_KEYS, "parameters")
    if "preset" in pdoc:
        _apply_preset(pdoc["preset"], base_params)
    _apply_values(pdoc, base_params, base_params)
    if "workload" not in doc:
        raise ScenarioError("missing field 'workload' (a [workload] table)")
    wl = _table(doc["workload"], "workload")
    _keys(wl, {"queries", "reference_queries"}, "workload", ("queries",))
    queries = _queries(wl["queries"], "workload.queries")
    ref_q = _num(wl.get("reference_queries", float(np.median(queries))),
                 "workload.reference_queries", nonneg=True)
    queries = np.union1d(queries, [ref_q])
    prd = _table(doc.get("prices", {}), "prices")
    names = {"chip_hour": "price_per_hour", "train_chip_hour": "price_per_hour_train",
             "data_per_token": "data_price", "ft_data_per_token": "finetune_data_price",
             "cache_cost_ratio": "cache_cost_ratio"}
    _keys(prd, set(names), "prices")
    # training is priced at chip_hour too unless train_chip_hour says otherwise
    defaults = {**{k: theta0[f] for k, f in names.items()},
                "train_chip_hour": prd.get("chip_hour", theta0["price_per_hour_train"])}
    grid = {k: _num_or_list(prd.get(k, defaults[k]), f"prices.{k}") for k in names}
    rows = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    table = pd.DataFrame(rows)
    table.index.name = "price_point"
    table.attrs["hardware"] = str(hardware)
    prices = {names[k]: table[k].to_numpy(dtype=float) for k in grid}
    assert set(prices) == set(FIRM_PRICE_FIELDS)
    base_levers = firm.default_levers()
    bdoc = _table(doc.get("base", {}), "base")
    _keys(bdoc, set(base_levers), "base")
    for k, v in bdoc.items():
        base_levers[k] = _num(v, f"base.{k}", nonneg=True)
    hdoc = _table(doc.get("hypotheses", {}), "hypotheses")
    if not hdoc:
        raise ScenarioError("missing field 'hypotheses' (at least one [hypotheses.NAME])")
    kinds = {"heavy_training": ("N", "D"), "bigger_model": ("N", "D"), "long_context": ("c",),
             "reasoning": ("k",), "fine_tuning": ("D_F",)}
    hyps = [_hypothesis(name, _table(h, f"hypotheses.{name}"), firm.LEVERS, base_levers, kinds,
                        extra_fixed=set(base_levers) - set(firm.LEVERS))
            for name, h in hdoc.items()]
    shocks = _shocks(_table(doc.get("shocks", {}), "shocks"))   # checked before the fits run
    used = _used(base_params, hyps, tg["kind"], "dollars", selection) - {"serve_price_scale"}
    source_, prov = _parameter_sources(pdoc, "firm", base_params, used, str(hardware), base_dir,
                                       kind=tg["kind"])
    tech = FirmTechnology(M.Target(tg["kind"], _num(tg["value"], "target.value")),
                          iterations=int(tdoc.get("iterations", 60)), selection=selection)
    sc = Scenario(title, tech, hyps, queries, prices, source_, base_params, ref_q, table,
                  list(assumptions), str(doc.get("description", "")), shocks, guardrails,
                  "dollars", source, prov)
    check_reachable(sc)
    return sc


def _prices(pd_: dict) -> tuple[dict[str, np.ndarray], pd.DataFrame, str, dict[str, float]]:
    """The price grid (:data:`structural.counterfactual.model.PRICE_FIELDS`), its table, the unit
    and the hardware's cost parameters (peak FLOP/s, bandwidth, memory, utilisations)."""
    from structural.hardware import get_hardware

    allowed = {"unit", "hardware", "train_hardware", "serve_hardware", "precision",
               "train_chip_hour", "serve_chip_hour", "data_per_token", "ft_data_per_token",
               "cache_hit", "cache_discount", "utilisation"}
    _keys(pd_, allowed, "prices")
    unit = pd_.get("unit", "dollars")
    if unit not in ("dollars", "flops"):
        raise ScenarioError(f"prices.unit: expected 'dollars' or 'flops', got {unit!r}")
    udoc = _table(pd_.get("utilisation", {}), "prices.utilisation")
    _keys(udoc, set(UTILISATION_KEYS), "prices.utilisation")
    try:
        hw_train = get_hardware(pd_.get("train_hardware", pd_.get("hardware", "H100")))
        hw_serve = get_hardware(pd_.get("serve_hardware", pd_.get("hardware", "H100")))
        prec = pd_.get("precision", "bf16")
        hw = costs.cost_parameters(hw_serve, prec, prec)
        hw["peak_train"] = hw_train.flops(prec)
    except ValueError as exc:
        raise ScenarioError(f"prices: {exc}") from None
    for k, v in udoc.items():
        u = _num(v, f"prices.utilisation.{k}", positive=True)
        if u > 1:
            raise ScenarioError(f"prices.utilisation.{k}: expected a share in (0, 1], got {v!r}")
        hw[UTILISATION_KEYS[k]] = u
    grid = {
        "train_chip_hour": _num_or_list(pd_.get("train_chip_hour", hw_train.price_per_hour),
                                        "prices.train_chip_hour"),
        "serve_chip_hour": _num_or_list(pd_.get("serve_chip_hour", hw_serve.price_per_hour),
                                        "prices.serve_chip_hour"),
        "data_per_token": _num_or_list(pd_.get("data_per_token", 0.0), "prices.data_per_token"),
        "ft_data_per_token": _num_or_list(pd_.get("ft_data_per_token", 0.0),
                                          "prices.ft_data_per_token"),
        "cache_hit": _num_or_list(pd_.get("cache_hit", 0.0), "prices.cache_hit"),
        "cache_discount": _num_or_list(pd_.get("cache_discount", 0.0), "prices.cache_discount"),
    }
    for k in ("cache_hit", "cache_discount"):
        if max(grid[k]) > 1:
            raise ScenarioError(f"prices.{k}: expected a share in [0, 1]")
    if unit == "flops":   # FLOPs are counted, not priced: one price point per data price
        grid["train_chip_hour"] = grid["serve_chip_hour"] = [1.0]
    rows = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    table = pd.DataFrame(rows)
    if unit == "flops":
        table = table.drop(columns=["train_chip_hour", "serve_chip_hour"])
    table.index.name = "price_point"
    names = {"train_chip_hour": "train_chip_hour", "serve_chip_hour": "serve_chip_hour",
             "data_per_token": "data_token", "ft_data_per_token": "ft_data_token",
             "cache_hit": "cache_hit", "cache_discount": "cache_discount"}
    prices = {names[k]: np.asarray([r[k] for r in rows], float) for k in grid}
    table.attrs["hardware"] = f"train {hw_train.name}, serve {hw_serve.name} ({prec})"
    table.attrs["utilisation"] = {k: hw[v] for k, v in UTILISATION_KEYS.items()}
    keep = {k: float(v) for k, v in hw.items() if k in M.COST_PARAMETERS}
    return prices, table, unit, keep


def _uncertainty(u: Any, base_params: dict, base_dir: Path) -> Source:
    if u is None:
        return Published(dict(base_params))
    u = _table(u, "parameters.uncertainty")
    kind = u.get("kind")
    if kind == "normal":
        _keys(u, {"kind", "sd", "corr", "cov_csv"}, "parameters.uncertainty")
        if ("sd" in u) == ("cov_csv" in u):
            raise ScenarioError("missing field 'sd' in [parameters.uncertainty] (give sd or "
                                "cov_csv)")
        if "sd" in u:
            sd = _table(u["sd"], "parameters.uncertainty.sd")
            _keys(sd, set(base_params), "parameters.uncertainty.sd")
            names = list(sd)
            s_ = np.array([_num(sd[n], f"parameters.uncertainty.sd.{n}", nonneg=True)
                           for n in names])
            R = _correlation(u.get("corr"), len(names))
            cov = pd.DataFrame(R * np.outer(s_, s_), index=names, columns=names)
        else:
            cov = _read_csv(base_dir / u["cov_csv"], "parameters.uncertainty.cov_csv",
                            index_col=0)
            names = list(cov.columns)
            _keys(dict.fromkeys(names), set(base_params), "parameters.uncertainty.cov_csv")
        mean = pd.Series({n: base_params[n] for n in names}, dtype=float)
        origin = ("scenario standard deviations (assumed, not fitted)" if "sd" in u
                  else f"covariance from {u['cov_csv']}")
        return Normal(mean, cov, label=f"normal draws, {origin}")
    if kind == "draws":
        _keys(u, {"kind", "draws_csv", "columns"}, "parameters.uncertainty", ("draws_csv",))
        table = _read_csv(base_dir / u["draws_csv"], "parameters.uncertainty.draws_csv")
        for col in u.get("columns", []):
            if col not in table:
                raise ScenarioError(f"parameters.uncertainty.draws_csv: missing column {col!r} "
                                    f"(columns = {u['columns']})")
        conv = None
        if "converged" in table:
            conv = table.pop("converged").astype(bool)
        _keys(dict.fromkeys(table.columns), set(base_params), "parameters.uncertainty.draws_csv")
        return Draws(table, conv, point={k: base_params[k] for k in table.columns})
    raise ScenarioError(f"parameters.uncertainty.kind: expected 'normal' or 'draws', got {kind!r}")


def _correlation(corr: Any, n: int) -> np.ndarray:
    """The correlation matrix of [parameters.uncertainty] (identity when absent), checked."""
    where = "parameters.uncertainty.corr"
    if corr is None:
        return np.eye(n)
    try:
        R = np.array(corr, dtype=float)
    except (TypeError, ValueError):
        raise ScenarioError(f"{where}: expected a square matrix of numbers") from None
    if R.shape != (n, n) or not np.allclose(R, R.T) or not np.allclose(np.diag(R), 1.0):
        raise ScenarioError(f"{where}: expected a symmetric {n}×{n} matrix with a unit diagonal "
                            "(in the order of sd)")
    low = float(np.linalg.eigvalsh(R).min())
    if low < -1e-10:
        raise ScenarioError(f"{where}: expected a positive semi-definite matrix (smallest "
                            f"eigenvalue {low:.3g})")
    return R


def _apply_preset(preset: str, base_params: dict) -> None:
    """Overwrite ``base_params`` with a named published parameter set."""
    if preset not in PRESETS:
        raise ScenarioError(f"parameters.preset: unknown preset {preset!r}; known: "
                            f"{', '.join(PRESETS)}")
    base_params.update(PRESETS[preset])


def _apply_values(pdoc: dict, base_params: dict, known) -> None:
    """Overwrite ``base_params`` with [parameters.values], each a known parameter and a number."""
    values = _table(pdoc.get("values", {}), "parameters.values")
    _keys(values, set(known), "parameters.values")
    for k, v in values.items():
        base_params[k] = _num(v, f"parameters.values.{k}")


def _read_csv(path: Path, where: str, **kw) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kw)
    except FileNotFoundError:
        raise ScenarioError(f"{where}: file not found: {path}") from None
    except IsADirectoryError:
        raise ScenarioError(f"{where}: {path} is a directory; expected a .csv file") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{where}: {path} is not UTF-8 text (byte {exc.start})") from None


def _hypothesis(name: str, h: dict, levers: tuple[str, ...], base: dict,
                kinds: Mapping[str, tuple[str, ...]] = HYPOTHESIS_KINDS,
                extra_fixed: set[str] | None = None) -> Hypothesis:
    where = f"hypotheses.{name}"
    extra_fixed = extra_fixed or set()
    _keys(h, {"kind", "free", "fixed", "bounds", "charge_pretraining", "description"}, where)
    kind = h.get("kind", "custom")
    if kind != "custom" and kind not in kinds:
        raise ScenarioError(f"{where}.kind: expected one of custom, "
                            f"{', '.join(kinds)}, got {kind!r}")
    if "free" in h:
        free = h["free"]
        if not isinstance(free, list) or not free:
            raise ScenarioError(f"{where}.free: expected a non-empty list of levers")
    elif kind == "custom":
        raise ScenarioError(f"missing field 'free' in [{where}] (a custom hypothesis names its "
                            "free levers)")
    else:
        free = list(kinds[kind])
    for lv in free:
        if lv not in levers:
            raise ScenarioError(f"{where}.free: unknown lever {lv!r}; expected some of "
                                f"{', '.join(levers)}")
    fixed = dict(base)
    fdoc = _table(h.get("fixed", {}), f"{where}.fixed")
    _keys(fdoc, set(levers) | extra_fixed, f"{where}.fixed")
    for k, v in fdoc.items():
        fixed[k] = _num(v, f"{where}.fixed.{k}", nonneg=True)
    bounds = {}
    bdoc = _table(h.get("bounds", {}), f"{where}.bounds")
    _keys(bdoc, set(levers), f"{where}.bounds")
    for k, v in bdoc.items():
        if not (isinstance(v, list) and len(v) == 2):
            raise ScenarioError(f"{where}.bounds.{k}: expected [low, high]")
        lo, hi = (_num(x, f"{where}.bounds.{k}", positive=True) for x in v)
        if not lo < hi:
            raise ScenarioError(f"{where}.bounds.{k}: expected low < high")
        bounds[k] = (lo, hi)
    fixed = {k: v for k, v in fixed.items() if k not in free}
    return Hypothesis(name, tuple(free), fixed, bool(h.get("charge_pretraining", True)), bounds,
                      str(h.get("description", "")))


def _match_levers(match: Any, base_levers: dict, params: dict) -> dict[str, float]:
    """The levers of a named model: N (and D, else compute-optimal D for that N at the point
    values), other levers from [base]."""
    match = _table(match, "target.match")
    _keys(match, set(M.PIPELINE_LEVERS), "target.match", ("N",))
    z = dict(base_levers)
    z.update({k: _num(v, f"target.match.{k}", positive=k in ("N", "D")) for k, v in
              match.items()})
    if "D" not in match:
        p = params
        z["D"] = float(compute_optimal_for_size(z["N"], p["A"], p["B"], p["alpha"],
                                                p["beta"])["D"])
    return z


def _match_target(z: dict, kind: str, params: dict, extra: dict) -> float:
    """Quality of the pipeline with levers z at the point values ``params``."""
    tech = M.PipelineTechnology(M.Target(kind, 0.0), **extra)
    levers = {k: np.float64(v) for k, v in z.items()}

    def quality(p: dict) -> Any:
        return tech.quality(levers, p)

    # One kept program (read back on a warm run), not a one-op program per step of the law.
    p = {k: np.float64(v) for k, v in params.items()}
    return float(traced_jit(quality, ("match target", quality))(p))


def draw_targets(sc: Scenario, theta: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """The target per parameter draw (row 0 the point values) when the scenario's target is the
    quality of a reference pipeline (``match``): a relative target moves with the parameters, so
    every draw asks the same question (e.g. "as good as the 7B model with 4,700 context tokens").
    None for a fixed target value."""
    import jax

    if sc.target_match is None:
        return None
    tech = sc.technology
    z = {k: np.float64(v) for k, v in sc.target_match.items()}
    th = {k: np.asarray(v, np.float64) for k, v in theta.items() if k != "target"}
    def quality(t: dict) -> Any:
        return tech.quality(z, t)

    # kept between runs (traced_jit): keyed by the technology and the reference levers
    return np.asarray(traced_jit(jax.vmap(quality), ("target quality", quality))(th))


def _shocks(sd: dict) -> list[Shock]:
    out = []
    _keys(sd, {"compute_price", "data_price", "model_life"}, "shocks")
    for kind, spec in sd.items():
        spec = _table(spec, f"shocks.{kind}")
        allowed = {"factor", "to"} if kind == "data_price" else {"factor"}
        _keys(spec, allowed, f"shocks.{kind}")
        if len(spec) != 1:
            raise ScenarioError(f"missing field 'factor' in [shocks.{kind}] (exactly one of "
                                f"{', '.join(sorted(allowed))})")
        if "factor" in spec:
            out.append(Shock(kind, factor=_num(spec["factor"], f"shocks.{kind}.factor",
                                               positive=True)))
        else:
            out.append(Shock(kind, to=_num(spec["to"], f"shocks.{kind}.to", nonneg=True)))
    return out


def best_attainable(sc: Scenario, hyp: Hypothesis) -> float:
    """The best quality a hypothesis can reach: free levers at their upper bounds."""
    tech = sc.technology
    z = {k: np.float64(v) for k, v in hyp.fixed.items()}
    for lv in hyp.free:
        z[lv] = np.float64(hyp.bounds.get(lv, tech.bounds[lv])[1])
    params = {k: np.float64(v) for k, v in point_parameters(sc).items()}
    return float(_lever_quality(tech)(z, params))


def _lever_quality(tech: Any) -> Any:
    """``tech.quality(levers, params)`` as one kept program (:func:`traced_jit`, keyed by the
    technology without its target value), shared by every hypothesis with the same levers:
    evaluated op by op it compiled (or read back) seventeen one-op programs every run."""
    if not dataclasses.is_dataclass(tech):   # a user's technology: evaluated as it is
        return tech.quality
    key = dataclasses.replace(tech, target=type(tech.target)(tech.target.kind, 0.0))

    def quality(z: dict, p: dict) -> Any:
        return tech.quality(z, p)

    return traced_jit(quality, ("lever quality", key))


def point_parameters(sc: Scenario) -> dict[str, float]:
    vals = dict(sc.base_parameters)
    if isinstance(sc.parameters, Published):
        vals.update(sc.parameters.values)
    elif isinstance(sc.parameters, Blocks):
        vals.update(dict(sc.parameters.point))
    elif isinstance(sc.parameters, Normal):
        vals.update(dict(sc.parameters.mean))
    elif sc.parameters.point:
        vals.update(sc.parameters.point)
    return vals


def check_reachable(sc: Scenario) -> None:
    """Raise :class:`ScenarioError` when a hypothesis cannot reach the target at its bounds."""
    t = sc.target
    for hyp in sc.hypotheses:
        best = best_attainable(sc, hyp)
        lower_is_better = t.kind in ("loss", "task_loss", "model_loss")
        ok = best <= t.value if lower_is_better else best >= t.value
        if not ok:
            what = {"loss": "task loss", "success": "task success", "performance": "performance",
                    "task_loss": "task loss", "model_loss": "model loss",
                    "coverage": "coverage"}[t.kind]
            raise ScenarioError(
                f"target.value: {what} {t.value:.6g} is unreachable by hypothesis "
                f"{hyp.name!r}; the best attainable is {best:.6g} (free levers "
                f"{', '.join(hyp.free)} at their upper bounds)")
