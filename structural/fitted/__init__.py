"""Fitted cost functions: structural cost models estimated on the curated datasets.

Each module states one cost function as a pure JAX per-observation log-likelihood, prepares its
data from :mod:`data` tables, simulates from known parameters (for recovery tests) and fits with
:func:`estimation.fit`:

``training_cost``    training cost = FLOPs × $/FLOP at the training date / utilisation, and the
                     annual growth of frontier training cost (Cottier et al. 2024).
``inference_price``  third-party prices of open-weights models against active parameters, context
                     window and date, log-linear and in the roofline form; implied markups.
``price_trend``      the cheapest price at or above a capability threshold over time.
``usage``            request-level context and output tokens, prefix-cache reuse and reasoning
                     tokens; the implied per-request cost distribution.
``task_success``     the loss-to-success link σ(κ(ℓ_b − L*(C))) with the between-model and
                     question-difficulty spreads, on Epoch's benchmark runs.
"""

import jax

jax.config.update("jax_enable_x64", True)

MODELS = ("training_cost", "inference_price", "price_trend", "usage", "task_success")
