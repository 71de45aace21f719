"""Counterfactuals: investment hypotheses compared over lifetime queries and prices, with the
uncertainty of the fitted parameters.

>>> from structural.counterfactual import run
>>> result = run("structural/examples/scenarios/heavy_training_vs_long_context.toml",
...              draws=200, seed=0, out="out/")               # doctest: +SKIP

Modules: :mod:`~.scenario` (the question, TOML loader), :mod:`~.model` (technologies: costs and
quality), :mod:`~.firm_backend` (the firm's problem of :mod:`structural.firm` as a technology),
:mod:`~.engine` (batched solver, break-even, P(cheapest)), :mod:`~.params` (parameter sources and
draws), :mod:`~.usage` (tokens per query fitted to request traces), :mod:`~.shocks`,
:mod:`~.report` (:func:`run`), :mod:`~.outputs`, :mod:`~.plots`; guardrails as cost shifting in
:mod:`structural.guardrails`.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from structural.counterfactual.engine import Hypothesis, breakeven, solve_grid
    from structural.counterfactual.firm_backend import FirmTechnology
    from structural.counterfactual.model import (
        PipelineTechnology,
        Target,
        TradeoffTechnology,
    )
    from structural.counterfactual.params import (
        Draws,
        Normal,
        Published,
        from_results,
        make_draws,
    )
    from structural.counterfactual.report import CounterfactualResult, run
    from structural.counterfactual.scenario import Scenario, ScenarioError, load_scenario

__all__ = [
    "CounterfactualResult", "Draws", "FirmTechnology", "Hypothesis", "Normal",
    "PipelineTechnology", "Published", "Scenario", "ScenarioError", "Target",
    "TradeoffTechnology", "breakeven", "from_results", "load_scenario", "make_draws", "run",
    "solve_grid",
]

#: The module of each name above. They are imported on first use (PEP 562), so that a light
#: submodule (:mod:`.sensitivity`, :mod:`.outputs`, :mod:`.provenance`: what the LLM API
#: market's scenarios use) does not load the engine, the technologies and the firm's problem
#: with the package (0.1 CPU s of every market counterfactual).
_HOME = {
    "CounterfactualResult": "report", "run": "report", "Draws": "params", "Normal": "params",
    "Published": "params", "from_results": "params", "make_draws": "params",
    "FirmTechnology": "firm_backend", "Hypothesis": "engine", "breakeven": "engine",
    "solve_grid": "engine", "PipelineTechnology": "model", "Target": "model",
    "TradeoffTechnology": "model", "Scenario": "scenario", "ScenarioError": "scenario",
    "load_scenario": "scenario",
}


def __getattr__(name: str):
    if name in _HOME:
        value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
