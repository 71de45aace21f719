"""The structural model of an LLM pipeline: stages, cost and production functions, the firm's
problem, the market, and counterfactuals. Pure JAX functions in float64.

The public API is declared module by module (each module's ``__all__``); the entry points are

- the laws: :mod:`structural.pretraining` (Chinchilla loss and compute-optimal allocation),
  :mod:`structural.repeated_data`, :mod:`structural.finetuning`, :mod:`structural.context`,
  :mod:`structural.task_success`, :mod:`structural.reasoning`, with their published constants in
  :mod:`structural.published`;
- a pipeline and its costs: :class:`structural.pipeline.Pipeline` of the stages in
  :mod:`structural.stages`, :func:`structural.costs.stage_costs`,
  :func:`structural.quality.evaluate`, the FLOP accounting of :mod:`structural.flops` and
  :mod:`structural.inference` on the chips of :mod:`structural.hardware`;
- the firm's problem: :func:`structural.firm.solve`;
- fitted cost models: :mod:`structural.fitted` and :func:`structural.chinchilla_fit.fit_chinchilla`;
- counterfactuals: :func:`structural.counterfactual.run`;
- markets: :func:`structural.market.estimate_demand`, :mod:`structural.market.post`,
  :func:`structural.market.llm_api.fit_llm_demand` and :func:`structural.market.llm_scenarios.run`.
"""

# JAX's float64 is switched on in one place, the engine's package (estimation/__init__.py).
import estimation  # noqa: F401

__all__: list[str] = []
