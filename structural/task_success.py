"""From loss to task success: a logistic link.

Per-attempt success probability on a task is μ = σ(κ (ℓ_task − L)): below the task's threshold loss
ℓ_task the model mostly succeeds, above it mostly fails; κ sets how sharp the emergence is. This is
the sigmoidal loss-to-accuracy map used to relate pretraining loss to downstream accuracy
(e.g. Gadre et al. 2024, arXiv:2403.08540; Ruan et al. 2024, arXiv:2405.10938 use the same
logistic shape on capability scores). κ and ℓ_task are task-specific and must be fitted or stated
by the scenario.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

Array = Any


def success_probability(loss: Array, kappa: Array, ell_task: Array, shift: Array = 0.0) -> Array:
    """μ = σ(κ (ℓ_task − L) + shift); ``shift`` adds a logit gain (e.g. from reasoning tokens)."""
    return jax.nn.sigmoid(kappa * (ell_task - jnp.asarray(loss, jnp.float64)) + shift)
