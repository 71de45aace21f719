"""Generalised method of moments for moment functions written in JAX (Hansen 1982).

With per-observation moments g_i(θ) ∈ R^m, their mean ḡ(θ) = n⁻¹ Σ_i g_i(θ) and a weighting
matrix W, the estimator minimises

    Q(θ) = n · ḡ(θ)' W ḡ(θ).

One-step GMM uses a fixed W (identity, or (Z'Z/n)⁻¹ — "2SLS" — when the moments are
instruments times residuals); two-step GMM re-estimates W = Ŝ⁻¹ from the first step's moments;
iterated GMM repeats until the estimates settle (Hansen, Heaton & Yaron 1996). Ŝ estimates the
covariance of √n·ḡ:

    robust      Ŝ = n⁻¹ Σ_i g_i g_i'
    cluster     Ŝ = n⁻¹ Σ_c (Σ_{i∈c} g_i)(Σ_{i∈c} g_i)'
    unadjusted  Ŝ = σ̂² Z'Z/n                 (moments z_i u_i with homoskedastic u)

times n/(n−k) (robust, unadjusted) or (n−1)/(n−k)·C/(C−1) (cluster) when ``debiased``. With
G = ∂ḡ/∂θ' the covariance of θ̂ is the sandwich (Hansen 1982; Hall 2005, *Generalized Method
of Moments*, Thm 3.2)

    V = (G'WG)⁻¹ G'W Ŝ W G (G'WG)⁻¹ / n,

which reduces to (G'Ŝ⁻¹G)⁻¹/n when W = Ŝ⁻¹ (``efficient_cov=True``, Ŝ at θ̂). Hansen's J statistic
n·ḡ'Ŵḡ is χ²(m − k) under the over-identifying restrictions when W is efficient.

**Concentrating out linear parameters** (the pattern of Berry, Levinsohn & Pakes 1995 and
PyBLP): when the moments are z_i·u_i with u(θ, β) = r(θ) − Xβ, β enters ḡ linearly,
ḡ(θ, β) = a(θ) − Bβ with a = Z'r(θ)/n and B = Z'X/n, and for given θ the minimiser is the
linear GMM estimate β(θ) = (B'WB)⁻¹ B'W a(θ). The optimiser then searches over θ only; exact
derivatives flow through β(θ) by JAX. Several equations (demand and supply, say) stack their
moments, each with its own instruments and linear regressors.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.errors import (
    CovarianceWarning,
    EstimationFailed,
    ModelFunctionError,
    NotConvergedWarning,
    SpecificationError,
)
from estimation.gmm_results import GMMResults
from estimation.hypothesis_tests import TestResult
from estimation.objective import as_data
from estimation.parameters import Param, ParamSpec, as_spec

WEIGHT_TYPES = ("unadjusted", "robust", "cluster")
STEPS = (1, 2, "iterated")
NEWTON_METHODS = ("trust-exact", "newton-cg", "trust-krylov", "trust-ncg", "dogleg")

#: The scale-free stationarity test of the GMM objective: Q is in χ² units (a J statistic), so
#: max_j |∂Q/∂θ_j|·max(|θ_j|, 1) below this means no step can change Q by a meaningful amount.
GTOL = 1e-6


# --- the covariance of the moments and the sandwich -------------------------------------------
def cluster_codes(clusters: Any, n: int) -> tuple[np.ndarray, int]:
    """Integer codes 0..C−1 of one cluster label per row, checked (shape, missing, C ≥ 2)."""
    c = np.asarray(clusters)
    if c.shape != (n,):
        raise SpecificationError(f"clusters has shape {c.shape}; expected ({n},), one label "
                                 "per row")
    if pd.isna(c).any():
        rows = np.flatnonzero(pd.isna(c))[:5].tolist()
        raise SpecificationError(f"clusters has missing labels (rows {rows})")
    _, codes = np.unique(c, return_inverse=True)
    C = int(codes.max()) + 1
    if C < 2:
        raise SpecificationError("clustered covariance needs at least 2 clusters; got 1")
    return codes, C


def moment_covariance(
    g: np.ndarray,
    kind: str = "robust",
    clusters: np.ndarray | None = None,
    *,
    k: int = 0,
    debiased: bool = False,
    center: bool = False,
    residuals: np.ndarray | None = None,
    instruments: np.ndarray | None = None,
) -> np.ndarray:
    """Ŝ, the covariance of √n·ḡ, from per-observation moments ``g`` (n, m) at an estimate.

    ``kind="unadjusted"`` needs the ``residuals`` (n,) and ``instruments`` (n, m) whose
    product the moments are: Ŝ = σ̂² Z'Z/n with σ̂² the (centred) residual variance.
    ``k`` is the number of estimated parameters, used only by the ``debiased`` scaling.
    """
    g = np.asarray(g, dtype=np.float64)
    n = g.shape[0]
    if kind not in WEIGHT_TYPES:
        raise SpecificationError(f"covariance type must be one of {WEIGHT_TYPES}, got {kind!r}")
    if debiased and n - k <= 0:
        raise SpecificationError(f"debiased covariance needs more rows ({n}) than parameters ({k})")
    scale = n / (n - k) if debiased else 1.0
    if kind == "unadjusted":
        if residuals is None or instruments is None:
            raise SpecificationError(
                "unadjusted (homoskedastic) weighting needs moments of the form instruments × "
                "residuals; use 'robust' or 'cluster' for general moment functions")
        u = np.asarray(residuals, dtype=np.float64)
        u = u - u.mean() if center else u
        Z = np.asarray(instruments, dtype=np.float64)
        return scale * (u @ u / n) * (Z.T @ Z / n)
    gc = g - g.mean(axis=0) if center else g
    if kind == "robust":
        return scale * (gc.T @ gc / n)
    if clusters is None:
        raise SpecificationError("cov_type='cluster' needs clusters= (one group label per row)")
    codes, C = cluster_codes(clusters, n)
    if C <= g.shape[1]:
        warnings.warn(f"{C} clusters for {g.shape[1]} moment conditions: the clustered moment "
                      f"covariance has rank at most {C} and its standard errors are unreliable",
                      CovarianceWarning, stacklevel=3)
    sums = np.zeros((C, g.shape[1]))
    np.add.at(sums, codes, gc)
    S = sums.T @ sums / n
    if debiased:
        S *= (n - 1) / (n - k) * C / (C - 1)
    return S


def sandwich(G: np.ndarray, W: np.ndarray, S: np.ndarray | None, n: int) -> np.ndarray:
    """(G'WG)⁻¹ G'WŜWG (G'WG)⁻¹ / n, or (G'WG)⁻¹/n when ``S`` is None (W = Ŝ⁻¹ efficient)."""
    A = G.T @ W @ G
    Ainv = _inv_named(A, "G'WG (the curvature of the GMM objective)")
    if S is None:
        V = Ainv / n
    else:
        V = Ainv @ (G.T @ W @ S @ W @ G) @ Ainv / n
    return 0.5 * (V + V.T)


def _inv_named(M: np.ndarray, what: str) -> np.ndarray:
    """M⁻¹ for a symmetric positive definite M, or an error naming ``what`` (never NaN SEs)."""
    M = 0.5 * (M + M.T)
    if not np.all(np.isfinite(M)):
        raise EstimationFailed(f"{what} is not finite")
    ev = np.linalg.eigvalsh(M)
    if not np.all(np.isfinite(ev)) or ev.min() <= ev.max() * 1e-14:
        raise EstimationFailed(
            f"{what} is singular (eigenvalues {ev.min():.3g} to {ev.max():.3g}): the parameters "
            "are not identified by these moments")
    return np.linalg.inv(M)


def efficient_weight(S: np.ndarray, what: str = "the moment covariance Ŝ") -> np.ndarray:
    """W = Ŝ⁻¹, refusing a singular Ŝ (too few clusters, or a moment that never varies)."""
    try:
        return _inv_named(S, what)
    except EstimationFailed as err:
        raise EstimationFailed(
            f"{err}; the efficient weighting matrix Ŝ⁻¹ is not defined (for clustered weights "
            "there must be more clusters than moments)") from None


def j_test(J: float, df: int, name: str = "Hansen's J") -> TestResult | None:
    """J ~ χ²(df); None when exactly identified (df = 0)."""
    if df <= 0:
        return None
    # chdtrc is what scipy.stats' chi2.sf calls (the same numbers), without importing
    # scipy.stats: most of a second of a short command
    from scipy.special import chdtrc

    return TestResult(float(J), int(df), float(chdtrc(df, J)), name)


# --- the nonlinear estimator ------------------------------------------------------------------
def _as_matrix(x: Any, n: int, what: str, prefix: str) -> tuple[np.ndarray, list[str]]:
    """A (n, k) float matrix with column names from a DataFrame, Series or array."""
    if isinstance(x, pd.Series):
        x = x.to_frame()
    if isinstance(x, pd.DataFrame):
        bad = [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]
        if bad:
            raise SpecificationError(f"{what}: column(s) {bad} are not numeric")
        names = [str(c) for c in x.columns]
        arr = x.to_numpy(dtype=np.float64)
    else:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise SpecificationError(f"{what}: expected numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
        if arr.ndim == 1:
            arr = arr[:, None]
        names = [f"{prefix}{j}" for j in range(arr.shape[1])]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise SpecificationError(f"{what}: expected {n} rows (one per observation), got shape "
                                 f"{arr.shape}")
    bad_cols = [names[j] for j in range(arr.shape[1]) if not np.all(np.isfinite(arr[:, j]))]
    if bad_cols:
        j = names.index(bad_cols[0])
        rows = np.flatnonzero(~np.isfinite(arr[:, j]))[:5].tolist()
        raise SpecificationError(f"{what}: column {bad_cols[0]!r} has missing or infinite values "
                                 f"(rows {rows})")
    return arr, names


def check_full_rank(M: np.ndarray, names: Sequence[str], what: str) -> None:
    """Raise naming the first column of ``M`` that is a linear combination of those before it."""
    if M.shape[1] == 0:
        return
    norms = np.linalg.norm(M, axis=0)
    zero = [names[j] for j in range(M.shape[1]) if norms[j] == 0]
    if zero:
        raise SpecificationError(f"{what}: column {zero[0]!r} is identically zero")
    Ms = M / norms
    if np.linalg.matrix_rank(Ms) == M.shape[1]:
        return
    for j in range(1, M.shape[1]):
        if np.linalg.matrix_rank(Ms[:, : j + 1]) <= j:
            raise SpecificationError(
                f"{what} are collinear: column {names[j]!r} is a linear combination of "
                f"{list(names[:j])}; drop it")


class _Equations:
    """Instruments × residuals moments with linear parameters concentrated out, as arrays."""

    def __init__(self, instruments: Any, linear: Any, n: int, n_eq: int):
        Zs = instruments if isinstance(instruments, list | tuple) else [instruments]
        if len(Zs) != n_eq:
            raise SpecificationError(f"residuals returns {n_eq} equation(s) but instruments has "
                                     f"{len(Zs)} matrices; give one per equation")
        Xs = linear if isinstance(linear, list | tuple) else [linear] * (linear is not None)
        if linear is None:
            Xs = [None] * n_eq
        if len(Xs) != n_eq:
            raise SpecificationError(f"residuals returns {n_eq} equation(s) but linear has "
                                     f"{len(Xs)} matrices; give one per equation (None for none)")
        tag = (lambda e: f"eq{e}:") if n_eq > 1 else (lambda e: "")
        self.Z, self.X, self.moment_names, self.linear_names = [], [], [], []
        for e, (Z, X) in enumerate(zip(Zs, Xs, strict=True)):
            Zm, zn = _as_matrix(Z, n, "instruments" + (f"[{e}]" if n_eq > 1 else ""), "z")
            check_full_rank(Zm, zn, "instruments")
            self.Z.append(Zm)
            self.moment_names += [tag(e) + c for c in zn]
            if X is None:
                self.X.append(np.zeros((n, 0)))
                continue
            Xm, xn = _as_matrix(X, n, "linear" + (f"[{e}]" if n_eq > 1 else ""), "beta")
            check_full_rank(Xm, xn, "linear regressors")
            if Xm.shape[1] > Zm.shape[1]:
                raise SpecificationError(
                    f"equation {e}: {Xm.shape[1]} linear parameters but only {Zm.shape[1]} "
                    "instruments")
            self.X.append(Xm)
            self.linear_names += [tag(e) + c for c in xn]
        self.n = n
        self.sizes = [Z.shape[1] for Z in self.Z]
        self.m = sum(self.sizes)
        self.k_lin = sum(X.shape[1] for X in self.X)
        # B = blockdiag(Z_e'X_e)/n: ḡ(θ, β) = a(θ) − Bβ.
        B = np.zeros((self.m, self.k_lin))
        r0 = c0 = 0
        for Z, X in zip(self.Z, self.X, strict=True):
            B[r0:r0 + Z.shape[1], c0:c0 + X.shape[1]] = Z.T @ X / n
            r0, c0 = r0 + Z.shape[1], c0 + X.shape[1]
        self.B = jnp.asarray(B)
        self.Zj = [jnp.asarray(Z) for Z in self.Z]
        self.Xj = [jnp.asarray(X) for X in self.X]

    def initial_weight(self) -> np.ndarray:
        """blockdiag((Z_e'Z_e/n)⁻¹): the 2SLS weighting of each equation."""
        W = np.zeros((self.m, self.m))
        r0 = 0
        for Z in self.Z:
            q = Z.shape[1]
            W[r0:r0 + q, r0:r0 + q] = np.linalg.inv(Z.T @ Z / self.n)
            r0 += q
        return W

    def a(self, r):
        """a(θ) = [Z_e' r_e / n]_e for residuals r of shape (n, e)."""
        return jnp.concatenate([Z.T @ r[:, e] / self.n for e, Z in enumerate(self.Zj)])

    def beta(self, a, W):
        """β(θ) = (B'WB)⁻¹ B'W a: the linear GMM estimate given the nonlinear parameters."""
        if self.k_lin == 0:
            return jnp.zeros(0)
        BW = self.B.T @ W
        return jnp.linalg.solve(BW @ self.B, BW @ a)

    def per_obs(self, r, beta):
        """g_i = [z_ie · u_ie]_e with u_e = r_e − X_e β_e, shape (n, m)."""
        cols, c0 = [], 0
        for e, (Z, X) in enumerate(zip(self.Zj, self.Xj, strict=True)):
            k = X.shape[1]
            u = r[:, e] - X @ beta[c0:c0 + k]
            cols.append(Z * u[:, None])
            c0 += k
        return jnp.concatenate(cols, axis=1)

    def resid(self, r, beta):
        out, c0 = [], 0
        for e, X in enumerate(self.Xj):
            k = X.shape[1]
            out.append(r[:, e] - X @ beta[c0:c0 + k])
            c0 += k
        return jnp.stack(out, axis=1)


class _MomentModel:
    """One problem's moment conditions, compiled once for every step: Q(θ; W) = n·ḡ'Wḡ with
    its gradient (and β(θ) as auxiliary output), the per-observation moments and residuals,
    and ∂a/∂θ, from which both the Gauss–Newton curvature and the sandwich's G come."""

    def __init__(self, spec: ParamSpec, arrays: dict, n: int, moments: Callable | None,
                 residuals: Callable | None, instruments: Any, linear: Any,
                 homoskedastic: bool, method: str, theta0: np.ndarray):
        self.spec, self.arrays, self.n = spec, arrays, n
        fn: Callable = residuals if residuals is not None else moments  # type: ignore[assignment]
        self.fn, self.fn_name = fn, getattr(fn, "__name__", "the moment function")
        self.eqs: _Equations | None = None
        if residuals is not None:
            shape = self._shape(theta0)
            if len(shape) not in (1, 2) or shape[0] != n:
                raise ModelFunctionError(f"{self.fn_name} returned shape {shape}; expected "
                                         f"({n},) or ({n}, e), one residual per row and equation")
            n_eq = 1 if len(shape) == 1 else shape[1]
            if n_eq > 1 and homoskedastic:
                raise SpecificationError("unadjusted (homoskedastic) Ŝ is defined for one "
                                         "equation; use 'robust' or 'cluster' for stacked "
                                         "equations")
            self.eqs = eqs = _Equations(instruments, linear, n, n_eq)
            self.m, self.moment_names, self.linear_names = eqs.m, eqs.moment_names, \
                eqs.linear_names

            def a_of(theta):
                return eqs.a(self._r(theta))

            def gbar_beta(theta, W):
                a = a_of(theta)
                beta = eqs.beta(a, W)
                return a - eqs.B @ beta, beta

            def per_obs(theta, beta):
                r = self._r(theta)
                return eqs.per_obs(r, beta), eqs.resid(r, beta)
        else:
            shape = self._shape(theta0)
            if len(shape) != 2 or shape[0] != n:
                raise ModelFunctionError(f"{self.fn_name} returned shape {shape}; expected "
                                         f"({n}, m), one row of moment conditions per observation")
            self.m, self.linear_names = shape[1], []
            self.moment_names = [f"g{j}" for j in range(self.m)]

            def a_of(theta):
                return self._call(theta).mean(axis=0)

            def gbar_beta(theta, W):
                return a_of(theta), jnp.zeros(0)

            def per_obs(theta, beta):
                return self._call(theta), None

        self.k = len(spec) + len(self.linear_names)
        if self.m < self.k:
            raise SpecificationError(
                f"{self.m} moment conditions cannot identify {self.k} parameters "
                f"({spec.names + self.linear_names}); add instruments")

        def q_aux(t, W):
            gb, beta = gbar_beta(t, W)
            return n * gb @ W @ gb, beta

        self.vg_fn = jax.jit(jax.value_and_grad(q_aux, has_aux=True))
        self.gi_fn = jax.jit(per_obs)
        self.da_fn = jax.jit(jax.jacfwd(a_of))
        self.B = np.asarray(self.eqs.B) if self.eqs is not None else np.zeros((self.m, 0))
        self.exact_h = (jax.jit(jax.hessian(lambda t, W: q_aux(t, W)[0]))
                        if method in NEWTON_METHODS else None)

    def _call(self, theta):
        return jnp.asarray(self.fn(self.spec.model_dict(theta), self.arrays), dtype=jnp.float64)

    def _r(self, theta):
        r = self._call(theta)
        return r[:, None] if r.ndim == 1 else r

    def _start_values(self, theta) -> dict[str, float]:
        return dict(zip(self.spec.names, self.spec.to_user_np(theta).tolist(), strict=True))

    def _shape(self, theta) -> tuple[int, ...]:
        """The user's output shape at the start, found by tracing (nothing compiled or run);
        a failure is re-raised naming the function and the start."""
        try:
            return tuple(jax.eval_shape(self._call, jnp.asarray(theta)).shape)
        except Exception as err:  # a user's bug: say where it happened and with which values
            raise ModelFunctionError(f"{self.fn_name} failed at the start "
                                     f"{self._start_values(theta)}: {type(err).__name__}: "
                                     f"{err}") from err

    def check_start(self, theta0: np.ndarray) -> None:
        """Q and ∇Q finite at the start, or an error naming the function, start and rows."""
        vals = self._start_values(theta0)
        try:
            (q, _), g = self.vg_fn(jnp.asarray(theta0), jnp.eye(self.m))
        except Exception as err:  # a user's bug: say where it happened and with which values
            raise ModelFunctionError(f"{self.fn_name} failed at the start {vals}: "
                                     f"{type(err).__name__}: {err}") from err
        if np.isfinite(float(q)) and np.all(np.isfinite(np.asarray(g))):
            return
        out = np.asarray(self._call(jnp.asarray(theta0)))
        rows = np.flatnonzero(~np.isfinite(out.reshape(self.n, -1)).all(axis=1))[:5].tolist()
        where = f" (rows {rows})" if rows else " (its derivatives)"
        raise ModelFunctionError(f"{self.fn_name} is not finite at the start {vals}{where}")

    def beta_at(self, theta, W) -> np.ndarray:
        """β(θ), the concentrated linear parameters (empty without ``linear``)."""
        return np.asarray(self.vg_fn(jnp.asarray(theta), jnp.asarray(W))[0][1])

    def curvature(self, theta, W) -> np.ndarray:
        """2n·J'WJ with J = (I − B(B'WB)⁻¹B'W)·∂a/∂θ, the total Jacobian through β(θ)."""
        A = np.asarray(self.da_fn(jnp.asarray(theta)))
        B = self.B
        if B.shape[1]:
            A = A - B @ np.linalg.solve(B.T @ W @ B, B.T @ W @ A)
        return 2 * self.n * A.T @ W @ A

    def jacobian(self, theta, name: str, converged: bool) -> np.ndarray:
        """G = ∂ḡ/∂(x, β): the nonlinear block on the user's scale x(θ), the linear block −B."""
        spec = self.spec
        G_theta = np.asarray(self.da_fn(jnp.asarray(theta)))
        dxdt = spec.jacobian_diag_np(theta)
        edge = [nm for nm, d, gj in zip(spec.names, dxdt, G_theta.T, strict=True)
                if not (np.isfinite(d) and d != 0 and np.all(np.isfinite(gj)))]
        if edge:
            vals = dict(zip(spec.names, spec.to_user_np(theta).tolist(), strict=True))
            raise EstimationFailed(
                f"{name}: the moments' Jacobian is not finite at the estimate for {edge} "
                f"(estimate {vals}, converged: {converged}); a parameter ran to the edge of its "
                "domain or the moment function overflows there: check identification and the "
                "instruments")
        return np.concatenate([G_theta / dxdt[None, :], -self.B], axis=1)

    def residuals(self, theta, beta) -> np.ndarray | None:
        u = self.gi_fn(jnp.asarray(theta), jnp.asarray(beta))[1]
        return None if u is None else np.asarray(u)

    def moment_covariance(self, theta, beta, kind, clusters, debiased, center) -> np.ndarray:
        """Ŝ of the requested kind from the moments (and, homoskedastic, residuals) at θ, β."""
        g, u = self.gi_fn(jnp.asarray(theta), jnp.asarray(beta))
        u1 = Z1 = None
        if u is not None and self.eqs is not None and np.shape(u)[1] == 1:
            u1, Z1 = np.asarray(u)[:, 0], self.eqs.Z[0]
        return moment_covariance(np.asarray(g), kind, clusters, k=self.k, debiased=debiased,
                                 center=center, residuals=u1, instruments=Z1)


def gmm(
    moments: Callable | None = None,
    data: pd.DataFrame | Mapping[str, Any] | None = None,
    params: ParamSpec | Sequence[Param | str] | Mapping[str, str] | None = None,
    *,
    residuals: Callable | None = None,
    instruments: Any = None,
    linear: Any = None,
    start: Any = None,
    steps: int | str = 2,
    weight: str | np.ndarray | None = None,
    weight_type: str | None = None,
    cov_type: str | None = None,
    clusters: Any = None,
    debiased: bool = False,
    center: bool = False,
    efficient_cov: bool = False,
    method: str = "bfgs",
    max_iter: int = 100,
    iterate_tol: float = 1e-9,
    scipy_options: Mapping[str, Any] | None = None,
    name: str = "GMM",
) -> GMMResults:
    r"""Estimate θ by one-step, two-step or iterated GMM with exact JAX derivatives.

    Give either ``moments`` or ``residuals`` with ``instruments``.

    Parameters
    ----------
    moments : callable, optional
        ``moments(p, data) -> (n, m)``: the per-observation moment conditions g_i(θ), a pure
        JAX function of the parameter dict ``p`` (user's scale) and the data dict.
    data : DataFrame or dict of arrays
        Passed to the moment or residual function (as JAX float64 arrays).
    params : ParamSpec, list of Param or names, or {name: transform}
        The nonlinear parameters θ, with transforms for constraints as in :func:`fit`.
    residuals : callable, optional
        ``residuals(p, data) -> (n,)`` or ``(n, e)`` for e stacked equations: r(θ), so that the
        moments are z_i·(r_i(θ) − x_i'β). In BLP this is the mean utility δ(θ₂) from the share
        inversion and ``linear`` holds X₁.
    instruments : array or DataFrame (n, q), or a list of them (one per equation)
        Z. Its columns name the moments.
    linear : array or DataFrame (n, k), or a list (None for an equation without), optional
        Regressors X whose coefficients β are concentrated out: for each θ, β(θ) is the linear
        GMM estimate (B'WB)⁻¹B'W a(θ). β is reported with θ, with SEs from the joint sandwich.
    start : dict, Series or array
        Starting values of θ (user's scale); a Param's own ``start`` otherwise.
    steps : {1, 2, "iterated"}
        One-step (W fixed), two-step (W = Ŝ⁻¹ from the first step) or iterated GMM (until the
        estimates change by less than ``iterate_tol`` relative, at most ``max_iter`` steps).
    weight : {"identity", "2sls"} or (m, m) array, optional
        First-step W. Default: "2sls" (blockdiag (Z'Z/n)⁻¹) for instruments × residuals,
        "identity" for general ``moments``.
    weight_type : {"robust", "cluster", "unadjusted"}, optional
        How Ŝ is estimated for the efficient weighting matrix in steps two and later
        (default ``cluster`` when ``clusters`` are given, else ``robust``).
    cov_type : {"robust", "cluster", "unadjusted"}, optional
        Ŝ in the covariance sandwich, estimated at θ̂ (default: ``weight_type``).
    clusters : array-like, optional
        One group label per row (a market, a firm); given, they are used unless a type
        says otherwise.
    debiased : bool
        Small-sample scaling of Ŝ (n/(n−k); cluster (n−1)/(n−k)·C/(C−1)) and t inference.
    center : bool
        Centre the moments before forming Ŝ (robust to a misspecified model's nonzero mean).
    efficient_cov : bool
        Use (G'Ŝ⁻¹G)⁻¹/n with Ŝ (of ``cov_type``) at θ̂ instead of the sandwich: valid only
        when the weighting is efficient (two-step or iterated).
    method : {"bfgs", "l-bfgs-b", "trust-exact", "newton-cg"}
        SciPy optimiser, given the exact gradient (and Hessian for the Newton methods).

    Returns
    -------
    GMMResults

    Examples
    --------
    The mean and variance of a sample from the moments :math:`E[y - \mu] = 0` and
    :math:`E[(y - \mu)^2 - \sigma^2] = 0` (exactly identified, so no J test):

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import gmm
    >>> y = np.random.default_rng(0).normal(1.0, 2.0, 500)
    >>> def moments(p, d):
    ...     e = d["y"] - p["mu"]
    ...     return jnp.stack([e, e**2 - p["s2"]], axis=1)
    >>> res = gmm(moments, {"y": y}, ["mu", "s2"], start={"mu": 0.0, "s2": 1.0})
    >>> res.params.round(3).tolist() == [round(y.mean(), 3), round(y.var(), 3)]
    True
    >>> res.j_stat is None
    True

    Linear IV as residuals times instruments, over-identified, two-step efficient:

    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> z1, z2, u = rng.normal(size=(3, 200))
    >>> x = z1 + 0.5 * z2 + 0.5 * u + rng.normal(size=200)
    >>> df = pd.DataFrame({"y": 1.0 + 2.0 * x + u, "x": x, "const": 1.0, "z1": z1, "z2": z2})
    >>> res = gmm(residuals=lambda p, d: d["y"] - p["a"] - p["b"] * d["x"], data=df,
    ...           params=["a", "b"], instruments=df[["const", "z1", "z2"]],
    ...           start={"a": 0.0, "b": 0.0})
    >>> res.params.round(3).tolist()
    [1.01, 2.068]
    >>> print(res.j_stat)
    Hansen's J: statistic = 0.07202, df = 1, p = 0.7884
    """
    weight_type, cov_type = _options(moments, residuals, instruments, linear, steps, clusters,
                                     weight_type, cov_type)
    if params is None or data is None:
        raise SpecificationError("gmm needs data= and params=")
    spec = as_spec(params)
    arrays, n = as_data(data)
    if clusters is not None:
        cluster_codes(clusters, n)
    elif "cluster" in (cov_type, weight_type if steps != 1 else cov_type):
        raise SpecificationError("a clustered weight or covariance needs clusters=")
    x0 = spec.starts_array(start)
    if len(x0) != 1:
        raise SpecificationError(f"gmm fits one start; got {len(x0)} rows of starts")
    theta0 = spec.to_internal(x0, what="start")[0]

    model = _MomentModel(spec, arrays, n, moments, residuals, instruments, linear,
                         "unadjusted" in (weight_type, cov_type), method, theta0)
    model.check_start(theta0)
    W = _first_weight(weight, model.m, model.eqs)

    def weight_from(theta, W):
        S = model.moment_covariance(theta, model.beta_at(theta, W), weight_type, clusters,
                                    debiased, center)
        return efficient_weight(S)

    theta, W, history, ok_all, status, total_iter = _weighting_steps(
        model, theta0, W, weight_from, steps, max_iter, iterate_tol, method, scipy_options)
    iter_converged = not (steps == "iterated" and len(history) == max_iter)
    if not iter_converged:
        status += f"; the weighting matrix did not settle in {max_iter} steps"

    return _results(model, theta, W, history, (ok_all, iter_converged), status,
                    (method, total_iter), steps, cov_type, clusters, debiased, center,
                    efficient_cov, name)

def _results(model: Any, theta: np.ndarray, W: np.ndarray, history: list[np.ndarray],
             ok: tuple[bool, bool], status: str, optimiser: tuple[str, int], steps: int | str,
             cov_type: str, clusters: Any, debiased: bool, center: bool, efficient_cov: bool,
             name: str) -> GMMResults:
    """The :class:`GMMResults` at θ̂: the sandwich (or efficient) covariance, J where the
    weighting is efficient, residuals and the diagnostics. ``ok``: (the optimiser converged at
    every step, the iterated weighting settled); warns unless both hold. ``optimiser``: SciPy's
    method and its total iterations."""
    ok_all, iter_converged = ok
    method, total_iter = optimiser
    converged = bool(ok_all and iter_converged)
    (objective, beta), grad = model.vg_fn(jnp.asarray(theta), jnp.asarray(W))
    objective, beta = float(objective), np.asarray(beta)
    G = model.jacobian(theta, name, ok_all)
    S = model.moment_covariance(theta, beta, cov_type, clusters, debiased, center)
    if efficient_cov:  # (G'Ŝ⁻¹G)⁻¹/n with Ŝ at θ̂, as statsmodels' GMM reports it
        V = sandwich(G, efficient_weight(S), None, model.n)
    else:
        V = sandwich(G, W, S, model.n)
    m, k, moment_names, lin_names = model.m, model.k, model.moment_names, model.linear_names
    u = model.residuals(theta, beta)

    names = model.spec.names + lin_names
    x_hat = np.concatenate([model.spec.to_user_np(theta), beta])
    efficient = steps != 1
    est_name = {1: "one-step GMM", 2: "two-step efficient GMM",
                "iterated": "iterated efficient GMM"}[steps]
    if not converged:
        warnings.warn(f"{name}: GMM did not converge ({status})", NotConvergedWarning,
                      stacklevel=3)
    notes = []
    if steps == 1:
        notes.append("one-step GMM: the weighting matrix is not efficient, so the J statistic "
                     "is not reported")
    resid = None if u is None else pd.DataFrame(u).squeeze(axis=1)
    return GMMResults(
        params=pd.Series(x_hat, index=names, name="estimate"),
        cov=pd.DataFrame(V, index=names, columns=names),
        nobs=model.n,
        estimator=est_name,
        cov_type=cov_type,
        objective=objective,
        weight_matrix=pd.DataFrame(W, index=moment_names, columns=moment_names),
        converged=converged,
        status=status,
        iterations=len(history),
        j_stat=j_test(objective, m - k) if efficient else None,
        residuals=resid,
        df_resid=model.n - k,
        debiased=debiased,
        name=name,
        diagnostics={"optimizer": f"scipy {method}", "optimizer_iterations": total_iter,
                     "gradient": np.asarray(grad),
                     "jacobian": pd.DataFrame(G, index=moment_names, columns=names),
                     "moment_covariance": pd.DataFrame(S, index=moment_names,
                                                       columns=moment_names),
                     "step_estimates": pd.DataFrame(history, columns=names),
                     "condition_number_GWG": float(np.linalg.cond(G.T @ W @ G))},
        notes=notes,
    )


def _options(moments: Any, residuals: Any, instruments: Any, linear: Any, steps: Any,
             clusters: Any, weight_type: str | None, cov_type: str | None) -> tuple[str, str]:
    """Check :func:`gmm`'s options together; return (weight_type, cov_type) with their
    defaults ("cluster" when ``clusters`` is given, else "robust"; the covariance as the
    weight)."""
    if (moments is None) == (residuals is None):
        raise SpecificationError("gmm needs exactly one of moments= or residuals= (with "
                                 "instruments=)")
    if residuals is not None and instruments is None:
        raise SpecificationError("residuals= needs instruments= (the moments are z_i × u_i)")
    if moments is not None and (instruments is not None or linear is not None):
        raise SpecificationError("instruments= and linear= go with residuals=, not moments=")
    if steps not in STEPS:
        raise SpecificationError(f"steps must be one of {STEPS}, got {steps!r}")
    weight_type = weight_type or ("cluster" if clusters is not None else "robust")
    cov_type = cov_type or weight_type
    for opt, val in (("weight_type", weight_type), ("cov_type", cov_type)):
        if val not in WEIGHT_TYPES:
            raise SpecificationError(f"{opt} must be one of {WEIGHT_TYPES}, got {val!r}")
    return weight_type, cov_type


def _weighting_steps(model: Any, theta0: Any, W: np.ndarray, weight_from: Callable,
                     steps: int | str, max_iter: int, iterate_tol: float, method: str,
                     scipy_options: Any) -> tuple[np.ndarray, np.ndarray, list[np.ndarray],
                                                  bool, str, int]:
    """Minimise the GMM objective once per step, re-weighting with Ŝ(θ̂)⁻¹ between steps (one,
    two, or iterated until the estimates move less than ``iterate_tol`` relatively); returns
    θ̂, the last W, each step's estimates, convergence, status and optimiser iterations."""
    n_steps = {1: 1, 2: 2, "iterated": max_iter}[steps]
    theta = np.asarray(theta0, dtype=np.float64)
    history: list[np.ndarray] = []
    ok_all, status, total_iter = True, "", 0
    for s in range(n_steps):
        if s > 0:
            W = weight_from(theta, W)
        theta, ok_all, status, it = _minimise(model.vg_fn, model.curvature, model.exact_h, theta,
                                              W, method, scipy_options)
        total_iter += it
        history.append(np.concatenate([model.spec.to_user_np(theta), model.beta_at(theta, W)]))
        if steps == "iterated" and len(history) > 1 and np.max(
                np.abs(history[-1] - history[-2]) / np.maximum(np.abs(history[-2]), 1.0)
        ) < iterate_tol:
            break
    return theta, W, history, ok_all, status, total_iter


def _first_weight(weight, m: int, eqs) -> np.ndarray:
    if weight is None:
        weight = "2sls" if eqs is not None else "identity"
    if isinstance(weight, str):
        if weight == "identity":
            return np.eye(m)
        if weight == "2sls":
            if eqs is None:
                raise SpecificationError("weight='2sls' needs residuals= and instruments=")
            return eqs.initial_weight()
        raise SpecificationError(f"weight must be 'identity', '2sls' or an ({m}, {m}) array, "
                                 f"got {weight!r}")
    W = np.asarray(weight, dtype=np.float64)
    if W.shape != (m, m) or not np.allclose(W, W.T):
        raise SpecificationError(f"weight must be a symmetric ({m}, {m}) array, got shape "
                                 f"{W.shape}")
    return W


def _minimise(vg_fn, curvature, exact_h, theta0, W, method, scipy_options, polish: int = 5):
    """Minimise Q(θ; W) with SciPy and exact gradients, finish with Gauss–Newton steps, and
    judge convergence scale-free (Q is in χ² units)."""
    Wj = jnp.asarray(W)

    def fg(t):
        (v, _), g = vg_fn(jnp.asarray(t), Wj)
        return float(v), np.asarray(g)

    kw: dict[str, Any] = {}
    if exact_h is not None:
        kw["hess"] = lambda t: np.asarray(exact_h(jnp.asarray(t), Wj))
    opts = {"gtol": 1e-10} if method == "bfgs" else {}
    opts.update(scipy_options or {})
    try:
        from scipy import optimize  # imported on use (start-up time)

        res = optimize.minimize(fg, theta0, jac=True, method=method, options=opts, **kw)
    except ValueError as err:
        raise SpecificationError(f"method={method!r}: {err}") from err
    theta = np.asarray(res.x)
    q, g = fg(theta)
    H = curvature(theta, W)
    # Quasi-Newton methods stop on line-search precision loss short of the digits users
    # compare; a few Gauss–Newton steps (k is small) finish the job where they lower Q.
    for _ in range(polish):
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or g @ step <= 0:
            break
        q_new, g_new = fg(theta - step)
        if not q_new <= q:
            break
        theta, q, g = theta - step, q_new, g_new
        H = curvature(theta, W)
    rg = float(np.max(np.abs(g) * np.maximum(np.abs(theta), 1.0)))
    ev = np.linalg.eigvalsh(0.5 * (H + H.T))
    pd_ok = bool(np.all(np.isfinite(ev)) and ev.min() > 1e-12 * max(abs(ev.max()), 1e-300))
    # The predicted decrease g'H⁻¹g/2 is itself in χ² units: a second scale-free measure.
    decrement = float(g @ np.linalg.solve(H, g)) if pd_ok else np.inf
    converged = (rg <= GTOL or decrement <= 1e-12) and pd_ok
    status = (f"scipy: {res.message}; scale-free gradient {rg:.2e}, Gauss-Newton decrement "
              f"{decrement:.2e}")
    if not pd_ok:
        status += (f"; the curvature G'WG is singular (eigenvalues {ev.min():.3g} to "
                   f"{ev.max():.3g}): a parameter is not identified")
    return theta, converged, status, int(getattr(res, "nit", 0))
