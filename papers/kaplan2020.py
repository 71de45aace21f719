"""Kaplan et al. (2020), "Scaling Laws for Neural Language Models", arXiv:2001.08361, Table 1.

Table 1 gives, per operation of a decoder-only transformer, the parameter count and the forward-pass
FLOPs per token; the totals are N = 2 d_model n_layer (2 d_attn + d_ff) (non-embedding) and
C_forward = 2N + 2 n_layer n_ctx d_attn (§2.1). This module evaluates Table 1 with
:func:`structural.flops.kaplan_table1` for a stated configuration (GPT-2 XL's shape, the largest
shape in Radford et al. 2019: n_layer 48, d_model 1600, d_attn 1600, d_ff 6400, n_ctx 1024, n_vocab
50257) and checks the table's identities and the pipeline's own accounting against the paper's
closed forms:

- N = 12 n_layer d_model² when d_attn = d_ff/4 = d_model (§2.1, eq. 2.1);
- C_forward = 2N + 2 n_layer n_ctx d_attn (Table 1, total row), also as the sum of the per-layer
  rows;
- the context term is n_ctx / (12 d_model) of 2N (§2.1: small when d_model ≫ n_ctx/12);
- training costs 3 C_forward per token (backward = 2 × forward, §2.1), which the pipeline's
  pretraining stage must reproduce.

All tolerances are 1e-12 relative: these are exact identities.

Examples
--------
>>> from papers import kaplan2020
>>> kaplan2020.TITLE
'Table 1: parameters and forward FLOPs per token by operation'
>>> kaplan2020.CONFIG["n_layer"], kaplan2020.CONFIG["d_model"]
(48, 1600)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from papers.reproduction import Check, Reproduction, pipeline_flops, write_tables
from structural import costs, flops

__all__ = ["CONFIG", "TITLE", "reproduce"]

TITLE = "Table 1: parameters and forward FLOPs per token by operation"

#: The stated configuration (GPT-2 XL shape).
CONFIG = {"n_layer": 48, "d_model": 1600, "d_attn": 1600, "d_ff": 6400, "n_ctx": 1024,
          "n_vocab": 50257}


def reproduce(out: Path | None = None, quick: bool = False, progress: bool = True) -> Reproduction:
    """Regenerate Table 1 for :data:`CONFIG` and check it against the paper's closed forms.

    Examples
    --------
    >>> from papers import kaplan2020
    >>> rep = kaplan2020.reproduce(progress=False)
    >>> rep.passed, len(rep.checks)
    (True, 7)
    >>> rep.table.loc["Total (non-embedding)"]
    parameters         1474560000
    flops_per_token    3106406400
    Name: Total (non-embedding), dtype: int64
    """
    c = CONFIG
    rows = flops.kaplan_table1(**c)
    table = pd.DataFrame(rows).set_index("operation")
    N = float(table.loc["Total (non-embedding)", "parameters"])
    C_fwd = float(table.loc["Total (non-embedding)", "flops_per_token"])
    per_layer = table.loc[["Attention: QKV", "Attention: Mask", "Attention: Project",
                           "Feedforward"], "flops_per_token"].sum()
    layer_params = table.loc[["Attention: QKV", "Attention: Project", "Feedforward"],
                             "parameters"].sum()
    # Closed forms of the paper, evaluated independently of the table code.
    N_paper = 12 * c["n_layer"] * c["d_model"] ** 2
    C_paper = 2 * N_paper + 2 * c["n_layer"] * c["n_ctx"] * c["d_attn"]
    # The pipeline's pretraining stage for one token with this architecture.
    theta = costs.cost_parameters("A100", n_layer_d_attn=c["n_layer"] * c["d_attn"], N_ref=N,
                                  n_ctx_train=c["n_ctx"])
    z = {"N": N, "D": 1.0, "U": 1.0, "D_F": 0.0, "trainable_fraction": 1.0, "c": 0.0,
         "cached_fraction": 0.0, "x": 0.0, "k": 1.0, "r": 0.0, "y": 0.0}
    train_per_token = pipeline_flops(z, theta)[0]["pretrain"]
    checks = [
        Check("N (non-embedding parameters)", N, N_paper, 1e-12, "rel",
              "§2.1 eq. 2.1: 12 n_layer d_model²"),
        Check("N = sum of layer rows", float(layer_params), N_paper, 1e-12, "rel", "Table 1"),
        Check("C_forward per token", C_fwd, C_paper, 1e-12, "rel",
              "Table 1: 2N + 2 n_layer n_ctx d_attn"),
        Check("C_forward = sum of layer rows", float(per_layer), C_paper, 1e-12, "rel", "Table 1"),
        Check("C_forward (structural.flops)",
              float(flops.forward_flops_per_token(N, c["n_layer"], c["n_ctx"], c["d_attn"])),
              C_paper, 1e-12, "rel", "Table 1"),
        Check("context term / 2N", (C_fwd - 2 * N) / (2 * N), c["n_ctx"] / (12 * c["d_model"]),
              1e-12, "rel", "§2.1: n_ctx/(12 d_model)"),
        Check("training FLOPs per token (pipeline)", train_per_token, 3 * C_paper, 1e-12, "rel",
              "§2.1: backward = 2 × forward"),
    ]
    notes = [f"configuration: {', '.join(f'{k}={v}' for k, v in c.items())} (GPT-2 XL shape)",
             "embedding rows are shown but excluded from N and C_forward, as in the paper"]
    rep = Reproduction("kaplan2020", TITLE, table, checks, notes)
    if out is not None:
        rep.files.extend(write_tables(table, Path(out), "kaplan2020_table1"))
    return rep
