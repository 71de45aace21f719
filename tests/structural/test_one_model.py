"""One pipeline model: each law written once, and the three entry points (``llmecon cost``,
``structural.firm.solve``, ``llmecon counterfactual``) pricing the same pipeline identically."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import structural
from llmecon.cli import main
from structural import costs, firm, hardware
from structural.counterfactual import run
from structural.counterfactual.scenario import scenario_from_dict

ROOT = Path(structural.__file__).parent.parent
SOURCES = [p for d in ("structural", "papers", "estimation", "llmecon", "benchmarks", "data")
           for p in (ROOT / d).rglob("*.py")]

#: Each law's formula, as code (docstrings and comments are not searched), and its one home.
LAWS = {
    "Chinchilla L(N, D)": (r"[A-Za-z_\]\"]+\s*\*\s*N\w*\s*\*\*\s*\(\s*-|/\s*N\w*\s*\*\*\s*\w",
                           {"structural/pretraining.py"}),
    "allocation factor G": (r"alpha\"?\]?\s*\*\s*\w*\[?\"?A\"?\]?\s*/\s*\(\s*\w*\[?\"?beta",
                            {"structural/pretraining.py"}),
    "Chinchilla constants (Hoffmann 406.4 / 410.7, Besiroglu 482.01 / 2085.43)": (
        r"406\.4|410\.7|482\.01|2085\.43", {"structural/published.py"}),
    "pass@k coverage of a Beta": (r"betaln\(|log_beta\(a, b \+ k\)", {"structural/reasoning.py"}),
    "Stirling series for log Γ": (r"1(\.0)?\s*/\s*1260", {"structural/reasoning.py"}),
    "decode roofline": (r"weight_bytes\s*=|bytes_per_param\s*/\s*batch",
                        {"structural/inference.py"}),
}


def _code_lines(path: Path):
    """(number, line) of code outside docstrings and comments; a line marked ``independent
    check`` (a paper's or benchmark's deliberate re-derivation) is skipped."""
    in_doc = False
    for i, line in enumerate(path.read_text().splitlines(), 1):
        quotes = line.count('"""')
        if in_doc or (quotes == 1 and line.strip().startswith(('"""', 'r"""'))):
            if quotes == 1:
                in_doc = not in_doc
            continue
        code = line.split("#", 1)[0]
        if quotes >= 2 or not code.strip() or "independent check" in line:
            continue
        yield i, code


@pytest.mark.parametrize("law", sorted(LAWS))
def test_each_law_is_written_once(law):
    pattern, homes = LAWS[law]
    found = [f"{p.relative_to(ROOT)}:{i}" for p in SOURCES for i, line in _code_lines(p)
             if re.search(pattern, line) and str(p.relative_to(ROOT)) not in homes]
    assert not found, f"{law} written outside {sorted(homes)}: {found}"


def test_the_dedup_search_finds_a_planted_copy(tmp_path):
    """The search above can fail: a copy of the law is found."""
    f = tmp_path / "copy.py"
    f.write_text("def loss(N, D):\n    return E + A / N**alpha + B / D**beta\n")
    assert any(re.search(LAWS["Chinchilla L(N, D)"][0], line) for _, line in _code_lines(f))


PIPELINE = """
name = "same"
[hardware]
name = "H100"
[pretrain]
N = 7e9
D = 2e12
[context]
c = 20000
[input]
x = 500
[output]
y = 300
"""

SCENARIO = {
    "title": "same pipeline",
    "target": {"kind": "loss", "value": 2.3},
    "workload": {"queries": [1e9, 1e10], "reference_queries": 1e9, "tokens_in": 500,
                 "tokens_out": 300},
    "prices": {"hardware": "H100"},
    "parameters": {"preset": "hoffmann2022", "values": {"ctx_alpha": 5.0, "ctx_beta": 0.5}},
    "base": {"N": 7e9, "D": 2e12, "c": 20000},
    "hypotheses": {"data": {"kind": "custom", "free": ["D"]}},
}


def test_three_entry_points_give_one_per_query_cost(tmp_path, capsys):
    path = tmp_path / "same.toml"
    path.write_text(PIPELINE)
    assert main(["cost", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    v_cost = next(r["dollars"] for r in out["stages"] if r["stage"] == "variable cost v")

    theta = firm.default_parameters("H100")
    z = firm.default_levers(N=7e9, D=2e12, c=20000.0, x=500.0, y=300.0, k=1.0, r=0.0)
    L = float(firm.quality_value({k: jnp.float64(v) for k, v in z.items()}, theta, "task_loss"))
    sol = firm.solve(("D",), z, theta, 1e9, L, quality="task_loss")
    v_firm = float(costs.variable_cost(costs.stage_costs(sol.levers, theta)))

    res = run(scenario_from_dict(SCENARIO))
    row = res.tables["costs"].query("Q == 1e9").iloc[0]
    v_cf = float(row["variable_per_query"])

    assert v_firm == pytest.approx(v_cost, rel=1e-9)
    assert v_cf == pytest.approx(v_cost, rel=1e-9)


def test_cost_reports_the_memory_limited_batch_at_long_context(capsys):
    assert main(["cost", "small_long_context", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    s = out["serving"]
    assert s["batch_limit"] == "memory"
    # 8B model (bf16, 16 GB) on 80 GB A100s; KV cache 2·32·4096·(8/32)·2 bytes per token over
    # the full context. KV reads alone keep decode memory-bound, so every sequence more lowers the
    # cost per token: the replica takes a whole node (8 chips) and the rest of its memory holds
    # (8 × 80e9 − 16e9)/(KV × context) sequences.
    kv = 2 * 32 * 4096 * 0.25 * 2
    context = 131072 + 200 + 300         # c + x + y of the example
    hbm = 80e9
    expected = (8 * hbm - 8e9 * 2) / (kv * context)
    assert s["chips"] == 8
    assert s["batch"] == pytest.approx(expected, rel=0.02)


def test_batch_is_cost_chosen_at_short_context_and_capped_by_a_lever():
    th = costs.cost_parameters("H100")
    z = {"N": 7e9, "D": 2e12, "U": 1e14, "D_F": 0.0, "trainable_fraction": 1.0, "c": 0.0,
         "cached_fraction": 0.0, "x": 100.0, "k": 1.0, "r": 0.0, "y": 100.0}
    zj = {k: jnp.float64(v) for k, v in z.items()}
    s = costs.serving(zj, th)
    assert costs.BATCH_LIMITS[int(s["limit"])] == "cost"
    # at the cost-chosen batch decode sits on the roofline's ridge: compute time = memory time
    capped = costs.serving(zj, {**th, "batch": 4.0})
    assert costs.BATCH_LIMITS[int(capped["limit"])] == "lever" and float(capped["batch"]) == 4.0
    dollars = {b: float(costs.variable_cost(costs.stage_costs(zj, {**th, "batch": b})))
               for b in (4.0, float(s["batch"]), 10 * float(s["batch"]))}
    assert dollars[4.0] > dollars[float(s["batch"])]
    assert dollars[10 * float(s["batch"])] == pytest.approx(dollars[float(s["batch"])], rel=1e-12)
    np.testing.assert_array_less(0, float(s["batch"]))


#: TensorRT-LLM 0.5.0, docs/source/performance.md, "High Throughput", H100 GPUs (FP8), TP 1:
#: LLaMA 7B (batch, input length, output length) → output tokens/s (static batching).
TRTLLM_H100_LLAMA7B = {(64, 128, 128): 9193.0, (64, 128, 2048): 5367.0, (32, 2048, 2048): 2230.0}


@pytest.mark.parametrize("case", sorted(TRTLLM_H100_LLAMA7B), ids=str)
def test_serving_model_against_published_h100_throughput(case):
    """Throughput per GPU predicted by the prefill and decode rooflines (FP8 weights, bf16 KV
    cache, multi-head attention, the published batch as the lever, the default utilisations)
    within a factor of 1.6 of TensorRT-LLM's published measurement."""
    batch, x, y = case
    th = costs.cost_parameters("H100", "bf16", "fp8", batch=float(batch), bytes_per_param=1.0,
                               bytes_kv=2.0, n_layer_d_attn=32 * 4096.0, N_ref=6.7e9,
                               kv_fraction=1.0)
    z = {k: jnp.float64(v) for k, v in dict(
        N=6.7e9, D=1e12, U=1e13, D_F=0.0, trainable_fraction=1.0, c=0.0, cached_fraction=0.0,
        x=x, k=1.0, r=0.0, y=y).items()}
    s = costs.stage_costs(z, th)
    predicted = y / float(s["input"]["seconds"] + s["output"]["seconds"])
    published = TRTLLM_H100_LLAMA7B[case]
    assert published / 1.6 < predicted < published * 1.6


#: TensorRT-LLM v0.6.1, NVIDIA/TensorRT-LLM docs/source/performance.md, "Peak Throughput":
#: (model, batch, tensor-parallel GPUs, input length, output length) → output tokens/s per GPU.
TRTLLM_061_A100_FP16 = {
    ("7B", 384, 1, 128, 128): 5586.0, ("7B", 60, 1, 128, 2048): 1928.0,
    ("7B", 52, 1, 2048, 128): 591.0, ("7B", 64, 2, 2048, 2048): 782.0,
    ("70B", 1280, 4, 128, 128): 670.0, ("70B", 240, 4, 128, 2048): 525.0,
    ("70B", 120, 4, 2048, 128): 79.0}
TRTLLM_061_H100_FP8 = {
    ("7B", 768, 1, 128, 128): 19694.0, ("7B", 112, 1, 128, 2048): 6818.0,
    ("7B", 80, 1, 2048, 128): 2244.0, ("7B", 48, 1, 2048, 2048): 2740.0,
    ("70B", 1024, 2, 128, 128): 2657.0, ("70B", 480, 4, 128, 2048): 1486.0,
    ("70B", 96, 2, 2048, 128): 306.0, ("70B", 64, 2, 2048, 2048): 547.0}
#: Llama 2 (Touvron et al. 2023, Table 1 and Appendix): N, n_layer × d_model, KV heads / heads.
LLAMA2 = {"7B": (6.7e9, 32 * 4096.0, 1.0), "70B": (69e9, 80 * 8192.0, 0.125)}


def _throughput_per_gpu(case, hardware, precision, bytes_, **over):
    """Output tokens/s per GPU of a TP replica serving a static batch (the published batch and TP
    degree as levers), from the prefill and decode rooflines: y / (chip-seconds per sequence)."""
    m, batch, tp, x, y = case
    N, nd, kvf = LLAMA2[m]
    th = costs.cost_parameters(hardware, "bf16", precision, batch=float(batch), chips=float(tp),
                               bytes_per_param=bytes_, bytes_kv=bytes_, n_layer_d_attn=nd,
                               N_ref=N, kv_fraction=kvf, **over)
    z = {k: jnp.float64(v) for k, v in dict(
        N=N, D=1e12, U=1e13, D_F=0.0, trainable_fraction=1.0, c=0.0, cached_fraction=0.0,
        x=x, k=1.0, r=0.0, y=y).items()}
    assert float(costs.serving(z, th)["chips"]) == tp
    s = costs.stage_costs(z, th)
    return y / float(s["input"]["seconds"] + s["output"]["seconds"])


@pytest.mark.parametrize("case", sorted(TRTLLM_061_A100_FP16), ids=str)
def test_serving_against_trtllm_a100_table(case):
    """Second published measurement: TensorRT-LLM v0.6.1's A100 FP16 table (Llama 2 7B and 70B,
    tensor parallel 1-4) at the default utilisations, each row within a factor 1.9; the TP-4 70B
    decode-heavy row within 10%."""
    ratio = _throughput_per_gpu(case, "A100", "bf16", 2.0) / TRTLLM_061_A100_FP16[case]
    assert 1 / 1.9 < ratio < 1.9
    if case == ("70B", 240, 4, 128, 2048):
        assert ratio == pytest.approx(1.0, abs=0.1)


def test_serving_against_trtllm_h100_fp8_table_and_the_tp4_fix():
    """TensorRT-LLM v0.6.1's H100 FP8 table (FP8 weights and KV cache) at the same effective decode
    FLOP rate as the default (u_decode × BF16 peak / FP8 peak): the TP-4 70B row (batch 480,
    128 → 2048: 1,486 tok/s/GPU) within 20%, every row within a factor 2.6 (the worst, 70B TP 2
    at 2048 → 2048, is memory-bound: the model leaves out tensor parallelism's all-reduces). At the
    old decode utilisation of 0.5 that TP-4 row was overstated more than 4×."""
    hw = hardware.get_hardware("H100")
    u = costs.DECODE_UTILISATION * hw.flops("bf16") / hw.flops("fp8")
    ratios = {c: _throughput_per_gpu(c, "H100", "fp8", 1.0, u_decode=u) / v
              for c, v in TRTLLM_061_H100_FP8.items()}
    tp4 = ("70B", 480, 4, 128, 2048)
    assert ratios[tp4] == pytest.approx(1.0, abs=0.2)
    assert all(1 / 2.6 < r < 2.6 for r in ratios.values()), ratios
    old = _throughput_per_gpu(tp4, "H100", "fp8", 1.0, u_decode=0.5) / TRTLLM_061_H100_FP8[tp4]
    assert old > 4.0


def test_replica_chips_are_chosen_for_cost():
    """Llama 2 70B in bf16 at a 32k context: the fewest chips that hold it (2 H100) leave room for
    a few sequences; the cost-chosen replica has more chips, a larger batch and a lower cost per
    query, and no more than one node (8)."""
    th = costs.cost_parameters("H100")
    z = {k: jnp.float64(v) for k, v in dict(
        N=70e9, D=2e12, U=1e14, D_F=0.0, trainable_fraction=1.0, c=32000.0, cached_fraction=0.0,
        x=500.0, k=1.0, r=0.0, y=300.0).items()}
    chosen = costs.serving(z, th)
    fewest = costs.serving(z, {**th, "chips": 1.0})      # a lever: raised to the minimum, 2
    assert float(fewest["chips"]) == 2.0 and float(chosen["chips"]) > 2.0
    assert float(chosen["chips"]) <= th["max_chips"]
    assert float(chosen["batch"]) > 3 * float(fewest["batch"])
    v = {n: float(costs.variable_cost(costs.stage_costs(z, {**th, "chips": n})))
         for n in (2.0, 4.0, 8.0)}
    auto = float(costs.variable_cost(costs.stage_costs(z, th)))
    assert auto <= min(v.values()) * (1 + 1e-12) and v[2.0] > v[4.0] >= v[8.0]


def test_moe_and_latent_attention_fields():
    """Mixture of experts: FLOPs follow the active parameters, weight reads the total; latent
    attention (a given KV size per token) shrinks the cache and so raises the memory-limited
    batch. DeepSeek-V3 shape: 671B total, 37B active, 61 layers × a 576-element latent in bf16."""
    base = costs.cost_parameters("H100", n_layer_d_attn=61 * 7168.0, N_ref=671e9,
                                 kv_fraction=1.0, bytes_per_param=1.0)
    z = {k: jnp.float64(v) for k, v in dict(
        N=671e9, D=1.5e13, U=1.5e13, D_F=0.0, trainable_fraction=1.0, c=4000.0,
        cached_fraction=0.0, x=500.0, k=1.0, r=0.0, y=500.0).items()}
    dense = costs.stage_costs(z, base)["output"]["flops"]
    moe_th = {**base, "active_fraction": 37 / 671}
    moe = costs.stage_costs(z, moe_th)["output"]["flops"]
    assert float(moe) < 0.1 * float(dense)
    mla_th = {**moe_th, "kv_bytes_ref": 61 * 576 * 2.0}
    assert float(costs.kv_bytes_per_token(jnp.float64(671e9), mla_th)) == 61 * 576 * 2.0
    b_mha = float(costs.serving(z, moe_th)["batch"])
    b_mla = float(costs.serving(z, mla_th)["batch"])
    assert b_mla > 10 * b_mha
