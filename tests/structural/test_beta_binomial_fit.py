"""The beta-binomial likelihood of repeated sampling, fitted by the estimation engine: recovery of
the Beta mean and concentration from simulated per-problem (samples, successes) counts."""

from __future__ import annotations

import numpy as np

import estimation
import structural  # noqa: F401
from estimation import Param, ParamSpec
from structural import reasoning


def test_engine_recovers_mu_and_phi_and_coverage():
    rng = np.random.default_rng(7)
    mu, phi, n_problems, n_samples = 0.3, 2.0, 3000, 20
    p = rng.beta(mu * phi, (1 - mu) * phi, n_problems)
    s = rng.binomial(n_samples, p)
    data = {"n": np.full(n_problems, float(n_samples)), "s": s.astype(float)}
    res = estimation.fit(
        reasoning.beta_binomial_loglik, data,
        ParamSpec([Param("mu", transform="logit"), Param("phi", transform="log")]),
        start={"mu": 0.5, "phi": 1.0}, progress=False)
    est = res.params
    se = res.bse
    assert abs(est["mu"] - mu) < 4 * se["mu"]
    assert abs(est["phi"] - phi) < 4 * se["phi"]
    # the fitted Beta predicts coverage at k = 100 samples close to the truth
    truth = float(reasoning.coverage_beta_mu_phi(100.0, mu, phi))
    fitted = float(reasoning.coverage_beta_mu_phi(100.0, est["mu"], est["phi"]))
    assert abs(fitted - truth) < 0.02
