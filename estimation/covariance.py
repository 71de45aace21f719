r"""Covariance estimators for M- and ML-estimators, on the optimiser's coordinates θ.

With :math:`Q(\theta) = \sum_i q_i(\theta)` minimised, :math:`H = \nabla^2 Q(\hat\theta)` and
the scores :math:`s_i = \nabla q_i(\hat\theta)`:

``hessian``
    :math:`V = H^{-1}` (MLE, information equality).
``opg``
    :math:`V = (\sum_i s_i s_i^\top)^{-1}` (Berndt, Hall, Hall & Hausman 1974).
``robust``
    :math:`V = H^{-1} (\sum_i s_i s_i^\top) H^{-1}` (Huber 1967; White 1982; "HC0").
``hc1``
    :math:`V = \frac{n}{n-k}\,\mathrm{HC0}` (Hinkley 1977; Stata's ``vce(robust)``).
``hc2``
    HC0 with :math:`s_i \to s_i / (1 - h_i)^{1/2}` (MacKinnon & White 1985).
``hc3``
    HC0 with :math:`s_i \to s_i / (1 - h_i)` (MacKinnon & White 1985; Long & Ervin 2000).
``cluster``
    :math:`V = c\, H^{-1} (\sum_g S_g S_g^\top) H^{-1}`, :math:`S_g = \sum_{i \in g} s_i`
    (Liang & Zeger 1986), with :math:`c = \frac{G}{G-1}\frac{n-1}{n-k}` ("statsmodels", also
    Stata's ``regress, vce(cluster)``) or :math:`c = \frac{G}{G-1}` ("stata-ml", Stata's
    convention for ML estimators).

:math:`h_i = \operatorname{tr}(\nabla^2 q_i(\hat\theta)\, H^{-1})` is the leverage of observation
i, the generalisation of the hat-matrix diagonal to nonlinear M-estimators (for least squares,
:math:`\nabla^2 q_i = 2 x_i x_i^\top` and :math:`H = 2 X^\top X` give
:math:`h_i = x_i^\top (X^\top X)^{-1} x_i`); :math:`\sum_i h_i = k`. HC2 and HC3 inflate the scores
of high-leverage rows, which the sandwich otherwise underweights in small samples (Long & Ervin
2000 recommend HC3 below n ≈ 250).

For M-estimation (kind "m") only the sandwich forms are valid; "hessian" and "opg" assume the
objective is a negative log-likelihood.
"""

from __future__ import annotations

import warnings

import numpy as np

from estimation.errors import CovarianceWarning, SpecificationError

COV_TYPES = ("hessian", "opg", "robust", "hc1", "hc2", "hc3", "cluster")
#: Small-sample factors of the cluster-robust covariance (see the module docstring).
CLUSTER_CORRECTIONS = ("statsmodels", "stata-ml")
#: Sandwich types that need the per-observation Hessians (for the leverages h_i).
NEEDS_LEVERAGE = ("hc2", "hc3")


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
    scores: np.ndarray | None,
    clusters: np.ndarray | None = None,
    *,
    obs_hessians: np.ndarray | None = None,
    cluster_correction: str = "statsmodels",
    outer: np.ndarray | None = None,
    nobs: int | None = None,
) -> np.ndarray:
    """The covariance of θ̂ of the requested type (NaN-filled if the Hessian is not invertible).

    Parameters
    ----------
    cov_type : {"hessian", "opg", "robust", "hc1", "hc2", "hc3", "cluster"}
    hess : (k, k) Hessian of the minimised objective at the estimate.
    scores : (n, k) per-observation gradients of the objective's contributions, or None where
        ``outer`` and ``nobs`` stand for them (``"hessian"``, ``"opg"``, ``"robust"``, ``"hc1"``).
    clusters : (n,) group labels, required for ``"cluster"``.
    obs_hessians : (n, k, k) per-observation Hessians ∇²q_i, required for ``"hc2"``/``"hc3"``.
    cluster_correction : {"statsmodels", "stata-ml"}
        The small-sample factor of ``"cluster"``: G/(G−1)·(n−1)/(n−k) or G/(G−1).
    outer, nobs : (k, k) array and int, optional
        :math:`\\sum_i s_i s_i^\\top` already summed (a compiled fit forms it where the scores
        are, :meth:`~estimation.objective.Objective.score_outer`) and the number of rows n.
    """
    if cov_type not in COV_TYPES:
        raise SpecificationError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    if cluster_correction not in CLUSTER_CORRECTIONS:
        raise SpecificationError(f"cluster_correction must be one of {CLUSTER_CORRECTIONS}, "
                                 f"got {cluster_correction!r}")
    if cov_type == "hessian":
        return _inv(hess, "Hessian")
    if scores is None:
        if outer is None or nobs is None or cov_type not in ("opg", "robust", "hc1"):
            raise SpecificationError(f"cov_type={cov_type!r} needs the per-observation scores")
        n, k = int(nobs), outer.shape[0]
    else:
        n, k = scores.shape
        outer = scores.T @ scores
    if cov_type == "opg":
        return _inv(outer, "outer product of gradients")
    Hinv = _inv(hess, "Hessian")
    if cov_type in ("robust", "hc1"):
        c = n / (n - k) if cov_type == "hc1" and n > k else 1.0
        return c * (Hinv @ outer @ Hinv)
    assert scores is not None  # checked above: only opg, robust and hc1 go without them
    if cov_type in NEEDS_LEVERAGE:
        if obs_hessians is None or obs_hessians.shape != (n, k, k):
            raise SpecificationError(f"cov_type={cov_type!r} needs the per-observation Hessians, "
                                     f"shape ({n}, {k}, {k})")
        h = leverage(obs_hessians, Hinv)
        d = (1.0 - h) ** (0.5 if cov_type == "hc2" else 1.0)
        s = scores / d[:, None]
        return Hinv @ (s.T @ s) @ Hinv
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
    c = G / (G - 1)
    if cluster_correction == "statsmodels":
        c *= (n - 1) / (n - k)
    return c * (Hinv @ (S.T @ S) @ Hinv)


def leverage(obs_hessians: np.ndarray, Hinv: np.ndarray) -> np.ndarray:
    """h_i = tr(∇²q_i H⁻¹), clipped below 1 so that HC2/HC3 stay finite at an interpolated row."""
    h = np.einsum("ijk,kj->i", obs_hessians, Hinv)
    return np.clip(h, 0.0, 1.0 - 1e-8)
