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
written) / bandwidth), plus, on a replica of t > 1 chips, tensor parallelism's all-reduces: two
per layer of (tokens × d_model × bytes per activation), ring volume 2(t − 1)/t, over the NVLink
bandwidth, 8 (t − 1) n_layer d_model bytes_act / B chip-seconds per token in prefill and decode
(Shoeybi et al. 2019, Megatron-LM §3; Pope et al. 2022 §3.1;
:func:`structural.inference.tensor_parallel_seconds`). Dollars = seconds × $/chip-hour / 3600,
with one price per chip-hour for the training stages (``price_per_hour_train``) and one for
serving (``price_per_hour``).

Serving batch (:func:`serving`): a replica holds the weights and, per sequence, the KV cache of
the full context, split over its chips (tensor parallelism), so
``weights + batch × KV bytes/token × context ≤ chips × HBM`` caps the batch ("memory"). Below that
cap, cost per token falls with the batch until decode turns compute-bound, so the batch that
minimises cost is where the two sides of the roofline meet ("cost"); ``batch`` is an optional cap
(a lever, "lever"; inf = none). The batch is continuous (a time-averaged occupancy). Chips per
replica change the roofline's chip-seconds per token only through the batch (n chips read n× the
bandwidth for n× the price) while every chip more adds all-reduce traffic, so the replica has the
chips that minimise the chip-seconds per query, at least enough to hold the weights and one
sequence and at most one node (:func:`replica_chips`; ``chips`` fixes them, a lever).

The k attempts share one prefill (their prompt's KV cache), so the per-query cost v already
includes k: cost per solved problem = (F/Q + v) / P(solved).

Architecture: n_layer d_attn is given for a reference size ``N_ref``; when the firm changes N the
model keeps its aspect ratio, so n_layer d_attn ∝ N^{2/3}
(N = 12 n_layer d_model², d_model ∝ n_layer).

``z`` (quantities, per pipeline): N, D, U, D_F, trainable_fraction, c, cached_fraction, x, k, r, y.
``theta`` (technology and prices): see :data:`THETA_KEYS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from structural import flops, inference
from structural.errors import PipelineError

__all__ = ["cost_parameters", "cost_per_solved", "fixed_cost", "serving", "stage_costs",
           "total_cost", "variable_cost", "verify_stage"]

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
    "interconnect_bandwidth", "bytes_act",  # NVLink bytes/s per chip (both ways), activation bytes
    "data_price", "finetune_data_price", "cache_cost_ratio",      # $/token, $/token, ratio
)

#: Prefill and decode utilisations (compute side of the rooflines) of the FP16/BF16 peak: the
#: estimates of :mod:`structural.fitted.serving` rounded to two decimals (nonlinear least squares
#: on log throughput of TensorRT-LLM v0.5.0/v0.6.1's 18 published benchmarks,
#: ``serving_throughput``: u_prefill 0.837, SE 0.134; u_decode 0.302, SE 0.046; HC1). Reproduce with
#: ``llmecon fit serving``; the counterfactual scenarios draw both from that fit.
PREFILL_UTILISATION = 0.84
DECODE_UTILISATION = 0.30

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


#: Replica sizes searched from the fewest chips that hold the model up (:func:`replica_chips`):
#: two 8-GPU nodes' worth.
CHIP_CANDIDATES = 16

#: Why the serving batch is what it is (index of :func:`serving`'s ``limit``).
BATCH_LIMITS = ("memory", "cost", "lever")


def replica_chips(weights: Array, seq: Array, wanted: Array,
                  seconds: Callable[[Array, Array], Array], theta: dict[str, Array]) -> Array:
    """Chips per serving replica (tensor parallelism: weights and KV cache split over them).

    At least ``n_min = ⌈(weights + one sequence's cache) / HBM⌉``. A replica of n chips holds a
    batch of b(n) = min((n HBM − weights) / seq, ``wanted``) sequences (``wanted``: the batch that
    makes decode compute-bound, or the batch cap). Per token the roofline costs max(compute,
    (weights/b + KV reads)/bandwidth) chip-seconds whatever n (n chips read n× the bandwidth at n×
    the price), so more chips lower it only by letting the batch grow, while tensor parallelism's
    all-reduces add 8 (n − 1) n_layer d_model bytes_act / NVLink bandwidth per token
    (:func:`structural.inference.tensor_parallel_seconds`). The replica is the n in
    [n_min, max(n_min, ``max_chips``)] (the first :data:`CHIP_CANDIDATES` from n_min) that
    minimises ``seconds(n, b(n))``, the chip-seconds per query of the prefill and decode
    rooflines plus the all-reduces; the smallest such n on ties. Without communication this is
    ⌈(weights + wanted × seq) / HBM⌉ chips. ``chips`` > 0 in ``theta`` fixes the replica (a
    lever; at least n_min)."""
    # The chip count is an integer (a ceiling or an argmin over candidates): its derivative is
    # zero everywhere, so nothing here is differentiated. Without the stop_gradient JAX still
    # builds, and XLA compiles, the derivatives of the 16 candidates' rooflines that the argmin
    # then drops; inside the firm's SQP Hessian that was most of its compile time (verifier
    # quality: 116 s -> 7 s for the Lagrangian's Hessian alone), with identical results.
    sg = jax.lax.stop_gradient
    weights, seq, wanted, theta = sg(weights), sg(seq), sg(wanted), sg(theta)
    H = theta["memory_bytes"]
    n_min = jnp.maximum(1.0, jnp.ceil((weights + seq) / H))
    n_max = jnp.maximum(n_min, jnp.ceil(theta["max_chips"]))
    n = n_min[..., None] + jnp.arange(CHIP_CANDIDATES, dtype=jnp.float64)
    b = replica_batch(n, weights[..., None], seq[..., None], wanted[..., None], _along(theta))
    cost = jnp.where(n <= n_max[..., None], sg(seconds(n, b)), jnp.inf)
    best = jnp.min(cost, axis=-1, keepdims=True)
    # the smallest replica within rounding of the least cost (exact ties without communication)
    first = jnp.argmax(cost <= best * (1.0 + 1e-12), axis=-1)
    chosen = jnp.take_along_axis(n, first[..., None], axis=-1)[..., 0]
    return jnp.where(theta["chips"] > 0, jnp.maximum(n_min, jnp.ceil(theta["chips"])), chosen)


def _along(theta: dict[str, Array]) -> dict[str, Array]:
    """theta with a trailing axis, to broadcast against the candidate replica sizes."""
    return {k: jnp.asarray(v, jnp.float64)[..., None] for k, v in theta.items()}


def replica_batch(chips: Array, weights: Array, seq: Array, wanted: Array,
                  theta: dict[str, Array]) -> Array:
    """min(memory cap, ``wanted``), at least one sequence: the batch a replica of ``chips`` chips
    serves (:func:`serving`)."""
    b_mem = (chips * theta["memory_bytes"] - weights) / seq
    return jnp.maximum(jnp.minimum(b_mem, wanted), 1.0)


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
    wanted = jnp.minimum(b_cost, theta["batch"])
    parts = _prefill_parts(z, N, theta)

    def e(a: Array) -> Array:       # against the candidate axis
        return jnp.asarray(a, jnp.float64)[..., None]

    th = _along(theta)

    def seconds(n: Array, b: Array) -> Array:
        """Chip-seconds per query of a replica of n chips at batch b (k attempts' decode)."""
        pre = sum(_prefill_seconds(e(N), e(F_), e(P), e(C), b, n, th) for F_, P, C in parts)
        _, dec = _decode(e(N), e(start), e(T), b, n, th)
        return pre + e(z["k"]) * dec

    chips = replica_chips(weights, seq, wanted, seconds, theta)
    b_mem = (chips * theta["memory_bytes"] - weights) / seq
    batch = jnp.minimum(jnp.minimum(b_mem, b_cost), theta["batch"])
    limit = jnp.where(batch == b_mem, 0, jnp.where(batch == b_cost, 1, 2))
    # Compute-bound even at one sequence: any batch ≥ 1 costs the same; serve one at least.
    batch = jnp.maximum(batch, 1.0)
    return {"chips": chips, "batch": batch, "batch_memory": b_mem, "batch_cost": b_cost,
            "limit": limit}


def _prefill_parts(z: dict[str, Array], N: Array,
                   theta: dict[str, Array]) -> tuple[tuple[Array, Array, Array], ...]:
    """(FLOPs, tokens written to the KV cache, tokens through the all-reduces) of the context's
    and the input's prefill. The cached share of the context is charged ``cache_cost_ratio`` of
    its prefill, all-reduces included."""
    N_a = N * theta["active_fraction"]
    nd = attention_width(N, theta)
    c, x = z["c"], z["x"]
    F_c = inference.cached_prefill_flops(N_a, c, z["cached_fraction"], nd,
                                         theta["cache_cost_ratio"])
    F_x = flops.prefill_flops(N_a, c + x, nd) - flops.prefill_flops(N_a, c, nd)
    c_comm = c * (1.0 - z["cached_fraction"] * (1.0 - theta["cache_cost_ratio"]))
    return (F_c, c, c_comm), (F_x, x, x)


def _all_reduce(N: Array, tokens: Array, chips: Array, theta: dict[str, Array]) -> Array:
    """Chip-seconds of tensor parallelism's all-reduces over ``tokens`` tokens (n_layer d_model
    = n_layer d_attn of the architecture)."""
    return inference.tensor_parallel_seconds(tokens, attention_width(N, theta), theta["bytes_act"],
                                             chips, theta["interconnect_bandwidth"])


def _decode(N: Array, start: Array, T: Array, batch: Array, chips: Array,
            theta: dict[str, Array]) -> tuple[Array, Array]:
    """FLOPs and chip-seconds to decode T tokens after ``start`` tokens of context: the roofline
    plus the tensor-parallel all-reduces."""
    F, s = inference.decode(
        N, N * theta["active_fraction"], start, T, attention_width(N, theta),
        peak=theta["peak_infer"], utilisation=theta["u_decode"], bandwidth=theta["bandwidth"],
        batch=batch, bytes_per_param=theta["bytes_per_param"],
        kv_bytes=kv_bytes_per_token(N, theta))
    return F, s + _all_reduce(N, T, chips, theta)


def _prefill_seconds(N: Array, F: Array, P: Array, comm_tokens: Array, batch: Array,
                     chips: Array, theta: dict[str, Array]) -> Array:
    """Prefill roofline, max(FLOPs/(peak u), (weights/batch + KV written)/bandwidth), plus the
    tensor-parallel all-reduces of ``comm_tokens`` tokens."""
    compute = inference.prefill_seconds(F, theta["peak_infer"], theta["u_prefill"])
    memory = (N * theta["bytes_per_param"] / batch * (P > 0)
              + kv_bytes_per_token(N, theta) * P) / theta["bandwidth"]
    return jnp.maximum(compute, memory) + _all_reduce(N, comm_tokens, chips, theta)


def stage_costs(z: dict[str, Array], theta: dict[str, Array]) -> dict[str, dict[str, Array]]:
    """FLOPs, seconds and dollars of every stage (see the module docstring). Pure and vmappable.

    Examples
    --------
    Dollars of each stage of the default pipeline (70B on 1.4T tokens, on H100s):

    >>> from structural.costs import cost_parameters, stage_costs
    >>> from structural.firm import default_levers
    >>> costs = stage_costs(default_levers(), cost_parameters("H100"))
    >>> {stage: f"{float(c['dollars']):.3g}" for stage, c in costs.items()}
    {'pretrain': '1.89e+06', 'finetune': '0', 'data': '0', 'context': '0.000235', 'input':
    '0.000118', 'reasoning': '0', 'output': '0.000307'}
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
    plan = serving(z, theta)
    batch, chips = plan["batch"], plan["chips"]
    (F_c, P_c, C_c), (F_x, P_x, C_x) = _prefill_parts(z, N, theta)
    s = _prefill_seconds(N, F_c, P_c, C_c, batch, chips, theta)
    out["context"] = {"flops": F_c, "seconds": s, "dollars": _dollars(s, theta)}
    s = _prefill_seconds(N, F_x, P_x, C_x, batch, chips, theta)
    out["input"] = {"flops": F_x, "seconds": s, "dollars": _dollars(s, theta)}

    k = z["k"]
    F, s = _decode(N, c + x, z["r"], batch, chips, theta)
    out["reasoning"] = {"flops": k * F, "seconds": k * s, "dollars": _dollars(k * s, theta)}
    F, s = _decode(N, c + x + z["r"], z["y"], batch, chips, theta)
    out["output"] = {"flops": k * F, "seconds": k * s, "dollars": _dollars(k * s, theta)}
    return out


def verify_stage(z: dict[str, Array], theta: dict[str, Array]) -> dict[str, Array]:
    """The ``verify`` stage of answer selection by a verifier: z["k"] checks (the samples drawn,
    :func:`structural.quality.attempts`), each the prefill of one answer's y tokens after the
    c + x prompt, uncached, by a generative verifier of the model's own size on a replica that
    holds c + x + y tokens per sequence (the ``input`` stage of that request).

    Examples
    --------
    >>> from structural.costs import cost_parameters, verify_stage
    >>> from structural.firm import default_levers
    >>> f"{float(verify_stage(default_levers(k=4.0), cost_parameters('H100'))['dollars']):.3g}"
    '0.000504'
    """
    N = jnp.asarray(z["N"], jnp.float64)
    # the input stage of a request whose prompt is the question and whose input is the answer
    zv = {**z, "c": z["c"] + z["x"], "x": z["y"], "cached_fraction": 0.0}
    plan = serving(zv, theta)
    _, (F, P, C) = _prefill_parts(zv, N, theta)
    s = _prefill_seconds(N, F, P, C, plan["batch"], plan["chips"], theta)
    k = z["k"]
    return {"flops": k * F, "seconds": k * s, "dollars": _dollars(k * s, theta)}


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
    '0.000661'
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
    '2.546e+06'
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
    '0.00509'
    """
    costs = stage_costs(z, theta)
    return (fixed_cost(costs) / Q + variable_cost(costs)) / p_solved


def cost_parameters(hardware: Any = "H100", precision_train: str = "bf16",
                    precision_infer: str = "bf16", **overrides: float) -> dict[str, float]:
    """A complete ``theta`` for :func:`stage_costs` from a hardware preset (or a
    :class:`~structural.hardware.Hardware`) plus stated defaults; any key can be overridden.

    Defaults (assumptions, to be varied, except where fitted): utilisation 0.40 training, 0.30
    fine-tuning, :data:`PREFILL_UTILISATION` prefill and :data:`DECODE_UTILISATION` decode (compute
    side, fitted to published serving throughput by :mod:`structural.fitted.serving`); NVLink
    bandwidth from the hardware preset and bf16 activations in the all-reduces;
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
        "interconnect_bandwidth": hw.interconnect_bandwidth, "bytes_act": 2.0,
        "u_train": 0.40, "u_finetune": 0.30, "u_prefill": PREFILL_UTILISATION,
        "u_decode": DECODE_UTILISATION,
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
