"""Cost accounting: FLOPs, seconds, dollars per stage; derivatives against finite differences;
monotonicity and scaling properties."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import structural
from structural import costs, flops
from structural.pipeline import Pipeline

EXAMPLES = Path(structural.__file__).parent / "examples" / "pipelines"


def _z(**kw):
    z = {"N": 70e9, "D": 2e12, "U": 1e12, "D_F": 5e9, "trainable_fraction": 1.0, "c": 4000.0,
         "cached_fraction": 0.3, "x": 500.0, "k": 3.0, "r": 2000.0, "y": 400.0}
    z.update(kw)
    return {k: jnp.asarray(v, jnp.float64) for k, v in z.items()}


THETA = {k: jnp.asarray(v, jnp.float64) for k, v in costs.cost_parameters("H100").items()}
_total = jax.jit(lambda z, Q: costs.total_cost(z, THETA, Q))
_stages = jax.jit(lambda z: costs.stage_costs(z, THETA))


def test_training_flops_are_6ND_without_attention():
    theta = dict(THETA, n_layer_d_attn=0.0)
    sc = costs.stage_costs(_z(), theta)
    assert float(sc["pretrain"]["flops"]) == pytest.approx(6 * 70e9 * 2e12, rel=1e-14)
    assert float(sc["finetune"]["flops"]) == pytest.approx(6 * 70e9 * 5e9, rel=1e-14)


def test_attention_term_follows_kaplan_table1():
    sc = _stages(_z())
    nd = 80 * 8192
    expected = 3 * (2 * 70e9 + 2 * nd * 4096) * 2e12
    assert float(sc["pretrain"]["flops"]) == pytest.approx(expected, rel=1e-13)


def test_adapter_finetuning_flops():
    z = _z(trainable_fraction=0.001)
    theta = dict(THETA, n_layer_d_attn=0.0)
    sc = costs.stage_costs(z, theta)
    assert float(sc["finetune"]["flops"]) == pytest.approx((4 * 70e9 + 2 * 70e6) * 5e9, rel=1e-13)


def test_prefill_is_quadratic_and_decode_linear_per_token():
    nd = 1000.0
    P = jnp.array([1000.0, 2000.0, 4000.0])
    pf = flops.prefill_flops(0.0, P, nd)
    assert np.allclose(np.array(pf[1:] / pf[:-1]), 4.0)
    # decoding one more token costs 2N + 2 nd × position: linear in the context already there
    d1 = flops.decode_flops(1e9, 1000.0, 1.0, nd)
    d2 = flops.decode_flops(1e9, 3000.0, 1.0, nd)
    assert float(d2 - d1) == pytest.approx(2 * nd * 2000.0, rel=1e-12)


def test_prompt_caching_discounts_context_only():
    base = _stages(_z(cached_fraction=0.0))
    cached = _stages(_z(cached_fraction=1.0))
    assert float(cached["context"]["flops"]) == pytest.approx(
        0.1 * float(base["context"]["flops"]), rel=1e-12)
    assert float(cached["input"]["flops"]) == float(base["input"]["flops"])


def test_decode_roofline_memory_bound_at_small_batch():
    z = _z()
    theta = dict(THETA, batch=1.0)
    sc = costs.stage_costs(z, theta)
    N, y, k = 70e9, 400.0, 3.0
    start = 4000 + 500 + 2000
    kv = 2 * 80 * 8192 * 0.125 * 2
    memory = (N * 2 * y + kv * (start * y + y**2 / 2)) / 3.35e12
    # 140 GB of weights: a 2-chip replica, whose tensor-parallel all-reduces add
    # 8 (t − 1) n_layer d_model bytes / NVLink per token (Megatron-LM §3)
    assert float(costs.serving(z, theta)["chips"]) == 2.0
    all_reduce = 8 * (2 - 1) * 80 * 8192 * 2.0 / 900e9 * y
    assert float(sc["output"]["seconds"]) == pytest.approx(k * (memory + all_reduce), rel=1e-12)


def test_dollars_and_totals():
    z = _z()
    sc = _stages(z)
    for stage in ("pretrain", "context", "output"):
        assert float(sc[stage]["dollars"]) == pytest.approx(
            float(sc[stage]["seconds"]) * 4.40 / 3600, rel=1e-14)
    Q = 1e9
    F, v = costs.fixed_cost(sc), costs.variable_cost(sc)
    assert float(_total(z, Q)) == pytest.approx(float(F + Q * v), rel=1e-14)
    per_solved = costs.cost_per_solved(z, THETA, Q, 0.5)
    assert float(per_solved) == pytest.approx(float((F / Q + v) / 0.5), rel=1e-14)


LEVERS = ["N", "D", "U", "D_F", "c", "cached_fraction", "x", "k", "r", "y"]


@pytest.mark.parametrize("lever", LEVERS)
def test_grad_matches_finite_differences(lever):
    z = _z()
    Q = jnp.float64(3e8)
    grad = jax.grad(_total)(z, Q)[lever]
    h = 1e-6 * float(z[lever])
    up = dict(z, **{lever: z[lever] + h})
    down = dict(z, **{lever: z[lever] - h})
    fd = (float(_total(up, Q)) - float(_total(down, Q))) / (2 * h)
    assert float(grad) == pytest.approx(fd, rel=1e-6, abs=1e-9 * abs(float(_total(z, Q))) / float(
        z[lever]))


def test_grad_with_respect_to_prices_and_Q():
    z = _z()
    Q = jnp.float64(1e9)
    g = jax.grad(lambda th, q: costs.total_cost(z, th, q), argnums=(0, 1))(THETA, Q)
    total = float(_total(z, Q))
    # dollars are proportional to the price per chip-hour (data is free here)
    # (one price per chip-hour for training, one for serving: together they scale every dollar)
    assert float(g[0]["price_per_hour"] + g[0]["price_per_hour_train"]) == pytest.approx(
        total / 4.40, rel=1e-12)
    assert float(g[1]) == pytest.approx(float(costs.variable_cost(_stages(z))), rel=1e-12)


def test_vmap_over_scenarios():
    zs = {k: jnp.full((5,), v) for k, v in _z().items()}
    zs["c"] = jnp.array([0.0, 1e3, 1e4, 1e5, 1e6])
    out = jax.vmap(lambda z: costs.total_cost(z, THETA, 1e9))(zs)
    assert out.shape == (5,)
    assert np.all(np.diff(np.array(out)) > 0)


pos = st.floats(min_value=1.0, max_value=1e6)


@settings(max_examples=40, deadline=None)
@given(lever=st.sampled_from(["N", "D", "c", "k", "r", "y"]), base=pos, factor=st.floats(1.01, 10))
def test_costs_rise_in_every_lever(lever, base, factor):
    scale = {"N": 1e5, "D": 1e6, "c": 1.0, "k": 1e-5, "r": 1.0, "y": 1.0}[lever]
    lo_val = 1.0 + base * scale if lever == "k" else base * scale
    lo = _z(**{lever: lo_val})
    hi = _z(**{lever: lo_val * factor})
    assert float(_total(hi, 1e9)) > float(_total(lo, 1e9))


@settings(max_examples=30, deadline=None)
@given(t=st.floats(min_value=1.0, max_value=1e13), m=st.floats(min_value=1.01, max_value=100))
def test_training_flops_linear_in_tokens(t, m):
    a = flops.training_flops(7e9, t, 32, 4096, 4096)
    b = flops.training_flops(7e9, m * t, 32, 4096, 4096)
    assert float(b) == pytest.approx(m * float(a), rel=1e-12)
    assert float(flops.finetune_flops(7e9, m * t, 1e6)) == pytest.approx(
        m * float(flops.finetune_flops(7e9, t, 1e6)), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(u=st.floats(min_value=0.01, max_value=1.0), m=st.floats(min_value=1.01, max_value=50))
def test_dollars_scale_inversely_with_utilisation(u, m):
    z = _z()
    low = u / m   # utilisation m times lower: dollars m times higher
    # the all-reduces of tensor parallelism take the same time whatever the utilisation: a free
    # interconnect leaves the roofline alone
    free = dict(THETA, interconnect_bandwidth=jnp.inf)
    th1 = dict(free, u_train=low, u_finetune=low, u_prefill=low)
    th2 = dict(free, u_train=u, u_finetune=u, u_prefill=u)
    s1, s2 = costs.stage_costs(z, th1), costs.stage_costs(z, th2)
    for stage in ("pretrain", "finetune", "context", "input"):
        assert float(s1[stage]["dollars"]) == pytest.approx(m * float(s2[stage]["dollars"]),
                                                            rel=1e-12)


def test_example_pipelines_agree_with_the_functional_core():
    p = Pipeline.from_toml(EXAMPLES / "reasoning.toml")
    table = p.cost_table(1e9)
    rows = table.set_index("stage")
    assert rows.loc["reasoning", "total_dollars"] == pytest.approx(
        1e9 * rows.loc["reasoning", "dollars"], rel=1e-12)
    assert rows.loc["total for Q=1e+09", "total_dollars"] == pytest.approx(p.total_cost(1e9),
                                                                          rel=1e-12)
    shares = table[table.stage.isin(costs.STAGES)]["share"].sum()
    assert shares == pytest.approx(1.0, rel=1e-12)
