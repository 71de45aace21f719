"""Linear instrumental variables: 2SLS and one-step, two-step and iterated efficient GMM.

The model y = Xβ + u with X = [exog, endog] and instruments Z = [exog, excluded instruments]
has the moments E[z_i u_i] = 0. For a weighting matrix W the linear GMM estimator is the closed
form (Hansen 1982; Hayashi 2000, *Econometrics*, §3.5)

    β̂(W) = (X'Z W Z'X)⁻¹ X'Z W Z'y,

2SLS being W = (Z'Z/n)⁻¹ and efficient GMM W = Ŝ⁻¹ (:mod:`estimation.gmm` gives Ŝ and the
sandwich covariance, shared with nonlinear GMM). For 2SLS the sandwich is the familiar
(X̂'X̂)⁻¹ X̂'ΩX̂ (X̂'X̂)⁻¹ with X̂ = P_Z X; ``HC2``/``HC3`` divide u_i² by (1 − h_i) and
(1 − h_i)² with h_i the leverage of X̂ (MacKinnon & White 1985).

Conventions follow linearmodels (Sheppard), the oracle of the tests: no small-sample scaling
unless ``debiased`` (then n/(n−k), or (n−1)/(n−k)·C/(C−1) clustered, and t inference); 2SLS's
homoskedastic σ̂² = u'u/n; GMM's homoskedastic Ŝ uses the residual variance about its mean;
Hansen's J = n·ḡ'Wḡ with the last step's W; Sargan's statistic n(1 − u'M_Z u / u'u).

First-stage diagnostics per endogenous regressor: R² of its regression on Z, the partial R² of
the excluded instruments (both sides residualised on exog), Shea's (1997) partial R²
[(X'X)⁻¹]_jj / [(X̂'X̂)⁻¹]_jj, and the Wald statistic that the excluded instruments'
coefficients are zero under the fit's covariance type (``f_stat`` = Wald/q, with an F(q, n−k)
p-value; ``wald_pvalue`` from χ²(q)), and Sanderson & Windmeijer's conditional F (``sw_f``,
homoskedastic). The results' diagnostics add Cragg & Donald's minimum-eigenvalue statistic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from estimation.errors import SpecificationError
from estimation.formula import _context, iv_design
from estimation.gmm import (
    _as_matrix,
    check_full_rank,
    efficient_weight,
    j_test,
    moment_covariance,
    sandwich,
)
from estimation.gmm_results import GMMResults

METHODS = ("2sls", "gmm", "iterated-gmm")
COV_TYPES = ("unadjusted", "robust", "HC0", "HC1", "HC2", "HC3", "cluster")


def linear_gmm(y, X, Z, W) -> np.ndarray:
    """β̂(W) = (X'Z W Z'X)⁻¹ X'Z W Z'y in float64.

    Computed as the least-squares solution of C'Z'X β = C'Z'y with W = CC' (Cholesky), by QR:
    the same β̂ with the square root of the normal equations' condition number, so that
    iterated GMM settles at rounding level on badly scaled regressors (e.g. experience and its
    square) instead of wandering at 1e-12. A W that is not positive definite falls back to the
    normal equations. NumPy/LAPACK, as the rest of this module: the products are k × k and
    m × m, and one XLA program per (n, k, m) shape bought only a compilation each (a paper
    reproduction with a dozen IV fits compiled ~50 of them).
    """
    y, X, Z, W = (np.asarray(a, dtype=np.float64) for a in (y, X, Z, W))
    ZX, Zy = Z.T @ X, Z.T @ y
    try:
        C = np.linalg.cholesky(W)
    except np.linalg.LinAlgError:
        XZW = ZX.T @ W
        return np.linalg.solve(XZW @ ZX, XZW @ Zy)
    q, r = np.linalg.qr(C.T @ ZX)
    return np.linalg.solve(r, q.T @ (C.T @ Zy))


def ivreg(
    formula: str | None = None,
    data: pd.DataFrame | Mapping[str, Any] | None = None,
    *,
    dependent: Any = None,
    exog: Any = None,
    endog: Any = None,
    instruments: Any = None,
    method: str = "2sls",
    steps: int = 2,
    weight: np.ndarray | None = None,
    weight_type: str | None = None,
    cov_type: str | None = None,
    clusters: Any = None,
    debiased: bool = False,
    center: bool = False,
    max_iter: int = 100,
    iterate_tol: float = 1e-10,
    missing: str = "raise",
    name: str | None = None,
) -> GMMResults:
    r"""Estimate a linear IV model by 2SLS or GMM.

    Parameters
    ----------
    formula : str, optional
        ``"y ~ 1 + x1 + x2 + [p ~ z1 + z2]"`` (linearmodels' syntax, parsed by formulaic;
        :func:`estimation.formula.iv_design`). Or give the blocks as arrays/DataFrames:
    dependent, exog, endog, instruments : array or DataFrame
        y (n,), the exogenous regressors (include a constant column yourself), the endogenous
        regressors and the excluded instruments. Column names name the parameters.
    method : {"2sls", "gmm", "iterated-gmm"}
        ``gmm`` is ``steps``-step GMM (1: W fixed at ``weight``; 2: two-step efficient).
    weight : (m, m) array, optional
        First-step weighting matrix (default the 2SLS weight (Z'Z/n)⁻¹).
    weight_type : {"robust", "cluster", "unadjusted"}, optional
        Ŝ behind the efficient weighting matrix of GMM (default ``cluster`` when ``clusters``
        are given, else ``robust``).
    cov_type : {"robust", "HC0", "HC1", "HC2", "HC3", "cluster", "unadjusted"}, optional
        ``robust`` = ``HC0``; ``HC1`` scales it by n/(n−k); ``HC2``/``HC3`` (2SLS only) correct
        for leverage. Default ``cluster`` when ``clusters`` are given, else ``robust``.
    clusters : column name, Series or array, optional
        Group labels; given, they are used by the weights and the covariance unless a type
        says otherwise.
    debiased : bool
        Small-sample scaling and t inference (linearmodels' ``debiased``, Stata's ``small``).
    center : bool
        Centre the moments in Ŝ (GMM).
    missing : {"raise", "drop"}
        Rows with missing values (formula interface).

    Returns
    -------
    GMMResults
        With ``first_stage`` diagnostics, ``sargan`` (2SLS) or ``j_stat`` (efficient GMM).

    Examples
    --------
    One endogenous regressor, two excluded instruments:

    >>> import numpy as np
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> z1, z2, u = rng.normal(size=(3, 200))
    >>> x = z1 + 0.5 * z2 + 0.5 * u + rng.normal(size=200)      # x is endogenous: it holds u
    >>> df = pd.DataFrame({"y": 1.0 + 2.0 * x + u, "x": x, "z1": z1, "z2": z2})
    >>> from estimation import ivreg
    >>> tsls = ivreg("y ~ 1 + [x ~ z1 + z2]", df)
    >>> tsls.params.round(3).tolist()
    [1.009, 2.07]

    The textbook formula :math:`\hat\beta = (X^\top P_Z X)^{-1} X^\top P_Z y` gives the same:

    >>> X = np.column_stack([np.ones(200), x])
    >>> Z = np.column_stack([np.ones(200), z1, z2])
    >>> PX = Z @ np.linalg.lstsq(Z, X, rcond=None)[0]
    >>> np.linalg.solve(PX.T @ X, PX.T @ df["y"]).round(3).tolist()
    [1.009, 2.07]

    OLS is biased here; two-step efficient GMM reports Hansen's J:

    >>> ivreg("y ~ 1 + x", df).params.round(2).tolist()
    [1.02, 2.2]
    >>> print(ivreg("y ~ 1 + [x ~ z1 + z2]", df, method="gmm").j_stat)
    Hansen's J: statistic = 0.07202, df = 1, p = 0.7884
    """
    weight_type, cov_type = _options(method, clusters, weight_type, cov_type, weight, steps)
    y, Xe, Xn, Zi, index, n_dropped = _blocks(formula, data, dependent, exog, endog,
                                              instruments, missing)
    n = len(y)
    if clusters is not None:
        clusters = _clusters(clusters, data, index, n)
    if "cluster" in (cov_type, weight_type if method != "2sls" else cov_type) and clusters is None:
        raise SpecificationError("cov_type or weight_type 'cluster' needs clusters=")

    xn, zn, Xa, Za = _identified(Xe, Xn, Zi, n)
    ya = y.to_numpy(np.float64)
    k, m = Xa.shape[1], Za.shape[1]

    W = np.linalg.inv(Za.T @ Za / n) if weight is None else _weight(weight, m)
    beta, W, it = _steps(ya, Xa, Za, W, method, steps, max_iter, iterate_tol,
                         lambda u: efficient_weight(moment_covariance(
                             Za * u[:, None], weight_type, clusters, k=k, debiased=debiased,
                             center=center or weight_type == "unadjusted", residuals=u,
                             instruments=Za)))
    converged = not (method == "iterated-gmm" and it >= max_iter)

    u = ya - Xa @ beta
    G, V, objective = _covariance(u, Xa, Za, W, method, cov_type, clusters, debiased, center)

    p = Xn.shape[1]
    sargan, j_stat = _overidentification(method, u, Za, objective, Zi.shape[1] - p, m - k)
    est, notes = _description(method, steps, formula, n_dropped, converged, max_iter)
    if method == "gmm" and steps == 1:  # the J statistic needs the efficient weighting matrix
        j_stat = None
    return GMMResults(
        params=pd.Series(beta, index=xn, name="estimate"),
        cov=pd.DataFrame(V, index=xn, columns=xn),
        nobs=n,
        estimator=est,
        cov_type=cov_type,
        objective=objective,
        weight_matrix=pd.DataFrame(W, index=zn, columns=zn),
        converged=converged,
        status="closed form" if converged else "weighting matrix did not settle",
        iterations=it,
        j_stat=j_stat,
        sargan=sargan,
        first_stage=_first_stage(Xe, Xn, Zi, Xa, Za, cov_type, clusters, debiased) if p else None,
        residuals=pd.Series(u, index=index, name="residual"),
        df_resid=n - k,
        debiased=debiased,
        name=name or "linear IV",
        diagnostics={"excluded_instruments": list(Zi.columns),
                     "cragg_donald": _cragg_donald(Xe, Xn, Zi) if p else None,
                     "endogenous": list(Xn.columns),
                     "condition_number_GWG": float(np.linalg.cond(G.T @ W @ G))},
        notes=notes,
    )


def _covariance(u: np.ndarray, X: np.ndarray, Z: np.ndarray, W: np.ndarray, method: str,
                cov_type: str, clusters: Any, debiased: bool,
                center: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """G = −Z'X/n, the sandwich V = (G'WG)⁻¹G'WŜWG(G'WG)⁻¹/n with Ŝ of ``cov_type``, and the
    GMM objective n ḡ'Wḡ at the residuals ``u``."""
    n, k = X.shape
    G = -(Z.T @ X) / n
    sc = _cov_scores(Z, u, X, W, cov_type)
    S = moment_covariance(sc, _kind(cov_type), clusters, k=k,
                          debiased=debiased or cov_type == "HC1",
                          center=center or (method != "2sls" and cov_type == "unadjusted"),
                          residuals=u, instruments=Z)
    gbar = Z.T @ u / n
    return G, sandwich(G, W, S, n), float(n * gbar @ W @ gbar)


def _description(method: str, steps: int, formula: str | None, n_dropped: int,
                 converged: bool, max_iter: int) -> tuple[str, list[str]]:
    """The estimator's name and the notes under the summary."""
    est = {"2sls": "2SLS", "gmm": f"{'two-step efficient' if steps == 2 else 'one-step'} GMM",
           "iterated-gmm": "iterated efficient GMM"}[method]
    notes = [f"formula: {formula}"] if formula else []
    if n_dropped:
        notes.append(f"{n_dropped} row(s) with missing values dropped")
    if method == "gmm" and steps == 1:
        notes.append("one-step GMM: the J statistic needs the efficient weighting matrix and "
                     "is not reported")
    if not converged:
        notes.append(f"iterated GMM did not settle in {max_iter} steps")
    return est, notes


def _options(method: str, clusters: Any, weight_type: str | None, cov_type: str | None,
             weight: Any, steps: int) -> tuple[str, str]:
    """Check :func:`ivreg`'s options together; return (weight_type, cov_type) with their
    defaults ("cluster" when ``clusters`` is given, else "robust")."""
    if method not in METHODS:
        raise SpecificationError(f"method must be one of {METHODS}, got {method!r}")
    default = "cluster" if clusters is not None else "robust"
    weight_type, cov_type = weight_type or default, cov_type or default
    if cov_type not in COV_TYPES:
        raise SpecificationError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}")
    if cov_type in ("HC2", "HC3") and method != "2sls":
        raise SpecificationError(f"cov_type={cov_type!r} (leverage-corrected) is defined for "
                                 "2SLS; use 'robust' or 'HC1' with GMM")
    if weight is not None and method == "2sls":
        raise SpecificationError("weight= sets GMM's first-step weighting matrix; 2SLS uses "
                                 "(Z'Z/n)⁻¹ by definition: pass method='gmm'")
    if method == "gmm" and steps not in (1, 2):
        raise SpecificationError(f"steps must be 1 or 2 for method='gmm', got {steps!r} (use "
                                 "method='iterated-gmm' to iterate)")
    return weight_type, cov_type


def _identified(Xe: pd.DataFrame, Xn: pd.DataFrame, Zi: pd.DataFrame,
                n: int) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """The regressors X = [exog, endog] and instruments Z = [exog, excluded] as arrays with their
    names, after the order, rank and relevance conditions and n > k."""
    X = pd.concat([Xe, Xn], axis=1)
    Z = pd.concat([Xe, Zi], axis=1)
    xn, zn = list(X.columns), list(Z.columns)
    if len(set(xn)) < len(xn):
        raise SpecificationError(f"regressor names repeat: {xn}")
    if Xn.shape[1] > Zi.shape[1]:
        raise SpecificationError(
            f"{Xn.shape[1]} endogenous regressor(s) {list(Xn.columns)} but only {Zi.shape[1]} "
            f"excluded instrument(s) {list(Zi.columns)}: the model is not identified")
    if X.shape[1] == 0:
        raise SpecificationError("the model has no regressors")
    Xa, Za = X.to_numpy(np.float64), Z.to_numpy(np.float64)
    check_full_rank(Xa, xn, "regressors")
    check_full_rank(Za, zn, "instruments (exogenous regressors and excluded instruments)")
    _check_relevance(Xe.to_numpy(np.float64), Xn, Zi)
    if n <= Xa.shape[1]:
        raise SpecificationError(f"{n} rows cannot estimate {Xa.shape[1]} parameters")
    return xn, zn, Xa, Za


def _overidentification(method: str, u: np.ndarray, Z: np.ndarray, objective: float,
                        df_sargan: int, df_j: int) -> tuple[Any, Any]:
    """(Sargan, J): Sargan's n·R² of the residuals on the instruments for 2SLS, Hansen's J
    (the GMM objective n ḡ'Wḡ) otherwise; the other is None."""
    if method == "2sls":
        e = u - Z @ np.linalg.lstsq(Z, u, rcond=None)[0]
        return j_test(len(u) * (1 - (e @ e) / (u @ u)), df_sargan, "Sargan"), None
    return None, j_test(objective, df_j)


def _steps(y, X, Z, W, method: str, steps: int, max_iter: int, iterate_tol: float,
           weight_of) -> tuple[np.ndarray, np.ndarray, int]:
    """β̂ by 2SLS, ``steps``-step GMM or iterated GMM (W ← Ŝ(u)⁻¹ until β̂ settles); returns
    β̂, the last W and the number of steps taken."""
    beta = linear_gmm(y, X, Z, W)
    if method == "2sls":
        return beta, W, 1
    n_steps = steps if method == "gmm" else max_iter
    for it in range(2, n_steps + 1):
        prev = beta
        W = weight_of(y - X @ prev)
        beta = linear_gmm(y, X, Z, W)
        if method == "iterated-gmm" and np.max(
                np.abs(beta - prev) / np.maximum(np.abs(prev), 1.0)) < iterate_tol:
            return beta, W, it
    return beta, W, n_steps


def _kind(cov_type: str) -> str:
    return {"unadjusted": "unadjusted", "cluster": "cluster"}.get(cov_type, "robust")


def _cov_scores(Z, u, X, W, cov_type):
    """Moments z_i u_i, with u_i scaled by (1 − h_i)^{-1/2} (HC2) or (1 − h_i)^{-1} (HC3)."""
    if cov_type in ("HC2", "HC3"):
        Xhat = Z @ np.linalg.lstsq(Z, X, rcond=None)[0]
        h = np.einsum("ij,ij->i", Xhat @ np.linalg.inv(Xhat.T @ Xhat), Xhat)
        u = u / np.sqrt(1 - h) if cov_type == "HC2" else u / (1 - h)
    return Z * u[:, None]


def _blocks(formula, data, dependent, exog, endog, instruments, missing):
    """y, exog, endog, instruments as named float frames, and the row index."""
    if formula is not None:
        if any(a is not None for a in (dependent, exog, endog, instruments)):
            raise SpecificationError("give a formula or the dependent/exog/endog/instruments "
                                     "blocks, not both")
        if data is None:
            raise SpecificationError("a formula needs data=")
        d = iv_design(formula, data, missing=missing, context=_context(2))
        return (d.dependent, d.exog, d.endog, d.instruments, d.dependent.index,
                len(d.dropped))
    if dependent is None:
        raise SpecificationError("ivreg needs a formula or dependent=")
    yv, yn = _as_matrix(dependent, len(dependent), "dependent", "y")
    if yv.shape[1] != 1:
        raise SpecificationError(f"dependent has {yv.shape[1]} columns; expected one")
    n = yv.shape[0]
    index = dependent.index if isinstance(dependent, pd.Series | pd.DataFrame) else None

    def frame(x, what, prefix):
        if x is None:
            return pd.DataFrame(index=range(n))
        arr, names = _as_matrix(x, n, what, prefix)
        return pd.DataFrame(arr, columns=names)

    y = pd.Series(yv[:, 0], name=yn[0])
    return (y, frame(exog, "exog", "exog"), frame(endog, "endog", "endog"),
            frame(instruments, "instruments", "instr"), index if index is not None else y.index,
            0)


def _clusters(clusters, data, index, n):
    """One label per row used: a column name, or labels for every row of ``data`` (aligned by
    index for a Series, by position otherwise) of which the rows kept are taken."""
    frame = None if data is None else pd.DataFrame(data)
    if isinstance(clusters, str):
        if frame is None or clusters not in frame:
            raise SpecificationError(f"clusters={clusters!r} is not a column of data")
        return frame.loc[index, clusters].to_numpy()
    c = np.asarray(clusters)
    if c.shape == (n,):
        return c
    if frame is not None and c.shape == (len(frame),):
        if isinstance(clusters, pd.Series):
            return clusters.loc[index].to_numpy()
        return c[frame.index.get_indexer(index)]
    raise SpecificationError(f"clusters has shape {c.shape}; expected ({n},), one label per row")


def _weight(weight, m):
    W = np.asarray(weight, dtype=np.float64)
    if W.shape != (m, m) or not np.allclose(W, W.T):
        raise SpecificationError(f"weight must be a symmetric ({m}, {m}) array; got {W.shape}")
    return W


def _resid_on(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A − B(B'B)⁻¹B'A: A with B partialled out (A itself when B has no columns)."""
    if B.shape[1] == 0:
        return A
    return A - B @ np.linalg.lstsq(B, A, rcond=None)[0]


def _check_relevance(Xe, Xn: pd.DataFrame, Zi: pd.DataFrame) -> None:
    """The excluded instruments must move every endogenous regressor, net of exog."""
    if Xn.shape[1] == 0:
        return
    en = _resid_on(Xn.to_numpy(np.float64), Xe)
    zn = _resid_on(Zi.to_numpy(np.float64), Xe)
    proj = zn @ np.linalg.lstsq(zn, en, rcond=None)[0]
    scale = np.maximum(np.linalg.norm(en, axis=0), 1e-300)
    r2 = (proj ** 2).sum(0) / scale ** 2  # partial R² of each endogenous regressor
    weak = [c for c, r in zip(Xn.columns, r2, strict=True) if r < 1e-10]
    if not weak and np.linalg.matrix_rank(proj / scale, tol=1e-8) < en.shape[1]:
        weak = list(Xn.columns)
    if weak:
        raise SpecificationError(
            f"endogenous regressor(s) {weak} are not identified: the excluded instruments "
            f"{list(Zi.columns)} do not move them once the exogenous regressors are accounted for")


def _cragg_donald(Xe: pd.DataFrame, Xn: pd.DataFrame, Zi: pd.DataFrame) -> float:
    """Cragg & Donald's (1993) minimum-eigenvalue statistic of joint instrument strength,

        CD = λ_min(Σ̂^{-1/2} X̃'P_Z̃ X̃ Σ̂^{-1/2}) / q,   Σ̂ = X̃'M_Z̃ X̃ / (n − k_Z),

    with X̃, Z̃ the endogenous regressors and excluded instruments net of exog; compared with
    Stock & Yogo's (2005) critical values. With one endogenous regressor it is the
    homoskedastic first-stage F with n − k_Z degrees of freedom.
    """
    xe = Xe.to_numpy(np.float64)
    xt = _resid_on(Xn.to_numpy(np.float64), xe)
    zt = _resid_on(Zi.to_numpy(np.float64), xe)
    n, q = len(xt), zt.shape[1]
    fitted = zt @ np.linalg.lstsq(zt, xt, rcond=None)[0]
    resid = xt - fitted
    Sigma = resid.T @ resid / (n - q - xe.shape[1])
    L = np.linalg.cholesky(np.linalg.inv(Sigma))
    return float(np.linalg.eigvalsh(L.T @ (fitted.T @ fitted) @ L).min() / q)


def _first_stage(Xe: pd.DataFrame, Xn: pd.DataFrame, Zi: pd.DataFrame, Xa, Za, cov_type,
                 clusters, debiased) -> pd.DataFrame:
    n, kz = Za.shape
    q = Zi.shape[1]
    xe = Xe.to_numpy(np.float64)
    zi_p = _resid_on(Zi.to_numpy(np.float64), xe)
    has_const = bool(np.any(np.all(Za == Za[0], axis=0) & (Za[0] != 0)))
    # Shea's partial R²: [(X'X)⁻¹]_jj / [(X̂'X̂)⁻¹]_jj for each endogenous column j.
    Xhat = Za @ np.linalg.lstsq(Za, Xa, rcond=None)[0]
    shea_all = np.diag(np.linalg.inv(Xa.T @ Xa)) / np.diag(np.linalg.inv(Xhat.T @ Xhat))
    rows = {}
    for j, col in enumerate(Xn.columns):
        x = Xn[col].to_numpy(np.float64)
        gam = np.linalg.lstsq(Za, x, rcond=None)[0]
        e = x - Za @ gam
        tss = ((x - x.mean()) ** 2).sum() if has_const else (x ** 2).sum()
        r2 = 1 - (e @ e) / tss
        xp = _resid_on(x[:, None], xe)[:, 0]
        ep = xp - zi_p @ np.linalg.lstsq(zi_p, xp, rcond=None)[0]
        pr2 = 1 - (ep @ ep) / (xp @ xp)
        # OLS of x on Z as exactly identified GMM: the same covariance machinery as the model.
        S = moment_covariance(_cov_scores(Za, e, Za, None, cov_type), _kind(cov_type), clusters,
                              k=kz, debiased=debiased or cov_type == "HC1", residuals=e,
                              instruments=Za)
        V = sandwich(-(Za.T @ Za) / n, np.linalg.inv(Za.T @ Za / n), S, n)
        b, Vb = gam[-q:], V[-q:, -q:]
        wald = float(b @ np.linalg.solve(Vb, b))
        # What scipy.stats' chi2.sf and f.sf call (the same numbers), without the import of
        # scipy.stats: most of a second of a short command.
        from scipy.special import chdtrc, fdtrc
        rows[col] = {"rsquared": r2, "partial_rsquared": pr2,
                     "shea_rsquared": shea_all[Xe.shape[1] + j], "wald": wald,
                     "wald_pvalue": chdtrc(q, wald), "f_stat": wald / q,
                     "f_pvalue": fdtrc(q, n - kz, wald / q),
                     "sw_f": _sanderson_windmeijer(xe, Xn.to_numpy(np.float64), zi_p, j, kz)}
    return pd.DataFrame(rows).T


def _sanderson_windmeijer(xe, xn, zt, j: int, kz: int) -> float:
    """Sanderson & Windmeijer's (2016, J. Econometrics 190, eq. 13) conditional first-stage F of
    endogenous regressor j: x̃_j is regressed on the other endogenous regressors by 2SLS with
    the excluded instruments (all net of exog), and the instruments' F for its residual ε̂_j,

        F_j = [ε̂_j'P_Z̃ ε̂_j / (q − p + 1)] / [ε̂_j'M_Z̃ ε̂_j / (n − k_Z)],

    is small when x_j is not identified apart from the others, even if its own F is large.
    With one endogenous regressor it is the homoskedastic first-stage F.
    """
    xt = _resid_on(xn, xe)
    n, p = xt.shape
    q = zt.shape[1]
    y, others = xt[:, j], np.delete(xt, j, axis=1)
    P = zt @ np.linalg.lstsq(zt, np.column_stack([y, others]), rcond=None)[0]
    if others.shape[1]:
        Po = P[:, 1:]
        delta = np.linalg.solve(Po.T @ others, Po.T @ y)
        eps = y - others @ delta
    else:
        eps = y
    fit = zt @ np.linalg.lstsq(zt, eps, rcond=None)[0]
    resid = eps - fit
    return float((fit @ fit) / (q - p + 1) / ((resid @ resid) / (n - kz)))


__all__ = ["COV_TYPES", "METHODS", "ivreg", "linear_gmm"]
