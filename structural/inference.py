"""Serving a query: prefill and decode, the decode roofline, the KV cache and prompt caching.

Prefill (reading the prompt) is compute-bound: a P-token prompt costs 2N P + n_layer d_attn P²
FLOPs (:func:`structural.flops.prefill_flops`) and takes FLOPs / (peak × u_prefill) chip-seconds.

Decode (writing tokens one at a time) is a roofline (Williams et al. 2009; for transformers Pope et
al. 2022, "Efficiently Scaling Transformer Inference", arXiv:2211.05102, §2): each step reads every
weight once for the whole batch and each sequence's KV cache, so per token and sequence

    time = max( FLOPs / (peak × u_decode),  (weight bytes / batch + KV bytes read) / bandwidth ),

with KV bytes per token of context 2 n_layer d_attn × kv_fraction × bytes_kv (keys and values;
kv_fraction < 1 under grouped-query attention). Summed over T decoded tokens after ``start`` tokens
of context, the max is taken over the totals (exact when one regime binds throughout).

Tensor parallelism (Shoeybi et al. 2019, "Megatron-LM", arXiv:1909.08053, §3; Pope et al. 2022
§3.1, 1D weight-stationary layout): a replica whose weights are split over t chips all-reduces the
hidden state twice per layer (after attention and after the MLP), in prefill and in decode alike,
and those all-reduces sit on the critical path (Megatron's g operator is synchronous), so their
time adds to the roofline (:func:`tensor_parallel_seconds`).

Prompt caching: a cached prefix of C_c tokens is not recomputed; it is charged ``cache_cost_ratio``
of its prefill (the cache-read discount of API prices, or the storage-and-read cost of a self-hosted
cache), while new tokens still attend to it.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from structural import flops

__all__ = ["cached_prefill_flops", "decode", "kv_bytes_per_token", "prefill_seconds",
           "tensor_parallel_seconds"]

Array = Any


def kv_bytes_per_token(n_layer_d_attn: Array, kv_fraction: Array, bytes_kv: Array) -> Array:
    """2 n_layer d_attn × kv_fraction × bytes_kv: KV-cache bytes per token of context.

    Examples
    --------
    A 7B model with 32 layers of width 4096, full multi-head KV in bf16 (2 bytes):

    >>> from structural.inference import kv_bytes_per_token
    >>> float(kv_bytes_per_token(32 * 4096, 1.0, 2.0))
    524288.0
    """
    return 2.0 * n_layer_d_attn * kv_fraction * bytes_kv


def cached_prefill_flops(N: Array, c: Array, cached_fraction: Array, n_layer_d_attn: Array,
                         cache_cost_ratio: Array) -> Array:
    """Prefill FLOPs of c context tokens of which a fraction is cached: the full prefill minus
    (1 − ratio) of the cached prefix's own prefill.

    Examples
    --------
    >>> from structural.inference import cached_prefill_flops
    >>> full = cached_prefill_flops(7e9, 8000, 0.0, 32 * 4096, 0.1)
    >>> half = cached_prefill_flops(7e9, 8000, 0.5, 32 * 4096, 0.1)
    >>> round(float(half / full), 3)
    0.566
    """
    cached = cached_fraction * c
    return (flops.prefill_flops(N, c, n_layer_d_attn)
            - (1.0 - cache_cost_ratio) * flops.prefill_flops(N, cached, n_layer_d_attn))


def prefill_seconds(F: Array, peak: Array, utilisation: Array) -> Array:
    """Chip-seconds of a compute-bound stage: FLOPs / (peak × utilisation).

    Examples
    --------
    >>> from structural.inference import prefill_seconds
    >>> round(float(prefill_seconds(1e15, 989e12, 0.5)), 3)
    2.022
    """
    return F / (peak * utilisation)


def decode(N: Array, N_active: Array, start: Array, T: Array, n_layer_d_attn: Array, *,
           peak: Array, utilisation: Array, bandwidth: Array, batch: Array,
           bytes_per_param: Array, kv_bytes: Array) -> tuple[Array, Array]:
    """FLOPs and roofline chip-seconds to decode T tokens after ``start`` tokens of context.

    ``N`` sets the weight bytes read, ``N_active`` the FLOPs (mixture-of-experts), ``kv_bytes``
    the KV-cache bytes per token of context (:func:`kv_bytes_per_token`).

    Examples
    --------
    A dense 7B model decoding 512 tokens after a 4,096-token prompt on one H100, batch 32:

    >>> from structural.hardware import get_hardware
    >>> from structural.inference import decode, kv_bytes_per_token
    >>> h100 = get_hardware("H100")
    >>> kv = kv_bytes_per_token(32 * 4096, 1.0, 2.0)
    >>> flops, seconds = decode(7e9, 7e9, 4096, 512, 32 * 4096, peak=h100.peak_flops["bf16"],
    ...                         utilisation=0.5, bandwidth=h100.memory_bandwidth, batch=32,
    ...                         bytes_per_param=2.0, kv_bytes=kv)
    >>> f"{float(flops):.3g} FLOPs, {float(seconds):.3g} chip-seconds"
    '7.75e+12 FLOPs, 0.416 chip-seconds'
    """
    T = jnp.asarray(T, jnp.float64)
    F = flops.decode_flops(N_active, start, T, n_layer_d_attn)
    compute = F / (peak * utilisation)
    weight_bytes = N * bytes_per_param / batch * T
    cache_bytes = kv_bytes * (start * T + 0.5 * T**2)
    memory = (weight_bytes + cache_bytes) / bandwidth
    return F, jnp.maximum(compute, memory)


def tensor_parallel_seconds(tokens: Array, n_layer_d_model: Array, bytes_act: Array,
                            chips: Array, interconnect_bandwidth: Array) -> Array:
    """Chip-seconds of tensor parallelism's all-reduces while ``tokens`` tokens pass the model.

    Megatron-LM's tensor-parallel transformer layer (Shoeybi et al. 2019, arXiv:1909.08053, §3,
    Fig. 3) all-reduces the layer's output activations twice per layer in the forward pass, a
    message of M = (tokens in the step) × d_model × ``bytes_act`` bytes. A ring all-reduce over
    t chips sends and receives 2(t − 1)/t × M bytes per chip (Pope et al. 2022, "Efficiently
    Scaling Transformer Inference", arXiv:2211.05102, §3.1: communication time = bytes moved /
    interconnect bandwidth), each direction at half the datasheet's bidirectional
    ``interconnect_bandwidth`` B. All t chips wait for it, so per token

        chip-seconds = t × 2 n_layer × 2(t − 1)/t × d_model bytes_act / (B/2)
                     = 8 (t − 1) n_layer d_model bytes_act / B,

    linear in the tokens whatever the batch. The all-reduce's fixed latency per call (the α of
    an α–β model) is left out: no published per-call figure for NVLink was at hand, so small
    batches' communication is understated.

    Examples
    --------
    Llama 2 70B (80 layers × d_model 8192) on 2 H100s (NVLink 900 GB/s), bf16 activations,
    per token:

    >>> from structural.inference import tensor_parallel_seconds
    >>> f"{float(tensor_parallel_seconds(1.0, 80 * 8192, 2.0, 2.0, 900e9)):.3g}"
    '1.17e-05'
    >>> float(tensor_parallel_seconds(1e6, 80 * 8192, 2.0, 1.0, 900e9))
    0.0
    """
    return (8.0 * (chips - 1.0) * n_layer_d_model * bytes_act / interconnect_bandwidth
            * jnp.asarray(tokens, jnp.float64))
