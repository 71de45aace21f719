"""Context: loss falls as a power law in useful context tokens.

Xiong et al. (2023), "Effective Long-Context Scaling of Foundation Models" (Llama 2 Long),
arXiv:2309.16039 (NAACL 2024), Fig. 1: the validation loss at token position c is

    L(c) = (α / c)^β + γ,

fitted per model size; the constant sets are the named objects :data:`XIONG_2023_7B` …
:data:`XIONG_2023_70B` (collected in :data:`XIONG_2023`).

**Status of the constants: verified at the source.** The Fig. 1 legend of the NAACL 2024 version
(p. 1) reads, per model size, (α, β, γ) = 7B (25.4, 0.45, 1.56); 13B (19.5, 0.48, 1.45); 34B
(17.7, 0.50, 1.41); 70B (17.9, 0.51, 1.35), checked against a page-referenced transcription of the
paper (§3.1 "Effective Context Utilization", p. 5, and Fig. 1, p. 1). The paper's own text gives
two checks the tests repeat: "for the 70B model, doubling the context length reduces the loss by a
factor of 2^{−β} ≈ 0.7" (2^{−0.51} = 0.70), and "larger models can leverage the contexts more
effectively, indicated by the larger β". They also pass one internal consistency check (tests):
the 70B model at position ≈ 270 has the 7B model's loss at 32,768, as the figure shows.
**Not refitted:** the per-position losses behind Fig. 1 are not published (only the fitted
curves; Fig. 2 reports task scores, not losses, at four prompt lengths), so the law cannot be
refitted to Xiong's data; :func:`fit_context_law` fits it to a user's per-position losses
(recovery-tested).

In the pipeline γ is the model's own loss (from pretraining and fine-tuning) and the context term
(α/(c + x))^β is the excess loss left when the model sees c useful context tokens before an x-token
input. On generic text this buys little; for retrieval of task facts a scenario should state a
larger α as an assumption.

Examples
--------
>>> from structural.context import XIONG_2023, DEFAULT_CONTEXT_LAW, XIONG_2023_7B
>>> sorted(XIONG_2023)
['13B', '34B', '70B', '7B']
>>> tuple(DEFAULT_CONTEXT_LAW), DEFAULT_CONTEXT_LAW.model
((17.9, 0.51, 1.35), 'Llama 2 Long 70B')
>>> from structural.context import XIONG_2023_13B, XIONG_2023_34B, XIONG_2023_70B
>>> [law.beta for law in (XIONG_2023_7B, XIONG_2023_13B, XIONG_2023_34B, XIONG_2023_70B)]
[0.45, 0.48, 0.5, 0.51]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

__all__ = ["DEFAULT_CONTEXT_LAW", "XIONG_2023", "XIONG_2023_7B", "XIONG_2023_13B", "XIONG_2023_34B",
           "XIONG_2023_70B", "ContextLaw", "context_excess_loss", "context_loss", "fit_context_law"]

Array = Any


@dataclass(frozen=True)
class ContextLaw:
    """A published (α, β, γ) of L(c) = (α/c)^β + γ with its source; unpacks as (α, β, γ).

    Examples
    --------
    >>> from structural.context import XIONG_2023_70B
    >>> alpha, beta, gamma = XIONG_2023_70B
    >>> alpha, beta, gamma, XIONG_2023_70B.model
    (17.9, 0.51, 1.35, 'Llama 2 Long 70B')
    """

    alpha: float
    beta: float
    gamma: float
    model: str
    source: str
    verified: bool
    status: str

    def __iter__(self) -> Iterator[float]:
        return iter((self.alpha, self.beta, self.gamma))


_XIONG_SOURCE = ("Xiong et al. 2023 (NAACL 2024), arXiv:2309.16039, Fig. 1 p. 1 (legend of the "
                 "power-law fits L(c) = (α/c)^β + γ); §3.1 p. 5")
_XIONG_STATUS = ("verified against the paper's Fig. 1 legend and §3.1 text (2^-β ≈ 0.7 for 70B); "
                 "not refitted: the per-position losses are not published")

XIONG_2023_7B = ContextLaw(25.4, 0.45, 1.56, "Llama 2 Long 7B", _XIONG_SOURCE, True, _XIONG_STATUS)
XIONG_2023_13B = ContextLaw(19.5, 0.48, 1.45, "Llama 2 Long 13B", _XIONG_SOURCE, True,
                            _XIONG_STATUS)
XIONG_2023_34B = ContextLaw(17.7, 0.50, 1.41, "Llama 2 Long 34B", _XIONG_SOURCE, True,
                            _XIONG_STATUS)
XIONG_2023_70B = ContextLaw(17.9, 0.51, 1.35, "Llama 2 Long 70B", _XIONG_SOURCE, True,
                            _XIONG_STATUS)

#: Xiong et al. (2023) Fig. 1 fits by model size.
XIONG_2023: dict[str, ContextLaw] = {"7B": XIONG_2023_7B, "13B": XIONG_2023_13B,
                                     "34B": XIONG_2023_34B, "70B": XIONG_2023_70B}

#: The published default for the context term: the largest model's fit (generic text).
DEFAULT_CONTEXT_LAW = XIONG_2023_70B


def context_loss(c: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """L(c) = (α/c)^β + γ (Xiong et al. 2023, Fig. 1): loss at token position c.

    Examples
    --------
    Loss of Llama 2 Long 70B at token position 32,768:

    >>> from structural.context import context_loss, XIONG_2023_70B
    >>> round(float(context_loss(32768, *XIONG_2023_70B)), 4)
    1.3717
    """
    return (alpha / jnp.asarray(c, jnp.float64)) ** beta + gamma


def context_excess_loss(c: Array, x: Array, alpha: Array, beta: Array) -> Array:
    """(α / (c + x))^β: excess loss over the model's asymptote with c context tokens before an
    x-token input; falls as a power law in useful context.

    Examples
    --------
    Excess loss over the asymptote with 4,000 context tokens before a 500-token input:

    >>> from structural.context import context_excess_loss, XIONG_2023_70B
    >>> round(float(context_excess_loss(4000, 500, XIONG_2023_70B.alpha, XIONG_2023_70B.beta)), 4)
    0.0597
    """
    return (alpha / (jnp.asarray(c, jnp.float64) + x)) ** beta


def _loglik(p: dict[str, Array], d: dict[str, Array]) -> Array:
    resid = d["loss"] - context_loss(d["position"], p["alpha"], p["beta"], p["gamma"])
    return -0.5 * (resid / p["sigma"]) ** 2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)


def fit_context_law(position: Array, loss: Array, start: ContextLaw = DEFAULT_CONTEXT_LAW,
                    **kwargs: Any) -> Any:
    """Fit L(c) = (α/c)^β + γ to per-position losses by maximum likelihood with normal errors
    (α, β, γ, σ > 0, log transforms); returns an :class:`estimation.Results`.

    ``position`` (tokens, ≥ 1) and ``loss`` (nats) are equal-length arrays, e.g. the mean loss at
    each position of long validation documents, as in Xiong et al. (2023), Fig. 1.

    Examples
    --------
    Recover a law from simulated per-position losses:

    >>> import numpy as np
    >>> from structural.context import context_loss, fit_context_law
    >>> c = np.geomspace(16, 32768, 40)
    >>> noise = np.random.default_rng(0).normal(0, 0.002, 40)
    >>> res = fit_context_law(c, np.asarray(context_loss(c, 20.0, 0.5, 1.4)) + noise)
    >>> res.converged
    True
    >>> res.params[["alpha", "beta", "gamma"]].round(2)
    alpha    19.99
    beta      0.50
    gamma     1.40
    Name: estimate, dtype: float64
    """
    import estimation
    from structural.errors import PipelineError

    pos = np.asarray(position, np.float64)
    val = np.asarray(loss, np.float64)
    if pos.shape != val.shape or pos.ndim != 1 or pos.size < 4:
        raise PipelineError("context.fit", f"position and loss must be 1-d arrays of equal length "
                            f">= 4, got shapes {pos.shape} and {val.shape}")
    bad = ~np.isfinite(pos) | (pos < 1) | ~np.isfinite(val)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PipelineError("context.fit", f"row {i}: position {pos[i]!r} (expected >= 1 token) "
                            f"or loss {val[i]!r} (expected a finite number of nats)")
    spec = estimation.ParamSpec([estimation.Param(n, transform="log")
                                 for n in ("alpha", "beta", "gamma", "sigma")])
    resid = val - np.asarray(context_loss(pos, *start))
    start_p = {"alpha": start.alpha, "beta": start.beta, "gamma": max(start.gamma, 1e-3),
               "sigma": max(float(np.std(resid)), 1e-3)}
    kwargs.setdefault("progress", False)
    kwargs.setdefault("name", "context law")
    return estimation.fit(_loglik, {"position": pos, "loss": val}, spec, start=start_p, **kwargs)
