"""The context law: published constant objects with their source, their internal consistency
check, and recovery of (α, β, γ) from simulated per-position losses."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import structural  # noqa: F401  (float64)
from structural import context
from structural.errors import PipelineError


def test_named_constants_carry_their_source():
    for size, law in context.XIONG_2023.items():
        assert size in law.model and "2309.16039" in law.source and "Fig. 1" in law.source
        assert law.verified and "verified" in law.status
    # Xiong et al. 2023, Fig. 1 legend (p. 1)
    assert tuple(context.XIONG_2023_7B) == (25.4, 0.45, 1.56)
    assert tuple(context.XIONG_2023_13B) == (19.5, 0.48, 1.45)
    assert tuple(context.XIONG_2023_34B) == (17.7, 0.50, 1.41)
    a, b, g = context.XIONG_2023_70B
    assert (a, b, g) == (17.9, 0.51, 1.35)
    # §3.1 p. 5: "for the 70B model, doubling the context length reduces the loss by a factor of
    # 2^-β ≈ 0.7" (of the power-law part)
    assert 2.0 ** -b == pytest.approx(0.7, abs=0.005)
    excess = np.asarray(context.context_loss(np.array([1000.0, 2000.0]), a, b, g)) - g
    assert excess[1] / excess[0] == pytest.approx(0.7, abs=0.005)
    assert context.DEFAULT_CONTEXT_LAW is context.XIONG_2023_70B
    # larger models: lower asymptote γ, steeper β
    gammas = [law.gamma for law in context.XIONG_2023.values()]
    betas = [law.beta for law in context.XIONG_2023.values()]
    assert gammas == sorted(gammas, reverse=True) and betas == sorted(betas)


def test_fig1_crossing_point():
    # "a 70B model at position ≈ 270 already beats a 7B model at 32k" (Xiong et al. Fig. 1 fits)
    l7 = float(context.context_loss(32768.0, *context.XIONG_2023_7B))
    c = np.logspace(1, 4, 3001)
    l70 = np.asarray(context.context_loss(c, *context.XIONG_2023_70B))
    crossing = c[np.argmax(l70 < l7)]
    assert 250 < crossing < 300


def test_fit_recovers_the_70b_law_from_simulated_losses():
    rng = np.random.default_rng(0)
    pos = np.unique(np.round(np.logspace(0, np.log10(32768), 200)))
    truth = context.XIONG_2023_70B
    loss = np.asarray(context.context_loss(pos, *truth)) + rng.normal(0, 0.01, pos.size)
    res = context.fit_context_law(pos, loss, start=context.XIONG_2023_7B)
    assert res.converged
    for name, value in zip(("alpha", "beta", "gamma"), truth, strict=True):
        assert abs(res.params[name] - value) < 4 * res.bse[name], name


def test_context_law_gradient_matches_finite_differences():
    f = jax.grad(lambda a: context.context_loss(500.0, a, 0.51, 1.35))
    h = 1e-6
    fd = (float(context.context_loss(500.0, 17.9 + h, 0.51, 1.35))
          - float(context.context_loss(500.0, 17.9 - h, 0.51, 1.35))) / (2 * h)
    assert float(f(17.9)) == pytest.approx(fd, rel=1e-7)


def test_fit_rejects_bad_input():
    with pytest.raises(PipelineError, match="row 1"):
        context.fit_context_law([1.0, 0.0, 3.0, 4.0], [2.0, 2.0, 2.0, 2.0])
    with pytest.raises(PipelineError, match="equal length"):
        context.fit_context_law([1.0, 2.0], [2.0])
