"""Hoffmann et al. (2022), "Training Compute-Optimal Large Language Models", arXiv:2203.15556.

Approach 3 fits L(N, D) = E + A/N^α + B/D^β (eq. 2) and reports (eq. 10, §3.3) A = 406.4,
B = 410.7, E = 1.69, α = 0.34, β = 0.28. Minimising L subject to C = 6 N D gives (Appendix D.2)

    N_opt(C) = G (C/6)^a,  D_opt(C) = G⁻¹ (C/6)^b,  G = (αA/(βB))^{1/(α+β)},
    a = β/(α+β),  b = α/(α+β),

which the paper's Table 2 reports as a = 0.46, b = 0.54 for Approach 3.

What this module reproduces
---------------------------
- the allocation exponents a, b implied by the published parameters, against Table 2 (tolerance
  0.01: α and β are published to two decimals, which moves a by up to ±0.008);
- the Approach 3 projection table for the model sizes of Table 3 / Table A3 (400M … 10T): the
  compute budget at which each size is optimal and its token count, from
  :func:`structural.pretraining.compute_optimal`, with the identities it must satisfy (C = 6 N D and
  the first-order condition α A/N^α = β B/D^β, both to 1e-10); the same table with α, β to three
  decimals (0.336, 0.283, as quoted by Sardana & Frankle 2023) is printed beside it.

- Table A3's Approach 3 column: for each listed FLOP budget, N_opt and D_opt from the unrounded
  Approach 3 parameters (α = 0.33917084, β = 0.2849083, the values behind eq. 10 as used by
  Besiroglu et al. 2024's notebook), within 15% of the printed model size and token count: the
  paper prints budgets to three and tokens to two or three significant figures from parameters it
  rounds, which moves the projections by up to ~10% at the ends of the table. The 175B row prints
  1.26e24 FLOPs, a typo: 6 · 175e9 · 12.0e12 = 1.26e25, and the reproduction uses 1.26e25.

Examples
--------
>>> from papers import hoffmann2022
>>> hoffmann2022.TITLE
'Approach 3: allocation exponents and compute-optimal projections'
>>> hoffmann2022.TABLE_A3[0]  # (parameters, FLOPs, tokens) of the first row
(400000000.0, 2.21e+19, 9200000000.0)
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pandas as pd

from papers.reproduction import Check, Reproduction, write_tables
from structural.pretraining import compute_optimal, compute_optimal_for_size
from structural.published import HOFFMANN_2022, HOFFMANN_2022_TEX, SARDANA_2023

__all__ = ["TABLE_A3", "TITLE", "optimal_budget_for_size", "reproduce"]

TITLE = "Approach 3: allocation exponents and compute-optimal projections"

#: eq. (10) / §3.3: the Approach 3 parametric fit (structural.published.HOFFMANN_2022).
A, B, E, ALPHA, BETA = (HOFFMANN_2022[k] for k in ("A", "B", "E", "alpha", "beta"))
#: Table 2, Approach 3: N_opt ∝ C^a, D_opt ∝ C^b.
PUBLISHED_A, PUBLISHED_B = 0.46, 0.54
#: α, β as quoted to three decimals by Sardana & Frankle (2023), §2 (not verified against Hoffmann).
ALPHA_3DP, BETA_3DP = SARDANA_2023["alpha"], SARDANA_2023["beta"]
#: Unrounded Approach 3 exponents (Besiroglu et al. 2024 notebook, ``true_params``).
ALPHA_FULL, BETA_FULL = HOFFMANN_2022_TEX["alpha"], HOFFMANN_2022_TEX["beta"]
#: Table A3, Approach 3 columns: (parameters, FLOPs as printed, tokens).
TABLE_A3 = (
    (400e6, 2.21e19, 9.2e9), (1e9, 1.62e20, 27.1e9), (10e9, 2.46e22, 410.1e9),
    (67e9, 1.71e24, 4.1e12), (175e9, 1.26e24, 12.0e12), (280e9, 3.52e25, 20.1e12),
    (520e9, 1.36e26, 43.5e12), (1e12, 5.65e26, 94.1e12), (10e12, 8.55e28, 1425.5e12),
)
TYPO_ROW = 175e9  # printed 1.26e24; 6 N D = 1.26e25
#: Model sizes of Table 3 (and Table A3).
MODEL_SIZES = (400e6, 1e9, 10e9, 67e9, 175e9, 280e9, 520e9, 1e12, 10e12)


def optimal_budget_for_size(N: float, alpha: float = ALPHA, beta: float = BETA) -> float:
    """The compute budget C at which N is compute-optimal: invert N = G (C/6)^a.

    Examples
    --------
    >>> from papers.hoffmann2022 import optimal_budget_for_size
    >>> f"{optimal_budget_for_size(70e9):.3g}"
    '3.22e+24'
    """
    return float(compute_optimal_for_size(N, A, B, alpha, beta)["C"])


def reproduce(out: Path | None = None, quick: bool = False, progress: bool = True) -> Reproduction:
    """Regenerate the Approach 3 exponents and projection table.

    Examples
    --------
    >>> from papers import hoffmann2022
    >>> rep = hoffmann2022.reproduce(progress=False)
    >>> rep.passed
    True
    >>> rep.checks_frame()[["quantity", "published", "ok"]].head(3)
              quantity  published   ok
    0  a (N_opt ∝ C^a)       0.46  yes
    1  b (D_opt ∝ C^b)       0.54  yes
    2            a + b       1.00  yes
    """
    budgets = np.array([optimal_budget_for_size(N) for N in MODEL_SIZES])
    opt = compute_optimal(jnp.asarray(budgets), A, B, ALPHA, BETA)
    N, D = np.asarray(opt["N"]), np.asarray(opt["D"])
    budgets3 = np.array([optimal_budget_for_size(N, ALPHA_3DP, BETA_3DP) for N in MODEL_SIZES])
    opt3 = compute_optimal(jnp.asarray(budgets3), A, B, ALPHA_3DP, BETA_3DP)
    table = pd.DataFrame({
        "parameters": MODEL_SIZES, "flops": budgets, "tokens": D,
        "tokens_per_parameter": D / N,
        "flops (α=.336, β=.283)": budgets3, "tokens (α=.336, β=.283)": np.asarray(opt3["D"]),
    })
    a, b = float(opt["a"]), float(opt["b"])
    # first-order condition αA/N^α = βB/D^β, written out: an independent check of the optimum
    marginal_N = ALPHA * A / N**ALPHA  # independent check
    foc = np.abs(marginal_N - BETA * B / D**BETA) / marginal_N  # independent check
    checks = [
        Check("a (N_opt ∝ C^a)", a, PUBLISHED_A, 0.01, "abs", "Table 2, Approach 3"),
        Check("b (D_opt ∝ C^b)", b, PUBLISHED_B, 0.01, "abs", "Table 2, Approach 3"),
        Check("a + b", a + b, 1.0, 1e-12, "abs", "Appendix D.2"),
        Check("max |6 N D / C − 1| over the table", float(np.max(np.abs(6 * N * D / budgets - 1))),
              0.0, 1e-10, "abs", "C = 6 N D"),
        Check("max relative FOC error α A/N^α = β B/D^β", float(np.max(foc)), 0.0, 1e-10, "abs",
              "Appendix D.2"),
        Check("N_opt recovers the table's sizes",
              float(np.max(np.abs(N / np.array(MODEL_SIZES) - 1))), 0.0, 1e-10, "abs",
              "Table 3 sizes"),
    ]
    sizes = np.array([r[0] for r in TABLE_A3])
    printed = np.array([r[1] for r in TABLE_A3])
    tokens = np.array([r[2] for r in TABLE_A3])
    corrected = np.where(sizes == TYPO_ROW, 6 * sizes * tokens, printed)
    a3 = compute_optimal(jnp.asarray(corrected), A, B, ALPHA_FULL, BETA_FULL)
    n3, d3 = np.asarray(a3["N"]), np.asarray(a3["D"])
    for size, n_hat, d_pub, d_hat in zip(sizes, n3, tokens, d3, strict=True):
        label = f"{size / 1e9:g}B"
        checks.append(Check(f"Table A3 {label}: N_opt", float(n_hat), float(size), 0.15, "rel",
                            "Table A3, Approach 3"))
        checks.append(Check(f"Table A3 {label}: D_opt", float(d_hat), float(d_pub), 0.15, "rel",
                            "Table A3, Approach 3"))
    typo = 6 * TYPO_ROW * tokens[sizes == TYPO_ROW][0]
    checks.append(Check("Table A3 175B: 6·N·D (printed 1.26e24, a typo)", float(typo), 1.26e25,
                        0.01, "rel", "Table A3, Approach 3"))
    table_a3 = pd.DataFrame({"flops (Table A3)": printed, "flops used": corrected,
                             "N_opt": n3, "N (Table A3)": sizes, "D_opt": d3,
                             "D (Table A3)": tokens})
    table = pd.concat({"projection": table, "table_a3": table_a3}, axis=1)
    notes = [
        f"parameters: A={A}, B={B}, E={E}, α={ALPHA}, β={BETA} (eq. 10); Table A3 check with "
        f"the unrounded α={ALPHA_FULL}, β={BETA_FULL}",
        "Table A3 prints 1.26e24 FLOPs for 175B; 6·N·D = 1.26e25, used here",
    ]
    rep = Reproduction("hoffmann2022", TITLE, table, checks, notes)
    if out is not None:
        rep.files.extend(write_tables(table, Path(out), "hoffmann2022_approach3"))
    return rep
