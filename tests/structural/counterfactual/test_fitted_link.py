"""Success targets run on the fitted loss-to-success link by default, with answer selection that
is not a free perfect verifier, and relative (``match``) targets move with every draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import structural
from structural import quality, reasoning
from structural.counterfactual import make_draws
from structural.counterfactual.fits import LINK_REPLICATES, fitted_source
from structural.counterfactual.model import PIPELINE_DEFAULTS, PipelineTechnology, Target
from structural.counterfactual.scenario import (
    ScenarioError,
    draw_targets,
    load_scenario,
    point_parameters,
    scenario_from_dict,
)

SCENARIOS = Path(structural.__file__).parent / "examples" / "scenarios"


@pytest.fixture(scope="module")
def reasoning_sc():
    return load_scenario(SCENARIOS / "reasoning_vs_bigger_model.toml")


def test_success_scenarios_use_the_fitted_link_by_default(reasoning_sc):
    fit = fitted_source("success_link")
    rows = {r.name: r for r in reasoning_sc.provenance}
    for k in ("kappa", "ell_task", "phi"):
        assert rows[k].source == "fitted" and "beta-binomial" in rows[k].reference
        assert rows[k].value == pytest.approx(fit.point[k])
    # the verifier's error rates are assumptions with a stated, drawn range
    assert rows["verifier_fpr"].source == "assumed" and "range" in rows["verifier_fpr"].reference
    d = make_draws(reasoning_sc.parameters, point_parameters(reasoning_sc), 200, seed=0,
                   positive=reasoning_sc.technology.positive)
    assert "success_link (fitted)" in d.groups
    assert set(d.groups["success_link (fitted)"]) == {"kappa", "ell_task", "phi"}
    # drawn jointly from the fit's cluster-bootstrap replicates: whole replicates, so the draws
    # are rows of the fit's table and their SDs are the bootstrap's
    assert "bootstrap" in rows["kappa"].reference
    assert 0.9 * LINK_REPLICATES <= len(fit.draws) <= LINK_REPLICATES
    replicates = {tuple(r) for r in fit.draws[["kappa", "ell_task", "phi"]].to_numpy()}
    drawn = np.stack([d.theta[k][1:] for k in ("kappa", "ell_task", "phi")], axis=1)
    assert all(tuple(r) in replicates for r in drawn)
    assert np.std(d.theta["kappa"][1:]) == pytest.approx(fit.se["kappa"], rel=0.3)
    assert np.std(d.theta["kappa"][1:]) > 0


def test_firm_scenario_uses_the_fitted_link_and_the_priced_verifier():
    sc = load_scenario(SCENARIOS / "firm_training_vs_sampling.toml")
    rows = {r.name: r for r in sc.provenance}
    assert {rows[k].source for k in ("kappa", "ell_task", "phi")} == {"fitted"}
    # the same answer selection as the pipeline scenario, not the free perfect verifier
    assert sc.target.kind == "success" and sc.technology.selection == "verifier"
    assert rows["verifier_fpr"].source == "assumed" and "range" in rows["verifier_fpr"].reference


def test_firm_scenario_refuses_majority_vote_with_one_line():
    doc = {"title": "t", "technology": {"name": "firm", "selection": "majority"},
           "target": {"kind": "success", "value": 0.1}, "workload": {"queries": [1e6, 1e7]},
           "hypotheses": {"r": {"kind": "reasoning"}}}
    with pytest.raises(ScenarioError, match=r"technology\.selection: .*step function of k"):
        scenario_from_dict(doc)


def test_answer_selection_is_not_a_free_perfect_verifier_by_default():
    tech = PipelineTechnology(Target("success", 0.5))
    assert tech.selection == "majority"
    th = dict(PIPELINE_DEFAULTS, kappa=20.0, ell_task=1.95, phi=0.9, verifier_fpr=0.05,
              verifier_fnr=0.1)
    z = {"N": 7e9, "D": 2e12, "U": 3e14, "D_F": 0.0, "c": 0.0, "k": 100.0}
    zq = tech.quantities(z, th)
    mu = float(quality.success(dict(zq, k=1.0), th, "oracle"))
    oracle = float(quality.success(zq, th, "oracle"))
    assert oracle == pytest.approx(float(quality.coverage(zq, th)), rel=1e-12)
    majority = float(tech.quality(z, th))
    verified = PipelineTechnology(Target("success", 0.5), selection="verifier")
    verifier = float(verified.quality(z, th))
    # the oracle bounds both; the verifier's false positives cap it below the oracle; majority
    # vote over a weak model's samples does not beat one attempt by much (or at all)
    assert majority < verifier < oracle and majority <= mu + 0.01
    # one verified attempt with a fallback answer succeeds with probability μ
    one = float(quality.success(dict(zq, k=1.0), th, "verifier"))
    assert one == pytest.approx(mu, rel=1e-6)
    # the verifier's expected attempts are at most k, and at least 1
    a = float(quality.attempts(zq, th, "verifier"))
    assert 1.0 <= a <= 100.0
    a_ref = float(reasoning.verifier_expected_checks(100.0, *reasoning.beta_shape(mu, 0.9), 0.05,
                                                     0.1))
    assert a == pytest.approx(a_ref, rel=1e-12)


def test_verifier_cost_is_attempts_times_one_check(reasoning_sc):
    tech = reasoning_sc.technology
    th = {k: np.float64(v) for k, v in point_parameters(reasoning_sc).items()}
    pr = {k: v[0] for k, v in reasoning_sc.prices.items()}
    z = {"N": np.float64(7e9), "D": np.float64(2e12), "U": np.float64(3e14),
         "D_F": np.float64(0.0), "c": np.float64(0.0), "k": np.float64(50.0)}
    parts = tech.cost_parts(z, th, pr)
    attempts = float(quality.attempts(tech.quantities(z, th, pr), th, "verifier"))
    one = PipelineTechnology(tech.target, token_nodes=tech.token_nodes).cost_parts(
        dict(z, k=np.float64(1.0)), th, pr)
    assert 1.0 < attempts < 50.0
    assert float(parts["output"]) == pytest.approx(attempts * float(one["output"]), rel=1e-9)
    assert float(parts["verify"]) > 0


def test_relative_target_is_the_reference_pipelines_quality_per_draw(reasoning_sc):
    sc = reasoning_sc
    assert sc.target_match is not None and sc.target_match["N"] == 13e9
    d = make_draws(sc.parameters, point_parameters(sc), 20, seed=1, positive=sc.technology.positive)
    t = draw_targets(sc, d.theta)
    assert t.shape == (21,) and t[0] == pytest.approx(sc.target.value, rel=1e-9)
    assert np.std(t[1:]) > 0      # the reference model's success moves with the fitted link
    z = {k: np.float64(v) for k, v in sc.target_match.items()}
    th5 = {k: v[5] for k, v in d.theta.items()}
    assert t[5] == pytest.approx(float(sc.technology.quality(z, th5)), rel=1e-9)


def test_bad_selection_rule_exits_with_one_line():
    doc = {"title": "t", "technology": {"selection": "best"}, "target": {"kind": "success",
                                                                        "value": 0.1},
           "workload": {"queries": [1e6, 1e7]}, "hypotheses": {"r": {"kind": "reasoning"}}}
    with pytest.raises(ScenarioError, match=r"technology\.selection: expected one of majority"):
        scenario_from_dict(doc)


def test_per_query_cost_is_the_expectation_over_the_usage_distribution(reasoning_sc):
    """With fitted lognormal tokens, v is E[v(x, y)] (3×3 Gauss–Hermite, one shared batch), checked
    against Monte Carlo over the same lognormals with the same batch; it exceeds the cost of the
    mean request because decode's KV reads grow faster than linearly in the tokens."""
    tech = reasoning_sc.technology
    assert tech.token_nodes == 3
    th = {k: np.float64(v) for k, v in point_parameters(reasoning_sc).items()}
    assert th["tokens_in_logsd"] > 0.5 and th["tokens_out_logsd"] > 0.5
    pr = {k: v[0] for k, v in reasoning_sc.prices.items()}
    z = {"N": np.float64(7e9), "D": np.float64(2e12), "U": np.float64(3e14),
         "D_F": np.float64(0.0), "c": np.float64(2000.0), "k": np.float64(1.0)}
    mean_tech = PipelineTechnology(tech.target, selection="majority")
    exp_tech = PipelineTechnology(tech.target, selection="majority", token_nodes=3)
    expected = exp_tech.cost_parts(z, th, pr)
    at_mean = mean_tech.cost_parts(z, th, pr)
    assert float(expected["output"]) > float(at_mean["output"])
    assert float(expected["pretrain"]) == float(at_mean["pretrain"])
    # Monte Carlo with the mean request's batch and chips
    from structural import costs
    q = mean_tech.quantities(z, th, pr)
    ct = mean_tech.cost_theta(th, pr)
    s = costs.serving(q, ct)
    shared = {**ct, "batch": s["batch"], "chips": s["chips"]}
    rng = np.random.default_rng(0)
    n = 200_000
    sx, sy = th["tokens_in_logsd"], th["tokens_out_logsd"]
    xs = q["x"] * np.exp(sx * rng.standard_normal(n) - sx**2 / 2)
    ys = q["y"] * np.exp(sy * rng.standard_normal(n) - sy**2 / 2)
    mc = float(np.mean(costs.stage_costs({**q, "x": xs, "y": ys}, shared)["output"]["dollars"]))
    assert float(expected["output"]) == pytest.approx(mc, rel=0.05)
