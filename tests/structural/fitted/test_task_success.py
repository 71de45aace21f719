"""The fitted loss-to-success link: recovery on simulated runs, JAX gradient vs finite
differences, the fit and the out-of-sample check on Epoch's runs, input errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from structural import pretraining
from structural.fitted import task_success as ts
from structural.fitted.inputs import FitInputError

TASKS = ("GPQA diamond", "MATH level 5", "OTIS Mock AIME 2024-2025", "SWE-Bench verified")
TRUE = ts.RECOVERY_TRUTH
design = ts.simulation_design


def test_recovery_true_values_within_four_ses():
    res, table = ts.recovery()
    assert res.converged
    assert (table["z"].abs() < 4).all(), table
    # φ is identified, and pinned down: its SE is a fraction of its value
    assert table.loc["phi", "std_err"] < 0.3 * TRUE["phi"]


def test_gradient_matches_finite_differences():
    runs = ts.simulate(TRUE, design(8, seed=4), seed=5)
    d = {k: jnp.asarray(v) for k, v in ts.arrays(runs, TASKS).items()}
    f = ts.make_contributions(TASKS)
    names = list(TRUE)
    x0 = np.array([TRUE[k] for k in names]) * 1.03

    # jitted: one compiled program for the twelve differences instead of op-by-op dispatch
    @jax.jit
    def total(x):
        return jnp.sum(f(dict(zip(names, x, strict=True)), d))

    g = np.asarray(jax.jit(jax.grad(total))(jnp.asarray(x0)))
    for j in range(len(names)):
        h = 1e-6 * max(1.0, abs(x0[j]))
        e = np.zeros_like(x0)
        e[j] = h
        fd = (float(total(jnp.asarray(x0 + e))) - float(total(jnp.asarray(x0 - e)))) / (2 * h)
        assert abs(g[j] - fd) <= 1e-5 * max(1.0, abs(fd)), (names[j], g[j], fd)


def test_variance_factor_limits():
    # one sample per question: binomial whatever φ; many samples: the Beta's variance only
    assert float(ts.variance_factor(0.7, 1.0)) == pytest.approx(1.0)
    assert float(ts.variance_factor(0.7, 1e9)) == pytest.approx(1 / 1.7)


@pytest.fixture(scope="module")
def epoch_fit():
    return ts.fit()


def test_fit_on_epoch_runs(epoch_fit):
    res = epoch_fit
    assert res.converged
    assert res.nobs == 219
    p, se = res.params, res.bse
    assert 5 < p["kappa"] < 60 and se["kappa"] < 0.5 * p["kappa"]
    assert 0.3 < p["phi"] < 3 and se["phi"] < 0.25 * p["phi"]
    # harder benchmarks need a lower loss: FrontierMath below OTIS below GPQA
    assert (p[ts.ell_name("FrontierMath-2025-02-28-Private")]
            < p[ts.ell_name("OTIS Mock AIME 2024-2025")] < p[ts.ell_name("GPQA diamond")])
    link = ts.link_parameters(res, "GPQA diamond")
    assert set(link) == {"kappa", "ell_task", "phi"}
    with pytest.raises(ValueError, match="no benchmark"):
        ts.link_parameters(res, "HellaSwag")


def test_link_draws_need_a_bootstrap(epoch_fit):
    with pytest.raises(ValueError, match="bootstrap=K"):
        ts.link_draws(epoch_fit)


@pytest.mark.slow
def test_link_draws_are_the_joint_bootstrap_replicates():
    res = ts.fit(bootstrap=8)
    d = ts.link_draws(res, "OTIS Mock AIME 2024-2025")
    assert list(d.columns) == ["kappa", "ell_task", "phi"]
    assert len(d) == res.bootstrap.n_converged >= 6
    assert np.allclose(d["kappa"], res.bootstrap.used()["kappa"])


def test_link_bootstrap_resamples_whole_models_reproducibly():
    """The scenarios' link draws (structural.counterfactual.fits) come from a cluster bootstrap:
    each replicate draws models with replacement, all runs of a model together, from a seeded
    generator (the same resamples every time)."""
    from estimation import Bootstrap
    from structural.counterfactual.fits import LINK_REPLICATES, LINK_SEED

    runs = ts.runs_table()
    clusters = ts._clusters(runs)
    boot = Bootstrap(draws=LINK_REPLICATES, seed=LINK_SEED)
    w = boot.weights(len(runs), clusters)
    assert np.array_equal(w, boot.weights(len(runs), clusters))
    G = clusters.max() + 1
    for g in range(G):   # one count per model, shared by its runs
        cols = w[:, clusters == g]
        assert (cols == cols[:, :1]).all()
    per_model = np.stack([w[:, clusters == g][:, 0] for g in range(G)], axis=1)
    assert (per_model.sum(axis=1) == G).all()     # G models drawn per replicate
    assert G < len(runs)                          # models, not runs, are the clusters


@pytest.mark.slow
def test_bootstrap_link_is_the_fits_replicates():
    point, draws = ts.bootstrap_link("GPQA diamond", replicates=12, seed=5)
    again = ts.bootstrap_link("GPQA diamond", replicates=12, seed=5)[1]
    assert np.array_equal(draws.to_numpy(), again.to_numpy())
    assert point == ts.link_parameters(ts.fit(), "GPQA diamond")
    assert 10 <= len(draws) <= 12 and draws["kappa"].std() > 0


def test_link_reproduces_the_mean_accuracy_at_the_fitted_loss(epoch_fit):
    # a model at ℓ_task succeeds half the time, and the link uses the project's own σ
    from structural.task_success import success_probability
    link = ts.link_parameters(epoch_fit, "GPQA diamond")
    assert float(success_probability(link["ell_task"], link["kappa"], link["ell_task"])) == 0.5
    runs = ts.runs_table()
    gpqa = runs[runs["task"] == "GPQA diamond"]
    pred = ts.predict(epoch_fit, gpqa)
    # the fitted curve has the data's mean level (within 5 points)
    assert abs(pred.mean() - gpqa["accuracy"].mean()) < 0.05


@pytest.mark.slow  # the default run checks it through `llmecon reproduce llm_costs --quick`
def test_out_of_sample_reports_held_out_error():
    o = ts.out_of_sample("2025-01-01")
    assert o["fit"].converged
    assert o["n_train"] > 100 and o["n_test"] > 50
    assert o["rmse"] >= o["mae"] > 0
    # models released after the cut-off beat what their pretraining compute predicts
    assert o["bias"] < 0


def test_bad_input_names_the_column():
    runs = design(2).drop(columns="loss")
    with pytest.raises(FitInputError, match="'accuracy' row 1"):
        ts.runs_table(runs.assign(accuracy=[0.5, 1.5] + [0.5] * (len(runs) - 2)))
    with pytest.raises(FitInputError, match="missing column"):
        ts.runs_table(runs.drop(columns="epochs"))
    with pytest.raises(FitInputError, match="law: missing"):
        ts.runs_table(runs, law={"A": 1.0})
    with pytest.raises(FitInputError, match="cut-off"):
        ts.out_of_sample("1990-01-01")


def test_compute_optimal_loss_is_the_minimum_over_allocations():
    law = pretraining.BESIROGLU_2024
    C = 1e24
    best = float(pretraining.compute_optimal_loss(C, **law))
    for N in np.logspace(9, 12, 13):
        assert float(pretraining.chinchilla_loss(N, C / (6 * N), **law)) >= best - 1e-12
