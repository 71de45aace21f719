"""The stages of an LLM pipeline as small validated records.

Each stage holds the quantities that drive its cost and its contribution to quality:

========== ================================================= ==========
stage      quantities                                        cost
========== ================================================= ==========
Pretrain   N parameters (N_active for MoE), D tokens, U      fixed
           unique tokens, an Architecture
FineTune   D_F tokens, full or adapter (N_trainable)         fixed
Context    c tokens, cached fraction                         per query
Input      x tokens                                          per query
Reasoning  k parallel attempts, r sequential reasoning       per query
           tokens per attempt
Output     y tokens per attempt                              per query
========== ================================================= ==========

Every record validates itself on construction and raises :class:`structural.errors.PipelineError`
naming the field (``"output.y"``) and what was expected. ``as_quantities`` turns a set of stages
into the flat dict of JAX scalars used by :func:`structural.costs.stage_costs`, so the numerical
code is pure functions of named quantities (a pytree), vmappable over scenario grids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from structural.errors import PipelineError

__all__ = ["Architecture", "Context", "FineTune", "Input", "Output", "Pretrain", "Reasoning",
           "as_quantities"]


def _number(field: str, value: object) -> float:
    if isinstance(value, bool):
        raise PipelineError(field, f"expected a number, got {value!r}")
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PipelineError(field, f"expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise PipelineError(field, f"expected a finite number, got {value!r}")
    return v


def tokens(field: str, value: object) -> float:
    """A non-negative token count."""
    v = _number(field, value)
    if v < 0:
        raise PipelineError(field, f"expected a non-negative number of tokens, got {value!r}")
    return v


def positive(field: str, value: object) -> float:
    v = _number(field, value)
    if v <= 0:
        raise PipelineError(field, f"expected a positive number, got {value!r}")
    return v


def unit_interval(field: str, value: object, *, open_low: bool = True) -> float:
    """A number in (0, 1] (``open_low``) or [0, 1]."""
    v = _number(field, value)
    ok = (0 < v <= 1) if open_low else (0 <= v <= 1)
    if not ok:
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise PipelineError(field, f"expected a value in {interval}, got {value!r}")
    return v


@dataclass(frozen=True)
class Architecture:
    """Transformer shape (Kaplan et al. 2020, Table 1): n_layer, d_model, d_attn (default d_model),
    d_ff (default 4 d_model), training context n_ctx, vocabulary n_vocab, and kv_fraction, the
    share of attention heads that keep their own keys and values (grouped-query attention).

    Examples
    --------
    GPT-2 XL's shape; ``parameters`` is the non-embedding N of Kaplan et al. (2020):

    >>> from structural.stages import Architecture
    >>> arch = Architecture(n_layer=48, d_model=1600, n_ctx=1024)
    >>> f"{arch.parameters:.4g}"
    '1.475e+09'
    """

    n_layer: float
    d_model: float
    d_attn: float | None = None
    d_ff: float | None = None
    n_ctx: float = 4096.0
    n_vocab: float = 50257.0
    kv_fraction: float = 1.0

    def __post_init__(self) -> None:
        positive("architecture.n_layer", self.n_layer)
        positive("architecture.d_model", self.d_model)
        if self.d_attn is not None:
            positive("architecture.d_attn", self.d_attn)
        if self.d_ff is not None:
            positive("architecture.d_ff", self.d_ff)
        positive("architecture.n_ctx", self.n_ctx)
        positive("architecture.n_vocab", self.n_vocab)
        unit_interval("architecture.kv_fraction", self.kv_fraction)

    @property
    def attn(self) -> float:
        return float(self.d_attn if self.d_attn is not None else self.d_model)

    @property
    def ff(self) -> float:
        return float(self.d_ff if self.d_ff is not None else 4 * self.d_model)

    @property
    def parameters(self) -> float:
        """Non-embedding N = 2 d_model n_layer (2 d_attn + d_ff)."""
        return 2.0 * self.d_model * self.n_layer * (2.0 * self.attn + self.ff)


@dataclass(frozen=True)
class Pretrain:
    """N parameters trained on D tokens drawn from U unique tokens (U defaults to D).

    ``active_fraction`` is N_active/N for mixture-of-experts models (compute uses N_active,
    memory and the loss use N). Without an ``architecture`` the context term of the FLOPs is
    taken from a Llama-2-70B-shaped model scaled to N (see :mod:`structural.costs`).

    Examples
    --------
    >>> from structural.stages import Pretrain
    >>> Pretrain(N=70e9, D=1.4e12).unique
    1400000000000.0
    >>> Pretrain(N=70e9, D=1e12, U=2e12)
    Traceback (most recent call last):
    ...
    structural.errors.PipelineError: pretrain.U: unique tokens U=2e+12 exceed D=1e+12
    """

    N: float
    D: float
    U: float | None = None
    architecture: Architecture | None = None
    active_fraction: float = 1.0

    def __post_init__(self) -> None:
        positive("pretrain.N", self.N)
        tokens("pretrain.D", self.D)
        if self.U is not None:
            tokens("pretrain.U", self.U)
            if self.U > self.D:
                raise PipelineError("pretrain.U", f"unique tokens U={self.U:g} exceed D={self.D:g}")
        unit_interval("pretrain.active_fraction", self.active_fraction)

    @property
    def unique(self) -> float:
        return float(self.D if self.U is None else self.U)


@dataclass(frozen=True)
class FineTune:
    """D_F fine-tuning tokens; ``method`` ``"full"`` (all weights) or ``"adapter"`` with
    N_trainable adapter weights.

    Examples
    --------
    >>> from structural.stages import FineTune
    >>> FineTune(D_F=1e8).method
    'full'
    >>> FineTune(D_F=1e8, method="adapter", N_trainable=4e7).N_trainable
    40000000.0
    """

    D_F: float = 0.0
    method: str = "full"
    N_trainable: float | None = None

    def __post_init__(self) -> None:
        tokens("finetune.D_F", self.D_F)
        if self.method not in ("full", "adapter"):
            raise PipelineError("finetune.method",
                                f"expected 'full' or 'adapter', got {self.method!r}")
        if self.method == "adapter":
            if self.N_trainable is None:
                raise PipelineError("finetune.N_trainable", "required for adapter fine-tuning")
            positive("finetune.N_trainable", self.N_trainable)


@dataclass(frozen=True)
class Context:
    """c context tokens per query, of which ``cached_fraction`` is served from a prompt cache.

    Examples
    --------
    >>> from structural.stages import Context
    >>> Context(c=8000, cached_fraction=0.75)
    Context(c=8000, cached_fraction=0.75)
    """

    c: float = 0.0
    cached_fraction: float = 0.0

    def __post_init__(self) -> None:
        tokens("context.c", self.c)
        unit_interval("context.cached_fraction", self.cached_fraction, open_low=False)


@dataclass(frozen=True)
class Input:
    """x input tokens per query.

    Examples
    --------
    >>> from structural.stages import Input
    >>> Input(x=500).x
    500
    """

    x: float = 0.0

    def __post_init__(self) -> None:
        tokens("input.x", self.x)


@dataclass(frozen=True)
class Reasoning:
    """k parallel attempts (k ≥ 1) each with r sequential reasoning tokens.

    Examples
    --------
    Eight parallel attempts of 2,000 reasoning tokens each:

    >>> from structural.stages import Reasoning
    >>> Reasoning(k=8, r=2000)
    Reasoning(k=8, r=2000)
    """

    k: float = 1.0
    r: float = 0.0

    def __post_init__(self) -> None:
        v = _number("reasoning.k", self.k)
        if v < 1:
            raise PipelineError("reasoning.k", f"expected at least 1 attempt, got {self.k!r}")
        tokens("reasoning.r", self.r)


@dataclass(frozen=True)
class Output:
    """y output tokens per attempt.

    Examples
    --------
    >>> from structural.stages import Output
    >>> Output(y=300).y
    300
    """

    y: float = 0.0

    def __post_init__(self) -> None:
        tokens("output.y", self.y)


def as_quantities(pretrain: Pretrain, finetune: FineTune, context: Context, input: Input,
                  reasoning: Reasoning, output: Output) -> dict[str, float]:
    """The flat quantities dict ``z`` of :mod:`structural.costs` (keys :data:`~structural.costs.
    Z_KEYS`).

    Examples
    --------
    >>> from structural.stages import (Context, FineTune, Input, Output, Pretrain, Reasoning,
    ...                                as_quantities)
    >>> z = as_quantities(Pretrain(70e9, 1.4e12), FineTune(), Context(c=1000), Input(x=500),
    ...                   Reasoning(k=4), Output(y=500))
    >>> z
    {'N': 70000000000.0, 'D': 1400000000000.0, 'U': 1400000000000.0, 'D_F': 0.0,
    'trainable_fraction': 1.0, 'c': 1000.0, 'cached_fraction': 0.0, 'x': 500.0, 'k': 4.0, 'r':
    0.0, 'y': 500.0}
    """
    N_a = pretrain.N * pretrain.active_fraction
    if finetune.method == "adapter":
        trainable = float(finetune.N_trainable) / N_a  # type: ignore[arg-type]
    else:
        trainable = 1.0
    return {
        "N": float(pretrain.N), "D": float(pretrain.D), "U": pretrain.unique,
        "D_F": float(finetune.D_F), "trainable_fraction": trainable,
        "c": float(context.c), "cached_fraction": float(context.cached_fraction),
        "x": float(input.x), "k": float(reasoning.k), "r": float(reasoning.r),
        "y": float(output.y),
    }
