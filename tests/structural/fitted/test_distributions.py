"""The JAX log densities of the fitted models against scipy.stats."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from structural.fitted import distributions as D


def test_log_gamma_matches_scipy():
    x = np.array([0.1, 0.5, 1.0, 2.5, 7.0, 30.0, 300.0, 1e4])
    np.testing.assert_allclose(np.asarray(D.log_gamma(jnp.asarray(x))), special.gammaln(x),
                               rtol=0, atol=1e-10)


@pytest.mark.parametrize("df", [1.5, 4.0, 30.0])
def test_student_t_logpdf_matches_scipy(df):
    x = np.linspace(-6, 9, 41)
    got = D.student_t_logpdf(jnp.asarray(x), 1.2, 0.7, df)
    np.testing.assert_allclose(np.asarray(got), stats.t.logpdf(x, df, loc=1.2, scale=0.7),
                               rtol=1e-10, atol=1e-11)


def test_normal_and_lognormal_match_scipy():
    x = np.linspace(0.1, 50, 30)
    np.testing.assert_allclose(np.asarray(D.normal_logpdf(jnp.asarray(x), 3.0, 2.0)),
                               stats.norm.logpdf(x, 3.0, 2.0), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(D.lognormal_logpdf(jnp.asarray(x), 1.1, 0.6)),
                               stats.lognorm.logpdf(x, 0.6, scale=np.exp(1.1)), rtol=1e-12)


def test_lognormal_mixture_matches_scipy():
    x = np.geomspace(1, 1e5, 50)
    w, mu, s = np.array([0.2, 0.5, 0.3]), np.array([2.0, 6.0, 9.0]), np.array([0.5, 1.0, 0.4])
    want = np.log(sum(w[k] * stats.lognorm.pdf(x, s[k], scale=np.exp(mu[k])) for k in range(3)))
    got = D.lognormal_mixture_logpdf(jnp.asarray(x), jnp.asarray(w), jnp.asarray(mu),
                                     jnp.asarray(s))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10)


def test_stick_breaking_weights_sum_to_one():
    w = np.asarray(D.stick_breaking(jnp.asarray([0.3, 0.5])))
    np.testing.assert_allclose(w, [0.3, 0.35, 0.35])
