"""Sardana & Frankle (2023), "Beyond Chinchilla-Optimal: Accounting for Inference in Language
Model Scaling Laws", arXiv:2401.00448, §2 (eq. 2–4) and the worked example of §1/§3.

The firm minimises lifetime FLOPs 6 N D_tr + 2 N D_inf subject to the Chinchilla loss
L(N, D_tr) = ℓ (A = 406.4, B = 410.7, E = 1.69, α = 0.336, β = 0.283 as used by the paper; these
three-decimal α, β could not be re-checked here against the paper's text and are taken from the
project's issue; Hoffmann et al. 2022 print 0.34 and 0.28).

Reproduced here, with the project's own machinery rather than the paper's closed forms:

- the worked example of Fig. 1's caption: a 13B model trained compute-optimally (the law's own
  optimum, D = G⁻¹(C/6)^b) and then serving 2e12 inference tokens, against the 7B model of equal
  loss: the 7B saves ≈ 1.7e22 FLOPs, ≈ 17 % of the 13B's lifetime FLOPs (tolerance 5 %);
- the inference-aware optimum N*, D* at that loss, solved by :func:`structural.firm.solve` with
  free levers (N, D), quality = model loss, Q = 2e12 one-token queries and a cost whose dollars
  equal FLOPs (so the pipeline's accounting is the paper's);
- its first-order condition ε_N / ε_D = 1 + D_inf / (3 D_tr), ε_X = −∂ ln(L − E)/∂ ln X, to 1e-8.

Examples
--------
>>> from papers import sardana2023
>>> sardana2023.TITLE
'Inference-aware compute-optimal scaling: the 13B → 7B example'
>>> sardana2023.PUBLISHED_SAVING_FLOPS, sardana2023.PUBLISHED_SAVING_SHARE
(1.7e+22, 0.17)
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from papers.reproduction import Check, Reproduction, write_tables
from structural import costs, firm
from structural.pretraining import chinchilla_loss, compute_optimal_for_size, data_for_loss
from structural.published import SARDANA_2023

__all__ = ["PUBLISHED_SAVING_FLOPS", "PUBLISHED_SAVING_SHARE", "TITLE", "loss", "reproduce",
           "tokens_for_loss"]

TITLE = "Inference-aware compute-optimal scaling: the 13B → 7B example"

A, B, E, ALPHA, BETA = (SARDANA_2023[k] for k in ("A", "B", "E", "alpha", "beta"))
N_CHINCHILLA = 13e9
D_INFERENCE = 2e12
#: Fig. 1 caption: training a 7B instead of a 13B model for 2T inference tokens "can reduce their
#: total compute by 1.7 × 10^22 FLOPs (17%)".
PUBLISHED_SAVING_FLOPS = 1.7e22
PUBLISHED_SAVING_SHARE = 0.17
N_SMALL = 7e9


def loss(N: float, D: float) -> float:
    """L(N, D) with the paper's constants (:func:`structural.pretraining.chinchilla_loss`).

    Examples
    --------
    >>> from papers.sardana2023 import loss
    >>> round(loss(13e9, 260e9), 4)
    2.094
    """
    return float(chinchilla_loss(N, D, A, B, E, ALPHA, BETA))


def tokens_for_loss(N: float, ell: float) -> float:
    """D with L(N, D) = ℓ (:func:`structural.pretraining.data_for_loss`).

    Examples
    --------
    >>> from papers.sardana2023 import loss, tokens_for_loss
    >>> f"{tokens_for_loss(7e9, loss(13e9, 260e9)):.3g}"
    '4.72e+11'
    """
    return float(data_for_loss(N, ell, A, B, E, ALPHA, BETA))


def _direct_optimum(ell: float) -> float:
    """N minimising 6 N D(N) + 2 N D_inf along L(N, D(N)) = ℓ, by bounded scalar search in log N:
    an independent check on the firm's solver. The lifetime FLOPs are one compiled program
    (:func:`_lifetime`), called by the search, instead of one small program per array operation."""
    from scipy.optimize import minimize_scalar

    lifetime = _kept(_lifetime, "sardana2023 lifetime FLOPs on the iso-loss curve")
    ell64 = np.float64(ell)
    lo = np.log((A / (ell - E)) ** (1 / ALPHA)) + 1e-6  # smallest N that can reach ℓ
    res = minimize_scalar(lambda logN: float(lifetime(np.float64(logN), ell64)),
                          bounds=(lo, np.log(1e12)), method="bounded", options={"xatol": 1e-10})
    return float(np.exp(res.x))


def _lifetime(logN, ell):
    """6 N D(N) + 2 N D_inf with D(N) the tokens that reach loss ℓ (eq. 2 along the constraint)."""
    N = jnp.exp(logN)
    return 6 * N * data_for_loss(N, ell, A, B, E, ALPHA, BETA) + 2 * N * D_INFERENCE


def _example(N13, N7):
    """The worked example in one program: the 13B's compute-optimal C and D (the law's own
    optimum), its loss ℓ, the 7B's tokens of equal loss and the 7B's loss."""
    opt = compute_optimal_for_size(N13, A, B, ALPHA, BETA)
    ell = chinchilla_loss(N13, opt["D"], A, B, E, ALPHA, BETA)
    D7 = data_for_loss(N7, ell, A, B, E, ALPHA, BETA)
    return {"C13": opt["C"], "D13": opt["D"], "ell": ell, "D7": D7,
            "loss7": chinchilla_loss(N7, D7, A, B, E, ALPHA, BETA)}


def _at_optimum(N, D):
    """The loss at (N, D) and the elasticities ε_N, ε_D = −∂ ln(L − E)/∂ ln X there."""
    def log_excess(logN, logD):
        return jnp.log(A * jnp.exp(-ALPHA * logN) + B * jnp.exp(-BETA * logD))

    eN, eD = jax.grad(log_excess, argnums=(0, 1))(jnp.log(N), jnp.log(D))
    return {"loss": chinchilla_loss(N, D, A, B, E, ALPHA, BETA), "eN": -eN, "eD": -eD}


def _kept(fn, name: str):
    """``fn`` as one compiled program kept between runs (:func:`estimation.compilation.traced_jit`):
    run operation by operation, the reproduction's scalar formulas built ~20 small programs."""
    from estimation.compilation import traced_jit

    return traced_jit(fn, (name, fn))


def flops_theta() -> dict[str, float]:
    """Cost parameters under which the pipeline's dollars equal its FLOPs and the accounting is the
    paper's: 6 N D training, 2 N per inference token, no attention term, no memory bound."""
    return costs.cost_parameters(
        "H100", u_train=1.0, u_finetune=1.0, u_prefill=1.0, u_decode=1.0,
        n_layer_d_attn=0.0, N_ref=1.0, bytes_per_param=1e-30, bytes_kv=0.0,
        data_price=0.0, finetune_data_price=0.0,
    ) | {"peak_train": 1.0, "peak_infer": 1.0, "price_per_hour": 3600.0,
         "price_per_hour_train": 3600.0, "bandwidth": 1e300}


def _solve_model_loss():
    """:func:`structural.firm.solve_masked` in loss mode, its traced program kept between runs
    (:func:`estimation.compilation.traced_jit`): the firm's problem takes seconds to trace, the
    rest of the reproduction a fraction of one. The same program as ``firm.solve``'s."""
    from estimation.compilation import traced_jit

    def solve(mask, z, theta, Q, target):
        return firm.solve_masked(mask, z, theta, Q, target, quality="model_loss")

    return traced_jit(solve, ("sardana2023 firm problem", solve))


def reproduce(out: Path | None = None, quick: bool = False, progress: bool = True) -> Reproduction:
    """Regenerate the 13B/7B example and the inference-aware optimum with the firm's solver.

    Examples
    --------
    >>> from papers import sardana2023
    >>> rep = sardana2023.reproduce(progress=False)
    >>> rep.passed
    True
    """
    ex = {k: float(v) for k, v in _kept(_example, "sardana2023 worked example")(
        np.float64(N_CHINCHILLA), np.float64(N_SMALL)).items()}
    C13, D13, ell, D7 = ex["C13"], ex["D13"], ex["ell"], ex["D7"]
    life13 = 6 * N_CHINCHILLA * D13 + 2 * N_CHINCHILLA * D_INFERENCE
    life7 = 6 * N_SMALL * D7 + 2 * N_SMALL * D_INFERENCE

    # The firm's problem in the pipeline's own accounting (dollars = FLOPs).
    theta = firm.default_parameters(
        A=A, B=B, E=E, alpha=ALPHA, beta=BETA, R_D_star=1e12, R_N_star=1e12, ft_weight=0.0,
    ) | flops_theta()
    z = firm.default_levers(N=N_CHINCHILLA, D=D13, U=1e30, D_F=0.0, c=0.0, x=0.0, k=1.0, r=0.0,
                            y=1.0)
    sol = _solve_model_loss()(firm.free_mask(("N", "D")), z, theta, D_INFERENCE, ell)
    N_star, D_star = float(sol.levers["N"]), float(sol.levers["D"])
    opt = {k: float(v) for k, v in _kept(_at_optimum, "sardana2023 optimum")(
        np.float64(N_star), np.float64(D_star)).items()}
    foc_lhs, foc_rhs = opt["eN"] / opt["eD"], 1.0 + D_INFERENCE / (3.0 * D_star)

    table = pd.DataFrame([
        {"model": "13B Chinchilla-optimal", "N": N_CHINCHILLA, "D_train": D13,
         "loss": ell, "training FLOPs": 6 * N_CHINCHILLA * D13, "lifetime FLOPs": life13},
        {"model": "7B, equal loss", "N": N_SMALL, "D_train": D7, "loss": ex["loss7"],
         "training FLOPs": 6 * N_SMALL * D7, "lifetime FLOPs": life7},
        {"model": "inference-aware optimum (firm.solve)", "N": N_star, "D_train": D_star,
         "loss": opt["loss"], "training FLOPs": 6 * N_star * D_star,
         "lifetime FLOPs": float(sol.cost)},
    ]).set_index("model")
    checks = [
        Check("FLOPs saved by the 7B", life13 - life7, PUBLISHED_SAVING_FLOPS, 0.05, "rel",
              "§1/§3 example"),
        Check("share of lifetime FLOPs saved", (life13 - life7) / life13, PUBLISHED_SAVING_SHARE,
              0.05, "rel", "§1/§3 example"),
        Check("firm.solve converged", float(bool(sol.converged)), 1.0, 0.0, "abs", "solver flag"),
        Check("FOC ε_N/ε_D − (1 + D_inf/(3 D_tr))", foc_lhs - foc_rhs, 0.0, 1e-8, "abs",
              "eq. 3–4 (first-order condition)"),
        Check("loss at the optimum − target", opt["loss"] - ell, 0.0, 1e-10, "abs",
              "constraint"),
        Check("N* (firm.solve) vs a direct 1-D minimisation", N_star, _direct_optimum(ell),
              1e-6, "rel", "eq. 2 minimised along the iso-loss curve"),
    ]
    notes = [
        f"13B trained on the law's compute-optimal D = {D13:.4g} tokens (C = {C13:.4g})",
        f"inference-aware optimum: N* = {N_star:.6g}, D* = {D_star:.6g} "
        f"({D_star / N_star:.1f} tokens per parameter), lifetime FLOPs {float(sol.cost):.6g}",
        f"ε_N/ε_D = {foc_lhs:.12g}, 1 + D_inf/(3 D_tr) = {foc_rhs:.12g}",
    ]
    rep = Reproduction("sardana2023", TITLE, table, checks, notes)
    if out is not None:
        rep.files.extend(write_tables(table, Path(out), "sardana2023_example"))
    return rep
