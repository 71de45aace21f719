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

Seconds: training stages take FLOPs / (peak × utilisation). Prefill and decode are rooflines
(:mod:`structural.inference`): max(FLOPs / (peak × u), (weight bytes / batch + KV bytes read or
written) / bandwidth). Dollars = seconds × $/chip-hour / 3600, with one price per chip-hour for the
training stages (``price_per_hour_train``) and one for serving (``price_per_hour``).

Serving batch (:func:`serving`): a replica holds the weights and, per sequence, the KV cache of
the full context, split over its chips (tensor parallelism), so
``weights + batch × KV bytes/token × context ≤ chips × HBM`` caps the batch ("memory"). Below that
cap, cost per token falls with the batch until decode turns compute-bound, so the batch that
minimises cost is where the two sides of the roofline meet ("cost"); ``batch`` is an optional cap
(a lever, "lever"; inf = none). The batch is continuous (a time-averaged occupancy). Chips per
replica change chip-seconds per token only through the batch (n chips read n× the bandwidth for n×
the price), so the replica has the chips that let the batch reach its cost-minimising size, at
least enough to hold the weights and one sequence and at most one node (:func:`replica_chips`;
``chips`` fixes them, a lever).

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
from structural.errors import PipelineError

__all__ = ["cost_parameters", "cost_per_solved", "fixed_cost", "serving", "stage_costs",
           "total_cost", "variable_cost"]

Array = Any

Z_KEYS = ("N", "D", "U", "D_F", "trainable_fraction", "c", "cached_fraction", "x", "k", "r", "y")

THETA_KEYS = (
    "peak_train", "peak_infer",          # FLOP/s per chip at the stage's precision
    "bandwidth", "price_per_hour",       # bytes/s, $/chip-hour
    "u_train", "u_finetune", "u_prefill", "u_decode",  # utilisations in (0, 1]
    "batch",                             # cap on the serving batch (inf: memory and cost decide)
    "chips", "max_chips",                # chips per replica (0: chosen for cost, ≤ max_chips)
    "memory_bytes",                      # accelerator memory (HBM) per chip, bytes
    "price_per_hour_train",              # $/chip-hour of the training stages
    "bytes_per_param", "bytes_kv", "kv_fraction",      # weight and KV-cache precision, GQA share
    "n_layer_d_attn", "N_ref", "n_ctx_train", "active_fraction",  # architecture (MoE: active)
    "kv_bytes_ref",                      # KV bytes/token at N_ref for latent attention (0: derive)
    "data_price", "finetune_data_price", "cache_cost_ratio",      # $/token, $/token, ratio
)

#: Decode utilisation (compute side) of the serving precision's peak: 0.25 reproduces TensorRT-LLM
#: v0.6.1's published throughput tables (NVIDIA/TensorRT-LLM, docs/source/performance.md, "Peak
#: Throughput"): on A100 (FP16) every LLaMA 7B/70B row, TP 1-4, within a factor 1.8 (Llama-2-70B
#: TP 4, batch 240, 128 → 2048 tokens: 525 out tok/s/GPU, predicted 1.03×); on H100 (FP8) the same
#: effective FLOP rate (0.125 of the FP8 peak) puts Llama-2-70B TP 4, batch 480, 128 → 2048 at
#: 1,486 tok/s/GPU within 20%. At 0.5 that TP-4 case was overstated 4.5× (tests).
DECODE_UTILISATION = 0.25

FIXED_STAGES = ("pretrain", "finetune", "data")
QUERY_STAGES = ("context", "input", "reasoning", "output")
STAGES = FIXED_STAGES + QUERY_STAGES


def attention_width(N: Array, theta: dict[str, Array]) -> Array:
    """n_layer d_attn at size N, scaled from the reference architecture at fixed aspect ratio."""
    return theta["n_layer_d_attn"] * (N / theta["N_ref"]) ** (2.0 / 3.0)


def kv_bytes_per_token(N: Array, theta: dict[str, Array]) -> Array:
    """KV-cache bytes per token of context: 2 (K and V) n_layer d_attn × kv_fraction × bytes_kv
    (multi-head or grouped-query attention), or, when ``kv_bytes_ref`` > 0, that many bytes at
    the reference size (latent attention, e.g. DeepSeek-V3's MLA caches a compressed latent),
    scaled with the architecture like n_layer d_attn."""
    derived = inference.kv_bytes_per_token(attention_width(N, theta), theta["kv_fraction"],
                                           theta["bytes_kv"])
    given = theta["kv_bytes_ref"] * (N / theta["N_ref"]) ** (2.0 / 3.0)
    return jnp.where(theta["kv_bytes_ref"] > 0, given, derived)


def _dollars(seconds: Array, theta: dict[str, Array], train: bool = False) -> Array:
    price = theta["price_per_hour_train"] if train else theta["price_per_hour"]
    return seconds * price / 3600.0


#: Why the serving batch is what it is (index of :func:`serving`'s ``limit``).
BATCH_LIMITS = ("memory", "cost", "lever")


def replica_chips(weights: Array, seq: Array, wanted: Array,
                  theta: dict[str, Array]) -> Array:
    """Chips per serving replica (tensor parallelism: weights and KV cache split over them).

    At least ``n_min = ⌈(weights + one sequence's cache) / HBM⌉``. A replica of n chips holds a
    batch of (n HBM − weights) / seq sequences; per token it costs max(compute, (weights/batch +
    KV reads)/bandwidth) chip-seconds whatever n (n chips read n× the bandwidth at n× the price),
    so more chips lower the cost only by letting the batch grow, until the batch reaches the one
    that makes decode compute-bound (``wanted``, or the batch cap). The cost-minimising replica is
    therefore ``⌈(weights + wanted × seq) / HBM⌉`` chips, no more than ``max_chips`` (one
    NVLink node; tensor parallelism's all-reduce traffic is left out of the cost, so chips beyond
    a node are not chosen) unless the weights alone need more. ``chips`` > 0 in ``theta`` fixes
    the replica (a lever; at least n_min)."""
    H = theta["memory_bytes"]
    n_min = jnp.maximum(1.0, jnp.ceil((weights + seq) / H))
    finite = jnp.isfinite(wanted)
    n_cost = jnp.where(finite, jnp.ceil((weights + jnp.where(finite, wanted, 0.0) * seq) / H),
                       theta["max_chips"])
    chosen = jnp.clip(n_cost, n_min, jnp.maximum(n_min, theta["max_chips"]))
    return jnp.where(theta["chips"] > 0, jnp.maximum(n_min, jnp.ceil(theta["chips"])), chosen)


def serving(z: dict[str, Array], theta: dict[str, Array]) -> dict[str, Array]:
    """The serving replica: chips, batch and what limits the batch (module docstring).

    Returns ``chips``, ``batch``, ``batch_memory`` (the memory cap), ``batch_cost`` (the batch at
    which decode turns compute-bound; inf when KV reads alone keep it memory-bound) and ``limit``
    (index into :data:`BATCH_LIMITS`).

    Examples
    --------
    >>> from structural.costs import cost_parameters, serving
    >>> from structural.firm import default_levers
    >>> plan = serving(default_levers(), cost_parameters("H100"))
    >>> sorted(plan)
    ['batch', 'batch_cost', 'batch_memory', 'chips', 'limit']
    """
    N = jnp.asarray(z["N"], jnp.float64)
    weights = N * theta["bytes_per_param"]
    kv = kv_bytes_per_token(N, theta)
    start = z["c"] + z["x"]
    T = z["r"] + z["y"]
    seq = jnp.maximum(kv * (start + T), 1.0)             # one sequence's cache at full context
    T1 = jnp.maximum(T, 1.0)
    F = flops.decode_flops(N * theta["active_fraction"], start, T1, attention_width(N, theta))
    compute = F / (theta["peak_infer"] * theta["u_decode"])
    kv_read = kv * (start * T1 + 0.5 * T1**2)
    # Time left for weight reads once the KV reads are paid; divided form so that a huge
    # bandwidth (a compute-only accounting) does not overflow.
    room = compute - kv_read / theta["bandwidth"]
    b_cost = jnp.where(room > 0, weights * T1 / theta["bandwidth"] / jnp.where(room > 0, room, 1.0),
                       jnp.inf)
    chips = replica_chips(weights, seq, jnp.minimum(b_cost, theta["batch"]), theta)
    b_mem = (chips * theta["memory_bytes"] - weights) / seq
    batch = jnp.minimum(jnp.minimum(b_mem, b_cost), theta["batch"])
    limit = jnp.where(batch == b_mem, 0, jnp.where(batch == b_cost, 1, 2))
    # Compute-bound even at one sequence: any batch ≥ 1 costs the same; serve one at least.
    batch = jnp.maximum(batch, 1.0)
    return {"chips": chips, "batch": batch, "batch_memory": b_mem, "batch_cost": b_cost,
            "limit": limit}


def _decode(N: Array, start: Array, T: Array, batch: Array,
            theta: dict[str, Array]) -> tuple[Array, Array]:
    """FLOPs and roofline chip-seconds to decode T tokens after ``start`` tokens of context."""
    return inference.decode(
        N, N * theta["active_fraction"], start, T, attention_width(N, theta),
        peak=theta["peak_infer"], utilisation=theta["u_decode"], bandwidth=theta["bandwidth"],
        batch=batch, bytes_per_param=theta["bytes_per_param"],
        kv_bytes=kv_bytes_per_token(N, theta))


def _prefill_seconds(N: Array, F: Array, P: Array, batch: Array,
                     theta: dict[str, Array]) -> Array:
    """Prefill roofline: max(FLOPs/(peak u), (weights/batch + KV written)/bandwidth)."""
    compute = inference.prefill_seconds(F, theta["peak_infer"], theta["u_prefill"])
    memory = (N * theta["bytes_per_param"] / batch * (P > 0)
              + kv_bytes_per_token(N, theta) * P) / theta["bandwidth"]
    return jnp.maximum(compute, memory)


def stage_costs(z: dict[str, Array], theta: dict[str, Array]) -> dict[str, dict[str, Array]]:
    """FLOPs, seconds and dollars of every stage (see the module docstring). Pure and vmappable.

    Examples
    --------
    Dollars of each stage of the default pipeline (70B on 1.4T tokens, on H100s):

    >>> from structural.costs import cost_parameters, stage_costs
    >>> from structural.firm import default_levers
    >>> costs = stage_costs(default_levers(), cost_parameters("H100"))
    >>> {stage: f"{float(c['dollars']):.3g}" for stage, c in costs.items()}
    {'pretrain': '1.89e+06', 'finetune': '0', 'data': '0', 'context': '0.000348', 'input':
    '0.000175', 'reasoning': '0', 'output': '0.000352'}
    """
    N = jnp.asarray(z["N"], jnp.float64)
    N_a = N * theta["active_fraction"]
    nd = attention_width(N, theta)
    out: dict[str, dict[str, Array]] = {}

    F = flops.training_flops(N_a, z["D"], nd, theta["n_ctx_train"], 1.0)
    s = inference.prefill_seconds(F, theta["peak_train"], theta["u_train"])
    out["pretrain"] = {"flops": F, "seconds": s, "dollars": _dollars(s, theta, train=True)}

    N_t = z["trainable_fraction"] * N_a
    F = flops.finetune_flops(N_a, z["D_F"], N_t) + 6.0 * nd * theta["n_ctx_train"] * z["D_F"]
    s = inference.prefill_seconds(F, theta["peak_train"], theta["u_finetune"])
    out["finetune"] = {"flops": F, "seconds": s, "dollars": _dollars(s, theta, train=True)}

    zero = jnp.zeros_like(F)
    out["data"] = {"flops": zero, "seconds": zero,
                   "dollars": theta["data_price"] * unique_tokens_bought(z)
                   + theta["finetune_data_price"] * z["D_F"]}

    c, x = z["c"], z["x"]
    batch = serving(z, theta)["batch"]
    F = inference.cached_prefill_flops(N_a, c, z["cached_fraction"], nd, theta["cache_cost_ratio"])
    s = _prefill_seconds(N, F, c, batch, theta)
    out["context"] = {"flops": F, "seconds": s, "dollars": _dollars(s, theta)}

    F = flops.prefill_flops(N_a, c + x, nd) - flops.prefill_flops(N_a, c, nd)
    s = _prefill_seconds(N, F, x, batch, theta)
    out["input"] = {"flops": F, "seconds": s, "dollars": _dollars(s, theta)}

    k = z["k"]
    F, s = _decode(N, c + x, z["r"], batch, theta)
    out["reasoning"] = {"flops": k * F, "seconds": k * s, "dollars": _dollars(k * s, theta)}
    F, s = _decode(N, c + x + z["r"], z["y"], batch, theta)
    out["output"] = {"flops": k * F, "seconds": k * s, "dollars": _dollars(k * s, theta)}
    return out


def unique_tokens_bought(z: dict[str, Array]) -> Array:
    """min(D, U): the unique pretraining tokens paid for. U is the stock of unique data the firm
    buys (a lever, priced per unique token); tokens beyond it are repeats (Muennighoff et al.
    2023), free but worth less (:mod:`structural.repeated_data`)."""
    return jnp.minimum(jnp.asarray(z["D"], jnp.float64), z["U"])


def fixed_cost(costs: dict[str, dict[str, Array]], field: str = "dollars") -> Array:
    """F: the sum over the fixed stages (pretraining, fine-tuning, data).

    Examples
    --------
    >>> from structural.costs import cost_parameters, fixed_cost, stage_costs
    >>> from structural.firm import default_levers
    >>> f"{float(fixed_cost(stage_costs(default_levers(), cost_parameters('H100')))):.3g}"
    '1.89e+06'
    """
    return sum(costs[s][field] for s in FIXED_STAGES)


def variable_cost(costs: dict[str, dict[str, Array]], field: str = "dollars") -> Array:
    """v: the sum over the per-query stages (context, input, reasoning, output), k attempts in.

    Examples
    --------
    >>> from structural.costs import cost_parameters, stage_costs, variable_cost
    >>> from structural.firm import default_levers
    >>> f"{float(variable_cost(stage_costs(default_levers(), cost_parameters('H100')))):.3g}"
    '0.000874'
    """
    return sum(costs[s][field] for s in QUERY_STAGES)


def total_cost(z: dict[str, Array], theta: dict[str, Array], Q: Array) -> Array:
    """F + Q v in dollars for Q queries over the model's life.

    Examples
    --------
    Lifetime cost of the default pipeline over a billion queries:

    >>> from structural.costs import cost_parameters, total_cost
    >>> from structural.firm import default_levers
    >>> f"{float(total_cost(default_levers(), cost_parameters('H100'), 1e9)):.4g}"
    '2.76e+06'
    """
    costs = stage_costs(z, theta)
    return fixed_cost(costs) + Q * variable_cost(costs)


def cost_per_solved(z: dict[str, Array], theta: dict[str, Array], Q: Array,
                    p_solved: Array) -> Array:
    """(F/Q + v) / P(solved): dollars per solved problem, v including all k attempts.

    Examples
    --------
    >>> from structural.costs import cost_parameters, cost_per_solved
    >>> from structural.firm import default_levers
    >>> f"{float(cost_per_solved(default_levers(), cost_parameters('H100'), 1e9, 0.5)):.3g}"
    '0.00552'
    """
    costs = stage_costs(z, theta)
    return (fixed_cost(costs) / Q + variable_cost(costs)) / p_solved


def cost_parameters(hardware: Any = "H100", precision_train: str = "bf16",
                    precision_infer: str = "bf16", **overrides: float) -> dict[str, float]:
    """A complete ``theta`` for :func:`stage_costs` from a hardware preset (or a
    :class:`~structural.hardware.Hardware`) plus stated defaults; any key can be overridden.

    Defaults (assumptions, to be varied): utilisation 0.40 training, 0.30 fine-tuning, 0.50 prefill,
    :data:`DECODE_UTILISATION` decode (compute side, calibrated on published serving throughput);
    no cap on the serving batch (memory and cost choose it, :func:`serving`) and the chips per
    replica chosen for cost, at most 8 (:func:`replica_chips`); one $/chip-hour for training and
    serving (the hardware preset's); bf16 weights and
    KV cache; the reference architecture of Llama 2 70B (80 layers × d_attn 8192 at N = 70e9,
    grouped-query attention with 8 of 64 KV heads, training context 4096: Touvron et al. 2023,
    arXiv:2307.09288, Table 1); data free (price 0) unless stated; cached context billed at 10 % of
    its prefill (the common API cache-read discount).

    Examples
    --------
    >>> from structural.costs import cost_parameters
    >>> theta = cost_parameters("A100", precision_infer="bf16")
    >>> f"{theta['peak_train']:.3g} FLOP/s, ${theta['price_per_hour']}/hour"
    '3.12e+14 FLOP/s, $2.93/hour'
    """
    from structural.hardware import Hardware, get_hardware

    hw = hardware if isinstance(hardware, Hardware) else get_hardware(str(hardware))
    theta = {
        "peak_train": hw.flops(precision_train), "peak_infer": hw.flops(precision_infer),
        "bandwidth": hw.memory_bandwidth, "price_per_hour": hw.price_per_hour,
        "u_train": 0.40, "u_finetune": 0.30, "u_prefill": 0.50, "u_decode": DECODE_UTILISATION,
        "batch": float("inf"), "chips": 0.0, "max_chips": 8.0, "memory_bytes": hw.memory_bytes,
        "price_per_hour_train": hw.price_per_hour, "bytes_per_param": 2.0, "bytes_kv": 2.0,
        "kv_fraction": 0.125,
        "n_layer_d_attn": 80.0 * 8192.0, "N_ref": 70e9, "n_ctx_train": 4096.0,
        "active_fraction": 1.0, "kv_bytes_ref": 0.0, "data_price": 0.0,
        "finetune_data_price": 0.0,
        "cache_cost_ratio": 0.1,
    }
    unknown = set(overrides) - set(theta)
    if unknown:
        raise PipelineError(", ".join(sorted(unknown)),
                            f"unknown cost parameter; known: {', '.join(sorted(theta))}")
    theta.update({k: float(v) for k, v in overrides.items()})
    return theta
