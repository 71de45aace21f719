"""The linear-GMM algebra of the demand estimator, on :mod:`estimation.gmm`.

Moments g_i(b) = Z_i'(y_i − X_i b) stacked per product; ḡ = Σ_i g_i / N. With weighting matrix W,
the minimiser of N ḡ'Wḡ is b = (X'Z W Z'X)⁻¹ X'Z W Z'y (linear IV / GMM, Hansen 1982), written here
in JAX because it sits inside the differentiated objective; the moment covariance
S = Σ_i (g_i − ḡ)(g_i − ḡ)'/N (centred; clustered: g summed within clusters first), the efficient
weight S⁻¹ and the sandwich (G'WG)⁻¹ G'W S W G (G'WG)⁻¹ / N are the engine's
(:func:`estimation.gmm.moment_covariance`, :func:`~estimation.gmm.efficient_weight`,
:func:`~estimation.gmm.sandwich`). These are PyBLP 1.3's conventions (Conlon and Gortmaker 2020,
Section 3), which the demand estimates are checked against.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from estimation.gmm import efficient_weight, moment_covariance, sandwich

__all__ = ["linear_gmm", "moment_covariances", "sandwich", "weights"]


def linear_gmm(ZX, Zy, W):
    """b = (ZX' W ZX)⁻¹ ZX' W Zy for ZX = Z'X/N and Zy = Z'y/N (JAX arrays, differentiable)."""
    A = ZX.T @ W
    return jnp.linalg.solve(A @ ZX, A @ Zy)


def moment_covariances(g: np.ndarray, clusters: np.ndarray | None = None,
                       center: bool = True) -> np.ndarray:
    """Centred S from per-product moments g (N, M); clustered when ``clusters`` is given."""
    kind = "robust" if clusters is None else "cluster"
    S = moment_covariance(np.asarray(g, float), kind, clusters, center=center)
    return (S + S.T) / 2


def weights(S: np.ndarray, what: str = "moment covariances") -> np.ndarray:
    """W = S⁻¹ (symmetrised); a singular S is an error naming ``what``."""
    W = efficient_weight(np.asarray(S, float), what)
    return (W + W.T) / 2
