"""Row-count buckets: a fit pads its data with zero-weight copies of the last row, which changes
no number it reports, and a dataset of a new length in the same bucket compiles nothing new."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import estimation
from estimation import Param, ParamSpec
from estimation.compilation import compile_stats
from estimation.objective import padded_rows

SPEC = ParamSpec([Param("mu"), Param("sigma", transform="log")])


def normal_loglik(p, d):
    z = (d["y"] - p["mu"]) / p["sigma"]
    return -0.5 * z * z - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)


def test_buckets():
    assert [padded_rows(n) for n in (1, 16, 17, 100, 4096, 4097, 5000, 8193)] == \
        [16, 16, 32, 128, 4096, 5120, 5120, 10240]
    ns = np.unique(np.geomspace(1, 10**7, 400).astype(int))
    rows = np.array([padded_rows(int(n)) for n in ns])
    assert np.all(rows >= ns) and np.all(np.diff(rows) >= 0)
    big = ns > 4096
    assert np.all(rows[big] <= 1.25 * ns[big])
    assert len(np.unique(rows[ns <= 4096])) == 9  # 16, 32, ..., 4096


def test_padding_changes_no_reported_number():
    """The MLE of a normal has a closed form: the padded fit must give it, with the row count,
    log-likelihood and robust (sandwich) covariance of the 100 real rows alone."""
    y = np.random.default_rng(3).normal(1.0, 2.0, 100)
    res = estimation.fit(normal_loglik, {"y": y}, SPEC, start={"mu": 0.0, "sigma": 1.0},
                         cov_type="robust", progress=False)
    assert res.objective.rows == 128 and res.nobs == 100
    mu, sd = y.mean(), y.std()
    np.testing.assert_allclose(res.params.to_numpy(), [mu, sd], rtol=1e-9)
    llf = np.sum(-0.5 * ((y - mu) / sd) ** 2 - np.log(sd) - 0.5 * np.log(2 * np.pi))
    np.testing.assert_allclose(res.llf, llf, rtol=1e-12)
    # Sandwich for (mu, log sigma) from the per-row scores of the real rows only.
    z = (y - mu) / sd
    s = np.column_stack([z / sd, z * z - 1.0])
    A = np.array([[len(y) / sd**2, 0.0], [0.0, 2.0 * len(y)]])
    V = np.linalg.solve(A, np.linalg.solve(A, s.T @ s).T)
    np.testing.assert_allclose(res.cov_theta, V, rtol=1e-6)


def test_new_length_in_the_same_bucket_compiles_nothing():
    rng = np.random.default_rng(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimation.fit(normal_loglik, {"y": rng.normal(size=70)}, SPEC,
                       start={"mu": 0.0, "sigma": 1.0}, progress=False)
        before = compile_stats()
        res = estimation.fit(normal_loglik, {"y": rng.normal(size=90)}, SPEC,
                             start={"mu": 0.0, "sigma": 1.0}, progress=False)
        d = compile_stats() - before
    assert res.converged and res.nobs == 90
    assert d.compiled + d.loaded == 0, d


def test_bootstrap_weights_skip_padding():
    """Replicates resample the 50 real rows only: each replicate's weights sum to 50, and its
    estimate of mu is the mean of its resample."""
    y = np.random.default_rng(5).normal(0.5, 1.0, 50)
    boot = estimation.Bootstrap(draws=20, seed=1)
    res = estimation.fit(normal_loglik, {"y": y}, SPEC, start={"mu": 0.0, "sigma": 1.0},
                         bootstrap=boot, progress=False)
    W = boot.weights(50)
    np.testing.assert_allclose(res.bootstrap.draws["mu"].to_numpy(), W @ y / 50, rtol=1e-6)


@pytest.mark.parametrize("method", ["bfgs"])
def test_scipy_path_pads_too(method):
    y = np.random.default_rng(6).normal(-1.0, 0.5, 33)
    res = estimation.fit(normal_loglik, {"y": y}, SPEC, start={"mu": 0.0, "sigma": 1.0},
                         method=method, progress=False)
    assert res.objective.rows == 64
    np.testing.assert_allclose(res.params.to_numpy(), [y.mean(), y.std()], rtol=1e-6)


def test_rows_puts_datasets_of_several_lengths_in_one_bucket():
    """``rows=N``: a 30-row and a 200-row dataset padded to N's bucket fit to their own closed
    forms and the second compiles nothing (without it they sit in the 32- and 256-row buckets);
    a row count that is not a positive integer is refused by name."""
    rng = np.random.default_rng(7)
    ys = [rng.normal(0.3, 1.5, 30), rng.normal(-0.2, 0.7, 200)]
    fits, deltas = [], []
    for y in ys:
        before = compile_stats()
        fits.append(estimation.fit(normal_loglik, {"y": y}, SPEC, rows=300,
                                   start={"mu": 0.0, "sigma": 1.0}, method="bfgs",
                                   progress=False))
        deltas.append(compile_stats() - before)
    for res, y in zip(fits, ys, strict=True):
        assert res.objective.rows == 512 and res.nobs == len(y) and res.converged
        np.testing.assert_allclose(res.params.to_numpy(), [y.mean(), y.std()], rtol=1e-6)
    assert deltas[1].compiled + deltas[1].loaded == 0, deltas[1]
    with pytest.raises(estimation.SpecificationError, match="rows=0"):
        estimation.fit(normal_loglik, {"y": ys[0]}, SPEC, rows=0, progress=False)
