"""Context: loss falls as a power law in useful context tokens.

Xiong et al. (2023), "Effective Long-Context Scaling of Foundation Models" (Llama 2 Long),
arXiv:2309.16039, Fig. 1 / eq. (1): the validation loss at token position c is

    L(c) = (α / c)^β + γ,

with (α, β, γ) = 7B (25.4, 0.45, 1.56); 13B (19.5, 0.48, 1.45); 34B (17.7, 0.50, 1.41);
70B (17.9, 0.51, 1.35). (Constants as transcribed in the project design; they are read from the
paper's figure legend and could not be re-checked here against the PDF.)

In the pipeline γ is the model's own loss (from pretraining and fine-tuning) and the context term
(α/(c + x))^β is the excess loss left when the model sees c useful context tokens before an x-token
input. On generic text this buys little; for retrieval of task facts scenarios should use
a larger α.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

Array = Any

#: Xiong et al. (2023) Fig. 1 fits: model → (α, β, γ).
XIONG_2023: dict[str, tuple[float, float, float]] = {
    "7B": (25.4, 0.45, 1.56), "13B": (19.5, 0.48, 1.45), "34B": (17.7, 0.50, 1.41),
    "70B": (17.9, 0.51, 1.35),
}


def context_loss(c: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """L(c) = (α/c)^β + γ (Xiong et al. 2023, Fig. 1): loss at token position c."""
    return (alpha / jnp.asarray(c, jnp.float64)) ** beta + gamma


def context_excess_loss(c: Array, x: Array, alpha: Array, beta: Array) -> Array:
    """(α / (c + x))^β: excess loss over the model's asymptote with c context tokens before an
    x-token input; falls as a power law in useful context."""
    return (alpha / (jnp.asarray(c, jnp.float64) + x)) ** beta
