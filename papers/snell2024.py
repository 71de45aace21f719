"""Snell et al. (2024), "Scaling LLM Test-Time Compute Optimally can be More Effective than Scaling
Model Parameters", arXiv:2408.03314, §3 / §7 (the FLOPs-matched comparison).

Snell et al. compare a small model given more test-time compute with a model M = 14 times larger
(PaLM 2-S* vs a 14× larger model) at equal total FLOPs, with pretraining 6 N D_pretrain and
inference 2 N D_inference. Equal totals require the small model to spend

    X = M + 3 (D_pretrain / D_inference) (M − 1)

times its plain inference compute, which for R = D_inference / D_pretrain = 0.16, 0.79 and 22 is
257.75, 63.37 and 15.77 (their ratios of inference to pretraining tokens).

Here X is *not* typed in: it is derived from the pipeline's own FLOP accounting
(:func:`structural.costs.stage_costs` with the paper's convention: no attention term, one output
token per query, Q = D_inference queries) as (F_big + Q v_big − F_small) / (Q v_small).

Examples
--------
>>> from papers import snell2024
>>> snell2024.TITLE
'FLOPs-matched exchange of model size for test-time compute'
>>> snell2024.PUBLISHED  # ratio of inference to pretraining tokens -> published multiplier
{0.16: 257.75, 0.79: 63.37, 22.0: 15.77}
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from papers.reproduction import Check, Reproduction, pipeline_flops, write_tables
from structural import costs

__all__ = ["PUBLISHED", "TITLE", "inference_multiplier", "reproduce"]

TITLE = "FLOPs-matched exchange of model size for test-time compute"

M = 14.0
#: D_inference / D_pretrain → published multiplier X (§3 / Appendix, FLOPs-matched comparison).
PUBLISHED = {0.16: 257.75, 0.79: 63.37, 22.0: 15.77}
N_SMALL, D_PRETRAIN = 1e9, 1e12  # scale-free: X does not depend on them


def _pipeline_flops(N: float, D_pretrain: float, D_inference: float) -> tuple[float, float]:
    """Fixed FLOPs F and per-query FLOPs v of a one-token-per-query pipeline of size N."""
    theta = costs.cost_parameters("H100", n_layer_d_attn=0.0, N_ref=1.0)
    z = {"N": N, "D": D_pretrain, "U": D_pretrain, "D_F": 0.0, "trainable_fraction": 1.0,
         "c": 0.0, "cached_fraction": 0.0, "x": 0.0, "k": 1.0, "r": 0.0, "y": 1.0}
    _, F, v = pipeline_flops(z, theta)
    return F, v


def inference_multiplier(ratio: float, M: float = M) -> float:
    """X such that the small model with X × its inference compute matches the big model's total
    FLOPs, from the pipeline accounting; ``ratio`` = D_inference / D_pretrain.

    Examples
    --------
    >>> from papers.snell2024 import inference_multiplier
    >>> round(inference_multiplier(0.16), 2)
    257.75
    """
    Q = ratio * D_PRETRAIN
    F_small, v_small = _pipeline_flops(N_SMALL, D_PRETRAIN, Q)
    F_big, v_big = _pipeline_flops(M * N_SMALL, D_PRETRAIN, Q)
    return (F_big + Q * v_big - F_small) / (Q * v_small)


def reproduce(out: Path | None = None, quick: bool = False, progress: bool = True) -> Reproduction:
    """Regenerate the three FLOPs-matched multipliers from the pipeline's FLOP accounting.

    Examples
    --------
    >>> from papers import snell2024
    >>> rep = snell2024.reproduce(progress=False)
    >>> rep.checks_frame()[["reproduced", "published"]].round(2)
       reproduced  published
    0      257.75     257.75
    1       63.37      63.37
    2       15.77      15.77
    """
    rows, checks = [], []
    for ratio, published in PUBLISHED.items():
        X = inference_multiplier(ratio)
        closed = M + 3.0 / ratio * (M - 1.0)
        rows.append({"D_inference/D_pretrain": ratio, "X (pipeline)": X,
                     "M + 3 (D_pre/D_inf)(M − 1)": closed, "published": published})
        checks.append(Check(f"X at D_inf/D_pre = {ratio:g}", X, published, 0.005, "abs",
                            "FLOPs-matched comparison, M = 14"))
    table = pd.DataFrame(rows).set_index("D_inference/D_pretrain")
    notes = ["published values are rounded to two decimals (tolerance ±0.005)",
             "X comes from structural.costs.stage_costs (6 N D pretraining, 2 N per token), "
             "not from the closed form, which is shown beside it"]
    rep = Reproduction("snell2024", TITLE, table, checks, notes)
    if out is not None:
        rep.files.extend(write_tables(table, Path(out), "snell2024"))
    return rep
