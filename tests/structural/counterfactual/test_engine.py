"""The batched solver against a per-point scipy solve, and the shocks' signs and sizes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from structural.counterfactual import Hypothesis, run, solve_grid
from structural.counterfactual.model import (
    PIPELINE_DEFAULTS,
    PRICE_FIELDS,
    PipelineTechnology,
    Target,
)
from structural.counterfactual.scenario import scenario_from_dict


def _scipy_heavy(L, Q, pt, pd_, pdata, tokens, A=406.4, B=410.7, E=1.69, a=0.336, b=0.283):
    """min_N 6ND·pt + D·pdata + Q·2N·tokens·pd s.t. L(N, D) = L, one point at a time."""
    def D_of(N):
        return (B / (L - E - A * N ** (-a))) ** (1 / b)

    def cost(x):
        N = np.exp(x)
        D = D_of(N)
        return 6 * N * D * pt + D * pdata + Q * 2 * N * tokens * pd_

    lo = np.log((A / (L - E)) ** (1 / a)) + 1e-9
    r = minimize_scalar(cost, bounds=(lo, np.log(1e14)), method="bounded",
                        options={"xatol": 1e-10})
    return np.exp(r.x), r.fun


def test_batched_solver_matches_scipy_point_by_point():
    rng = np.random.default_rng(0)
    n = 8
    L = rng.uniform(1.95, 2.3, n)
    Q = 10 ** rng.uniform(6, 13, n)
    pt = 10 ** rng.uniform(-18.5, -17.5, n)
    pdec = 10 ** rng.uniform(-18, -16.5, n)
    pdata = np.where(rng.uniform(size=n) < 0.5, 0.0, 10 ** rng.uniform(-10, -7, n))
    hyp = Hypothesis("heavy", ("N", "D"), {"D_F": 0.0, "c": 0.0, "k": 1.0, "U": 1e20})
    # Dollars per FLOP = $/chip-hour / 3600 at peak 1 FLOP/s and utilisation 1; decode
    # compute-bound (no memory traffic): the cost accounting reduces to FLOP prices.
    th = dict(PIPELINE_DEFAULTS, tokens_in=0.0, tokens_out=800.0, peak_train=1.0, peak_infer=1.0,
              u_train=1.0, u_prefill=1.0, u_decode=1.0, bandwidth=1e30)
    for i in range(n):  # one tiny grid per target (the target is part of the technology)
        tech = PipelineTechnology(Target("loss", float(L[i])), attention=False)
        pr = {k: np.zeros(1) for k in PRICE_FIELDS}
        pr.update(train_chip_hour=3600 * pt[i:i + 1], serve_chip_hour=3600 * pdec[i:i + 1],
                  data_token=pdata[i:i + 1])
        sol = solve_grid(tech, [hyp], {k: np.array([v]) for k, v in th.items()}, pr, Q[i:i + 1])
        N_ref, c_ref = _scipy_heavy(L[i], Q[i], pt[i], pdec[i], pdata[i], 800.0)
        assert sol.values["heavy"]["total"].item() == pytest.approx(c_ref, rel=1e-8)
        assert sol.values["heavy"]["total"].item() <= c_ref * (1 + 1e-12)
        assert sol.values["heavy"]["lever_N"].item() == pytest.approx(N_ref, rel=1e-3)


DOC = {
    "title": "shocks",
    "target": {"kind": "loss", "value": 2.056},
    "workload": {"queries": [1e6, 1e8, 1e10, 1e12], "reference_queries": 1e10,
                 "tokens_in": 500, "tokens_out": 300},
    "prices": {"train_chip_hour": 2.0, "serve_chip_hour": 2.0, "data_per_token": 1e-9},
    "parameters": {"preset": "sardana2023", "fit": [], "values": {"ctx_alpha": 5.0,
                                                                  "ctx_beta": 0.5},
                   "pinned": ["ctx_alpha", "ctx_beta", "u_prefill", "u_decode",
                              "serve_price_scale"]},
    "base": {"N": 7e9, "D": 2e12, "c": 0},
    "hypotheses": {"heavy_training": {"kind": "heavy_training"},
                   "long_context": {"kind": "long_context", "bounds": {"c": [1, 1048576]}}},
    "shocks": {"compute_price": {"factor": 0.5}, "data_price": {"factor": 10.0},
               "model_life": {"factor": 3.0}},
}


def test_shocks_move_costs_and_levers_the_right_way():
    res = run(scenario_from_dict(copy.deepcopy(DOC)))
    t = res.tables["shocks"].set_index(["shock", "hypothesis", "quantity"])
    # Halving every compute price while data keeps its price: the cost per query falls by less
    # than half (pass-through below one) for both, since both pay for their pretraining data.
    pt_heavy = t.loc[("compute price × 0.5", "heavy_training", "cost per query"), "elasticity"]
    pt_ctx = t.loc[("compute price × 0.5", "long_context", "cost per query"), "elasticity"]
    assert 0 < pt_heavy < 1 and 0 < pt_ctx < 1
    # Cheaper compute relative to data: trade data for parameters.
    assert t.loc[("compute price × 0.5", "heavy_training", "N*"), "change"] > 0
    assert t.loc[("compute price × 0.5", "heavy_training", "D*"), "change"] < 0
    # Dearer data: fewer tokens, more parameters.
    assert t.loc[("data price × 10", "heavy_training", "D*"), "change"] < 0
    assert t.loc[("data price × 10", "heavy_training", "N*"), "change"] > 0
    # A longer life favours the smaller per-query cost: N* falls, D* rises.
    assert t.loc[("model life (Q) × 3", "heavy_training", "N*"), "change"] < 0
    assert t.loc[("model life (Q) × 3", "heavy_training", "cost per query"), "change"] < 0


def test_uniform_compute_price_change_passes_through_fully_without_data_cost():
    doc = copy.deepcopy(DOC)
    doc["prices"]["data_per_token"] = 0.0
    res = run(scenario_from_dict(doc))
    t = res.tables["shocks"].set_index(["shock", "hypothesis", "quantity"])
    for h in ("heavy_training", "long_context"):
        assert t.loc[("compute price × 0.5", h, "cost per query"), "elasticity"] == \
            pytest.approx(1.0, abs=1e-9)
    assert t.loc[("compute price × 0.5", "heavy_training", "N*"), "change"] == \
        pytest.approx(0.0, abs=1e-9)


def test_breakeven_equalises_the_two_costs():
    res = run(scenario_from_dict(copy.deepcopy(DOC)), draws=1)
    q = res.breakevens["heavy_training vs long_context"]["Q"][0, 0]
    assert 1e6 < q < 1e12
    sc = res.scenario
    sol = solve_grid(sc.technology, sc.hypotheses,
                     {k: v[:1] for k, v in res.draws.theta.items()},
                     {k: v[:1] for k, v in sc.prices.items()}, np.array([q / 1.01, q, q * 1.01]))
    a, b = sol.total("heavy_training")[0, 0], sol.total("long_context")[0, 0]
    assert a[1] == pytest.approx(b[1], rel=1e-9)
    assert np.sign(a[0] - b[0]) == -np.sign(a[2] - b[2])


def _scipy_balanced(L, Q, pt, pd_, x=500.0, y=300.0, ca=5.0, cb=0.5, cmax=2.0**20,
                    A=406.4, B=410.7, E=1.69, a=0.336, b=0.283):
    """min over N and c of 6ND·pt + Q·2N(x + c + y)·pd with D binding L(N, D) + (α_c/(c + x))^β_c
    = L: nested bounded scalar searches (c outside, N inside), one point at a time."""
    def inner(c):
        gap0 = L - E - (ca / (c + x)) ** cb

        def cost(t):
            N = np.exp(t)
            D = (B / (gap0 - A * N ** (-a))) ** (1 / b)
            return 6 * N * D * pt + Q * 2 * N * (x + c + y) * pd_

        lo = np.log((A / gap0) ** (1 / a)) + 1e-9
        return minimize_scalar(cost, bounds=(lo, np.log(1e14)), method="bounded",
                               options={"xatol": 1e-10}).fun

    return minimize_scalar(lambda s: inner(np.exp(s)), bounds=(0.0, np.log(cmax)),
                           method="bounded", options={"xatol": 1e-10}).fun


def test_three_levers_match_scipy():
    """N, D and the context c free (D binding; N and c optimised, nested), against nested SciPy
    searches, with optima inside the context's range and at its bound c = 1."""
    L = 2.15
    tech = PipelineTechnology(Target("loss", L), attention=False)
    hyp = Hypothesis("balanced", ("N", "D", "c"), {"D_F": 0.0, "k": 1.0, "U": 1e20},
                     bounds={"c": (1.0, 2.0**20)})
    th = {k: np.array([v]) for k, v in PIPELINE_DEFAULTS.items()}
    th.update(tokens_in=np.array([500.0]), tokens_out=np.array([300.0]),
              ctx_alpha=np.array([5.0]), ctx_beta=np.array([0.5]), bandwidth=np.array([1e30]),
              **{k: np.ones(1) for k in ("peak_train", "peak_infer", "u_train", "u_prefill",
                                           "u_decode")})
    pr = {k: np.zeros(2) for k in PRICE_FIELDS}
    pr.update(train_chip_hour=3600 * np.array([3e-18, 1e-18]),
              serve_chip_hour=3600 * np.array([1e-17, 3e-17]))
    Q = np.geomspace(1e6, 1e13, 4)
    v = solve_grid(tech, [hyp], th, pr, Q).values["balanced"]
    assert np.all(v["status"] == 0)
    c = v["lever_c"][0]
    assert (c > 1.5).any() and (c < 1.0 + 1e-9).any()   # interior optima and the bound c = 1
    for p in range(2):
        for i in range(len(Q)):
            ref = _scipy_balanced(L, Q[i], pr["train_chip_hour"][p] / 3600,
                                  pr["serve_chip_hour"][p] / 3600)
            assert v["total"][0, p, i] == pytest.approx(ref, rel=1e-9)
            assert v["total"][0, p, i] <= ref * (1 + 1e-12)


def test_shock_points_are_the_full_grids_points_to_the_last_bit():
    """The shock table solves only the (draw, variant) points it reads; each equals, bit for
    bit, the same point of the variants × Q grid solved whole (as the table was built before)."""
    from structural.counterfactual.shocks import _solve_variants, _variants

    res = run(scenario_from_dict(copy.deepcopy(DOC)), draws=3)
    sc, theta = res.scenario, res.draws.theta
    variants = _variants(sc)
    got = _solve_variants(sc, theta, variants)
    prices = {k: np.concatenate([v[1][k] for v in variants]) for k in variants[0][1]}
    qs = sorted({sc.reference_queries * v[2] for v in variants})
    assert len(qs) == 2   # the model-life shock's Q: the grid has an off-diagonal
    full = solve_grid(sc.technology, sc.hypotheses, theta, prices, np.array(qs))
    for vi, v in enumerate(variants):
        qi = qs.index(sc.reference_queries * v[2])
        for h in full.hypotheses:
            assert set(got[h]) == set(full.values[h])
            for f, a in got[h].items():
                np.testing.assert_array_equal(a[:, vi], full.values[h][f][:, vi, qi])


def test_breakeven_search_stops_within_its_tolerance(monkeypatch):
    """A break-even lane whose bracket has closed to BREAKEVEN_TTOL is not solved again: fewer
    solves, and Q within 1e-10·|log Q| (about 3e-9 relative here) of the search run to the end
    (BREAKEVEN_TTOL = 0 runs it as before: a lane stops only where it is exact)."""
    from structural.counterfactual import breakeven, engine

    sc = scenario_from_dict(copy.deepcopy(DOC))
    theta = {k: np.repeat(v, 6) for k, v in run(sc, draws=1).draws.theta.items()}
    theta["ctx_alpha"] = theta["ctx_alpha"] * np.linspace(0.7, 1.3, 6)  # six break-evens
    sol = solve_grid(sc.technology, sc.hypotheses, theta, sc.prices, sc.queries)
    lanes = []
    solve_flat = engine.solve_flat

    def counted(tech, hyp, th, pr, q, *a, **k):
        lanes.append(len(q))
        return solve_flat(tech, hyp, th, pr, q, *a, **k)

    monkeypatch.setattr(engine, "solve_flat", counted)
    h1, h2 = sc.hypotheses[:2]
    be = breakeven(sc.technology, h1, h2, theta, sc.prices, sc.queries, sol)
    short = sum(lanes)
    lanes.clear()
    monkeypatch.setattr(engine, "BREAKEVEN_TTOL", 0.0)
    full = breakeven(sc.technology, h1, h2, theta, sc.prices, sc.queries, sol)
    assert np.isfinite(full["Q"]).sum() == 6
    assert short < sum(lanes)
    np.testing.assert_array_equal(np.isfinite(be["Q"]), np.isfinite(full["Q"]))
    ok = np.isfinite(full["Q"])
    np.testing.assert_allclose(be["Q"][ok], full["Q"][ok], rtol=1e-10 * np.log(1e13), atol=0)
    for k in ("crossed", "crossings", "cheaper_below"):
        np.testing.assert_array_equal(be[k], full[k])


def test_breakevens_of_several_pairs_are_each_pairs_own_to_the_last_bit(monkeypatch):
    """breakevens searches every pair in lockstep, solving each hypothesis once per step over
    the lanes of all pairs (the report's table: a hypothesis in two pairs shares its blocks):
    each pair's result is breakeven's for that pair alone, bit for bit, with the same points
    solved in no more calls."""
    import itertools

    from structural.counterfactual import breakeven, engine
    from structural.counterfactual.engine import breakevens

    doc = copy.deepcopy(DOC)
    doc["hypotheses"]["balanced"] = {"kind": "custom", "free": ["N", "D", "c"],
                                     "bounds": {"c": [1, 1048576]}}
    sc = scenario_from_dict(doc)
    theta = {k: np.repeat(v, 3) for k, v in run(sc, draws=1).draws.theta.items()}
    theta["ctx_alpha"] = theta["ctx_alpha"] * np.linspace(0.8, 1.2, 3)
    sol = solve_grid(sc.technology, sc.hypotheses, theta, sc.prices, sc.queries)
    calls = []
    solve_flat = engine.solve_flat

    def counted(tech, hyp, th, pr, q, *a, **k):
        calls.append(len(q))
        return solve_flat(tech, hyp, th, pr, q, *a, **k)

    monkeypatch.setattr(engine, "solve_flat", counted)
    pairs = list(itertools.combinations(sc.hypotheses, 3 - 1))
    together = breakevens(sc.technology, pairs, theta, sc.prices, sc.queries, sol)
    n_together, lanes_together = len(calls), sum(calls)
    calls.clear()
    for (h1, h2), got in zip(pairs, together, strict=True):
        alone = breakeven(sc.technology, h1, h2, theta, sc.prices, sc.queries, sol)
        assert set(got) == set(alone)
        for k in alone:
            np.testing.assert_array_equal(got[k], alone[k])
    assert sum(np.isfinite(be["Q"]).sum() for be in together) >= 2
    assert lanes_together == sum(calls) and n_together <= len(calls)
