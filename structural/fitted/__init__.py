r"""Fitted cost functions: structural cost models estimated on the curated datasets.

Each module states one cost function as a pure JAX per-observation log-likelihood, prepares its
data from :mod:`data` tables, simulates from known parameters (for recovery tests) and fits with
:func:`estimation.fit`:

``training_cost``
    training cost = FLOPs × $/FLOP at the training date / utilisation, and the annual growth of
    frontier training cost (Cottier et al. 2024).
``inference_price``
    third-party prices of open-weights models against active parameters, context window and date,
    log-linear and in the roofline form; implied markups.
``price_trend``
    the cheapest price at or above a capability threshold over time.
``usage``
    request-level context and output tokens, prefix-cache reuse and reasoning tokens; the implied
    per-request cost distribution.
``task_success``
    the loss-to-success link :math:`\sigma(\kappa(\ell_b - L^*(C)))` with the between-model and
    question-difficulty spreads, on Epoch's benchmark runs.

:data:`REGISTRY` declares them: the command line (``llmecon fit NAME``) iterates over it, so a new
fitted model is its module here, one entry below, and its command in
:mod:`llmecon.commands.fit_costs`.

Examples
--------
>>> from structural.fitted import REGISTRY
>>> list(REGISTRY)
['training_cost', 'inference_price', 'price_trend', 'usage', 'task_success']
>>> REGISTRY["usage"].summary
'tokens per request: lognormal mixtures chosen by AIC/BIC'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ["REGISTRY", "FittedModel"]


@dataclass(frozen=True)
class FittedModel:
    """One fitted cost model: its name (= module name and ``llmecon fit`` subcommand) and what it
    estimates, in one line.

    Examples
    --------
    >>> from structural.fitted import REGISTRY
    >>> model = REGISTRY["training_cost"]
    >>> model.module().__name__
    'structural.fitted.training_cost'
    """

    name: str
    summary: str

    def module(self) -> ModuleType:
        """The model's module, imported on first use (it compiles JAX code)."""
        return importlib.import_module(f"structural.fitted.{self.name}")


REGISTRY: dict[str, FittedModel] = {m.name: m for m in (
    FittedModel("training_cost",
                "training cost = FLOPs x $/FLOP / utilisation; growth of frontier cost"),
    FittedModel("inference_price",
                "third-party open-weights prices vs active parameters; markups"),
    FittedModel("price_trend", "cheapest price at or above a capability threshold over time"),
    FittedModel("usage", "tokens per request: lognormal mixtures chosen by AIC/BIC"),
    FittedModel("task_success",
                "loss-to-success link sigma(kappa (ell_b - L*(C))) on Epoch benchmark runs"),
)}
