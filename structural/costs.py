"""The pipeline's cost accounting as one pure JAX function of named quantities and prices.

``stage_costs(z, theta)`` returns, for each stage, FLOPs, chip-seconds and dollars:

fixed (paid once)
    ``pretrain``  3 (2 N_a + 2 n_layer n_ctx d_attn) D FLOPs (Kaplan et al. 2020, Table 1)
    ``finetune``  (4 N_a + 2 N_trainable + 6 n_layer n_ctx d_attn) D_F FLOPs
    ``data``      price per unique token × U + price per fine-tuning token × D_F (no FLOPs)
per query
    ``context``   prefill of c context tokens, a cached fraction f billed at ``cache_cost_ratio``
    ``input``     prefill of x input tokens after the context
    ``reasoning`` k attempts × decode of r reasoning tokens
    ``output``    k attempts × decode of y output tokens

Seconds: compute-bound stages take FLOPs / (peak × utilisation). Decode is a roofline
(:mod:`structural.inference`): per token, max(FLOPs / (peak × u_decode), (weight bytes / batch +
KV bytes read) / bandwidth). Dollars = seconds × price / 3600.

The k attempts share one prefill (their prompt's KV cache), so the per-query cost v already
includes k: cost per solved problem = (F/Q + v) / P(solved).

Architecture: n_layer d_attn is given for a reference size ``N_ref``; when the firm changes N the
model keeps its aspect ratio, so n_layer d_attn ∝ N^{2/3}
(N = 12 n_layer d_model², d_model ∝ n_layer).

``z`` (quantities, per pipeline): N, D, U, D_F, trainable_fraction, c, cached_fraction, x, k, r, y.
``theta`` (technology and prices): see :data:`THETA_KEYS`.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from structural import flops, inference

Array = Any

Z_KEYS = ("N", "D", "U", "D_F", "trainable_fraction", "c", "cached_fraction", "x", "k", "r", "y")

THETA_KEYS = (
    "peak_train", "peak_infer",          # FLOP/s per chip at the stage's precision
    "bandwidth", "price_per_hour",       # bytes/s, $/chip-hour
    "u_train", "u_finetune", "u_prefill", "u_decode",  # utilisations in (0, 1]
    "batch",                             # concurrent sequences sharing one weight read in decode
    "bytes_per_param", "bytes_kv", "kv_fraction",      # weight and KV-cache precision, GQA share
    "n_layer_d_attn", "N_ref", "n_ctx_train", "active_fraction",  # architecture
    "data_price", "finetune_data_price", "cache_cost_ratio",      # $/token, $/token, ratio
)

FIXED_STAGES = ("pretrain", "finetune", "data")
QUERY_STAGES = ("context", "input", "reasoning", "output")
STAGES = FIXED_STAGES + QUERY_STAGES


def attention_width(N: Array, theta: dict[str, Array]) -> Array:
    """n_layer d_attn at size N, scaled from the reference architecture at fixed aspect ratio."""
    return theta["n_layer_d_attn"] * (N / theta["N_ref"]) ** (2.0 / 3.0)


def kv_bytes_per_token(N: Array, theta: dict[str, Array]) -> Array:
    """KV-cache bytes per token of context: 2 (K and V) n_layer d_attn × kv_fraction × bytes_kv."""
    return inference.kv_bytes_per_token(attention_width(N, theta), theta["kv_fraction"],
                                        theta["bytes_kv"])


def _dollars(seconds: Array, theta: dict[str, Array]) -> Array:
    return seconds * theta["price_per_hour"] / 3600.0


def _decode(N: Array, start: Array, T: Array, theta: dict[str, Array]) -> tuple[Array, Array]:
    """FLOPs and roofline chip-seconds to decode T tokens after ``start`` tokens of context."""
    return inference.decode(
        N, N * theta["active_fraction"], start, T, attention_width(N, theta),
        peak=theta["peak_infer"], utilisation=theta["u_decode"], bandwidth=theta["bandwidth"],
        batch=theta["batch"], bytes_per_param=theta["bytes_per_param"],
        kv_bytes=kv_bytes_per_token(N, theta))


def stage_costs(z: dict[str, Array], theta: dict[str, Array]) -> dict[str, dict[str, Array]]:
    """FLOPs, seconds and dollars of every stage (see the module docstring). Pure and vmappable."""
    N = jnp.asarray(z["N"], jnp.float64)
    N_a = N * theta["active_fraction"]
    nd = attention_width(N, theta)
    out: dict[str, dict[str, Array]] = {}

    F = flops.training_flops(N_a, z["D"], nd, theta["n_ctx_train"], 1.0)
    s = inference.prefill_seconds(F, theta["peak_train"], theta["u_train"])
    out["pretrain"] = {"flops": F, "seconds": s, "dollars": _dollars(s, theta)}

    N_t = z["trainable_fraction"] * N_a
    F = flops.finetune_flops(N_a, z["D_F"], N_t) + 6.0 * nd * theta["n_ctx_train"] * z["D_F"]
    s = inference.prefill_seconds(F, theta["peak_train"], theta["u_finetune"])
    out["finetune"] = {"flops": F, "seconds": s, "dollars": _dollars(s, theta)}

    zero = jnp.zeros_like(F)
    out["data"] = {"flops": zero, "seconds": zero,
                   "dollars": theta["data_price"] * z["U"]
                   + theta["finetune_data_price"] * z["D_F"]}

    c, x = z["c"], z["x"]
    F = inference.cached_prefill_flops(N_a, c, z["cached_fraction"], nd, theta["cache_cost_ratio"])
    s = inference.prefill_seconds(F, theta["peak_infer"], theta["u_prefill"])
    out["context"] = {"flops": F, "seconds": s, "dollars": _dollars(s, theta)}

    F = flops.prefill_flops(N_a, c + x, nd) - flops.prefill_flops(N_a, c, nd)
    s = inference.prefill_seconds(F, theta["peak_infer"], theta["u_prefill"])
    out["input"] = {"flops": F, "seconds": s, "dollars": _dollars(s, theta)}

    k = z["k"]
    F, s = _decode(N, c + x, z["r"], theta)
    out["reasoning"] = {"flops": k * F, "seconds": k * s, "dollars": _dollars(k * s, theta)}
    F, s = _decode(N, c + x + z["r"], z["y"], theta)
    out["output"] = {"flops": k * F, "seconds": k * s, "dollars": _dollars(k * s, theta)}
    return out


def fixed_cost(costs: dict[str, dict[str, Array]], field: str = "dollars") -> Array:
    """F: the sum over the fixed stages (pretraining, fine-tuning, data)."""
    return sum(costs[s][field] for s in FIXED_STAGES)


def variable_cost(costs: dict[str, dict[str, Array]], field: str = "dollars") -> Array:
    """v: the sum over the per-query stages (context, input, reasoning, output), k attempts in."""
    return sum(costs[s][field] for s in QUERY_STAGES)


def total_cost(z: dict[str, Array], theta: dict[str, Array], Q: Array) -> Array:
    """F + Q v in dollars for Q queries over the model's life."""
    costs = stage_costs(z, theta)
    return fixed_cost(costs) + Q * variable_cost(costs)


def cost_per_solved(z: dict[str, Array], theta: dict[str, Array], Q: Array,
                    p_solved: Array) -> Array:
    """(F/Q + v) / P(solved): dollars per solved problem, v including all k attempts."""
    costs = stage_costs(z, theta)
    return (fixed_cost(costs) / Q + variable_cost(costs)) / p_solved


def cost_parameters(hardware: Any = "H100", precision_train: str = "bf16",
                    precision_infer: str = "bf16", **overrides: float) -> dict[str, float]:
    """A complete ``theta`` for :func:`stage_costs` from a hardware preset (or a
    :class:`~structural.hardware.Hardware`) plus stated defaults; any key can be overridden.

    Defaults (assumptions, to be varied): utilisation 0.40 training, 0.30 fine-tuning, 0.50 prefill,
    0.50 decode (compute side; the roofline usually binds first); decode batch 32; bf16 weights and
    KV cache; the reference architecture of Llama 2 70B (80 layers × d_attn 8192 at N = 70e9,
    grouped-query attention with 8 of 64 KV heads, training context 4096: Touvron et al. 2023,
    arXiv:2307.09288, Table 1); data free (price 0) unless stated; cached context billed at 10 % of
    its prefill (the common API cache-read discount).
    """
    from structural.hardware import Hardware, get_hardware

    hw = hardware if isinstance(hardware, Hardware) else get_hardware(str(hardware))
    theta = {
        "peak_train": hw.flops(precision_train), "peak_infer": hw.flops(precision_infer),
        "bandwidth": hw.memory_bandwidth, "price_per_hour": hw.price_per_hour,
        "u_train": 0.40, "u_finetune": 0.30, "u_prefill": 0.50, "u_decode": 0.50,
        "batch": 32.0, "bytes_per_param": 2.0, "bytes_kv": 2.0, "kv_fraction": 0.125,
        "n_layer_d_attn": 80.0 * 8192.0, "N_ref": 70e9, "n_ctx_train": 4096.0,
        "active_fraction": 1.0, "data_price": 0.0, "finetune_data_price": 0.0,
        "cache_cost_ratio": 0.1,
    }
    unknown = set(overrides) - set(theta)
    if unknown:
        raise KeyError(f"unknown cost parameter(s): {', '.join(sorted(unknown))}")
    theta.update({k: float(v) for k, v in overrides.items()})
    return theta
