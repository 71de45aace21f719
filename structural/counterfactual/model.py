"""The technologies a counterfactual compares: what each lever costs and what quality it buys.

A *technology* gives, for a pipeline z (a dict of levers), its cost by stage and a quality margin
g(z) ≥ 0 that says whether z meets the scenario's quality target. The engine
(:mod:`structural.counterfactual.engine`) minimises the total cost F(z) + Q·v(z) subject to
g(z) ≥ 0 with some levers free (an investment hypothesis) and the rest fixed.

:class:`PipelineTechnology` is the LLM pipeline of the project design, levers z = (N, D, DF, c, k):

* quality, as task loss (an additive context term as in Xiong et al. 2023, eq. 1; fine-tuning as
  effective data transferred, Hernandez et al. 2021, eq. 1.1; Chinchilla law, Hoffmann et al. 2022):

      L_task(z) = E + A/N^α + B/(ρ·D + D_T)^β + (α_c / (c + x))^β_c,
      D_T = k_T (χ·DF)^α_T N^β_T / χ           (χ characters per token)

  and, for success targets, per-attempt success μ = σ(κ(ℓ_task − L_task)) with pass@k coverage
  of a Beta(μφ, (1−μ)φ) per-problem success probability (Brown et al. 2024):

      coverage(k) = 1 − B(μφ, (1−μ)φ + k) / B(μφ, (1−μ)φ);

* cost, in FLOPs priced per stage (Kaplan et al. 2020, Table 1 via :mod:`structural.flops`):
  pretraining 6·N·D, data p_data·D (every token unique), fine-tuning 6·N·DF + p_ft·DF, context
  prefill of c tokens (cached share at a discount), input prefill of x tokens, k decodes of y
  tokens.

:class:`TradeoffTechnology` is the two-lever model of Erdil (2024, Epoch AI, "Optimally allocating
compute between inference and training"): performance w_T·log T + w_I·log I for training compute T
and inference compute per query I, so that the iso-performance curve has log-log slope −w_T/w_I.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import betaln

from structural import flops
from structural.context import context_excess_loss
from structural.task_success import success_probability

Array = Any

#: Parameters of the pipeline technology, with what they mean. Draws may replace any of them.
PIPELINE_PARAMETERS: dict[str, str] = {
    "A": "Chinchilla parameter term coefficient (Hoffmann et al. 2022)",
    "B": "Chinchilla data term coefficient",
    "E": "irreducible loss, nats/token",
    "alpha": "parameter exponent α",
    "beta": "data exponent β",
    "task_data_share": "ρ: share of pretraining tokens that count as task data (assumption)",
    "ctx_alpha": "α_c of the context excess loss (α_c/(c+x))^β_c (Xiong et al. 2023 form)",
    "ctx_beta": "β_c of the context excess loss",
    "ft_k": "Hernandez et al. 2021 transfer coefficient k_T (characters)",
    "ft_alpha": "Hernandez et al. 2021 exponent on fine-tuning data α_T",
    "ft_beta": "Hernandez et al. 2021 exponent on parameters β_T",
    "chars_per_token": "χ: characters per token for the transfer law",
    "kappa": "κ: slope of the loss → success logistic link",
    "ell_task": "ℓ_task: loss at which per-attempt success is 1/2",
    "phi": "φ: concentration of the Beta distribution of per-problem success",
    "tokens_in": "mean input tokens per query x",
    "tokens_in_logsd": "log-sd of input tokens (lognormal usage; 0 = fixed)",
    "tokens_out": "mean output tokens per attempt y",
    "tokens_out_logsd": "log-sd of output tokens (lognormal usage; 0 = fixed)",
    "aspect_ratio": "d_model / n_layer, used for the attention FLOPs (N = 12 n_layer d_model²)",
}

#: Defaults: Sardana & Frankle (2023, arXiv:2401.00448, §2) restate the Chinchilla fit as
#: A = 406.4, B = 410.7, E = 1.69, α = 0.336, β = 0.283; Hernandez et al. (2021, Table 1,
#: text→Python) k = 1.9e4, α_T = 0.18, β_T = 0.38. Everything else is a neutral value that
#: switches its stage off (no context term, no attention FLOPs, one-token queries) until a scenario
#: sets it.
PIPELINE_DEFAULTS: dict[str, float] = {
    "A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.336, "beta": 0.283,
    "task_data_share": 1.0,
    "ctx_alpha": 0.0, "ctx_beta": 0.5,
    "ft_k": 1.9e4, "ft_alpha": 0.18, "ft_beta": 0.38, "chars_per_token": 4.0,
    "kappa": 1.0, "ell_task": 2.0, "phi": 1e6,
    "tokens_in": 0.0, "tokens_in_logsd": 0.0, "tokens_out": 1.0, "tokens_out_logsd": 0.0,
    "aspect_ratio": 128.0,
}

#: Parameters that must be strictly positive for a draw to be kept.
POSITIVE = ("A", "B", "E", "alpha", "beta", "task_data_share", "ctx_beta", "ft_k", "ft_alpha",
            "chars_per_token", "kappa", "phi", "aspect_ratio")

#: Prices of one evaluation point (all may vary over the price grid and under shocks).
PRICE_FIELDS = ("train_flop", "prefill_flop", "decode_flop", "data_token", "ft_data_token",
                "cache_hit", "cache_discount")

PIPELINE_LEVERS = ("N", "D", "DF", "c", "k")
#: Default bounds of each lever (a scenario may narrow or widen them).
PIPELINE_BOUNDS: dict[str, tuple[float, float]] = {
    "N": (1e6, 1e14), "D": (1e6, 1e17), "DF": (1e3, 1e14), "c": (1.0, 1e7), "k": (1.0, 1e5),
}
#: Stages of the cost, fixed (paid once) and variable (paid per query).
FIXED_STAGES = ("pretraining", "data", "fine_tuning")
VARIABLE_STAGES = ("context", "input", "decode")


@dataclass(frozen=True)
class Target:
    """The quality target: ``kind`` is ``"loss"`` (task loss ≤ value) or ``"success"`` (pass@k
    task success ≥ value)."""

    kind: str
    value: float


def _is_zero(x: object) -> bool:
    """A lever fixed at zero as a Python number (known when tracing, so its stage is skipped)."""
    return isinstance(x, int | float) and x == 0


def target_value(tech, th: dict) -> Array:
    """The target's value: ``th["target"]`` when the engine passes it as data (so one compiled
    solver serves every target), else the technology's own."""
    return th["target"] if "target" in th else tech.target.value


def coverage(k: Array, mu: Array, phi: Array) -> Array:
    """pass@k of a Beta(μφ, (1−μ)φ) per-problem success: 1 − B(a, b + k)/B(a, b) (Brown et al.
    2024); equals μ at k = 1 and tends to 1 − (1−μ)^k as φ → ∞."""
    a = mu * phi
    b = (1.0 - mu) * phi
    return 1.0 - jnp.exp(betaln(a, b + k) - betaln(a, b))


def _bisect(fun, lo: Array, hi: Array, iters: int) -> Array:
    """Root of an increasing scalar function on [lo, hi] by ``iters`` halvings (jit/vmap safe)."""

    def body(_, bracket):
        a, b = bracket
        m = 0.5 * (a + b)
        up = fun(m) < 0.0
        return jnp.where(up, m, a), jnp.where(up, b, m)

    a, b = jax.lax.fori_loop(0, iters, body, (lo, hi))
    return 0.5 * (a + b)


def required_mu(k: Array, target: Array, phi: Array) -> Array:
    """Per-attempt success μ at which pass@k coverage equals ``target`` (coverage rises in μ)."""
    logit = _bisect(lambda t: coverage(k, jax.nn.sigmoid(t), phi) - target, -40.0, 40.0, 100)
    return jax.nn.sigmoid(logit)


@dataclass(frozen=True)
class PipelineTechnology:
    """The LLM pipeline (see the module docstring): levers N, D, DF, c, k.

    ``attention`` switches the attention FLOPs of the context on (2 n_layer t d_attn per token at
    position t); ``charge_pretraining`` is per hypothesis (see :class:`Hypothesis`).
    """

    target: Target
    attention: bool = True
    name: str = "pipeline"
    levers: tuple[str, ...] = PIPELINE_LEVERS
    bounds: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(PIPELINE_BOUNDS))

    # -- quality ---------------------------------------------------------------------------
    def transferred(self, z: dict, th: dict) -> Array:
        """Effective data transferred by fine-tuning, tokens (Hernandez et al. 2021, eq. 1.1)."""
        if _is_zero(z["DF"]):
            return 0.0
        chi = th["chars_per_token"]
        DF = jnp.maximum(z["DF"], 0.0)
        return th["ft_k"] * (chi * DF) ** th["ft_alpha"] * z["N"] ** th["ft_beta"] / chi

    def model_loss(self, z: dict, th: dict) -> Array:
        """Task loss of the model before context: E + A/N^α + B/(ρD + D_T)^β."""
        d_eff = th["task_data_share"] * z["D"] + self.transferred(z, th)
        return th["E"] + th["A"] * z["N"] ** (-th["alpha"]) + th["B"] * d_eff ** (-th["beta"])

    def context_term(self, z: dict, th: dict) -> Array:
        """(α_c/(c + x))^β_c: the excess loss left with c useful context tokens (Xiong et al.)."""
        # No context effect (α_c = 0) must not turn 0/0 into NaN for a zero-token context.
        on = th["ctx_alpha"] > 0
        tokens = jnp.where(on, z["c"] + th["tokens_in"], 1.0)
        return jnp.where(on, context_excess_loss(tokens, 0.0, th["ctx_alpha"], th["ctx_beta"]), 0.0)

    def task_loss(self, z: dict, th: dict) -> Array:
        return self.model_loss(z, th) + self.context_term(z, th)

    def quality(self, z: dict, th: dict) -> Array:
        """Task loss (loss targets) or pass@k success (success targets)."""
        loss = self.task_loss(z, th)
        if self.target.kind == "loss":
            return loss
        mu = success_probability(loss, th["kappa"], th["ell_task"])
        return coverage(z["k"], mu, th["phi"])

    def margin(self, z: dict, th: dict) -> Array:
        """g(z) ≥ 0 iff z meets the target; increasing in every lever."""
        q = self.quality(z, th)
        t = target_value(self, th)
        return t - q if self.target.kind == "loss" else q - t

    def loss_target(self, k: Array, th: dict) -> Array:
        """The task loss that meets the target with k attempts."""
        if self.target.kind == "loss":
            return jnp.asarray(target_value(self, th), jnp.float64)
        if isinstance(k, int | float) and k == 1:   # one attempt: coverage is μ itself
            mu = jnp.asarray(target_value(self, th), jnp.float64)
        else:
            mu = required_mu(k, target_value(self, th), th["phi"])
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
            s = Lbar - self.context_term(z, th) - th["E"] - th["A"] * z["N"] ** (-th["alpha"])
            d_eff = jnp.where(s > 0, (th["B"] / jnp.where(s > 0, s, 1.0)) ** (1.0 / th["beta"]),
                              jnp.inf)
            return (d_eff - self.transferred(z, th)) / th["task_data_share"]
        if lever == "c":
            s = Lbar - self.model_loss(z, th)
            c = th["ctx_alpha"] * jnp.where(s > 0, s, 1.0) ** (-1.0 / th["ctx_beta"]) \
                - th["tokens_in"]
            return jnp.where(s > 0, c, jnp.inf)
        return None

    # -- cost ------------------------------------------------------------------------------
    def _nd(self, N: Array, th: dict) -> Array:
        """n_layer·d_attn for N = 12 n_layer d_model², d_model = ρ n_layer, d_attn = d_model."""
        if not self.attention:
            return jnp.zeros_like(N)
        rho = th["aspect_ratio"]
        n_layer = (N / (12.0 * rho**2)) ** (1.0 / 3.0)
        return rho * n_layer**2

    def cost_parts(self, z: dict, th: dict, pr: dict, charge_pretraining: bool = True) -> dict:
        """Dollars (or FLOPs, when every FLOP price is 1) by stage. Fixed stages are paid once,
        variable stages per query (expected over the usage distribution)."""
        N, D, DF, c, k = z["N"], z["D"], z["DF"], z["c"], z["k"]
        nd = self._nd(N, th)
        mx = th["tokens_in"]
        sx = mx**2 * jnp.exp(th["tokens_in_logsd"] ** 2)      # E[x²] of a lognormal
        my = th["tokens_out"]
        sy = my**2 * jnp.exp(th["tokens_out_logsd"] ** 2)
        charge = 1.0 if charge_pretraining else 0.0
        pretraining = charge * pr["train_flop"] * flops.training_flops(N, D)
        data = charge * pr["data_token"] * D
        fine_tuning = (0.0 * pr["train_flop"] if _is_zero(DF) else
                       pr["train_flop"] * flops.finetune_flops(N, DF, N) + pr["ft_data_token"] * DF)
        # Prefill of c + x tokens: 2N(c+x) + nd (c+x)²; the context's share is what c adds.
        # k attempts decode y tokens each after c + x tokens: 2N y + nd((P+y)² − P²) in mean.
        ctx_flops, in_flops, dec_flops = 2.0 * N * c, 2.0 * N * mx, 2.0 * N * my
        if self.attention:  # static: without attention these terms are not even traced
            ctx_flops = ctx_flops + nd * (c**2 + 2.0 * c * mx)
            in_flops = in_flops + nd * sx
            dec_flops = dec_flops + nd * (2.0 * (c + mx) * my + sy)
        cache = 1.0 - pr["cache_hit"] * pr["cache_discount"]
        context = pr["prefill_flop"] * ctx_flops * cache
        inp = pr["prefill_flop"] * in_flops
        decode = pr["decode_flop"] * k * dec_flops
        return {"pretraining": pretraining, "data": data, "fine_tuning": fine_tuning,
                "context": context, "input": inp, "decode": decode}


@dataclass(frozen=True)
class TradeoffTechnology:
    """Erdil (2024): training compute T and inference compute per query I trade off along
    iso-performance curves of constant log-log slope −w_T/w_I.

    Performance is ``w_T·log T + w_I·log I`` (parameters ``w_T``, ``w_I``) and the target is a
    performance level. Cost is T·p_train + Q·I·p_decode. At the optimum the inference spend over
    the training spend equals w_I/w_T, the reciprocal of minus the slope: equal spending when the
    slope is −1, whatever Q and the prices are.
    """

    target: Target
    name: str = "tradeoff"
    levers: tuple[str, ...] = ("T", "I")
    bounds: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {"T": (1.0, 1e40), "I": (1e-10, 1e40)})

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
        return {"pretraining": pr["train_flop"] * z["T"], "decode": pr["decode_flop"] * z["I"]}


TRADEOFF_PARAMETERS = {"w_T": "weight of log training compute", "w_I": "weight of log inference "
                       "compute per query"}
TRADEOFF_DEFAULTS = {"w_T": 1.0, "w_I": 1.0}
