"""What the pipeline can do: its task loss, per-attempt success and coverage over k attempts.

Composition (each piece from its own module; the composition itself is this package's structural
assumption and every constant in it is a named parameter a scenario can vary):

1. pretraining with repeats (Muennighoff et al. 2023): N' and D' from N, D and U unique tokens;
2. fine-tuning (Hernandez et al. 2021, eq. 1.1): the D_F fine-tuning tokens plus the transfer
   D_T = k_T (χ D_F)^{α_T} N^{β_T} / χ count as extra effective data, weighted by ``ft_weight``
   (the law is fitted in characters; χ = ``chars_per_token`` converts, see
   :func:`structural.finetuning.effective_data_transferred_tokens`);
3. the model loss on the task L = E + A/N'^α + B/(ρ D' + w (D_F + D_T))^β (Hoffmann et al. 2022,
   eq. 2), ρ = ``task_data_share`` the share of pretraining tokens that are task data (1: generic);
4. context (Xiong et al. 2023): task loss L_task = L + (α_c / (c + x))^{β_c};
5. success per attempt μ = σ(κ (ℓ_task − L_task) + ρ log₂(1 + r/r₀)) (logistic link plus the
   sequential-reasoning gain);
6. coverage over k attempts, per-problem success ~ Beta(μφ, (1 − μ)φ):
   coverage = 1 − B(μφ, (1 − μ)φ + k) / B(μφ, (1 − μ)φ) (Brown et al. 2024, structural form);
7. answer selection among the k attempts (:func:`success`): coverage is what a free, perfect
   verifier (an oracle) gets; majority vote needs no verifier; a verifier with false-positive and
   false-negative rates (``verifier_fpr``, ``verifier_fnr``) checks samples one at a time
   (:func:`structural.reasoning.verifier_success`, answering with the last sample when none is
   accepted) and draws on average :func:`attempts` ≤ k samples.

``theta`` keys: :data:`QUALITY_KEYS`. Set R_D_star = R_N_star = 1e12 to switch off the
repetition discount, ft_weight = 0 to ignore fine-tuning, ctx_alpha = 0 to ignore context.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from structural import context, finetuning, published, reasoning, repeated_data
from structural.errors import PipelineError
from structural.pretraining import chinchilla_loss

__all__ = ["coverage", "evaluate", "model_loss", "quality_parameters", "success", "task_loss"]

Array = Any

QUALITY_KEYS = ("A", "B", "E", "alpha", "beta", "R_D_star", "R_N_star", "ft_k", "ft_alpha",
                "ft_beta", "ft_weight", "chars_per_token", "task_data_share", "ctx_alpha",
                "ctx_beta", "kappa", "ell_task", "rho", "r0", "phi", "verifier_fpr",
                "verifier_fnr")

#: Answer-selection rules (:class:`structural.reasoning.AnswerSelection`); the default is
#: majority vote, never the free perfect verifier.
SELECTION_RULES = ("majority", "verifier", "oracle")


def model_loss(z: dict[str, Array], theta: dict[str, Array]) -> Array:
    """L = E + A/N'^α + B/(ρ D' + w (D_F + D_T))^β: the loss after pretraining and tuning.

    Examples
    --------
    >>> from structural.firm import default_levers
    >>> from structural.quality import model_loss, quality_parameters
    >>> round(float(model_loss(default_levers(), quality_parameters())), 4)
    1.9425
    """
    N_eff = effective_parameters(z, theta)
    D_eff = repeated_data.effective_data(z["D"], z["U"], theta["R_D_star"])
    D_total = theta["task_data_share"] * D_eff + theta["ft_weight"] * finetuned_data(z, theta)
    return chinchilla_loss(N_eff, D_total, theta["A"], theta["B"], theta["E"], theta["alpha"],
                           theta["beta"])


def effective_parameters(z: dict[str, Array], theta: dict[str, Array]) -> Array:
    """N': parameters beyond the compute-optimal size for U unique tokens decay (Muennighoff
    et al. 2023, eq. 6)."""
    U_N = repeated_data.optimal_parameters_for_data(z["U"], theta["A"], theta["B"],
                                                    theta["alpha"], theta["beta"])
    return repeated_data.effective_parameters(jnp.asarray(z["N"], jnp.float64), U_N,
                                              theta["R_N_star"])


def finetuned_data(z: dict[str, Array], theta: dict[str, Array]) -> Array:
    """D_F + D_T in tokens: the fine-tuning tokens and the data they transfer (eq. 1.1)."""
    D_T = finetuning.effective_data_transferred_tokens(
        z["D_F"], z["N"], theta["ft_k"], theta["ft_alpha"], theta["ft_beta"],
        theta["chars_per_token"])
    return z["D_F"] + D_T


def task_loss(z: dict[str, Array], theta: dict[str, Array]) -> Array:
    """L_task = L + (α_c/(c + x))^{β_c}: the model loss plus the excess left at c context tokens.

    Examples
    --------
    The task loss adds the excess loss left at c context tokens to the model loss:

    >>> from structural.firm import default_levers
    >>> from structural.quality import model_loss, quality_parameters, task_loss
    >>> z, theta = default_levers(c=2000.0), quality_parameters()
    >>> round(float(task_loss(z, theta) - model_loss(z, theta)), 4)
    0.0805
    """
    return model_loss(z, theta) + context_term(z, theta)


def context_term(z: dict[str, Array], theta: dict[str, Array]) -> Array:
    """(α_c/(c + x))^{β_c}, zero when the context law is off (α_c = 0), even at c + x = 0."""
    on = theta["ctx_alpha"] > 0
    tokens = jnp.where(on, z["c"] + z["x"], 1.0)
    return jnp.where(on, context.context_excess_loss(tokens, 0.0, theta["ctx_alpha"],
                                                     theta["ctx_beta"]), 0.0)


def attempt_logit(z: dict[str, Array], theta: dict[str, Array]) -> Array:
    """κ (ℓ_task − L_task) + ρ log₂(1 + r/r₀): the per-attempt success logit."""
    gain = reasoning.reasoning_logit_gain(z["r"], theta["rho"], theta["r0"])
    return theta["kappa"] * (theta["ell_task"] - task_loss(z, theta)) + gain


def coverage(z: dict[str, Array], theta: dict[str, Array]) -> Array:
    """P(solved): the Beta-structural coverage of k attempts at per-attempt mean μ.

    Examples
    --------
    >>> from structural.firm import default_levers
    >>> from structural.quality import coverage, quality_parameters
    >>> [round(float(coverage(default_levers(k=k), quality_parameters())), 3) for k in (1.0, 8.0)]
    [0.385, 0.696]
    """
    mu = jax.nn.sigmoid(attempt_logit(z, theta))
    return reasoning.coverage_beta_mu_phi(z["k"], mu, theta["phi"])


def _check_rule(rule: str) -> None:
    if rule not in SELECTION_RULES:
        raise PipelineError("selection", f"expected one of {', '.join(SELECTION_RULES)}, got "
                            f"{rule!r}")


def success_given_mu(k: Array, mu: Array, theta: dict[str, Array],
                     rule: str = "majority") -> Array:
    """P(the chosen answer is correct) from k attempts at per-attempt mean success μ under the
    answer-selection ``rule`` (:data:`SELECTION_RULES`): oracle coverage, majority vote, or the
    sequential verifier with rates ``verifier_fpr``, ``verifier_fnr`` of ``theta`` that answers
    with the last sample when it accepts none (so one attempt succeeds with probability μ).
    Increasing in μ; increasing in k for the oracle and the verifier."""
    _check_rule(rule)
    if isinstance(k, int | float) and k == 1:   # one attempt (a fixed lever): μ under every rule
        return mu
    a, b = reasoning.beta_shape(mu, theta["phi"])
    if rule == "oracle":
        return reasoning.coverage_beta(k, a, b)
    if rule == "majority":
        return reasoning.majority_vote_success(k, a, b)
    return reasoning.verifier_success(k, a, b, theta["verifier_fpr"], theta["verifier_fnr"],
                                      fallback=True)


def success(z: dict[str, Array], theta: dict[str, Array], rule: str = "majority") -> Array:
    """P(solved) of the pipeline: :func:`success_given_mu` at its per-attempt success.

    Examples
    --------
    >>> from structural.firm import default_levers
    >>> from structural.quality import quality_parameters, success
    >>> z = {**default_levers(), "k": 8.0}
    >>> theta = quality_parameters(verifier_fpr=0.05, verifier_fnr=0.1)
    >>> {rule: round(float(success(z, theta, rule)), 3)
    ...  for rule in ("oracle", "majority", "verifier")}
    {'oracle': 0.696, 'majority': 0.371, 'verifier': 0.645}
    """
    return success_given_mu(z["k"], jax.nn.sigmoid(attempt_logit(z, theta)), theta, rule)


def attempts(z: dict[str, Array], theta: dict[str, Array], rule: str = "majority") -> Array:
    """Samples drawn per query: k for the oracle and majority vote; for the sequential verifier
    the expected number drawn (and checked) before one is accepted or k are spent,
    E[(1 − q^k)/(1 − q)] ≤ k (:func:`structural.reasoning.verifier_expected_checks`)."""
    _check_rule(rule)
    k = z["k"]
    if rule != "verifier" or (isinstance(k, int | float) and k == 1):
        return k
    mu = jax.nn.sigmoid(attempt_logit(z, theta))
    a, b = reasoning.beta_shape(mu, theta["phi"])
    return reasoning.verifier_expected_checks(z["k"], a, b, theta["verifier_fpr"],
                                              theta["verifier_fnr"])


#: The measures :func:`evaluate` returns, in its order (a compiled program hands a dict back
#: with its keys sorted; :meth:`structural.pipeline.Pipeline.quality_measures` restores this).
MEASURES = ("model_loss", "task_loss", "p_attempt", "coverage")


def evaluate(z: dict[str, Array], theta: dict[str, Array]) -> dict[str, Array]:
    """All quality measures at once: model_loss, task_loss, p_attempt, coverage.

    Examples
    --------
    >>> from structural.firm import default_levers
    >>> from structural.quality import evaluate, quality_parameters
    >>> measures = evaluate(default_levers(), quality_parameters())
    >>> {name: round(float(v), 3) for name, v in measures.items()}
    {'model_loss': 1.942, 'task_loss': 2.047, 'p_attempt': 0.385, 'coverage': 0.385}
    """
    mu = jax.nn.sigmoid(attempt_logit(z, theta))
    values = (model_loss(z, theta), task_loss(z, theta), mu,
              reasoning.coverage_beta_mu_phi(z["k"], mu, theta["phi"]))
    return dict(zip(MEASURES, values, strict=True))


def quality_parameters(**overrides: float) -> dict[str, float]:
    """A complete quality ``theta`` with stated defaults; any key can be overridden.

    Published (:mod:`structural.published`): A, B, E, α, β of Hoffmann et al. (2022) eq. (10);
    R*_D, R*_N from Muennighoff et al. (2023); the text→Python transfer fit of Hernandez et al.
    (2021) (in characters, χ = 4 characters per token); the 70B context fit of Xiong et al.
    (2023). Assumptions (no published value): κ = 10 per nat, ℓ_task = 2.0 nats, ρ = 0.56 logit
    per doubling of reasoning tokens (≈ 14 accuracy points per doubling near 50 %, as in s1 on
    AIME24), r₀ = 1000, φ = 1, ft_weight = 1, task_data_share = 1, verifier error rates 0 (they
    matter only under the verifier rule of :func:`success`).

    Examples
    --------
    >>> from structural.quality import quality_parameters
    >>> theta = quality_parameters(kappa=5.0)
    >>> theta["kappa"], sorted(theta)[:4]
    (5.0, ['A', 'B', 'E', 'R_D_star'])
    """
    theta = {
        **published.HOFFMANN_2022.as_dict(),
        "R_D_star": published.MUENNIGHOFF_2023["R_D_star"],
        "R_N_star": published.MUENNIGHOFF_2023["R_N_star"],
        **published.HERNANDEZ_2021["text->python"].as_dict(), "ft_weight": 1.0,
        "chars_per_token": 4.0, "task_data_share": 1.0,
        "ctx_alpha": context.DEFAULT_CONTEXT_LAW.alpha,
        "ctx_beta": context.DEFAULT_CONTEXT_LAW.beta,
        "kappa": 10.0, "ell_task": 2.0, "rho": 0.56, "r0": 1000.0, "phi": 1.0,
        "verifier_fpr": 0.0, "verifier_fnr": 0.0,
    }
    unknown = set(overrides) - set(theta)
    if unknown:
        raise PipelineError(", ".join(sorted(unknown)),
                            f"unknown quality parameter; known: {', '.join(sorted(theta))}")
    theta.update({k: float(v) for k, v in overrides.items()})
    return theta
