"""Guardrails as cost shifting: closed forms against simulation and derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from structural.guardrails import GuardrailScenario, api_attack_cost, open_weights_attack_cost

SPEC = {"p_success": 0.01, "attempt_tokens": 2000, "api_price_per_token": 1e-5,
        "attempt_overhead": 0.05, "ban_probability": 0.2, "account_cost": 5.0, "N": 8e9,
        "attack_tokens": 1e6, "attack_data_per_token": 1e-6, "trainable_share": 0.01,
        "setup_cost": 50.0, "p_success_after_finetune": 0.9}


def test_api_cost_matches_a_simulated_adversary():
    rng = np.random.default_rng(0)
    p, c, b, a = 0.05, 0.07, 0.3, 5.0
    attempts = rng.geometric(p, size=200_000)
    bans = rng.binomial(attempts - 1, b)
    simulated = np.mean(attempts * c + bans * a)
    assert float(api_attack_cost(p, c, b, a)) == pytest.approx(simulated, rel=0.01)
    assert float(api_attack_cost(p, c)) == pytest.approx(c / p)


def test_open_weights_cost_is_fine_tuning_plus_data_plus_serving():
    # Full fine-tuning of 1e9 parameters on 1e6 tokens: 6e15 FLOPs at $1e-15/FLOP = $6.
    cost = open_weights_attack_cost(1e9, 1e6, 1.0, 1e-15, 2e-6, 10.0, 1e-15, 1000, 0.5)
    assert float(cost) == pytest.approx(6.0 + 2.0 + 10.0 + 2e9 * 1000 * 1e-15 / 0.5)


def test_elasticities_match_finite_differences():
    g = GuardrailScenario.from_dict(SPEC)
    tables = g.analyse()
    el = tables["guardrail_elasticities"].set_index(["route", "parameter"])["elasticity"]
    base = g.parameters()
    for (route, name), e in el.items():
        fn = GuardrailScenario._api if route == "guarded API" else GuardrailScenario._open
        h = 1e-6
        up = dict(base, **{name: base[name] * np.exp(h)})
        dn = dict(base, **{name: base[name] * np.exp(-h)})
        fd = (np.log(float(fn(up))) - np.log(float(fn(dn)))) / (2 * h)
        assert e == pytest.approx(fd, rel=1e-5, abs=1e-9), (route, name)
    # E = (c + b·a)/p − b·a, so ∂log E/∂log p = −(c + b·a)/(p·E), close to −1 for small p.
    assert el[("guarded API", "p_success")] == pytest.approx(-1.0, abs=0.01)


def test_threshold_where_a_stronger_guardrail_stops_shifting_cost():
    g = GuardrailScenario.from_dict(SPEC)
    t = g.analyse()
    p_star = t["guardrail_summary"].attrs["p_threshold"]
    at = GuardrailScenario.from_dict({**SPEC, "p_success": p_star}).analyse()["guardrail_summary"]
    api, opn = at["expected_cost"].iloc[0], at["expected_cost"].iloc[1]
    assert api == pytest.approx(opn, rel=1e-9)
    sweep = t["guardrail_sweep"]
    below = sweep[sweep["p_success"] < p_star]
    np.testing.assert_allclose(below["adversary_cost"], below["open_weights_cost"])


def test_without_open_weights_the_api_route_binds():
    g = GuardrailScenario.from_dict({**SPEC, "open_weights": False})
    s = g.analyse()["guardrail_summary"]
    assert s["binding"].iloc[2] == "API"
    assert np.isinf(s["expected_cost"].iloc[1])


@pytest.mark.parametrize("bad, msg", [({"p_success": 1.5}, "probability in (0, 1]"),
                                      ({"colour": 1}, "unknown key 'colour'")])
def test_bad_guardrail_fields(bad, msg):
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")
                       .replace("]", r"\]").replace("[", r"\[")):
        GuardrailScenario.from_dict({**SPEC, **bad})
