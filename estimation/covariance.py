"""Covariance estimators for M- and ML-estimators, on the optimiser's coordinates θ.

With Q(θ) = Σ_i q_i(θ) minimised, H = ∇²Q(θ̂) and s_i = ∇q_i(θ̂) (scores):

    hessian   V = H⁻¹                                   (MLE, information equality)
    opg       V = (Σ s_i s_iᵀ)⁻¹                        (Berndt, Hall, Hall & Hausman 1974)
    robust    V = H⁻¹ (Σ s_i s_iᵀ) H⁻¹                  (Huber 1967; White 1982; "HC0")
    cluster   V = c · H⁻¹ (Σ_g S_g S_gᵀ) H⁻¹,  S_g = Σ_{i∈g} s_i,
              c = G/(G−1) · (n−1)/(n−k)                 (Liang & Zeger 1986; statsmodels' default)

For M-estimation (kind "m") only the sandwich forms are valid; "hessian" and "opg" assume the
objective is a negative log-likelihood.
"""

from __future__ import annotations

import warnings

import numpy as np

from estimation.errors import CovarianceWarning, SpecificationError

COV_TYPES = ("hessian", "opg", "robust", "cluster")


#: Condition number beyond which standard errors are reported with a warning: a parameter (or a
#: combination of them) is then barely identified and its SE is mostly rounding.
ILL_CONDITIONED = 1e12


def _inv(M: np.ndarray, what: str) -> np.ndarray:
    """M⁻¹ for a symmetric positive definite M; NaN (with a warning naming ``what``) otherwise."""
    try:
        ev = np.linalg.eigvalsh(0.5 * (M + M.T))
    except np.linalg.LinAlgError:
        ev = np.array([np.nan])
    if not np.all(np.isfinite(ev)) or ev.min() <= 0:
        warnings.warn(f"the {what} is not positive definite (smallest eigenvalue "
                      f"{ev.min():.3g}): its standard errors are NaN", CovarianceWarning,
                      stacklevel=3)
        return np.full_like(M, np.nan)
    cond = ev.max() / ev.min()
    try:
        inv = np.linalg.inv(M)
    except np.linalg.LinAlgError:  # positive eigenvalues at rounding level, singular to LU
        warnings.warn(f"the {what} is singular to working precision (condition number "
                      f"{cond:.2g}): its standard errors are NaN", CovarianceWarning,
                      stacklevel=3)
        return np.full_like(M, np.nan)
    if cond > ILL_CONDITIONED:
        warnings.warn(f"the {what} is ill-conditioned (condition number {cond:.2g}): some "
                      "parameters are barely identified and their standard errors unreliable",
                      CovarianceWarning, stacklevel=3)
    return inv


def covariance(
    cov_type: str,
    hess: np.ndarray,
    scores: np.ndarray,
    clusters: np.ndarray | None = None,
) -> np.ndarray:
    """The covariance of θ̂ of the requested type (NaN-filled if the Hessian is not invertible).

    Parameters
    ----------
    cov_type : {"hessian", "opg", "robust", "cluster"}
    hess : (k, k) Hessian of the minimised objective at the estimate.
    scores : (n, k) per-observation gradients of the objective's contributions.
    clusters : (n,) group labels, required for ``"cluster"``.
    """
    if cov_type not in COV_TYPES:
        raise SpecificationError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    n, k = scores.shape
    if cov_type == "hessian":
        return _inv(hess, "Hessian")
    if cov_type == "opg":
        return _inv(scores.T @ scores, "outer product of gradients")
    Hinv = _inv(hess, "Hessian")
    if cov_type == "robust":
        meat = scores.T @ scores
        return Hinv @ meat @ Hinv
    if clusters is None:
        raise SpecificationError("cov_type='cluster' needs clusters= (one group label per row)")
    clusters = np.asarray(clusters)
    if clusters.shape != (n,):
        raise SpecificationError(f"clusters has shape {clusters.shape}; expected ({n},)")
    _, codes = np.unique(clusters, return_inverse=True)
    G = int(codes.max()) + 1
    if G < 2:
        raise SpecificationError("cov_type='cluster' needs at least 2 clusters")
    S = np.zeros((G, k))
    np.add.at(S, codes, scores)
    c = G / (G - 1) * (n - 1) / (n - k)
    return c * (Hinv @ (S.T @ S) @ Hinv)
