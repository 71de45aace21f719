"""Inference-time scaling: repeated sampling (k parallel attempts) and sequential reasoning tokens.

Repeated sampling (Brown et al. 2024, "Large Language Monkeys", arXiv:2407.21787, §4): coverage —
the share of problems solved by at least one of k samples — follows an exponentiated power law

    coverage(k) ≈ exp(a k^b),  a < 0, b < 0.

Structurally, let each problem's per-sample success probability be p ~ Beta(a_p, b_p)
(mean μ = a_p/(a_p+b_p), concentration φ = a_p + b_p). Then

    coverage(k) = 1 − E[(1 − p)^k] = 1 − B(a_p, b_p + k) / B(a_p, b_p),

and a problem's count of successes s in n samples is beta-binomial:

    log P(s | n) = log C(n, s) + log B(s + a_p, n − s + b_p) − log B(a_p, b_p).

:func:`beta_binomial_loglik` has the engine's signature ``loglik(params, data) -> (n,)``.

Answer selection. Coverage is what an *oracle* verifier gets from k samples: it always finds a
correct sample if there is one, for free. Without one, the k samples must be turned into one answer:
:func:`majority_vote_success` (plurality over samples, no verifier) and :func:`verifier_success`
(a verifier with false-positive and false-negative rates, and a cost per check counted by
:func:`verifier_expected_checks`); :class:`AnswerSelection` names the rule and
:func:`selection_success` dispatches on it. :data:`DEFAULT_SELECTION` is majority vote, not a free
perfect verifier.

Sequential reasoning (budget forcing, Muennighoff et al. 2025, "s1", arXiv:2501.19393, Fig. 1):
accuracy rises roughly linearly in log₂ of thinking tokens. Here r reasoning tokens add
ρ · log₂(1 + r/r₀) to the per-attempt success logit; ρ and r₀ are scenario assumptions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, gammaln

from structural.errors import PipelineError

__all__ = ["AnswerSelection", "beta_binomial_loglik", "coverage_beta", "coverage_beta_mu_phi",
           "coverage_power_law", "majority_vote_success", "reasoning_logit_gain",
           "selection_success", "verifier_expected_checks", "verifier_success"]

Array = Any


def log_beta(a: Array, b: Array) -> Array:
    """log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b).

    Written with :func:`jax.scipy.special.gammaln` because :func:`jax.scipy.special.betaln` loses
    accuracy (relative error up to ~1e-8 here) once one argument exceeds about ten."""
    return gammaln(a) + gammaln(b) - gammaln(a + b)


def coverage_power_law(k: Array, a: Array, b: Array) -> Array:
    """coverage(k) = exp(a k^b) (Brown et al. 2024, eq. 2).

    Examples
    --------
    >>> from structural.reasoning import coverage_power_law
    >>> round(float(coverage_power_law(100, -0.5, -0.3)), 4)
    0.882
    """
    return jnp.exp(a * jnp.asarray(k, jnp.float64) ** b)


def beta_shape(mu: Array, phi: Array) -> tuple[Array, Array]:
    """(a_p, b_p) = (μφ, (1 − μ)φ): Beta shapes from mean μ and concentration φ."""
    return mu * phi, (1.0 - mu) * phi


def coverage_beta(k: Array, a: Array, b: Array) -> Array:
    """coverage(k) = 1 − B(a, b + k)/B(a, b) for p ~ Beta(a, b); k may be real (≥ 0).

    Equals the mean a/(a+b) at k = 1 and rises to 1 as k → ∞ like 1 − Γ(a+b)/Γ(b) k^{−a}.

    Examples
    --------
    pass@k for per-problem success p ~ Beta(0.5, 1.5) (mean 0.25): it rises with k towards 1:

    >>> import jax.numpy as jnp
    >>> from structural.reasoning import coverage_beta
    >>> [round(float(coverage_beta(k, 0.5, 1.5)), 3) for k in (1, 10, 100)]
    [0.25, 0.664, 0.888]
    """
    k = jnp.asarray(k, jnp.float64)
    return -jnp.expm1(log_beta(a, b + k) - log_beta(a, b))


def coverage_beta_mu_phi(k: Array, mu: Array, phi: Array) -> Array:
    """:func:`coverage_beta` with the Beta written by mean μ and concentration φ.

    Examples
    --------
    >>> from structural.reasoning import coverage_beta_mu_phi
    >>> round(float(coverage_beta_mu_phi(10, 0.25, 2.0)), 3)
    0.664
    """
    a, b = beta_shape(mu, phi)
    return coverage_beta(k, a, b)


def beta_binomial_logpmf(s: Array, n: Array, a: Array, b: Array) -> Array:
    """log P(s successes in n samples) under the beta-binomial with shapes (a, b)."""
    s = jnp.asarray(s, jnp.float64)
    n = jnp.asarray(n, jnp.float64)
    s, n, a, b = jnp.broadcast_arrays(s, n, a, b)
    # The nine log-gammas of log C(n, s) + log B(s + a, n − s + b) − log B(a, b) (the same
    # arguments and order of sums as log_beta's) by one gammaln call on their stack: a fit's
    # Hessian then holds one copy of digamma's and trigamma's series, not nine (XLA compiles the
    # task-success fit's programs in about two thirds of the CPU time; same values to rounding).
    u, v = s + a, n - s + b
    g = gammaln(jnp.stack([n + 1.0, s + 1.0, n - s + 1.0, u, v, u + v, a, b, a + b]))
    log_choose = g[0] - g[1] - g[2]
    return log_choose + (g[3] + g[4] - g[5]) - (g[6] + g[7] - g[8])


def beta_binomial_loglik(params: dict[str, Array], data: dict[str, Array]) -> Array:
    """Per-problem beta-binomial log-likelihood, the engine convention ``loglik(params, data)``.

    Parameters
    ----------
    params : dict
        Either ``{"mu", "phi"}`` (mean in (0, 1), concentration > 0) or ``{"a", "b"}`` (shapes).
    data : dict
        ``"n"`` samples drawn and ``"s"`` successes per problem, arrays of shape (n_problems,).

    Returns
    -------
    Array of shape (n_problems,).

    Examples
    --------
    >>> import numpy as np
    >>> from structural.reasoning import beta_binomial_loglik
    >>> data = {"s": np.array([0, 3, 10]), "n": np.array([10, 10, 10])}
    >>> ll = beta_binomial_loglik({"a": 0.5, "b": 1.5}, data)
    >>> np.round(np.asarray(ll), 3)
    array([-1.09 , -2.416, -4.134])
    """
    if "mu" in params:
        a, b = beta_shape(params["mu"], params["phi"])
    else:
        a, b = params["a"], params["b"]
    return beta_binomial_logpmf(data["s"], data["n"], a, b)


def reasoning_logit_gain(r: Array, rho: Array, r0: Array) -> Array:
    """ρ · log₂(1 + r/r₀): the success-logit gain from r sequential reasoning tokens.

    Examples
    --------
    >>> from structural.reasoning import reasoning_logit_gain
    >>> round(float(reasoning_logit_gain(3000, 0.5, 1000)), 4)
    1.0
    """
    return rho * jnp.log2(1.0 + jnp.asarray(r, jnp.float64) / r0)


_SHIFT = 8


def _lgamma_raw(x: Array) -> Array:
    prod = x
    for i in range(1, _SHIFT):
        prod = prod * (x + i)
    y = x + _SHIFT
    iy = 1.0 / y
    iy2 = iy * iy
    series = iy * (1 / 12 - iy2 * (1 / 360 - iy2 * (1 / 1260 - iy2 * (1 / 1680 - iy2 * (
        1 / 1188 - iy2 * 691 / 360360)))))
    return (y - 0.5) * jnp.log(y) - y + 0.5 * math.log(2 * math.pi) + series - jnp.log(prod)


def _digamma_raw(x: Array) -> Array:
    acc = 1.0 / x
    for i in range(1, _SHIFT):
        acc = acc + 1.0 / (x + i)
    y = x + _SHIFT
    iy = 1.0 / y
    iy2 = iy * iy
    series = iy2 * (1 / 12 - iy2 * (1 / 120 - iy2 * (1 / 252 - iy2 * (1 / 240 - iy2 * (
        1 / 132 - iy2 * 691 / 32760)))))
    return jnp.log(y) - 0.5 * iy - series - acc


def _trigamma_raw(x: Array) -> Array:
    acc = 1.0 / x**2
    for i in range(1, _SHIFT):
        acc = acc + 1.0 / (x + i) ** 2
    y = x + _SHIFT
    iy = 1.0 / y
    iy2 = iy * iy
    series = iy * (1 + iy * (0.5 + iy * (1 / 6 - iy2 * (1 / 30 - iy2 * (1 / 42 - iy2 * (
        1 / 30 - iy2 * 5 / 66))))))
    return series + acc


def _tetragamma_raw(x: Array) -> Array:
    acc = -2.0 / x**3
    for i in range(1, _SHIFT):
        acc = acc - 2.0 / (x + i) ** 3
    y = x + _SHIFT
    iy = 1.0 / y
    iy2 = iy * iy
    series = -iy2 * (1 + iy * (1 + iy * (0.5 - iy2 * (1 / 6 - iy2 * (1 / 6 - iy2 * (
        3 / 10 - iy2 * 5 / 6))))))
    return series + acc


@jax.custom_jvp
def _trigamma(x: Array) -> Array:
    return _trigamma_raw(x)


_trigamma.defjvp(lambda p, t: (_trigamma(p[0]), _tetragamma_raw(p[0]) * t[0]))


@jax.custom_jvp
def _digamma(x: Array) -> Array:
    return _digamma_raw(x)


_digamma.defjvp(lambda p, t: (_digamma(p[0]), _trigamma(p[0]) * t[0]))


@jax.custom_jvp
def _lgamma(x: Array) -> Array:
    return _lgamma_raw(x)


_lgamma.defjvp(lambda p, t: (_lgamma(p[0]), _digamma(p[0]) * t[0]))


def lgamma_series(x: Array) -> Array:
    """log Γ(x) for x > 0 by recurrence and Stirling's series, with series derivatives.

    log Γ(x) = log Γ(x + 8) − log Π_{i<8}(x + i), Stirling's series to the y⁻¹¹ term for
    y = x + 8; absolute error below 1e-12 for 1e-3 ≤ x ≤ 1e6. Its derivatives are the matching
    series for ψ, ψ′ and ψ″ (custom JVP rules), so Hessians and third derivatives stay small to
    compile, unlike those of :func:`jax.scipy.special.gammaln` — which is why the firm's solver
    uses it. Valid for 0 < x ≲ 1e38 (the product overflows beyond).
    """
    return _lgamma(jnp.asarray(x, jnp.float64))


def log_miss_probability(k: Array, a: Array, b: Array) -> Array:
    """log(1 − coverage(k)) = log B(a, b + k) − log B(a, b), via :func:`lgamma_series`:
    log Γ(b + k) + log Γ(a + b) − log Γ(b) − log Γ(a + b + k)."""
    return (lgamma_series(b + k) + lgamma_series(a + b) - lgamma_series(b)
            - lgamma_series(a + b + k))


# --- answer selection among k samples ---------------------------------------------------------

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)


def beta_expectation(g: Any, a: Array, b: Array) -> Array:
    """E[g(p)] for p ~ Beta(a, b) by Gauss–Legendre quadrature that absorbs the endpoint
    singularities of the density.

    The integral is split at 1/2. On [0, 1/2] the substitution v = p^e with e = min(a, 1) turns
    p^{a−1} dp into p^{a−e} dv/e, on [1/2, 1] w = (1 − p)^f with f = min(b, 1) does the same for
    (1 − p)^{b−1}: the integrands left are bounded and smooth (96 nodes each), whatever a, b > 0.
    ``g`` maps an array of p to values of the same shape; ``a``, ``b`` broadcast against each
    other (the nodes run along a new last axis). Differentiable in a, b and anything ``g`` closes
    over; checked against :func:`coverage_beta` in the tests.
    """
    a = jnp.asarray(a, jnp.float64)[..., None]
    b = jnp.asarray(b, jnp.float64)[..., None]
    x = jnp.asarray((_GL_NODES + 1.0) / 2.0)
    w = jnp.asarray(_GL_WEIGHTS / 2.0)
    log_norm = log_beta(a, b)

    def half(a1, b1, flip):
        e = jnp.minimum(a1, 1.0)
        top = 0.5 ** e
        log_t = jnp.log(x) / e + jnp.log(0.5)   # t = (x 2^{-e})^{1/e}, in logs: no underflow
        t = jnp.exp(log_t)                       # p on the lower half, 1 - p on the upper
        dens = jnp.exp((a1 - e) * log_t + (b1 - 1.0) * jnp.log1p(-t) - log_norm)
        return jnp.sum(w * top / e * dens * g(1.0 - t if flip else t), axis=-1)

    return half(a, b, False) + half(b, a, True)


def majority_vote_success(k: Array, a: Array, b: Array) -> Array:
    """P(the plurality answer of k samples is correct) for p ~ Beta(a, b), no verifier.

    Model: on a problem with per-sample success p the wrong samples agree on one wrong answer
    (the answer space is, in effect, correct vs the modal wrong answer), ties broken at random.
    Then, with S ~ Binomial(k, p) correct samples,

        P(correct | p) = P(S > k/2) + ½ P(S = k/2) = I_p(h, h),   h = ⌈k/2⌉,

    where I is the regularised incomplete beta function: for odd k = 2h − 1, P(S ≥ h) = I_p(h, k −
    h + 1) = I_p(h, h); for even k = 2h the tie term makes it equal to the k − 1 case (a standard
    identity: P(S_{2h} > h) + ½P(S_{2h} = h) = P(S_{2h−1} ≥ h)). Mixing over the Beta,

        P(k) = E[I_p(h, h)],   → P(p > 1/2) = 1 − I_{1/2}(a, b) as k → ∞.

    Majority vote helps on problems the model mostly solves (p > 1/2) and hurts on the others,
    unlike coverage, which rises to 1. When wrong answers scatter over many values, plurality does
    better than this (it is a lower bound; with all wrong answers distinct it approaches coverage
    of two agreeing samples). ``k`` is rounded up to the odd number below or at it as above: any
    k ≥ 1 (real k is read as ⌈k/2⌉ half-pairs, so it is a step function of k).

    Examples
    --------
    >>> from structural.reasoning import majority_vote_success
    >>> [round(float(majority_vote_success(k, 3.0, 1.0)), 3) for k in (1, 5, 25)]
    [0.75, 0.821, 0.861]
    """
    h = jnp.ceil(jnp.asarray(k, jnp.float64) / 2.0)
    h_ = h[..., None] if jnp.ndim(h) else h
    return beta_expectation(lambda p: betainc(h_, h_, p), *jnp.broadcast_arrays(a, b, h)[:2])


@dataclass(frozen=True)
class AnswerSelection:
    """How one answer is chosen from k samples.

    Parameters
    ----------
    rule : {"majority", "verifier", "oracle"}
        ``majority``: plurality vote (:func:`majority_vote_success`); ``verifier``: samples are
        checked one at a time until one is accepted (:func:`verifier_success`); ``oracle``: a free,
        perfect verifier (coverage, pass@k), an upper bound.
    false_positive : float
        P(verifier accepts a wrong sample).
    false_negative : float
        P(verifier rejects a correct sample).
    cost_per_check : float
        Dollars per verifier call (the cost accounting multiplies it by
        :func:`verifier_expected_checks`).
    fallback : bool
        With no sample accepted, answer with a random sample (True) or abstain (False, a failure).

    Examples
    --------
    >>> from structural.reasoning import AnswerSelection
    >>> AnswerSelection("verifier", false_positive=0.05, cost_per_check=0.001).rule
    'verifier'
    >>> AnswerSelection("vote")
    Traceback (most recent call last):
    ...
    structural.errors.PipelineError: ...: rule must be 'majority', 'verifier' or 'oracle', got ...
    """

    rule: Literal["majority", "verifier", "oracle"] = "majority"
    false_positive: float = 0.0
    false_negative: float = 0.0
    cost_per_check: float = 0.0
    fallback: bool = False

    def __post_init__(self) -> None:
        if self.rule not in ("majority", "verifier", "oracle"):
            raise PipelineError("reasoning.selection", f"rule must be 'majority', 'verifier' or "
                                f"'oracle', got {self.rule!r}")
        for name in ("false_positive", "false_negative"):
            v = getattr(self, name)
            if not 0.0 <= v < 1.0:
                raise PipelineError(f"reasoning.selection.{name}",
                                    f"expected a probability in [0, 1), got {v!r}")
        if self.false_positive + self.false_negative >= 1.0:
            raise PipelineError("reasoning.selection",
                                "false_positive + false_negative must be below 1 (a verifier no "
                                "better than a coin)")
        if not self.cost_per_check >= 0.0:
            raise PipelineError("reasoning.selection.cost_per_check",
                                f"expected dollars >= 0, got {self.cost_per_check!r}")


#: The default: majority vote, which needs no verifier. An oracle must be asked for explicitly.
DEFAULT_SELECTION = AnswerSelection("majority")


def _verifier_rates(p: Array, fpr: Array, fnr: Array) -> tuple[Array, Array]:
    """(r₁, q): P(a sample is correct and accepted) and P(a sample is rejected)."""
    r1 = p * (1.0 - fnr)
    q = 1.0 - r1 - (1.0 - p) * fpr
    return r1, q


def _geometric(q: Array, k: Array) -> Array:
    """Σ_{j<k} q^j = (1 − q^k)/(1 − q), continuous in k and exact at q → 1 (= k)."""
    q = jnp.clip(q, 0.0, 1.0)
    one_minus = 1.0 - q
    safe = jnp.where(one_minus > 1e-12, one_minus, 1.0)
    return jnp.where(one_minus > 1e-12, -jnp.expm1(k * jnp.log(jnp.where(q > 0, q, 1.0)))
                     / safe * jnp.where(q > 0, 1.0, 0.0) + jnp.where(q > 0, 0.0, 1.0), k)


def verifier_success(k: Array, a: Array, b: Array, false_positive: Array = 0.0,
                     false_negative: Array = 0.0, fallback: bool = False) -> Array:
    """P(correct) when samples are drawn and checked one at a time, up to k, and the first
    accepted one is the answer; p ~ Beta(a, b).

    A sample is correct and accepted with probability r₁ = p(1 − fnr), wrong and accepted with
    r₀ = (1 − p) fpr, rejected with q = 1 − r₁ − r₀. The answer is correct if the first accepted
    sample, the j-th, is correct:

        P(correct | p) = Σ_{j=1}^{k} q^{j−1} r₁ = r₁ (1 − q^k)/(1 − q)
                         [+ p fnr q^{k−1} with ``fallback``: no acceptance, a random sample],

    and P(k) = E[P(correct | p)] over the Beta (:func:`beta_expectation`; k may be real). Drawing
    all k and choosing uniformly among the accepted gives the same probability (samples are
    i.i.d.) at k checks. With fpr = fnr = 0, P(correct | p) = 1 − (1 − p)^k: the oracle,
    :func:`coverage_beta`. As k → ∞ it tends to E[r₁/(r₁ + r₀)]: false positives cap it below 1.

    Examples
    --------
    >>> from structural.reasoning import verifier_success
    >>> round(float(verifier_success(8, 0.5, 1.5, false_positive=0.05, false_negative=0.1)), 3)
    0.561
    """
    k = jnp.asarray(k, jnp.float64)
    k_ = k[..., None] if jnp.ndim(k) else k

    def g(p):
        r1, q = _verifier_rates(p, false_positive, false_negative)
        out = r1 * _geometric(q, k_)
        if fallback:
            out = out + p * false_negative * jnp.exp((k_ - 1.0) * jnp.log(jnp.maximum(q, 1e-300)))
        return out

    a, b, _ = jnp.broadcast_arrays(jnp.asarray(a, jnp.float64), jnp.asarray(b, jnp.float64), k)
    return beta_expectation(g, a, b)


def verifier_expected_checks(k: Array, a: Array, b: Array, false_positive: Array = 0.0,
                             false_negative: Array = 0.0) -> Array:
    """Expected samples drawn (and verifier calls) by the sequential rule of
    :func:`verifier_success`: E[Σ_{j<k} q^j] = E[(1 − q^k)/(1 − q)] ≤ k.

    Examples
    --------
    >>> from structural.reasoning import verifier_expected_checks
    >>> round(float(verifier_expected_checks(8, 0.5, 1.5, false_positive=0.05)), 3)
    4.078
    """
    k = jnp.asarray(k, jnp.float64)
    k_ = k[..., None] if jnp.ndim(k) else k

    def g(p):
        return _geometric(_verifier_rates(p, false_positive, false_negative)[1], k_)

    a, b, _ = jnp.broadcast_arrays(jnp.asarray(a, jnp.float64), jnp.asarray(b, jnp.float64), k)
    return beta_expectation(g, a, b)


def selection_success(k: Array, mu: Array, phi: Array,
                      selection: AnswerSelection = DEFAULT_SELECTION) -> Array:
    """P(the chosen answer is correct) from k samples with per-problem p ~ Beta(μφ, (1 − μ)φ)
    under ``selection`` (:class:`AnswerSelection`; default majority vote).

    Examples
    --------
    Majority vote against a perfect verifier (pass@k) for 16 samples:

    >>> from structural.reasoning import AnswerSelection, selection_success
    >>> vote = selection_success(16, 0.4, 2.0, AnswerSelection("majority"))
    >>> oracle = selection_success(16, 0.4, 2.0, AnswerSelection("oracle"))
    >>> round(float(vote), 3), round(float(oracle), 3)
    (0.369, 0.888)
    """
    a, b = beta_shape(jnp.asarray(mu, jnp.float64), jnp.asarray(phi, jnp.float64))
    if selection.rule == "oracle":
        return coverage_beta(k, a, b)
    if selection.rule == "majority":
        return majority_vote_success(k, a, b)
    return verifier_success(k, a, b, selection.false_positive, selection.false_negative,
                            selection.fallback)
