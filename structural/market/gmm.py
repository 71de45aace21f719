"""The generic linear-GMM algebra the demand estimator needs, in one place.

Moments g_i(b) = Z_i'(y_i − X_i b) stacked per product; ḡ = Σ_i g_i / N. With weighting matrix W,
the minimiser of N ḡ'Wḡ is b = (X'Z W Z'X)⁻¹ X'Z W Z'y (linear IV / GMM, Hansen 1982); the
sandwich covariance of the estimates is

    V = (G'WG)⁻¹ G'W S W G (G'WG)⁻¹ / N,   G = ∂ḡ/∂θ',  S = Σ_i (g_i − ḡ)(g_i − ḡ)' / N

(S with centred moments; clustered: g summed within clusters first). These are the conventions of
PyBLP 1.3 (Conlon and Gortmaker 2020, Section 3), which the demand estimates are checked against.
Kept small on purpose: it is the one piece to replace by :mod:`estimation`'s GMM engine.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.errors import SpecificationError


def linear_gmm(ZX, Zy, W):
    """b = (ZX' W ZX)⁻¹ ZX' W Zy for ZX = Z'X/N and Zy = Z'y/N (JAX or NumPy arrays)."""
    A = ZX.T @ W
    return jnp.linalg.solve(A @ ZX, A @ Zy)


def moment_covariances(g: np.ndarray, clusters: np.ndarray | None = None,
                       center: bool = True) -> np.ndarray:
    """S = Σ (g_i − ḡ)(g_i − ḡ)'/N from per-observation moments g (N, M); clustered sums first."""
    g = np.asarray(g, float)
    N = g.shape[0]
    if center:
        g = g - g.mean(axis=0)
    if clusters is not None:
        codes = pd.factorize(pd.Series(clusters))[0]
        summed = np.zeros((codes.max() + 1, g.shape[1]))
        np.add.at(summed, codes, g)
        g = summed
    S = g.T @ g / N
    return (S + S.T) / 2


def weights(S: np.ndarray, what: str = "moment covariances") -> np.ndarray:
    """W = S⁻¹, symmetrised; a singular S is an error naming ``what``."""
    S = np.asarray(S, float)
    if not np.all(np.isfinite(S)):
        raise SpecificationError(f"{what}: not finite; cannot form the weighting matrix")
    cond = np.linalg.cond(S)
    if not np.isfinite(cond) or cond > 1e15:
        raise SpecificationError(f"{what}: singular (condition number {cond:.3g}); "
                                 "the instruments are collinear")
    W = np.linalg.inv(S)
    return (W + W.T) / 2


def sandwich(G: np.ndarray, W: np.ndarray, S: np.ndarray, N: int) -> np.ndarray:
    """Robust GMM parameter covariance (G'WG)⁻¹ G'WSWG (G'WG)⁻¹ / N."""
    bread = np.linalg.pinv(G.T @ W @ G)
    V = bread @ G.T @ W @ S @ W @ G @ bread / N
    return (V + V.T) / 2
