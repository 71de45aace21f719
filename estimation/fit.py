"""``fit``: one call from a model, data and parameters to :class:`~estimation.results.Results`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy import optimize

from estimation.bootstrap import Bootstrap, BootstrapResults
from estimation.covariance import COV_TYPES, covariance
from estimation.derivatives import check_residual_derivatives
from estimation.errors import EstimationError, NotConvergedWarning, SpecificationError
from estimation.objective import Contributions, Objective, as_data, compiled, objective_scale
from estimation.parameters import Param, ParamSpec, as_spec
from estimation.progress import Progress
from estimation.results import Diagnostics, Results
from estimation.solver import (
    SolverOptions,
    Status,
    positive_definite,
    relative_gradient,
    solve_batch,
)

SCIPY_METHODS = ("bfgs", "l-bfgs-b", "trust-exact", "newton-cg", "trust-krylov")


def fit(
    model: Contributions | None = None,
    data: pd.DataFrame | Mapping[str, Any] | None = None,
    params: ParamSpec | Sequence[Param | str] | Mapping[str, str] | None = None,
    *,
    kind: str = "mle",
    residuals: Contributions | None = None,
    loss: Any = None,
    derivatives: Any = None,
    start: Any = None,
    method: str = "newton",
    cov_type: str = "auto",
    clusters: Any = None,
    bootstrap: Bootstrap | int | None = None,
    options: SolverOptions | None = None,
    scipy_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    name: str = "model",
) -> Results:
    """Estimate a model by maximum likelihood or M-estimation.

    Parameters
    ----------
    model : callable
        ``model(p, data) -> (n,)``: per-observation log-likelihoods (``kind="mle"``) or losses
        (``kind="m"``), a pure JAX function of the parameter dict ``p`` and the data dict.
    data : DataFrame or dict of arrays
        Numeric columns, one row per observation.
    params : ParamSpec, list of Param, or {name: transform}
        The parameters, with transforms for constraints (``log`` > 0, ``logit`` in a box).
    kind : {"mle", "m"}
    residuals, loss : callable, estimation.losses loss
        M-estimation on residuals: ρ(r_i(θ)) summed. Gives the solver an extra Gauss–Newton
        (IRLS) direction; ``model`` may then be omitted.
    derivatives : estimation.derivatives.ResidualDerivatives, optional
        Closed-form Jacobian and curvature of ``residuals`` for the solver's inner loop (faster
        than differentiating them each iteration). Checked against JAX at the first start and
        at the estimate; a disagreement raises :class:`SpecificationError`.
    start : dict, Series, array, or DataFrame (one row per start)
        Starting values on the user's scale. Several rows run as one batched multistart; the
        converged start with the lowest objective wins and every start's outcome is kept in
        ``Results.starts``.
    method : "newton" or a SciPy method ("bfgs", "l-bfgs-b", "trust-exact", ...)
        ``newton`` is the batched trust-region Newton of :mod:`estimation.solver`. SciPy methods
        run one start with exact JAX derivatives and SciPy's own stopping rules; the engine's
        scale-free test then decides whether the result counts as converged.
    cov_type : {"auto", "hessian", "opg", "robust", "cluster"}
        ``auto``: ``hessian`` for MLE, ``robust`` (sandwich) for M-estimation.
    clusters : array-like, optional
        Group labels for ``cluster`` SEs (and a cluster bootstrap).
    bootstrap : int or Bootstrap, optional
        Number of nonparametric bootstrap replicates (or options). SEs then come from the
        converged replicates.
    progress : bool
        Show progress of grids and bootstraps on a terminal.
    """
    options = options or SolverOptions()
    if residuals is not None:
        if loss is None:
            raise SpecificationError("residuals= needs loss= (e.g. estimation.losses.Huber(1e-3))")
        if model is None:
            model = _residual_model(residuals, loss)
        kind = "m" if kind == "mle" and model is not None and residuals is not None else kind
    if model is None:
        raise SpecificationError("fit needs a model function (or residuals= and loss=)")
    if derivatives is not None and residuals is None:
        raise SpecificationError("derivatives= describes residuals: give residuals= and loss=")
    if data is None or params is None:
        raise SpecificationError("fit needs data= and params=")
    spec = as_spec(params)
    arrays, n = as_data(data)
    obj = Objective(model, arrays, spec, kind, n, residuals=residuals, loss=loss,
                    derivatives=derivatives)
    if cov_type == "auto":
        # Clusters given: the analytic SEs respect them as the bootstrap does.
        cov_type = ("cluster" if clusters is not None
                    else "hessian" if kind == "mle" else "robust")
    if cov_type not in COV_TYPES:
        raise SpecificationError(f"cov_type must be 'auto' or one of {COV_TYPES}, got {cov_type!r}")
    if kind == "m" and cov_type in ("hessian", "opg"):
        raise SpecificationError(
            f"cov_type={cov_type!r} assumes a log-likelihood; use 'robust' or 'cluster' for "
            "M-estimation"
        )
    if clusters is not None:
        clusters = np.asarray(clusters)
        if clusters.shape != (n,):
            raise SpecificationError(f"clusters has shape {clusters.shape}; expected ({n},)")

    x0 = spec.starts_array(start)
    theta0 = spec.to_internal(x0, what="start")
    obj.check_start(theta0[0])
    if derivatives is not None:
        check_residual_derivatives(obj, theta0[0])
    w1 = np.ones(n)

    starts_table = None
    extra_notes: list[str] = []
    if method == "newton":
        with Progress(len(theta0), "multistart", progress and len(theta0) > 1) as bar:
            sol = solve_batch(obj, theta0, w1, options, progress=bar)
        ok = sol.status == Status.CONVERGED
        pick = np.where(ok, sol.fun, np.inf)
        if not np.isfinite(pick).any():
            pick = np.where(np.isfinite(sol.fun), sol.fun, np.inf)
        best = int(np.argmin(pick))
        theta_hat, status, iters = sol.theta[best], int(sol.status[best]), int(sol.iterations[best])
        if derivatives is not None:  # the solver's Hessian at the estimate came from them
            check_residual_derivatives(obj, theta_hat)
        at_hat = (sol.fun[best], sol.grad[best], sol.hess[best])
        status_text = Status(status).message
        converged = status == Status.CONVERGED
        # A start that stopped short of convergence but below the chosen optimum points to a
        # better optimum the grid did not resolve: say so rather than hide it.
        lower = ~ok & np.isfinite(sol.fun) & (
            sol.fun < sol.fun[best] - 1e-8 * max(abs(sol.fun[best]), 1e-300))
        if converged and lower.any():
            j = int(np.argmin(np.where(lower, sol.fun, np.inf)))
            extra_notes.append(
                f"{int(lower.sum())} start(s) stopped without converging below the chosen "
                f"optimum (lowest: start {j}, objective {sol.fun[j]:.10g} against "
                f"{sol.fun[best]:.10g}, {Status(int(sol.status[j])).message}): a better optimum "
                "may exist; refine from there")
            warnings.warn(f"{name}: {extra_notes[-1]}", NotConvergedWarning, stacklevel=2)
        if len(theta0) > 1:
            starts_table = pd.DataFrame(x0, columns=spec.names)
            xs = spec.to_user_np(sol.theta)
            for j, nm in enumerate(spec.names):
                starts_table[f"{nm}_hat"] = xs[:, j]
            starts_table["objective"] = sol.fun
            starts_table["iterations"] = sol.iterations
            starts_table["status"] = [Status(int(s)).message for s in sol.status]
            starts_table["converged"] = ok
        method_text = "batched Newton (exact Hessian, line search)"
    elif method.lower() in SCIPY_METHODS:
        if len(theta0) > 1:
            raise SpecificationError(
                f"method={method!r} fits one start; use method='newton' for a batched multistart"
            )
        theta_hat, status_text, iters = _scipy_fit(obj, theta0[0], method.lower(), scipy_options)
        converged = None
        method_text = f"scipy {method}"
    else:
        raise SpecificationError(
            f"method must be 'newton' or one of {SCIPY_METHODS}, got {method!r}"
        )

    th = jnp.asarray(theta_hat)
    if method == "newton" and np.all(np.isfinite(at_hat[2])):
        # The solver already holds Q, ∇Q and the exact ∇²Q at its final iterate.
        f, g, H = (np.asarray(a) for a in at_hat)
    else:
        f, g, H = (np.asarray(a) for a in compiled(obj, "value_grad_hess")(th, w1, obj.data))
    q_hat = np.asarray(compiled(obj, "per_obs")(th, w1, obj.data))
    rg = float(relative_gradient(theta_hat, objective_scale(q_hat, w1, np), g, np))
    if not (np.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        bad = [n for n, gj, hj in zip(spec.names, g, H, strict=True)
               if not (np.isfinite(gj) and np.all(np.isfinite(hj)))]
        raise EstimationError(
            f"{name}: the objective, gradient or Hessian is not finite at the estimate "
            f"(parameters {bad or spec.names}); check the model for log(0), overflow or a "
            "parameter at the edge of its domain"
        )
    ev = np.linalg.eigvalsh(0.5 * (H + H.T))
    if converged is None:
        # SciPy's own stopping rule does not decide convergence: the scale-free test does.
        scaled_pd = bool(positive_definite(np.linalg.eigvalsh(_scaled_np(H))))
        converged = bool(rg <= options.gtol_floor and scaled_pd)
        if not converged:
            failed = []
            if not rg <= options.gtol_floor:
                failed.append(f"the scale-free gradient {rg:.2e} exceeds {options.gtol_floor:g}")
            if not scaled_pd:
                failed.append(f"the Hessian is not positive definite (eigenvalues "
                              f"{ev.min():.3g} to {ev.max():.3g})")
            status_text = f"scipy stopped ({status_text}) but " + " and ".join(failed)
    diag = Diagnostics(converged=bool(converged), status=status_text, iterations=iters,
                       relative_gradient=rg, gradient_norm=float(np.linalg.norm(g)),
                       hessian_eigenvalues=ev, method=method_text)
    if not converged:
        warnings.warn(f"{name}: the fit did not converge ({status_text})", NotConvergedWarning,
                      stacklevel=2)
    scores = np.asarray(compiled(obj, "scores")(th, w1, obj.data))
    cov_theta = covariance(cov_type, H, scores, clusters)

    res = Results(objective=obj, theta=np.asarray(theta_hat), fun=float(f), cov_theta=cov_theta,
                  cov_type=cov_type, diagnostics=diag, name=name, starts=starts_table)
    res.notes.extend(extra_notes)
    if bootstrap is not None and bootstrap is not False:
        boot = bootstrap if isinstance(bootstrap, Bootstrap) else Bootstrap(draws=int(bootstrap))
        res.bootstrap = run_bootstrap(obj, res.theta, boot, clusters, options, progress)
        res.se_source = "bootstrap"
    return res


def _scaled_np(H: np.ndarray) -> np.ndarray:
    """D H D with D = diag(|H_jj|)^{-1/2}: the Hessian in units of each parameter's curvature."""
    d = 1.0 / np.sqrt(np.maximum(np.abs(np.diag(H)), 1e-300))
    return 0.5 * (H + H.T) * d[:, None] * d[None, :]


_RESIDUAL_MODELS: dict[tuple, Contributions] = {}


def _residual_model(residuals: Contributions, loss: Any) -> Contributions:
    """ρ(r(θ)) as a model function, one object per (residuals, loss) so compilations are reused."""
    key = (residuals, loss)
    if key not in _RESIDUAL_MODELS:
        def model(p, d):
            return loss.rho(residuals(p, d))

        _RESIDUAL_MODELS[key] = model
    return _RESIDUAL_MODELS[key]


def run_bootstrap(obj: Objective, theta_hat: np.ndarray, boot: Bootstrap, clusters, options,
                  progress: bool, start: np.ndarray | None = None) -> BootstrapResults:
    """Refit every replicate (weights = resample counts) in one batched solve from ``start``
    (default: the estimate)."""
    W = boot.weights(obj.nobs, clusters)
    B = W.shape[0]
    t0 = np.tile(theta_hat if start is None else start, (B, 1))
    with Progress(B, "bootstrap", progress) as bar:
        sol = solve_batch(obj, t0, W, options, warm=start is None, progress=bar)
    xs = obj.spec.to_user_np(sol.theta)
    draws = pd.DataFrame(xs, columns=obj.spec.names)
    draws.index.name = "replicate"
    est = pd.Series(obj.spec.to_user_np(theta_hat), index=obj.spec.names)
    return BootstrapResults(
        draws=draws,
        converged=pd.Series(sol.status == Status.CONVERGED, name="converged"),
        status=pd.Series([Status(int(s)).message for s in sol.status], name="status"),
        iterations=pd.Series(sol.iterations, name="iterations"),
        estimate=est,
        theta=sol.theta.copy(),
    )


def _scipy_fit(obj: Objective, theta0: np.ndarray, method: str,
               scipy_options: Mapping[str, Any] | None) -> tuple[np.ndarray, str, int]:
    w = jnp.ones(obj.nobs)
    vgh = compiled(obj, "value_grad_hess")
    fun = compiled(obj, "value")
    kwargs: dict[str, Any] = {"jac": lambda t: np.asarray(vgh(t, w, obj.data)[1])}
    if method in ("trust-exact", "newton-cg", "trust-krylov"):
        kwargs["hess"] = lambda t: np.asarray(vgh(t, w, obj.data)[2])
    res = optimize.minimize(lambda t: float(fun(t, w, obj.data)), theta0, method=method,
                            options=dict(scipy_options or {}), **kwargs)
    return np.asarray(res.x), str(res.message), int(getattr(res, "nit", 0))
