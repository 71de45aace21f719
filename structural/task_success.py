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

__all__ = ["success_probability"]

Array = Any


def success_probability(loss: Array, kappa: Array, ell_task: Array, shift: Array = 0.0) -> Array:
    """μ = σ(κ (ℓ_task − L) + shift); ``shift`` adds a logit gain (e.g. from reasoning tokens).

    Examples
    --------
    A task with threshold loss 2.0 and sharpness κ = 10, for models of loss 1.9 and 2.1:

    >>> from structural.task_success import success_probability
    >>> [round(float(success_probability(L, 10.0, 2.0)), 3) for L in (1.9, 2.1)]
    [0.731, 0.269]
    """
    return jax.nn.sigmoid(kappa * (ell_task - jnp.asarray(loss, jnp.float64)) + shift)
