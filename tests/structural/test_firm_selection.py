"""The firm's problem with answer selection that is not a free perfect verifier: the priced
verifier of the counterfactual pipeline, smooth in k, so the firm's SQP can choose k."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from structural import costs, firm, pretraining, quality
from structural.counterfactual.model import PIPELINE_DEFAULTS, PipelineTechnology, Target
from structural.errors import PipelineError

#: The fitted GPQA-diamond link (rounded) on the law it was fitted with (Besiroglu et al. 2024),
#: no context term, the reasoning scenario's verifier: the 7B model succeeds on 5.6% per attempt.
LINK = {"kappa": 19.66, "ell_task": 1.921, "phi": 0.946, "ctx_alpha": 0.0,
        "verifier_fpr": 0.05, "verifier_fnr": 0.10}
THETA = firm.default_parameters("H100", **LINK, **pretraining.BESIROGLU_2024)
Z = firm.default_levers(N=7e9, D=2e12, U=1e14, c=1000.0, x=500.0, y=300.0)
Q, TARGET = 1e9, 0.10


def _cost(t, fpr):
    """The optimal cost at target ``t`` and verifier false-positive rate ``fpr``, and the whole
    solution beside it."""
    sol = firm.solve(("k",), Z, dict(THETA, verifier_fpr=fpr), Q, t, quality="success",
                     selection="verifier")
    return sol.cost, sol


#: The optimum and jax.grad of its cost in the target and in the verifier's false-positive rate
#: (implicit-function rule) from one compiled program: the solve, the rule and its transpose
#: compile once (the plain solve would be a second compilation of the same SQP loop, cold ~25
#: CPU s); the finite differences evaluate the same program at shifted inputs.
_SOLVE_AND_GRAD = jax.jit(jax.grad(_cost, argnums=(0, 1), has_aux=True))
T0, FPR0 = jnp.float64(TARGET), jnp.float64(LINK["verifier_fpr"])


@pytest.fixture(scope="module")
def solved():
    return _SOLVE_AND_GRAD(T0, FPR0)


@pytest.fixture(scope="module")
def sol(solved):
    return solved[1]


def _pipeline_at(levers):
    """The counterfactual pipeline technology, parameters, prices and levers of the same
    pipeline as the firm's (same quality parameters, tokens, hardware and prices)."""
    tech = PipelineTechnology(Target("success", TARGET), selection="verifier")
    th = {**PIPELINE_DEFAULTS, **{k: THETA[k] for k in quality.QUALITY_KEYS},
          **{k: THETA[k] for k in PIPELINE_DEFAULTS if k in THETA},
          "tokens_in": Z["x"], "tokens_out": Z["y"], "serve_price_scale": 1.0,
          "train_price_scale": 1.0}
    pr = {"serve_chip_hour": THETA["price_per_hour"],
          "train_chip_hour": THETA["price_per_hour_train"], "data_token": THETA["data_price"],
          "ft_data_token": THETA["finetune_data_price"], "cache_hit": 0.0,
          "cache_discount": 1.0 - THETA["cache_cost_ratio"]}
    z = {k: jnp.float64(levers[k]) for k in ("N", "D", "U", "D_F", "c", "k")}
    return tech, {k: jnp.float64(v) for k, v in th.items()}, pr, z


def test_firm_success_is_the_engines_selection_at_the_same_pipeline(sol):
    assert bool(sol.converged)
    k = float(sol.levers["k"])
    assert 1.5 < k < 1e4                       # an interior number of samples
    assert float(sol.quality) == pytest.approx(TARGET, rel=1e-9)
    tech, th, pr, z = _pipeline_at(sol.levers)
    # the engine's success (quality.success under the verifier) at the firm's optimum
    assert float(tech.quality(z, th)) == pytest.approx(float(sol.quality), rel=1e-9)
    # and its per-query cost: samples drawn ≤ k decoded, each checked (the verify stage)
    parts = tech.cost_parts(z, th, pr)
    for stage in ("context", "input", "output", "verify"):
        assert float(sol.stage_dollars[stage]) / Q == pytest.approx(float(parts[stage]),
                                                                   rel=1e-9), stage
    drawn = float(quality.attempts(sol.levers, THETA, "verifier"))
    assert 1.0 < drawn < k
    one = costs.stage_costs({**sol.levers, "k": 1.0}, THETA)["output"]["dollars"]
    assert float(sol.stage_dollars["output"]) / Q == pytest.approx(drawn * float(one), rel=1e-9)


def test_verifier_success_is_below_the_oracle_and_priced(sol):
    oracle = firm.solve(("k",), Z, THETA, Q, TARGET, quality="coverage")
    assert bool(oracle.converged)
    # the free perfect verifier needs fewer samples and pays no checks
    assert float(oracle.levers["k"]) < float(sol.levers["k"])
    assert float(oracle.cost) < float(sol.cost)
    assert "verify" not in oracle.stage_dollars and float(sol.stage_dollars["verify"]) > 0


def test_derivatives_of_the_optimum_match_finite_differences(solved):
    """jax.grad of the optimal cost in the target (the shadow price) and in the verifier's
    false-positive rate (implicit-function rule) against central differences."""
    (g_t, g_f), sol = solved

    def cost(t, fpr):
        return float(_SOLVE_AND_GRAD(jnp.float64(t), jnp.float64(fpr))[1].cost)

    h_t, h_f = 1e-5, 1e-5
    fd_t = (cost(T0 + h_t, FPR0) - cost(T0 - h_t, FPR0)) / (2 * h_t)
    fd_f = (cost(T0, FPR0 + h_f) - cost(T0, FPR0 - h_f)) / (2 * h_f)
    assert float(g_t) > 0 and float(g_f) > 0      # a higher target or a worse verifier costs
    assert float(g_t) == pytest.approx(fd_t, rel=1e-4)
    assert float(g_f) == pytest.approx(fd_f, rel=1e-4)
    assert float(sol.shadow_price) == pytest.approx(float(g_t), rel=1e-6)


@pytest.mark.slow
def test_the_plain_solve_is_the_differentiated_programs_solution(sol):
    """The default tests take the optimum from the program that also differentiates it; the
    plain solve (its own compiled program) gives the same solution."""
    plain = firm.solve(("k",), Z, THETA, Q, TARGET, quality="success", selection="verifier")
    assert bool(plain.converged)
    for name in ("cost", "quality", "shadow_price", "multiplier"):
        assert float(getattr(plain, name)) == pytest.approx(float(getattr(sol, name)),
                                                            rel=1e-10), name
    assert float(plain.levers["k"]) == pytest.approx(float(sol.levers["k"]), rel=1e-10)


def test_majority_vote_is_refused_with_the_reason():
    with pytest.raises(PipelineError, match="step function of k"):
        firm.solve(("k",), Z, THETA, Q, TARGET, quality="success", selection="majority")
