"""FLOP accounting of a decoder-only transformer (Kaplan et al. 2020, arXiv:2001.08361, Table 1).

Per token, with n_layer layers, residual width d_model, attention width d_attn, feed-forward width
d_ff and context length n_ctx (Table 1, embeddings and biases ignored as in the paper):

=====================  ====================================  ============================
operation              parameters                            FLOPs per token (forward)
=====================  ====================================  ============================
embed                  (n_vocab + n_ctx) d_model             4 d_model
attention: QKV         n_layer d_model 3 d_attn              2 n_layer d_model 3 d_attn
attention: mask        —                                     2 n_layer n_ctx d_attn
attention: project     n_layer d_attn d_model                2 n_layer d_attn d_model
feedforward            n_layer 2 d_model d_ff                2 n_layer 2 d_model d_ff
de-embed               —                                     2 d_model n_vocab
total (non-embedding)  2 d_model n_layer (2 d_attn + d_ff)   2N + 2 n_layer n_ctx d_attn
=====================  ====================================  ============================

The backward pass costs twice the forward, so training costs C ≈ 6 N per token plus the context
term 6 n_layer n_ctx d_attn (Kaplan et al. 2020, §2.1). With d_attn = d_ff/4 = d_model,
N = 12 n_layer d_model².

Adapter fine-tuning (e.g. LoRA) runs the full forward (2N), back-propagates activations through the
frozen weights (2N) but forms weight gradients only for the N_trainable adapter weights
(2 N_trainable): 4N + 2 N_trainable per token. Full fine-tuning is the case N_trainable = N (6N).

Inference with a growing context: a token at position t costs 2N + 2 n_layer t d_attn, so a
prompt of P tokens (prefill) costs 2N P + n_layer d_attn P² (quadratic in P; the continuous form of
Σ_t 2 n_layer t d_attn), and each decoded token costs 2N + 2 n_layer d_attn × (its position).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

__all__ = ["decode_flops", "finetune_flops", "forward_flops_per_token", "kaplan_table1",
           "non_embedding_parameters", "prefill_flops", "training_flops"]

Array = Any


def kaplan_table1(n_layer: int, d_model: int, d_attn: int, d_ff: int, n_ctx: int,
                  n_vocab: int) -> list[dict[str, object]]:
    """Rows of Kaplan et al. (2020) Table 1 for one configuration: parameters and forward FLOPs
    per token by operation. The ``total`` row is the non-embedding N and C_forward.

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.flops import kaplan_table1
    >>> rows = kaplan_table1(n_layer=48, d_model=1600, d_attn=1600, d_ff=6400, n_ctx=1024,
    ...                      n_vocab=50257)
    >>> pd.DataFrame(rows).set_index("operation").loc["Total (non-embedding)"]
    parameters         1474560000
    flops_per_token    3106406400
    Name: Total (non-embedding), dtype: int64
    """
    rows = [
        ("Embed", (n_vocab + n_ctx) * d_model, 4 * d_model),
        ("Attention: QKV", n_layer * d_model * 3 * d_attn, 2 * n_layer * d_model * 3 * d_attn),
        ("Attention: Mask", 0, 2 * n_layer * n_ctx * d_attn),
        ("Attention: Project", n_layer * d_attn * d_model, 2 * n_layer * d_attn * d_model),
        ("Feedforward", n_layer * 2 * d_model * d_ff, 2 * n_layer * 2 * d_model * d_ff),
        ("De-embed", 0, 2 * d_model * n_vocab),
    ]
    N = non_embedding_parameters(n_layer, d_model, d_attn, d_ff)
    out = [{"operation": op, "parameters": p, "flops_per_token": f} for op, p, f in rows]
    out.append({"operation": "Total (non-embedding)", "parameters": N,
                "flops_per_token": int(2 * N + 2 * n_layer * n_ctx * d_attn)})
    return out


def non_embedding_parameters(n_layer: Array, d_model: Array, d_attn: Array, d_ff: Array) -> Array:
    """N = 2 d_model n_layer (2 d_attn + d_ff) (Kaplan et al. 2020, eq. 2.1 / Table 1).

    Examples
    --------
    GPT-2 XL's shape (48 layers, d_model 1600):

    >>> from structural.flops import non_embedding_parameters
    >>> f"{float(non_embedding_parameters(48, 1600, 1600, 6400)):.4g}"
    '1.475e+09'
    """
    return 2 * d_model * n_layer * (2 * d_attn + d_ff)


def forward_flops_per_token(N: Array, n_layer: Array, n_ctx: Array, d_attn: Array) -> Array:
    """C_forward = 2N + 2 n_layer n_ctx d_attn (Kaplan et al. 2020, Table 1).

    Examples
    --------
    >>> from structural.flops import forward_flops_per_token
    >>> f"{float(forward_flops_per_token(1.47e9, 48, 1024, 1600)):.4g}"
    '3.097e+09'
    """
    return 2.0 * N + 2.0 * n_layer * n_ctx * d_attn


def training_flops(N: Array, D: Array, n_layer: Array = 0.0, n_ctx: Array = 0.0,
                   d_attn: Array = 0.0) -> Array:
    """Pretraining FLOPs 3 × C_forward × D = 6 N D + 6 n_layer n_ctx d_attn D (Kaplan §2.1).

    With the default zero architecture the context term is dropped and this is the familiar 6 N D
    (Hoffmann et al. 2022; Sardana & Frankle 2023).

    Examples
    --------
    Chinchilla: 6 N D for 70B parameters on 1.4T tokens:

    >>> from structural.flops import training_flops
    >>> f"{float(training_flops(70e9, 1.4e12)):.3g}"
    '5.88e+23'
    """
    return 3.0 * forward_flops_per_token(N, n_layer, n_ctx, d_attn) * jnp.asarray(D, jnp.float64)


def finetune_flops(N: Array, D_F: Array, N_trainable: Array) -> Array:
    """Fine-tuning FLOPs (4N + 2 N_trainable) D_F; full fine-tuning (N_trainable = N): 6 N D_F.

    Examples
    --------
    Full fine-tuning against a LoRA-style adapter training 1% of the weights:

    >>> from structural.flops import finetune_flops
    >>> f"{float(finetune_flops(7e9, 1e9, 7e9)):.3g}", f"{float(finetune_flops(7e9, 1e9, 7e7)):.3g}"
    ('4.2e+19', '2.81e+19')
    """
    return (4.0 * N + 2.0 * N_trainable) * jnp.asarray(D_F, jnp.float64)


def prefill_flops(N: Array, P: Array, n_layer_d_attn: Array) -> Array:
    """Forward FLOPs of a P-token prompt: 2N P + n_layer d_attn P² (quadratic in P).

    Examples
    --------
    >>> from structural.flops import prefill_flops
    >>> f"{float(prefill_flops(7e9, 4096, 32 * 4096)):.4g}"
    '5.954e+13'
    """
    P = jnp.asarray(P, jnp.float64)
    return 2.0 * N * P + n_layer_d_attn * P**2


def decode_flops(N: Array, start: Array, T: Array, n_layer_d_attn: Array) -> Array:
    """FLOPs to decode T tokens after ``start`` tokens of context: Σ_t (2N + 2 n_layer d_attn t)
    over positions t ∈ (start, start+T], in continuous form
    2N T + n_layer d_attn ((start+T)² − start²).
    Linear per token; each token pays for the context before it.

    Examples
    --------
    >>> from structural.flops import decode_flops
    >>> f"{float(decode_flops(7e9, 4096, 512, 32 * 4096)):.4g}"
    '7.752e+12'
    """
    T = jnp.asarray(T, jnp.float64)
    return 2.0 * N * T + n_layer_d_attn * ((start + T) ** 2 - start**2)
