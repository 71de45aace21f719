"""The technologies a counterfactual compares: what each lever costs and what quality it buys.

A *technology* gives, for a pipeline z (a dict of levers), its cost by stage and a quality margin
g(z) ≥ 0 that says whether z meets the scenario's quality target. The engine
(:mod:`structural.counterfactual.engine`) minimises the total cost F(z) + Q·v(z) subject to
g(z) ≥ 0 with some levers free (an investment hypothesis) and the rest fixed.

:class:`PipelineTechnology` is the project's one pipeline model, levers z = (N, D, U, D_F, c, k):
its cost is :func:`structural.costs.stage_costs` (training FLOPs at the training $/chip-hour and
utilisation; prefill and decode rooflines with weight and KV-cache reads, the serving batch limited
by accelerator memory and otherwise chosen for cost; unique data U priced per token) and its
quality is :mod:`structural.quality` (Chinchilla law with repeated data through Muennighoff's law,
fine-tuning as D_F + D_T effective tokens, the context law, the logistic success link and Beta
pass@k coverage). The stage and lever names are those of :mod:`structural.costs` and
:mod:`structural.firm`, so ``llmecon cost``, :func:`structural.firm.solve` and a counterfactual
price the same pipeline identically.

:class:`TradeoffTechnology` is the two-lever model of Erdil (2024, Epoch AI, "Optimally allocating
compute between inference and training"): performance w_T·log T + w_I·log I for training compute T
and inference compute per query I, so that the iso-performance curve has log-log slope −w_T/w_I.
Its FLOPs are priced like the pipeline's training and decode FLOPs (compute-bound, $/chip-hour over
peak × utilisation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from structural import costs, published, quality
from structural.pretraining import data_for_loss

__all__ = ["PipelineTechnology", "Target", "Technology", "TradeoffTechnology"]

Array = Any

#: Default stock of unique text tokens U when a scenario gives none: the stock of public
#: human-generated text estimated by Villalobos et al. (2024, arXiv:2211.04325, §3: ≈ 3e14
#: tokens). Data is never free and unlimited unless a scenario says so (data price, U).
UNIQUE_TOKENS_DEFAULT = 3e14

#: Cost parameters of the pipeline (hardware, serving, architecture): structural.costs' theta
#: without its prices, which form the price grid (:data:`PRICE_FIELDS`).
COST_PARAMETERS: dict[str, str] = {
    "peak_train": "peak FLOP/s per training chip", "peak_infer": "peak FLOP/s per serving chip",
    "bandwidth": "memory bandwidth per serving chip, bytes/s",
    "memory_bytes": "accelerator memory (HBM) per serving chip, bytes",
    "interconnect_bandwidth": "NVLink bandwidth per serving chip, both directions, bytes/s",
    "bytes_act": "bytes per activation in tensor parallelism's all-reduces",
    "u_train": "training utilisation (MFU)", "u_finetune": "fine-tuning utilisation",
    "u_prefill": "prefill utilisation", "u_decode": "decode utilisation (compute side)",
    "batch": "cap on the serving batch (inf: memory and cost choose it)",
    "chips": "chips per serving replica (0: chosen for cost, at most max_chips)",
    "max_chips": "most chips a cost-chosen replica may span (one node)",
    "bytes_per_param": "bytes per weight", "bytes_kv": "bytes per KV-cache element",
    "kv_fraction": "KV heads / attention heads (grouped-query attention)",
    "n_layer_d_attn": "n_layer × d_attn at N_ref", "N_ref": "reference size of the architecture",
    "n_ctx_train": "training context length", "active_fraction": "active / total parameters (MoE)",
    "kv_bytes_ref": "KV-cache bytes per token at N_ref for latent attention (0: from the heads)",
}

#: Parameters of the pipeline technology, with what they mean. Draws may replace any of them.
PIPELINE_PARAMETERS: dict[str, str] = {
    "A": "Chinchilla parameter term coefficient (Hoffmann et al. 2022)",
    "B": "Chinchilla data term coefficient",
    "E": "irreducible loss, nats/token",
    "alpha": "parameter exponent α",
    "beta": "data exponent β",
    "R_D_star": "R*_D: decay of repeated data (Muennighoff et al. 2023)",
    "R_N_star": "R*_N: decay of excess parameters (Muennighoff et al. 2023)",
    "task_data_share": "ρ: share of pretraining tokens that count as task data",
    "ctx_alpha": "α_c of the context excess loss (α_c/(c+x))^β_c (Xiong et al. 2023 form)",
    "ctx_beta": "β_c of the context excess loss",
    "ft_k": "Hernandez et al. 2021 transfer coefficient k_T (characters)",
    "ft_alpha": "Hernandez et al. 2021 exponent on fine-tuning data α_T",
    "ft_beta": "Hernandez et al. 2021 exponent on parameters β_T",
    "ft_weight": "w: relevance of the fine-tuning data to the task",
    "chars_per_token": "χ: characters per token (the transfer law is fitted in characters)",
    "kappa": "κ: slope of the loss → success logistic link",
    "ell_task": "ℓ_task: loss at which per-attempt success is 1/2",
    "rho": "reasoning gain per doubling of reasoning tokens (no reasoning tokens here)",
    "r0": "reasoning-token scale r₀",
    "phi": "φ: concentration of the Beta distribution of per-problem success",
    "verifier_fpr": "P(the verifier accepts a wrong answer) (answer selection 'verifier')",
    "verifier_fnr": "P(the verifier rejects a correct answer) (answer selection 'verifier')",
    "tokens_in": "mean input tokens per query x",
    "tokens_in_logsd": "log-sd of input tokens (the per-query cost is its expectation over them)",
    "tokens_out": "mean output tokens per attempt y",
    "tokens_out_logsd": "log-sd of output tokens (the per-query cost is its expectation)",
    "train_price_scale": "multiplier on the training $/chip-hour (its fitted uncertainty)",
    "serve_price_scale": "multiplier on the serving $/chip-hour (its uncertainty)",
    **COST_PARAMETERS,
}

#: Prices of one evaluation point (all may vary over the price grid and under shocks).
PRICE_FIELDS = ("train_chip_hour", "serve_chip_hour", "data_token", "ft_data_token", "cache_hit",
                "cache_discount")
COMPUTE_PRICE_FIELDS = ("train_chip_hour", "serve_chip_hour")
DATA_PRICE_FIELDS = ("data_token", "ft_data_token")


def pipeline_defaults(hardware: str = "H100") -> dict[str, float]:
    """Defaults of :data:`PIPELINE_PARAMETERS`: the quality composition's published constants
    (:func:`structural.quality.quality_parameters`, with the Chinchilla constants of Sardana &
    Frankle 2023 until a scenario's preset or fit replaces them), the cost accounting's hardware
    and architecture (:func:`structural.costs.cost_parameters`), and neutral values that switch a
    stage off until a scenario sets it (no context effect, κ = 1, φ → ∞, one-token queries)."""
    q = quality.quality_parameters(ctx_alpha=0.0, ctx_beta=0.5, kappa=1.0, phi=1e6, rho=0.0,
                                   **published.SARDANA_2023)
    c = {k: v for k, v in costs.cost_parameters(hardware).items() if k in COST_PARAMETERS}
    return {**q, **c, "tokens_in": 0.0, "tokens_in_logsd": 0.0, "tokens_out": 1.0,
            "tokens_out_logsd": 0.0, "train_price_scale": 1.0, "serve_price_scale": 1.0}


PIPELINE_DEFAULTS: dict[str, float] = pipeline_defaults()

#: Parameters that must be strictly positive for a draw to be kept.
POSITIVE = ("A", "B", "E", "alpha", "beta", "task_data_share", "ctx_beta", "ft_k", "ft_alpha",
            "chars_per_token", "kappa", "phi", "R_D_star", "R_N_star", "peak_train",
            "peak_infer", "bandwidth", "u_train", "u_finetune", "u_prefill", "u_decode")

#: Gauss–Hermite nodes (probabilists') per dimension for the expected per-query cost over
#: lognormal input and output tokens: 3 nodes integrate a cubic-times-quintic in log tokens exactly.
TOKEN_NODES = 3
_GH_Z, _GH_W = np.polynomial.hermite_e.hermegauss(TOKEN_NODES)
_GH_W = _GH_W / _GH_W.sum()

PIPELINE_LEVERS = ("N", "D", "U", "D_F", "c", "k")
#: Default bounds of each lever (a scenario may narrow or widen them).
PIPELINE_BOUNDS: dict[str, tuple[float, float]] = {
    "N": (1e6, 1e14), "D": (1e6, 1e17), "U": (1e6, 1e17), "D_F": (1e3, 1e14), "c": (1.0, 1e7),
    "k": (1.0, 1e5),
}
#: Stages of the cost, fixed (paid once) and per query: those of structural.costs.
FIXED_STAGES = costs.FIXED_STAGES


@dataclass(frozen=True)
class Target:
    """The quality target: ``kind`` is ``"loss"`` (task loss ≤ value) or ``"success"`` (pass@k
    task success ≥ value).

    Examples
    --------
    >>> from structural.counterfactual import Target
    >>> Target("success", 0.6)
    Target(kind='success', value=0.6)
    """

    kind: str
    value: float


@runtime_checkable
class Technology(Protocol):
    """What the counterfactual engine needs of a technology: the plug-in point.

    A technology is the firm's problem C_h(Q; θ, p) = min_z F(z; p) + Q·v(z; p) s.t.
    g(z; θ) ≥ 0 (Sardana & Frankle 2023, eq. 3) for levers z. Every attribute below is declared
    by each technology (no defaults looked up by name or by ``hasattr``), so a new technology is
    one class that a type checker can verify against this protocol.

    Attributes
    ----------
    name : str
        Its name in a scenario's ``[technology]`` table.
    target : Target
        The quality constraint g(z; θ) ≥ 0.
    levers : tuple of str
        The levers z the firm may choose.
    bounds : dict
        Per-lever (low, high) search range.
    lever_defaults : dict
        Levers a hypothesis may leave neither free nor fixed, with their values.
    bind_priority : tuple of str
        Which free lever binds the target, in order of preference (closed forms first).
    fixed_stages : tuple of str
        Cost stages paid once; the others are paid per query.
    positive : tuple of str
        Parameters drawn on the log scale (they must stay positive).
    compute_price_fields, data_price_fields : tuple of str
        The price fields a compute-price or data-price shock scales.

    Examples
    --------
    Every technology of the package satisfies the protocol:

    >>> from structural.counterfactual import (FirmTechnology, PipelineTechnology, Target,
    ...                                        TradeoffTechnology)
    >>> from structural.counterfactual.model import Technology
    >>> target = Target("loss", 2.0)
    >>> [isinstance(t(target), Technology)
    ...  for t in (PipelineTechnology, TradeoffTechnology, FirmTechnology)]
    [True, True, True]
    """

    name: str
    target: Target
    levers: tuple[str, ...]
    bounds: dict[str, tuple[float, float]]
    lever_defaults: dict[str, float]
    bind_priority: tuple[str, ...]
    fixed_stages: tuple[str, ...]
    positive: tuple[str, ...]
    compute_price_fields: tuple[str, ...]
    data_price_fields: tuple[str, ...]

    def quality(self, z: dict, th: dict) -> Array:
        """The quality measure the target constrains, at levers z and parameters th."""

    def own_solver(self, hyp: Any) -> Callable[[dict, dict, Array], dict] | None:
        """``solve(theta, prices, Q) -> dict`` of one hypothesis at one point when the
        technology brings its own solver; None to use the engine's (which then calls
        :meth:`ConstrainedTechnology.margin`, ``bind``, ``closed_form`` and ``cost_parts``)."""

    def own_batched_solver(self, hyp: Any) -> Callable[[dict, dict, Array], dict] | None:
        """The batched form of :meth:`own_solver` over lanes, or None for
        ``jit(vmap(solver))``."""


@runtime_checkable
class ConstrainedTechnology(Technology, Protocol):
    """A :class:`Technology` solved by the engine's own solver (``own_solver`` returns None).

    Its ``lever_offsets`` maps a lever z to the parameter o(θ) that projected Newton adds to it,
    optimising log(z + o) instead of log z (:class:`EngineSolved` declares none)."""

    lever_offsets: Mapping[str, str]

    def margin(self, z: dict, th: dict) -> Array:
        """g(z; θ): quality minus target, ≥ 0 where the target is met."""

    def closed_form(self, lever: str) -> bool:
        """Whether :meth:`bind` solves the target for ``lever`` in closed form."""

    def bind(self, lever: str, z: dict, th: dict) -> Array | None:
        """The value of ``lever`` at which the target binds, or None (bisection instead)."""

    def cost_parts(self, z: dict, th: dict, pr: dict, charge_pretraining: bool = True) -> dict:
        """Cost by stage: once for :attr:`fixed_stages`, per query for the others."""

    def kink(self, z: dict, th: dict, pr: dict) -> Array | None:
        """A smooth function whose zero set is a ridge of the cost (where it is the larger of two
        smooth pieces, so an optimum may lie on it), or None where the cost has none; the engine
        minimises along it where Newton's KKT test fails."""


class EngineSolved:
    """Mixin of the technologies that the engine solves (they have no solver of their own)."""

    #: Levers Newton optimises in log(z + θ[name]) instead of log z: none unless a technology
    #: declares them (:attr:`PipelineTechnology.lever_offsets`).
    lever_offsets: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def own_solver(self, hyp: Any) -> None:
        return None

    def own_batched_solver(self, hyp: Any) -> None:
        return None


def target_value(tech, th: dict) -> Array:
    """The target's value: ``th["target"]`` when the engine passes it as data (so one compiled
    solver serves every target), else the technology's own."""
    return th["target"] if "target" in th else tech.target.value


def _bisect(fun, lo: Array, hi: Array, iters: int) -> Array:
    """Root of an increasing scalar function on [lo, hi] by ``iters`` halvings (jit/vmap safe).

    The halvings stop once one leaves the bracket as it was: a halving is a pure function of
    the bracket, so every later one would leave it too, and the result is that of all
    ``iters``, bit for bit. That happens one halving after the ends become adjacent floats
    (the midpoint is then one of them), about 55 halvings into a log-lever range of 20: the
    nested fallback's outer search (:data:`engine.ITERATIONS` = 64 halvings, each an inner
    Newton solve) stops about a seventh earlier (near a root at 0 the ends never become
    adjacent and all ``iters`` run). Under ``vmap`` a block runs until all its lanes have
    stopped, and a stopped lane keeps its bracket. ``lo`` and ``hi`` are scalars (``vmap`` for
    many brackets), and the loop is a ``lax.while_loop``: not reverse-differentiable in them
    (``fun``'s own parameters are read, not differentiated, by every caller)."""

    def cond(s):
        return s[3] & (s[2] < iters)

    def body(s):
        a, b, k, _ = s
        m = 0.5 * (a + b)
        up = fun(m) < 0.0
        a2, b2 = jnp.where(up, m, a), jnp.where(up, b, m)
        return a2, b2, k + 1, (a2 != a) | (b2 != b)   # NaN: never still, runs all iters

    a, b = jnp.asarray(lo, float), jnp.asarray(hi, float)
    a, b, _, _ = jax.lax.while_loop(cond, body, (a, b, 0, jnp.asarray(True)))
    return 0.5 * (a + b)


def required_mu(k: Array, target: Array, th: dict, rule: str = "oracle") -> Array:
    """Per-attempt success μ at which the success of k attempts under the answer-selection
    ``rule`` (:func:`structural.quality.success_given_mu`; it rises in μ) equals ``target``."""
    logit = _bisect(lambda t: quality.success_given_mu(k, jax.nn.sigmoid(t), th, rule) - target,
                    -40.0, 40.0, 100)
    return jax.nn.sigmoid(logit)


def _unrepeat(D_eff: Array, U: Array, R_D_star: Array) -> Array:
    """D with Muennighoff's D'(D, U) = D_eff (the inverse of eq. 5); +inf beyond U(1 + R*_D)."""
    over = jnp.maximum(D_eff / U - 1.0, 0.0) / R_D_star
    ok = over < 1.0
    R = -R_D_star * jnp.log1p(-jnp.where(ok, over, 0.0))
    return jnp.where(D_eff <= U, D_eff, jnp.where(ok, U * (1.0 + R), jnp.inf))


@dataclass(frozen=True)
class PipelineTechnology(EngineSolved):
    """The LLM pipeline (see the module docstring): levers N, D, U, D_F, c, k.

    ``attention`` switches the attention FLOPs and KV cache on; ``unit`` is ``"dollars"`` or
    ``"flops"`` (every stage's FLOPs, Sardana & Frankle's accounting); ``charge_pretraining`` is
    per hypothesis (see :class:`Hypothesis`). ``selection`` is how one answer is chosen from k
    attempts (:data:`structural.quality.SELECTION_RULES`): majority vote by default; ``"verifier"``
    checks samples one at a time with the error rates ``verifier_fpr``, ``verifier_fnr`` (each
    check priced as the prefill of one answer after the shared prompt, a same-size generative
    verifier: the ``verify`` stage); ``"oracle"`` is the free perfect verifier (pass@k), an upper
    bound that a scenario must ask for. ``token_nodes`` > 1 takes the per-query cost as its
    expectation over lognormal input and output tokens (means ``tokens_in``, ``tokens_out``, log-sds
    ``tokens_in_logsd``, ``tokens_out_logsd``; Gauss–Hermite, ``token_nodes`` per dimension), the
    replica's batch and chips set by the mean request (one shared batch serves the mix) and capping
    each node's; 1 prices the mean request.

    Examples
    --------
    >>> from structural.counterfactual import PipelineTechnology, Target
    >>> tech = PipelineTechnology(Target("success", 0.6))
    >>> tech.levers, tech.unit
    (('N', 'D', 'U', 'D_F', 'c', 'k'), 'dollars')
    """

    target: Target
    attention: bool = True
    unit: str = "dollars"
    selection: str = "majority"
    token_nodes: int = 1
    name: str = "pipeline"
    levers: tuple[str, ...] = PIPELINE_LEVERS
    compute_price_fields: tuple[str, ...] = COMPUTE_PRICE_FIELDS
    data_price_fields: tuple[str, ...] = DATA_PRICE_FIELDS
    bounds: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(PIPELINE_BOUNDS))
    #: Levers a hypothesis may leave out: the unique-data stock U.
    lever_defaults: dict[str, float] = field(
        default_factory=lambda: {"U": UNIQUE_TOKENS_DEFAULT})
    bind_priority: tuple[str, ...] = ("D", "c", "D_F", "k", "N", "U")
    fixed_stages: tuple[str, ...] = FIXED_STAGES
    positive: tuple[str, ...] = POSITIVE
    #: Levers that the engine's projected Newton optimises in log(z + θ[name]) rather than log z:
    #: the context c beside the prompt x (``tokens_in``), since quality and cost see c + x.
    lever_offsets: ClassVar[Mapping[str, str]] = MappingProxyType({"c": "tokens_in"})

    # -- the one pipeline's quantities and parameters ---------------------------------------
    def quantities(self, z: dict, th: dict, pr: dict | None = None) -> dict:
        """structural.costs' z: the levers plus the workload (x, y from th; no reasoning
        tokens; every parameter trainable; the cached share of the context from the prices)."""
        out = {k: z[k] for k in PIPELINE_LEVERS}
        out.update(x=th["tokens_in"], y=th["tokens_out"], r=0.0, trainable_fraction=1.0,
                   cached_fraction=0.0 if pr is None else pr["cache_hit"])
        return out

    def cost_theta(self, th: dict, pr: dict) -> dict:
        """structural.costs' theta: hardware and architecture from th, prices from pr."""
        out = {k: th[k] for k in COST_PARAMETERS}
        out.update(price_per_hour=pr["serve_chip_hour"] * th["serve_price_scale"],
                   price_per_hour_train=pr["train_chip_hour"] * th["train_price_scale"],
                   data_price=pr["data_token"], finetune_data_price=pr["ft_data_token"],
                   cache_cost_ratio=1.0 - pr["cache_discount"])
        if not self.attention:
            out["n_layer_d_attn"] = 0.0
        return out

    # -- quality ---------------------------------------------------------------------------
    def model_loss(self, z: dict, th: dict) -> Array:
        """L(N, D, U, D_F) of :func:`structural.quality.model_loss`."""
        return quality.model_loss(self.quantities(z, th), th)

    def context_term(self, z: dict, th: dict) -> Array:
        """(α_c/(c + x))^β_c (:func:`structural.quality.context_term`)."""
        return quality.context_term(self.quantities(z, th), th)

    def task_loss(self, z: dict, th: dict) -> Array:
        return self.model_loss(z, th) + self.context_term(z, th)

    def quality(self, z: dict, th: dict) -> Array:
        """Task loss (loss targets) or pass@k coverage (success targets)."""
        if self.target.kind == "loss":
            return self.task_loss(z, th)
        return quality.success(self.quantities(z, th), th, self.selection)

    def margin(self, z: dict, th: dict) -> Array:
        """g(z) ≥ 0 iff z meets the target; increasing in every lever."""
        q = self.quality(z, th)
        t = target_value(self, th)
        return t - q if self.target.kind == "loss" else q - t

    def loss_target(self, k: Array, th: dict) -> Array:
        """The task loss that meets the target with k attempts."""
        if self.target.kind == "loss":
            return jnp.asarray(target_value(self, th), jnp.float64)
        if isinstance(k, int | float) and k == 1:   # one attempt: success is μ itself
            mu = jnp.asarray(target_value(self, th), jnp.float64)
        else:
            mu = required_mu(k, target_value(self, th), th, self.selection)
        return th["ell_task"] - jnp.log(mu / (1.0 - mu)) / th["kappa"]

    def closed_form(self, lever: str) -> bool:
        """Whether :meth:`bind` has a closed form for ``lever``."""
        return lever in ("D", "c")

    def bind(self, lever: str, z: dict, th: dict) -> Array | None:
        """Closed-form value of ``lever`` at which the target binds given the other levers, or None
        where none exists (the engine then bisects). May return +inf (unreachable) or values below
        the lever's lower bound (target met with slack)."""
        Lbar = self.loss_target(z["k"], th)
        if lever == "D":
            zq = self.quantities(z, th)
            # D_total with L(N', D_total) = L̄ − context term; then undo the task share, the
            # fine-tuning data and the repetition discount.
            total = data_for_loss(quality.effective_parameters(zq, th),
                                  Lbar - self.context_term(z, th), th["A"], th["B"], th["E"],
                                  th["alpha"], th["beta"])
            tuned = th["ft_weight"] * quality.finetuned_data(zq, th)
            return _unrepeat((total - tuned) / th["task_data_share"], z["U"], th["R_D_star"])
        if lever == "c":
            s = Lbar - self.model_loss(z, th)
            c = th["ctx_alpha"] * jnp.where(s > 0, s, 1.0) ** (-1.0 / th["ctx_beta"]) \
                - th["tokens_in"]
            return jnp.where(s > 0, c, jnp.inf)
        return None

    # -- cost ------------------------------------------------------------------------------
    def cost_parts(self, z: dict, th: dict, pr: dict, charge_pretraining: bool = True) -> dict:
        """Dollars (or FLOPs, ``unit = "flops"``) by stage of :func:`structural.costs.
        stage_costs`. Fixed stages are paid once, the others per query; a bought-in base model
        (``charge_pretraining`` False) sinks its pretraining and unique data."""
        field_ = "flops" if self.unit == "flops" else "dollars"
        q = self.quantities(z, th, pr)
        ct = self.cost_theta(th, pr)
        if self.selection == "verifier":   # samples drawn until one is accepted: ≤ k
            q["k"] = quality.attempts(q, th, self.selection)
        parts = self._parts_at(q, ct, field_)
        if self.token_nodes > 1:
            parts.update(self._expected_query_parts(q, th, ct, field_))
        if not charge_pretraining:
            parts["pretrain"] = 0.0 * parts["pretrain"]
            parts["data"] = (0.0 if self.unit == "flops"
                             else pr["ft_data_token"] * z["D_F"] + 0.0 * parts["data"])
        return parts

    def kink(self, z: dict, th: dict, pr: dict) -> Array:
        """log(b_mem / b_cost) of the (mean request's) serving replica, :func:`structural.costs.
        serving`: the batch is min(b_mem, b_cost), so decode's chip-seconds per token are
        max(compute, (weights/b_mem + KV reads)/bandwidth), the larger of two smooth pieces that
        meet where this is zero (decode turns compute-bound exactly at the memory cap). The
        cheapest pipeline often sits on that ridge: the firm sizes N and c so that the batch
        that fills memory is the one that saturates compute. −inf where decode never turns
        compute-bound (no ridge)."""
        s = costs.serving(self.quantities(z, th, pr), self.cost_theta(th, pr))
        return jnp.log(s["batch_memory"]) - jnp.log(s["batch_cost"])

    def _parts_at(self, q: dict, ct: dict, field_: str) -> dict:
        """Every stage's cost for quantities q (plus the verifier's checks: each the prefill of
        one answer, y tokens, after the shared prompt)."""
        stages = costs.stage_costs(q, ct)
        parts = {name: stages[name][field_] for name in costs.STAGES}
        if self.selection == "verifier":
            parts["verify"] = costs.verify_stage(q, ct)[field_]
        return parts

    def _expected_query_parts(self, q: dict, th: dict, ct: dict, field_: str) -> dict:
        """E over lognormal tokens of the per-query stages (class docstring): x_i = x̄ exp(σ z_i −
        σ²/2) keeps the mean; one batch and replica, the mean request's, serve every node."""
        s = costs.serving(q, ct)
        shared = {**ct, "batch": jnp.minimum(ct["batch"], s["batch"]), "chips": s["chips"]}
        zx, zy = (jnp.asarray(v) for v in np.meshgrid(_GH_Z, _GH_Z, indexing="ij"))
        w = jnp.asarray(np.outer(_GH_W, _GH_W))
        sx, sy = th["tokens_in_logsd"], th["tokens_out_logsd"]
        # every node at once: the cost accounting is elementwise, so arrays of tokens broadcast
        x = q["x"] * jnp.exp(sx * zx - 0.5 * sx**2)
        y = q["y"] * jnp.exp(sy * zy - 0.5 * sy**2)
        nodes = self._parts_at({**q, "x": x, "y": y}, shared, field_)
        return {name: jnp.sum(w * v) for name, v in nodes.items()
                if name not in self.fixed_stages}


@dataclass(frozen=True)
class TradeoffTechnology(EngineSolved):
    """Erdil (2024): training compute T and inference compute per query I trade off along
    iso-performance curves of constant log-log slope −w_T/w_I.

    Performance is ``w_T·log T + w_I·log I`` (parameters ``w_T``, ``w_I``) and the target is a
    performance level. Cost is T·p_train + Q·I·p_decode. At the optimum the inference spend over
    the training spend equals w_I/w_T, the reciprocal of minus the slope: equal spending when the
    slope is −1, whatever Q and the prices are.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from structural.counterfactual import Target, TradeoffTechnology
    >>> tech = TradeoffTechnology(Target("performance", 60.0))
    >>> th = {"w_T": 1.0, "w_I": 1.0, "target": 60.0}
    >>> f"{float(tech.bind('T', {'I': jnp.asarray(1e10)}, th)):.3g}"
    '1.14e+16'
    """

    target: Target
    unit: str = "flops"
    name: str = "tradeoff"
    levers: tuple[str, ...] = ("T", "I")
    bounds: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"T": (1.0, 1e40), "I": (1e-10, 1e40)})
    lever_defaults: dict[str, float] = field(default_factory=dict)
    bind_priority: tuple[str, ...] = ("I", "T")
    fixed_stages: tuple[str, ...] = FIXED_STAGES
    positive: tuple[str, ...] = POSITIVE
    compute_price_fields: tuple[str, ...] = COMPUTE_PRICE_FIELDS
    data_price_fields: tuple[str, ...] = ()

    def quality(self, z: dict, th: dict) -> Array:
        return th["w_T"] * jnp.log(z["T"]) + th["w_I"] * jnp.log(z["I"])

    def margin(self, z: dict, th: dict) -> Array:
        return self.quality(z, th) - target_value(self, th)

    def closed_form(self, lever: str) -> bool:
        return True

    def bind(self, lever: str, z: dict, th: dict) -> Array | None:
        other = "I" if lever == "T" else "T"
        w, wo = th[f"w_{lever}"], th[f"w_{other}"]
        return jnp.exp((target_value(self, th) - wo * jnp.log(z[other])) / w)

    def cost_parts(self, z: dict, th: dict, pr: dict, charge_pretraining: bool = True) -> dict:
        """Training compute T in the pretrain stage, inference compute I per query in the output
        stage, each priced as compute-bound FLOPs of :mod:`structural.costs` (in FLOPs when
        ``unit = "flops"``)."""
        if self.unit == "flops":
            return {"pretrain": z["T"], "output": z["I"]}
        per_train = pr["train_chip_hour"] / 3600.0 / (th["peak_train"] * th["u_train"])
        per_serve = pr["serve_chip_hour"] / 3600.0 / (th["peak_infer"] * th["u_decode"])
        return {"pretrain": per_train * z["T"], "output": per_serve * z["I"]}

    def kink(self, z: dict, th: dict, pr: dict) -> None:
        """No ridge: both stages are linear in their compute."""
        return None


TRADEOFF_PARAMETERS = {"w_T": "weight of log training compute", "w_I": "weight of log inference "
                       "compute per query", **{k: COST_PARAMETERS[k] for k in
                                               ("peak_train", "peak_infer", "u_train", "u_decode")}}
TRADEOFF_DEFAULTS = {"w_T": 1.0, "w_I": 1.0, "peak_train": 1.0, "peak_infer": 1.0,
                     "u_train": 1.0, "u_decode": 1.0}
