"""The structural model of an LLM pipeline: stages, cost and production functions, the firm's
problem, the market, and counterfactuals. Pure JAX functions in float64."""

import jax

jax.config.update("jax_enable_x64", True)
