"""Production functions: repeated data, fine-tuning transfer, context, repeated sampling, the
beta-binomial likelihood, the logistic link and the composed quality."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import gammaln

import structural  # noqa: F401
from structural import context, finetuning, quality, reasoning, repeated_data, task_success
from structural.pretraining import chinchilla_loss

M = repeated_data.MUENNIGHOFF_2023


def test_muennighoff_readme_values():
    f = lambda N, D, U: float(repeated_data.data_constrained_loss(  # noqa: E731
        N, D, U, M["a"], M["b"], M["e"], M["alpha"], M["beta"], M["R_D_star"], M["R_N_star"]))
    assert abs(f(6.34e9, 242e9, 25e9) - 2.2256440889984477) < 1e-12
    assert abs(f(8.67e9, 178e9, 25e9) - 2.2269634075087867) < 1e-12


@settings(max_examples=60, deadline=None)
@given(U=st.floats(1e6, 1e13), epochs=st.floats(0.01, 1e4))
def test_effective_data_never_exceeds_D_and_is_capped(U, epochs):
    D = U * epochs
    Dp = float(repeated_data.effective_data(D, U, M["R_D_star"]))
    assert Dp <= D * (1 + 1e-12)
    assert Dp <= U * (1 + M["R_D_star"]) * (1 + 1e-12)
    if epochs <= 1:
        assert Dp == pytest.approx(D, rel=1e-12)


def test_effective_data_tends_to_ceiling():
    U = 1e10
    far = float(repeated_data.effective_data(1e6 * U, U, M["R_D_star"]))
    assert far == pytest.approx(U * (1 + M["R_D_star"]), rel=1e-12)
    four = float(repeated_data.effective_data(4 * U, U, M["R_D_star"])) / U
    assert four == pytest.approx(3.7257, abs=1e-4)


@settings(max_examples=40, deadline=None)
@given(N=st.floats(1e7, 1e13), D=st.floats(1e8, 1e14), m=st.floats(1.01, 100))
def test_loss_falls_in_N_and_D(N, D, m):
    L = lambda n, d: float(chinchilla_loss(n, d, 406.4, 410.7, 1.69, 0.34, 0.28))  # noqa: E731
    assert L(m * N, D) < L(N, D)
    assert L(N, m * D) < L(N, D)
    # with the repetition discounts (Muennighoff et al. 2023) excess parameters beyond the
    # data-optimal size saturate: the loss still never rises
    th = quality.quality_parameters()
    z = {"N": N, "D": D, "U": D, "D_F": 0.0, "c": 100.0, "x": 100.0, "k": 1.0, "r": 0.0}
    assert float(quality.model_loss(dict(z, N=m * N), th)) <= float(quality.model_loss(z, th))
    assert float(quality.model_loss(dict(z, D=m * D, U=m * D), th)) < float(
        quality.model_loss(z, th))
    off = dict(th, R_D_star=1e12, R_N_star=1e12)
    assert float(quality.model_loss(dict(z, N=m * N), off)) < float(quality.model_loss(z, off))


def test_hernandez_transfer():
    k, a, b = finetuning.HERNANDEZ_2021["text->python"].constants.values()
    D_T = float(finetuning.effective_data_transferred(1e6, 1e9, k, a, b))
    assert D_T == pytest.approx(1.9e4 * 1e6**0.18 * 1e9**0.38, rel=1e-12)
    # no fine-tuning data: no transfer, and finite (zero) derivatives
    assert float(finetuning.effective_data_transferred(0.0, 1e9, k, a, b)) == 0.0
    g = jax.grad(lambda d: finetuning.effective_data_transferred(d, 1e9, k, a, b))(0.0)
    assert np.isfinite(float(g))
    f_T = float(finetuning.fraction_effective_data_from_transfer(1e6, 1e9, k, a, b))
    assert 0 < f_T < 1


def test_context_power_law():
    a, b, g = context.XIONG_2023["70B"]
    assert float(context.context_loss(1000.0, a, b, g)) == pytest.approx(
        (17.9 / 1000) ** 0.51 + 1.35, rel=1e-14)
    cs = jnp.array([100.0, 1e3, 1e4, 1e5])
    vals = np.array(context.context_excess_loss(cs, 0.0, a, b))
    assert np.all(np.diff(vals) < 0)
    # a power law: log-log slope −β
    slope = np.diff(np.log(vals)) / np.diff(np.log(np.array(cs)))
    assert np.allclose(slope, -b)


def test_coverage_beta_against_closed_forms():
    a, b = 0.3, 2.0
    assert float(reasoning.coverage_beta(1.0, a, b)) == pytest.approx(a / (a + b), rel=1e-12)
    # integer k: 1 − Π_{j<k} (b + j)/(a + b + j)
    for k in (2, 5, 17):
        prod = np.prod([(b + j) / (a + b + j) for j in range(k)])
        assert float(reasoning.coverage_beta(float(k), a, b)) == pytest.approx(1 - prod, rel=1e-12)
    ks = jnp.array([1.0, 2.0, 10.0, 100.0, 1000.0])
    cov = np.array(reasoning.coverage_beta(ks, a, b))
    assert np.all(np.diff(cov) > 0) and cov[-1] < 1
    assert float(reasoning.coverage_beta_mu_phi(1.0, 0.2, 5.0)) == pytest.approx(0.2, rel=1e-12)


def test_coverage_power_law():
    assert float(reasoning.coverage_power_law(1.0, -1.2, -0.3)) == pytest.approx(np.exp(-1.2))
    ks = jnp.array([1.0, 10.0, 100.0])
    assert np.all(np.diff(np.array(reasoning.coverage_power_law(ks, -1.2, -0.3))) > 0)


def test_beta_binomial_loglik_matches_scipy_and_engine_convention():
    n = jnp.array([10.0, 10.0, 50.0, 3.0])
    s = jnp.array([0.0, 4.0, 50.0, 1.0])
    params = {"a": jnp.float64(0.7), "b": jnp.float64(2.5)}
    ll = reasoning.beta_binomial_loglik(params, {"n": n, "s": s})
    assert ll.shape == (4,)
    ref = stats.betabinom.logpmf(np.array(s), np.array(n), 0.7, 2.5)
    assert np.allclose(np.array(ll), ref, rtol=1e-12, atol=1e-12)
    mu_phi = {"mu": jnp.float64(0.7 / 3.2), "phi": jnp.float64(3.2)}
    assert np.allclose(np.array(reasoning.beta_binomial_loglik(mu_phi, {"n": n, "s": s})), ref,
                       rtol=1e-12)
    # pure JAX: differentiable and jittable
    g = jax.jit(jax.grad(lambda p: reasoning.beta_binomial_loglik(p, {"n": n, "s": s}).sum()))(
        params)
    assert np.isfinite(float(g["a"])) and np.isfinite(float(g["b"]))


def test_beta_binomial_pmf_sums_to_one():
    s = jnp.arange(0.0, 21.0)
    p = np.exp(np.array(reasoning.beta_binomial_logpmf(s, 20.0, 1.3, 0.4)))
    assert p.sum() == pytest.approx(1.0, rel=1e-12)


def test_beta_binomial_logpmf_one_gammaln_equals_term_by_term():
    """The nine log-gammas evaluated on one stack (a smaller Hessian program) give the
    term-by-term formula's value, gradient and Hessian to rounding, and SciPy's pmf."""
    from jax.scipy.special import gammaln as jgammaln

    def term_by_term(s, n, a, b):
        log_choose = jgammaln(n + 1.0) - jgammaln(s + 1.0) - jgammaln(n - s + 1.0)
        return log_choose + reasoning.log_beta(s + a, n - s + b) - reasoning.log_beta(a, b)

    rng = np.random.default_rng(5)
    n = rng.uniform(5.0, 600.0, 40)
    frac = rng.uniform(0.0, 1.0, 40)

    def total(f):
        # θ = (μ, concentration, 1/design effect): the task-success fit's use of the pmf
        def q(t):
            a, b = reasoning.beta_shape(t[0], t[1])
            return jnp.sum(f(frac * n * t[2], n * t[2], a, b))
        return q

    t = jnp.array([0.35, 4.4, 0.8])
    for d in (lambda f: f, jax.grad, jax.hessian):
        new, old = d(total(reasoning.beta_binomial_logpmf))(t), d(total(term_by_term))(t)
        np.testing.assert_allclose(np.asarray(new), np.asarray(old), rtol=1e-13, atol=1e-10)
    k = np.arange(0, 31)
    np.testing.assert_allclose(np.asarray(reasoning.beta_binomial_logpmf(k, 30.0, 1.3, 0.4)),
                               stats.betabinom.logpmf(k, 30, 1.3, 0.4), rtol=1e-12)


def test_lgamma_series_and_derivatives():
    xs = np.array([1e-3, 0.01, 0.3, 1.0, 2.5, 7.0, 30.0, 1e3, 1e6])
    assert np.allclose(np.array(reasoning.lgamma_series(xs)), gammaln(xs), rtol=0, atol=2e-12)
    from scipy.special import polygamma
    d2 = np.array([jax.grad(jax.grad(reasoning.lgamma_series))(x) for x in xs])
    assert np.allclose(d2, polygamma(1, xs), rtol=1e-12)
    lm = reasoning.log_miss_probability(7.0, 0.3, 2.0)
    assert float(lm) == pytest.approx(np.log(1 - float(reasoning.coverage_beta(7.0, 0.3, 2.0))),
                                      rel=1e-11)


def test_logistic_link_and_reasoning_gain():
    assert float(task_success.success_probability(2.0, 10.0, 2.0)) == 0.5
    assert float(task_success.success_probability(1.9, 10.0, 2.0)) == pytest.approx(
        1 / (1 + np.exp(-1.0)))
    assert float(reasoning.reasoning_logit_gain(1000.0, 0.56, 1000.0)) == pytest.approx(0.56)


def test_composed_quality_rises_in_levers():
    th = quality.quality_parameters()
    z = {"N": 7e9, "D": 1e12, "U": 1e12, "D_F": 0.0, "c": 500.0, "x": 200.0, "k": 1.0, "r": 0.0}
    base = float(quality.coverage(z, th))
    for lever, value in (("N", 7e10), ("D", 5e12), ("D_F", 1e10), ("c", 5e4), ("k", 8.0),
                         ("r", 4000.0)):
        better = dict(z, **{lever: value}, U=max(z["U"], value if lever == "D" else 0))
        assert float(quality.coverage(better, th)) > base, lever
    ev = quality.evaluate(z, th)
    assert float(ev["coverage"]) == pytest.approx(float(ev["p_attempt"]), rel=1e-12)  # k = 1
