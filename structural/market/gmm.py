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
    """b = (ZX' W ZX)⁻¹ ZX' W Zy for ZX = Z'X/N and Zy = Z'y/N (JAX arrays, differentiable).

    Examples
    --------
    Two-stage least squares as GMM with W = (Z'Z/N)⁻¹:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from structural.market.gmm import linear_gmm
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(500, 2)); x = z @ [1.0, 0.5] + rng.normal(size=500)
    >>> y = 2.0 * x + rng.normal(size=500)
    >>> Z, X, N = jnp.asarray(z), jnp.asarray(x[:, None]), 500
    >>> b = linear_gmm(Z.T @ X / N, Z.T @ jnp.asarray(y) / N, jnp.linalg.inv(Z.T @ Z / N))
    >>> round(float(b[0]), 2)
    2.03
    """
    A = ZX.T @ W
    return jnp.linalg.solve(A @ ZX, A @ Zy)


def moment_covariances(g: np.ndarray, clusters: np.ndarray | None = None,
                       center: bool = True) -> np.ndarray:
    """Centred S from per-product moments g (N, M); clustered when ``clusters`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> from structural.market.gmm import moment_covariances
    >>> g = np.random.default_rng(0).normal(size=(1000, 2))
    >>> np.round(moment_covariances(g), 1) + 0.0  # + 0.0 prints -0.0 as 0.0
    array([[1., 0.],
           [0., 1.]])
    """
    kind = "robust" if clusters is None else "cluster"
    S = moment_covariance(np.asarray(g, float), kind, clusters, center=center)
    return (S + S.T) / 2


def weights(S: np.ndarray, what: str = "moment covariances") -> np.ndarray:
    """W = S⁻¹ (symmetrised); a singular S is an error naming ``what``.

    Examples
    --------
    >>> import numpy as np
    >>> from structural.market.gmm import weights
    >>> weights(np.diag([2.0, 4.0]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]])
    """
    W = efficient_weight(np.asarray(S, float), what)
    return (W + W.T) / 2
