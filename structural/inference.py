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

Prompt caching: a cached prefix of C_c tokens is not recomputed; it is charged ``cache_cost_ratio``
of its prefill (the cache-read discount of API prices, or the storage-and-read cost of a self-hosted
cache), while new tokens still attend to it.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from structural import flops

__all__ = ["cached_prefill_flops", "decode", "kv_bytes_per_token", "prefill_seconds"]

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
