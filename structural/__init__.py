"""The structural model of an LLM pipeline: stages, cost and production functions, the firm's
problem, the market, and counterfactuals. Pure JAX functions in float64."""

# JAX's float64 is switched on in one place, the engine's package (estimation/__init__.py).
import estimation  # noqa: F401
