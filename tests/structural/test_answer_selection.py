"""Answer selection among k samples under the Beta model: oracle (coverage), majority vote and a
verifier with false-positive/negative rates, against closed forms, simulation and Brown et al."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import betainc

import structural  # noqa: F401  (float64)
from structural import reasoning as r
from structural.errors import PipelineError

SHAPES = [(0.05, 0.95), (0.3, 0.7), (2.0, 3.0), (5.0, 0.5), (0.01, 5.0), (50.0, 80.0)]


@pytest.mark.parametrize("a,b", SHAPES)
def test_quadrature_reproduces_the_closed_form_coverage(a, b):
    for k in (1.0, 3.5, 10.0, 250.0, 1000.0):
        quad = float(r.beta_expectation(lambda p, k=k: 1.0 - (1.0 - p) ** k, a, b))
        assert quad == pytest.approx(float(r.coverage_beta(k, a, b)), abs=1e-8)


def test_verifier_reduces_to_the_oracle_when_perfect():
    k = np.array([1.0, 5.0, 250.0])
    for a, b in SHAPES:
        np.testing.assert_allclose(r.verifier_success(k, a, b, 0.0, 0.0),
                                   r.coverage_beta(k, a, b), atol=1e-8)
    sel = r.AnswerSelection("verifier", 0.0, 0.0, cost_per_check=0.0)
    assert float(r.selection_success(250.0, 0.159, 0.8, sel)) == pytest.approx(
        float(r.selection_success(250.0, 0.159, 0.8, r.AnswerSelection("oracle"))), abs=1e-8)


def _simulate(k, a, b, n, rng, fpr=0.0, fnr=0.0, fallback=False):
    """Monte Carlo of majority vote (one modal wrong answer, random ties) and the sequential
    verifier; returns (P(majority correct), P(verifier correct), mean checks)."""
    p = rng.beta(a, b, n)
    correct = rng.random((n, k)) < p[:, None]
    s = correct.sum(1)
    maj = np.where(2 * s > k, 1.0, np.where(2 * s == k, 0.5, 0.0))
    accept = np.where(correct, rng.random((n, k)) > fnr, rng.random((n, k)) < fpr)
    any_acc = accept.any(1)
    first = np.argmax(accept, 1)
    ver = np.where(any_acc, correct[np.arange(n), first], False).astype(float)
    if fallback:
        pick = rng.integers(0, k, n)
        ver = np.where(any_acc, ver, correct[np.arange(n), pick])
    checks = np.where(any_acc, first + 1, k)
    return maj, ver, checks


@pytest.mark.parametrize("k,a,b", [(1, 0.3, 0.7), (4, 0.3, 0.7), (7, 1.5, 1.0), (25, 0.4, 0.3)])
def test_majority_vote_matches_simulation(k, a, b):
    maj, _, _ = _simulate(k, a, b, 200_000, np.random.default_rng(k))
    se = maj.std() / np.sqrt(len(maj))
    assert abs(float(r.majority_vote_success(float(k), a, b)) - maj.mean()) < 4 * se + 1e-9


def test_majority_vote_limit_and_even_k():
    a, b = 0.6, 0.4
    # k → ∞: the share of problems the model solves more often than not
    assert float(r.majority_vote_success(10001.0, a, b)) == pytest.approx(
        1 - betainc(a, b, 0.5), abs=2e-3)
    # an even k with random ties equals k − 1
    assert float(r.majority_vote_success(6.0, a, b)) == pytest.approx(
        float(r.majority_vote_success(5.0, a, b)), abs=1e-12)
    # one sample: the mean
    assert float(r.majority_vote_success(1.0, a, b)) == pytest.approx(a / (a + b), abs=1e-10)


@pytest.mark.parametrize("fallback", [False, True])
def test_imperfect_verifier_matches_simulation(fallback):
    k, a, b, fpr, fnr = 6, 0.4, 0.8, 0.1, 0.2
    _, ver, checks = _simulate(k, a, b, 200_000, np.random.default_rng(3), fpr, fnr, fallback)
    got = float(r.verifier_success(float(k), a, b, fpr, fnr, fallback))
    assert abs(got - ver.mean()) < 4 * ver.std() / np.sqrt(len(ver))
    n_checks = float(r.verifier_expected_checks(float(k), a, b, fpr, fnr))
    assert abs(n_checks - checks.mean()) < 4 * checks.std() / np.sqrt(len(checks))
    assert n_checks <= k


def test_false_positives_cap_success_below_one():
    # E[r1/(r1 + r0)] as k → ∞, below the oracle's 1
    got = float(r.verifier_success(1e6, 0.5, 0.5, 0.05, 0.0))
    cap = float(r.beta_expectation(lambda p: p / (p + (1 - p) * 0.05), 0.5, 0.5))
    assert got == pytest.approx(cap, abs=1e-6)
    assert got < 0.95


def test_brown_2024_swe_bench_lite_coverage():
    # Brown et al. 2024 (arXiv:2407.21787), abstract and §2: DeepSeek-Coder-V2-Instruct on
    # SWE-bench Lite solves 15.9% with one sample and 56% with 250; with 5 samples 29.62%.
    # The Beta coverage law through the first two points predicts the third to 1 point.
    phi = 10 ** brentq(lambda lp: float(r.coverage_beta_mu_phi(250.0, 0.159, 10 ** lp)) - 0.56,
                       -4, 3)
    assert 0.5 < phi < 1.0   # problems far more heterogeneous than a Beta(0.16φ, 0.84φ) with φ≫1
    assert float(r.coverage_beta_mu_phi(5.0, 0.159, phi)) == pytest.approx(0.2962, abs=0.01)
    # without a verifier the same samples do not help: majority vote stays near pass@1
    assert float(r.selection_success(250.0, 0.159, phi)) < 0.159


def test_default_is_not_a_free_perfect_verifier():
    assert r.DEFAULT_SELECTION.rule == "majority"
    oracle = float(r.coverage_beta_mu_phi(50.0, 0.3, 1.0))
    assert float(r.selection_success(50.0, 0.3, 1.0)) < oracle


def test_selection_is_differentiable():
    sel = r.AnswerSelection("verifier", 0.05, 0.1)
    for s in (sel, r.DEFAULT_SELECTION):
        g = float(jax.grad(lambda m, s=s: r.selection_success(5.0, m, 1.0, s))(0.3))
        h = 1e-6
        fd = (float(r.selection_success(5.0, 0.3 + h, 1.0, s))
              - float(r.selection_success(5.0, 0.3 - h, 1.0, s))) / (2 * h)
        assert g == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    ({"rule": "best"}, "rule must be"),
    ({"rule": "verifier", "false_positive": 1.2}, "false_positive"),
    ({"rule": "verifier", "false_positive": 0.6, "false_negative": 0.5}, "coin"),
    ({"rule": "verifier", "cost_per_check": -1.0}, "cost_per_check"),
])
def test_bad_selection_names_the_field(kwargs, match):
    with pytest.raises(PipelineError, match=match):
        r.AnswerSelection(**kwargs)
