"""Muennighoff et al. (2023), "Scaling Data-Constrained Language Models", arXiv:2305.16264, §3
(eqs. 5–7), Fig. 1 and the authors' code (github.com/huggingface/datablations, README "Parametric
Fit").

Published constants (datablations README, verified there): ln A = 6.255414, ln B = 7.3049974,
ln E = 0.6254804, α = β = 0.3526596, R*_D = 15.387756, R*_N = 5.309743, and the two Fig. 1 (right)
models L(6.34e9, 242e9, 25e9) = 2.2256440889984477 ("this one is better") and
L(8.67e9, 178e9, 25e9) = 2.2269634075087867.

Reproduced with :mod:`structural.repeated_data`:

- the two losses to 1e-12;
- the compute-optimal allocation at C = 1e22 FLOPs (C = 6 N D) with 25e9 unique tokens:
  237.34e9 tokens, 9.49 epochs, 7.02e9 parameters (tolerance 0.5 %: the reference numbers come from
  a search, ours from a bounded scalar minimisation in log N);
- the value of repetition: 4 epochs of U unique tokens are worth D'/U = 3.73 epochs of fresh data
  (eq. 5 with R_D = 3), i.e. the paper's "up to 4 epochs, repeated data is almost as good as new".

Examples
--------
>>> from papers import muennighoff2023
>>> muennighoff2023.TITLE
'Data-constrained scaling: effective data, Fig. 1 losses and the optimal allocation'
>>> muennighoff2023.FIG1[(6.34e9, 242e9, 25e9)]
2.2256440889984477
>>> muennighoff2023.PUBLISHED_ALLOCATION, muennighoff2023.PUBLISHED_FOUR_EPOCHS
({'tokens': 237340000000.0, 'epochs': 9.49, 'parameters': 7020000000.0}, 3.73)
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from papers.reproduction import Check, Reproduction, write_tables
from structural.repeated_data import MUENNIGHOFF_2023, data_constrained_loss, effective_data

__all__ = ["FIG1", "PUBLISHED_ALLOCATION", "PUBLISHED_FOUR_EPOCHS", "TITLE", "loss",
           "optimal_allocation", "reproduce"]

TITLE = "Data-constrained scaling: effective data, Fig. 1 losses and the optimal allocation"

#: Fig. 1 (right) models: (N, D, U) → published loss (datablations README).
FIG1 = {(6.34e9, 242e9, 25e9): 2.2256440889984477, (8.67e9, 178e9, 25e9): 2.2269634075087867}
#: Compute-optimal allocation at C = 1e22 FLOPs with 25e9 unique tokens.
C_BUDGET, U_BUDGET = 1e22, 25e9
PUBLISHED_ALLOCATION = {"tokens": 237.34e9, "epochs": 9.49, "parameters": 7.02e9}
#: Four epochs are worth this many epochs of unique data (eq. 5, R_D = 3).
PUBLISHED_FOUR_EPOCHS = 3.73


def loss(N: float, D: float, U: float) -> float:
    """L(N, D, U) with the published constants.

    Examples
    --------
    The datablations README's worked example:

    >>> from papers.muennighoff2023 import loss
    >>> round(loss(6.34e9, 242e9, 25e9), 4)
    2.2256
    """
    p = MUENNIGHOFF_2023
    return float(data_constrained_loss(N, D, U, p["a"], p["b"], p["e"], p["alpha"], p["beta"],
                                       p["R_D_star"], p["R_N_star"]))


def optimal_allocation(C: float, U: float) -> tuple[float, float]:
    """(N, D) minimising L(N, C/(6N), U): a bounded scalar search in log N.

    Examples
    --------
    >>> from papers.muennighoff2023 import optimal_allocation
    >>> N, D = optimal_allocation(1e22, 100e9)
    >>> f"N = {N:.3g}, D = {D:.3g}"
    'N = 8.56e+09, D = 1.95e+11'
    """
    res = minimize_scalar(lambda logN: loss(np.exp(logN), C / (6 * np.exp(logN)), U),
                          bounds=(np.log(1e8), np.log(1e12)), method="bounded",
                          options={"xatol": 1e-10})
    N = float(np.exp(res.x))
    return N, C / (6 * N)


def reproduce(out: Path | None = None, quick: bool = False, progress: bool = True) -> Reproduction:
    """Regenerate the Fig. 1 losses, the C = 1e22 allocation and the value of four epochs.

    Examples
    --------
    >>> from papers import muennighoff2023
    >>> muennighoff2023.reproduce(progress=False).passed
    True
    """
    rows = []
    checks = []
    for (N, D, U), published in FIG1.items():
        value = loss(N, D, U)
        rows.append({"case": f"Fig. 1: N={N:.3g}, D={D:.3g}, U={U:.3g}", "N": N, "D": D, "U": U,
                     "epochs": D / U, "loss": value})
        checks.append(Check(f"L({N:.3g}, {D:.3g}, {U:.3g})", value, published, 1e-12, "abs",
                            "datablations README / Fig. 1"))
    N, D = optimal_allocation(C_BUDGET, U_BUDGET)
    rows.append({"case": "compute-optimal, C=1e22, U=25e9", "N": N, "D": D, "U": U_BUDGET,
                 "epochs": D / U_BUDGET, "loss": loss(N, D, U_BUDGET)})
    checks += [
        Check("optimal tokens at C=1e22, U=25e9", D, PUBLISHED_ALLOCATION["tokens"], 0.005, "rel",
              "§3 allocation"),
        Check("optimal epochs", D / U_BUDGET, PUBLISHED_ALLOCATION["epochs"], 0.005, "rel",
              "§3 allocation"),
        Check("optimal parameters", N, PUBLISHED_ALLOCATION["parameters"], 0.005, "rel",
              "§3 allocation"),
    ]
    four = float(effective_data(4 * U_BUDGET, U_BUDGET, MUENNIGHOFF_2023["R_D_star"])) / U_BUDGET
    limit = float(effective_data(jnp.asarray(1e9 * U_BUDGET), U_BUDGET,
                                 MUENNIGHOFF_2023["R_D_star"])) / U_BUDGET
    rows.append({"case": "4 epochs, in epochs of unique data", "N": np.nan, "D": 4 * U_BUDGET,
                 "U": U_BUDGET, "epochs": 4.0, "loss": np.nan})
    checks += [
        Check("D'/U at 4 epochs", four, PUBLISHED_FOUR_EPOCHS, 0.005, "abs", "eq. 5, R_D = 3"),
        Check("D'/U as epochs → ∞", limit, 1 + MUENNIGHOFF_2023["R_D_star"], 1e-9, "rel",
              "eq. 5: U (1 + R*_D)"),
    ]
    table = pd.DataFrame(rows).set_index("case")
    notes = [f"constants: {MUENNIGHOFF_2023}",
             f"4 epochs are worth {four:.4f} epochs of unique data; the ceiling is "
             f"{1 + MUENNIGHOFF_2023['R_D_star']:.4f} epochs"]
    rep = Reproduction("muennighoff2023", TITLE, table, checks, notes)
    if out is not None:
        rep.files.extend(write_tables(table, Path(out), "muennighoff2023"))
    return rep
