"""``fit``: one call from a model, data and parameters to :class:`~estimation.results.Results`."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from estimation.bootstrap import Bootstrap, BootstrapResults
from estimation.covariance import COV_TYPES, NEEDS_LEVERAGE, covariance
from estimation.derivatives import check_residual_derivatives
from estimation.errors import EstimationFailed, NotConvergedWarning, SpecificationError
from estimation.objective import (
    Contributions,
    Objective,
    as_data,
    compiled,
    host_columns,
    objective_scale,
)
from estimation.parameters import Param, ParamSpec, as_spec
from estimation.progress import Progress
from estimation.results import CI_METHODS, Diagnostics, Results
from estimation.single import (
    POLISH_STEPS,
    fit_one,
    polish_keeps,
    polish_moves,
    polish_ready,
    scaled_hessian,
)
from estimation.solver import (
    BatchSolution,
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
    cluster_correction: str = "statsmodels",
    ci: str = "auto",
    bootstrap: Bootstrap | int | None = None,
    options: SolverOptions | None = None,
    scipy_options: Mapping[str, Any] | None = None,
    progress: bool = True,
    name: str = "model",
    scheduler: Any = None,
    rows: int | None = None,
    fixed: Mapping[str, float] | None = None,
) -> Results:
    r"""Estimate a model by maximum likelihood or M-estimation.

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
        M-estimation on residuals, minimising :math:`\sum_i \rho(r_i(\theta))`. Gives the
        solver an extra Gauss–Newton (IRLS) direction; ``model`` may then be omitted.
    derivatives : estimation.derivatives.ResidualDerivatives, optional
        Closed-form Jacobian and curvature of ``residuals`` for the solver's inner loop (faster
        than differentiating them each iteration). Checked against JAX at the first start and
        at the estimate; a disagreement raises :class:`SpecificationError`.
    start : dict, Series, array, or DataFrame (one row per start)
        Starting values on the user's scale. Several rows run as one batched multistart; the
        converged start with the lowest objective wins and every start's outcome is kept in
        ``Results.starts``.
    method : "newton" or a SciPy method ("bfgs", "l-bfgs-b", "trust-exact", ...)
        ``newton`` is the batched Newton of :mod:`estimation.solver`: a Levenberg-damped
        (μ-shifted) exact Hessian with a multi-point line search, not a trust region. SciPy methods
        run one start with exact JAX derivatives and SciPy's own stopping rules; the engine's
        scale-free test then decides whether the result counts as converged.
    cov_type : {"auto", "hessian", "opg", "robust", "hc1", "hc2", "hc3", "cluster"}
        ``auto``: ``hessian`` for MLE, ``robust`` (sandwich, HC0) for M-estimation, ``cluster``
        when ``clusters`` is given. ``hc1``–``hc3`` are the small-sample sandwiches of
        :mod:`estimation.covariance` (HC3 is the usual choice below a few hundred rows).
    clusters : array-like, optional
        Group labels for ``cluster`` SEs (and a cluster bootstrap).
    cluster_correction : {"statsmodels", "stata-ml"}
        Small-sample factor of cluster SEs with G clusters, n rows and k parameters:
        :math:`\frac{G}{G-1}\frac{n-1}{n-k}` (statsmodels, and Stata's ``regress``) or
        :math:`\frac{G}{G-1}` (Stata's convention for maximum-likelihood estimators).
    ci : {"auto", "normal", "t", "percentile"}
        The intervals ``conf_int()``, p-values and the summary show: normal (Wald, z), Student t
        with n − k degrees of freedom (G − 1 with clusters), or bootstrap percentile. ``auto``:
        percentile with a bootstrap, else normal. The summary says which and why.
    bootstrap : int or Bootstrap, optional
        Number of nonparametric bootstrap replicates (or options). SEs then come from the
        converged replicates.
    progress : bool
        Show progress of grids and bootstraps on a terminal.
    scheduler : str or distributed.Client, optional
        Run the multistart grid and the bootstrap in chunks on a Dask cluster (a scheduler
        address such as ``"tcp://host:8786"``, or a client), one JAX process per worker; the
        results are byte-identical to a run in this process (:mod:`estimation.distributed`).
        Without it, batches are sharded over every local device (``jax.devices()``).
    rows : int, optional
        Pad the data to the row bucket of at least this many rows (zero-weight copies of the
        last row; nothing reported changes). Fits of one model on datasets of different
        lengths given the same ``rows`` share one bucket and so compile once, not once per
        bucket (:func:`estimation.objective.padded_rows`).
    fixed : dict, optional
        Parameters of ``params`` held at these values (user's scale) instead of estimated; they
        are left out of the results. One Newton start, no bootstrap, ``model`` only (not
        ``residuals``). The held set is data of the compiled program, not part of it, so fits
        of one model and parameter list that hold different parameters (a benchmark absent
        from a subsample, say) compile once.

    Examples
    --------
    The mean and standard deviation of a normal sample by maximum likelihood, σ on the log
    scale:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import Param, ParamSpec
    >>> from estimation.fit import fit
    >>> y = np.random.default_rng(0).normal(2.0, 3.0, 500)
    >>> def loglik(p, d):
    ...     z = (d["y"] - p["mu"]) / p["sigma"]
    ...     return -0.5 * z**2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)
    >>> spec = ParamSpec([Param("mu"), Param("sigma", transform="log")])
    >>> res = fit(loglik, {"y": y}, spec, start={"mu": 0.0, "sigma": 1.0}, progress=False)
    >>> bool(res.converged)
    True
    >>> bool(np.isclose(res.params["mu"], y.mean()))
    True
    >>> bool(np.isclose(res.params["sigma"], y.std()))
    True
    >>> bool(np.isclose(res.bse["mu"], y.std() / np.sqrt(500)))
    True
    """
    options = options or SolverOptions()
    obj = _objective(model, data, params, kind, residuals, loss, derivatives, rows)
    cov_type = _cov_type(cov_type, obj.kind, clusters)
    if ci not in CI_METHODS:
        raise SpecificationError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    if ci == "percentile" and not bootstrap:
        raise SpecificationError("ci='percentile' needs a bootstrap (bootstrap=B)")
    if clusters is not None:
        clusters = np.asarray(clusters)
        if clusters.shape != (obj.nobs,):
            raise SpecificationError(
                f"clusters has shape {clusters.shape}; expected ({obj.nobs},)")

    free = None
    if fixed:
        start, free = _held(obj, fixed, start, method, bootstrap)
    x0 = obj.spec.starts_array(start)
    theta0 = obj.spec.to_internal(x0, what="start")
    # One start, or a few, run through one compiled program that checks its start on the way
    # (fit_one).
    one = method == "newton" and len(theta0) == 1
    few = method == "newton" and _few_starts(len(theta0), scheduler)
    if one or few:
        obj.check_shape(theta0[0])
    else:
        obj.check_start(theta0[0])
    if derivatives is not None:
        check_residual_derivatives(obj, theta0[0])
    obj, est = _estimate(obj, x0, theta0, fixed, free, cov_type, method, options, progress, name,
                         scheduler, scipy_options)

    f, H, diag, scores = _diagnose(obj, est, options, name)
    if not diag.converged:
        warnings.warn(f"{name}: the fit did not converge ({diag.status})", NotConvergedWarning,
                      stacklevel=2)
    cov_theta = _covariance(obj, est, cov_type, H, scores, clusters, cluster_correction)
    res = Results(objective=obj, theta=np.asarray(est.theta), fun=float(f), cov_theta=cov_theta,
                  cov_type=cov_type, diagnostics=diag, name=name, starts=est.starts,
                  cluster_correction=cluster_correction if cov_type == "cluster" else None,
                  n_clusters=len(np.unique(clusters)) if clusters is not None else None,
                  ci_method=ci)
    res.notes.extend(est.notes)
    if bootstrap is not None and bootstrap is not False:
        boot = bootstrap if isinstance(bootstrap, Bootstrap) else Bootstrap(draws=int(bootstrap))
        res.bootstrap = run_bootstrap(obj, res.theta, boot, clusters, options, progress,
                                      scheduler=scheduler)
        res.se_source = "bootstrap"
    return res


def _estimate(obj: Objective, x0: np.ndarray, theta0: np.ndarray,
              fixed: Mapping[str, float] | None, free: np.ndarray | None, cov_type: str,
              method: str, options: SolverOptions, progress: Any, name: str, scheduler: Any,
              scipy_options: Any) -> tuple[Objective, _Estimate]:
    """The estimate by the path :func:`fit` takes for its method and number of starts (and, with
    parameters held, the objective of the free ones): one start or a few through the one-start
    program, a batched multistart, or SciPy."""
    one = method == "newton" and len(theta0) == 1
    few = method == "newton" and _few_starts(len(theta0), scheduler)
    outer, want_scores = cov_type in OUTER_COVS, cov_type not in (*OUTER_COVS, "hessian")
    if one and fixed and free is not None:
        est = _one_newton_estimate(obj, theta0[0], options, outer, want_scores, free)
        obj, est = _without_held(obj, est, fixed, free)
    elif one:
        est = _one_newton_estimate(obj, theta0[0], options, outer, want_scores)
    elif few:
        est = _few_newton_estimate(obj, x0, theta0, options, outer, want_scores, name)
    elif method == "newton":
        est = _newton_estimate(obj, x0, theta0, options, progress, name, scheduler)
    elif method.lower() in SCIPY_METHODS:
        if len(theta0) > 1:
            raise SpecificationError(
                f"method={method!r} fits one start; use method='newton' for a batched multistart"
            )
        est = _scipy_estimate(obj, theta0[0], method, scipy_options)
    else:
        raise SpecificationError(
            f"method must be 'newton' or one of {SCIPY_METHODS}, got {method!r}"
        )
    return obj, est


def _covariance(obj: Objective, est: _Estimate, cov_type: str, H: np.ndarray,
                scores: np.ndarray | None, clusters: Any, cluster_correction: str) -> np.ndarray:
    """The covariance of θ̂ (:func:`estimation.covariance.covariance`) from what the fit holds:
    the scores' outer product where the program formed it, the scores row by row (and the
    per-row Hessians for HC2/HC3) where the covariance needs them so."""
    th = np.asarray(est.theta)
    obs_h = (np.asarray(compiled(obj, "obs_hessians")(th, None, obj.data))[: obj.nobs]
             if cov_type in NEEDS_LEVERAGE else None)
    if scores is None:
        scores = est.scores  # formed by the compiled fit, where it did
    if scores is None and cov_type not in (*OUTER_COVS, "hessian"):
        scores = obj.at(th)[5][: obj.nobs]  # cluster sums and leverages need them row by row
    return covariance(cov_type, H, scores, clusters, obs_hessians=obs_h,
                      cluster_correction=cluster_correction, outer=est.outer, nobs=obj.nobs)


@dataclass
class _Estimate:
    """What a solver hands back to :func:`fit`: the chosen iterate and how it was reached.

    ``converged`` is None where the solver's own rule does not decide it (SciPy); ``at_hat``
    holds (Q, ∇Q, ∇²Q) at ``theta`` where the solver already computed them, ``scale`` the
    scale S_Q there, ``outer`` the scores' outer product and ``scores`` the scores (observations'
    rows) where a compiled fit formed them.
    """

    theta: np.ndarray
    status: str
    iterations: int
    converged: bool | None
    method: str
    at_hat: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    starts: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    scale: float | None = None
    outer: np.ndarray | None = None
    scores: np.ndarray | None = None


#: Covariances that need the scores only through Σ s_i s_iᵀ (formed where the scores are).
OUTER_COVS = ("opg", "robust", "hc1")


def _objective(model, data, params, kind, residuals, loss, derivatives,
               rows: int | None = None) -> Objective:
    """The objective to minimise, after checking that the arguments describe one model."""
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
    if rows is not None and not (isinstance(rows, int | np.integer) and rows > 0):
        raise SpecificationError(f"rows={rows!r}: expected a positive whole number of rows to "
                                 "pad the data to")
    arrays, n = host_columns(data)  # copied once, when padded to the row bucket
    if n < len(spec):
        raise SpecificationError(
            f"the data have {n} row(s) but the model has {len(spec)} parameters "
            f"({', '.join(spec.names)}): they cannot all be identified; give at least "
            f"{len(spec)} rows (many more for useful standard errors)")
    return Objective(model, arrays, spec, kind, n, residuals=residuals, loss=loss,
                     derivatives=derivatives).padded(rows)


def _cov_type(cov_type: str, kind: str, clusters: Any) -> str:
    """``cov_type`` with ``auto`` resolved, checked against the estimator ``kind``."""
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
    return cov_type


#: A multistart whose starts × rows exceed this is screened on a subsample of rows first.
SCREEN_CELLS = 2e7
#: Rows of the screening subsample, and how many of its best distinct optima are refined. The
#: screen dominates the cost of a large grid (starts × subsample against survivors × rows), and
#: a few hundred rows locate the basins of a few-parameter model (Hoffmann et al. fitted their
#: 4,500-start grid to about 400 runs), so the subsample is 512 rows, not more (1,024 took
#: 1.5× as long on the Chinchilla grid and led to the same optimum).
SCREEN_ROWS, SCREEN_KEEP = 512, 16


def _screen(obj: Objective, x0: np.ndarray, theta0: np.ndarray, options: SolverOptions,
            progress: bool, scheduler: Any = None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """The starts worth refining on all rows: with many starts on many rows, every start is
    first run to convergence on a random subsample of :data:`SCREEN_ROWS` rows and only the
    :data:`SCREEN_KEEP` best distinct optima found there go on (from those optima) to the full
    data, so a grid costs starts × subsample + survivors × rows instead of starts × rows.

    An endpoint that did not converge there (a saddle, a flat direction, a stall) goes on only
    if its objective is below that of every converged optimum: above one, it cannot be where
    the full grid's minimum lies, and refining it on all rows would cost as much as the
    minimum's own refinement (on the Chinchilla grid, fifteen copies of one degenerate basin).
    Returns (their starts on the user's scale, their internal starting points, a note)."""
    m, n = len(theta0), obj.nobs
    if m <= SCREEN_KEEP or m * n <= SCREEN_CELLS or n <= 2 * SCREEN_ROWS:
        return x0, theta0, None
    rows = np.sort(np.random.default_rng(0).choice(n, SCREEN_ROWS, replace=False))
    data, _ = as_data({k: np.asarray(v)[:n][rows] for k, v in obj.data.items()})
    sub = replace(obj, data=data, nobs=SCREEN_ROWS, rows=0).padded()
    with Progress(m, "screening starts", progress) as bar:
        sol = solve_batch(sub, theta0, sub.weights(), options, progress=bar,
                          scheduler=scheduler)
    finite = np.isfinite(sol.fun)
    ok = sol.status == Status.CONVERGED
    best_ok = np.min(sol.fun[ok & finite], initial=np.inf)
    order = np.lexsort((np.where(finite, sol.fun, np.inf), ~ok))
    keep: list[int] = []
    for j in order:
        if not finite[j]:
            break
        if not ok[j] and not sol.fun[j] < best_ok:
            continue
        # Distinct optima: endpoints that agree to 1e-4 (relative) are one basin.
        if all(np.max(np.abs(sol.theta[j] - sol.theta[i])
                      / np.maximum(np.abs(sol.theta[i]), 1.0)) > 1e-4 for i in keep):
            keep.append(int(j))
        if len(keep) == SCREEN_KEEP:
            break
    if not keep:  # nothing finite on the subsample: refine every start on all rows
        return x0, theta0, None
    idx = np.asarray(keep)
    note = (f"multistart screened: all {m:,} starts were run on a random subsample of "
            f"{SCREEN_ROWS:,} of the {n:,} rows; the {len(idx)} best distinct optima found there "
            "were refined on all rows (the starts table lists those)")
    return x0[idx], sol.theta[idx], note


def _newton_estimate(obj: Objective, x0: np.ndarray, theta0: np.ndarray,
                     options: SolverOptions, progress: bool, name: str,
                     scheduler: Any = None) -> _Estimate:
    """Every start through the batched Newton solver; the converged start with the lowest
    objective wins (the lowest finite one where none converged). Many starts on many rows are
    screened on a subsample first (:func:`_screen`)."""
    x0, theta0, screened = _screen(obj, x0, theta0, options, progress, scheduler)
    w1 = obj.weights()
    with Progress(len(theta0), "multistart", progress and len(theta0) > 1) as bar:
        # One start (or a handful of survivors) is not worth a trip to the cluster. The
        # survivors of a screen, on many rows, run one per pool: a pool computes every slot
        # until its slowest member stops, which only pays where members are cheap.
        sol = solve_batch(obj, theta0, w1, options, progress=bar,
                          scheduler=scheduler if len(theta0) > 1 else None,
                          pool_size=1 if screened else None)
    best = _best_start(sol)
    status = Status.of(sol.status[best])
    if obj.derivatives is not None:  # the solver's Hessian at the estimate came from them
        check_residual_derivatives(obj, sol.theta[best])
    est = _Estimate(theta=sol.theta[best], status=status.message,
                    iterations=int(sol.iterations[best]),
                    converged=status == Status.CONVERGED,
                    method="batched Newton (exact Hessian, line search)",
                    at_hat=(sol.fun[best], sol.grad[best], sol.hess[best]))
    if est.converged:
        _polish(obj, est)
    _note_lower(est, sol, best, name)
    if len(theta0) > 1 or screened:
        est.starts = _starts_table(obj.spec, x0, sol)
    if screened:
        est.notes.append(screened)
    return est


def _held(obj: Objective, fixed: Mapping[str, float], start: Any, method: str,
          bootstrap: Any) -> tuple[dict[str, float], np.ndarray]:
    """(the start with the held values in it, the mask of free parameters) for ``fixed``,
    after checking that it names parameters of the model and that the fit can hold them."""
    names = obj.spec.names
    unknown = sorted(set(fixed) - set(names))
    if unknown:
        raise SpecificationError(f"fixed: {unknown} are not parameters of the model ({names})")
    if len(fixed) == len(names):
        raise SpecificationError("fixed: every parameter is held; nothing to estimate")
    bad = [k for k, v in fixed.items() if not np.isfinite(float(v))]
    if bad:
        raise SpecificationError(f"fixed: {bad} held at a value that is not finite; expected "
                                 "finite numbers")
    if method != "newton" or bootstrap or obj.residuals is not None:
        raise SpecificationError("fixed= needs method='newton', a model of contributions (not "
                                 "residuals=) and no bootstrap")
    if start is None:
        start = {p.name: p.start for p in obj.spec.params if p.name not in fixed}
    if not isinstance(start, Mapping | pd.Series):
        raise SpecificationError("fixed= needs one start given as {name: value} (the free "
                                 "parameters; the held ones come from fixed)")
    start = {**{k: v for k, v in dict(start).items() if k not in fixed},
             **{k: float(v) for k, v in fixed.items()}}
    return start, np.array([n not in fixed for n in names])


def _without_held(obj: Objective, est: _Estimate, fixed: Mapping[str, float],
                  free: np.ndarray) -> tuple[Objective, _Estimate]:
    """The objective of the free parameters alone (the model with the held values filled in)
    and the estimate restricted to them: what :class:`Results` reports."""
    values = {k: float(v) for k, v in fixed.items()}
    model = obj.contributions

    def holding(p, d):
        return model({**p, **values}, d)

    spec = ParamSpec([p for p in obj.spec.params if p.name not in values])
    assert est.at_hat is not None  # the one-start program always returns (Q, ∇Q, ∇²Q)
    f, g, H = est.at_hat
    idx = np.flatnonzero(free)
    est = replace(est, theta=np.asarray(est.theta)[idx], at_hat=(f, g[idx], H[np.ix_(idx, idx)]),
                  outer=None if est.outer is None else est.outer[np.ix_(idx, idx)],
                  scores=None if est.scores is None else est.scores[:, idx])
    return replace(obj, contributions=holding, spec=spec), est


def _one_newton_estimate(obj: Objective, theta0: np.ndarray, options: SolverOptions,
                         outer: bool, scores: bool, free: np.ndarray | None = None
                         ) -> _Estimate:
    """One start through :func:`estimation.single.fit_one`: the Newton iterations and the polish
    in one compiled program (and Σ s_i s_iᵀ where ``outer``, the scores where ``scores``: the
    covariance then needs no second program of the model). Where Q is not finite at the start
    or a parameter does not move it there, :meth:`Objective.check_start` runs on the host."""
    out = fit_one(obj, theta0, options, outer=outer, scores=scores, free=free)
    if not out.start_finite or not np.all(out.start_moves):
        obj.check_start(theta0)  # names the row or the parameter (or finds nothing wrong)
    status = Status.of(int(out.status))
    if obj.derivatives is not None:  # the solver's Hessian at the estimate came from them
        check_residual_derivatives(obj, out.theta)
    return _Estimate(theta=out.theta, status=status.message, iterations=int(out.iterations),
                     converged=status == Status.CONVERGED,
                     method="Newton (exact Hessian, line search)",
                     at_hat=(out.f, out.g, out.H), scale=float(out.sq), outer=out.outer,
                     scores=None if out.scores is None else out.scores[: obj.nobs])


#: A multistart of at most this many starts (on one device, no cluster) runs each start through
#: the one-start program (:func:`estimation.single.fit_one`) rather than the batched pool: the
#: model then compiles once, not twice (the pool's round and the host's evaluation for the
#: polish and the checks), which for a handful of starts is most of the fit's time. Each start
#: takes the same steps either way; the pool pays from a few tens of starts.
FEW_STARTS = 4


def _few_starts(m: int, scheduler: Any) -> bool:
    """Whether ``m`` starts run one by one through :func:`estimation.single.fit_one`."""
    if not 1 < m <= FEW_STARTS or scheduler is not None:
        return False
    from estimation.distributed import batch_mesh

    return batch_mesh() is None  # several devices: the pool, sharded over them


def _few_newton_estimate(obj: Objective, x0: np.ndarray, theta0: np.ndarray,
                         options: SolverOptions, outer: bool, scores: bool,
                         name: str) -> _Estimate:
    """A few starts, each through :func:`estimation.single.fit_one` (one compiled program for
    all of them); the converged start with the lowest objective wins, as in
    :func:`_newton_estimate`, and every start's outcome is kept in the starts table. The first
    start is checked as a single start is (:func:`_one_newton_estimate`)."""
    outs = [fit_one(obj, t, options, outer=outer, scores=scores) for t in theta0]
    if not outs[0].start_finite or not np.all(outs[0].start_moves):
        obj.check_start(theta0[0])  # names the row or the parameter (or finds nothing wrong)
    sol = BatchSolution(theta=np.stack([o.theta for o in outs]),
                        fun=np.array([float(o.f) for o in outs]),
                        grad=np.stack([o.g for o in outs]), hess=np.stack([o.H for o in outs]),
                        iterations=np.array([int(o.iterations) for o in outs]),
                        status=np.array([int(o.status) for o in outs]))
    best = _best_start(sol)
    out = outs[best]
    status = Status.of(int(out.status))
    if obj.derivatives is not None:  # the solver's Hessian at the estimate came from them
        check_residual_derivatives(obj, out.theta)
    est = _Estimate(theta=out.theta, status=status.message, iterations=int(out.iterations),
                    converged=status == Status.CONVERGED,
                    method="Newton (exact Hessian, line search), each start",
                    at_hat=(out.f, out.g, out.H), scale=float(out.sq), outer=out.outer,
                    scores=None if out.scores is None else out.scores[: obj.nobs])
    _note_lower(est, sol, best, name)
    est.starts = _starts_table(obj.spec, x0, sol)
    return est


def _best_start(sol: BatchSolution) -> int:
    """The converged start with the lowest objective (the lowest finite one where none
    converged)."""
    pick = np.where(sol.status == Status.CONVERGED, sol.fun, np.inf)
    if not np.isfinite(pick).any():
        pick = np.where(np.isfinite(sol.fun), sol.fun, np.inf)
    return int(np.argmin(pick))


def _note_lower(est: _Estimate, sol: BatchSolution, best: int, name: str) -> None:
    """A start that stopped short of convergence but below the chosen optimum points to a
    better optimum the grid did not resolve: say so (a note and a warning) rather than hide
    it."""
    ok = sol.status == Status.CONVERGED
    lower = ~ok & np.isfinite(sol.fun) & (
        sol.fun < sol.fun[best] - 1e-8 * max(abs(sol.fun[best]), 1e-300))
    if est.converged and lower.any():
        j = int(np.argmin(np.where(lower, sol.fun, np.inf)))
        est.notes.append(
            f"{int(lower.sum())} start(s) stopped without converging below the chosen "
            f"optimum (lowest: start {j}, objective {sol.fun[j]:.10g} against "
            f"{sol.fun[best]:.10g}, {Status.of(sol.status[j]).message}): a better optimum "
            "may exist; refine from there")
        warnings.warn(f"{name}: {est.notes[-1]}", NotConvergedWarning, stacklevel=4)


def _polish(obj: Objective, est: _Estimate) -> None:
    """Full Newton steps from the converged estimate on the host (the multistart's winner),
    each kept only where :func:`estimation.single.polish_keeps` says so."""
    theta = np.asarray(est.theta, dtype=np.float64)
    f, g, H, sq = obj.at(theta)[:4]  # the host's one compiled function of this model
    rg = float(relative_gradient(theta, sq, g, np))
    for _ in range(POLISH_STEPS):
        if not polish_ready(H, rg):
            return
        try:
            t2 = theta - np.linalg.solve(0.5 * (H + H.T), g)
        except np.linalg.LinAlgError:
            return
        if not polish_moves(theta, t2, g, sq):
            return
        f2, g2, H2, sq2 = obj.at(t2)[:4]
        with np.errstate(invalid="ignore"):
            rg2 = float(relative_gradient(t2, sq2, g2, np))
        if not polish_keeps(f, sq, rg, f2, g2, H2, rg2):
            return
        theta, f, g, H, rg, sq = t2, f2, g2, H2, rg2, sq2
        est.theta, est.at_hat = theta, (f, g, H)


def _starts_table(spec: ParamSpec, x0: np.ndarray, sol: BatchSolution) -> pd.DataFrame:
    """One row per start: where it began, where it stopped and how."""
    table = pd.DataFrame(x0, columns=spec.names)
    xs = spec.to_user_np(sol.theta)
    for j, nm in enumerate(spec.names):
        table[f"{nm}_hat"] = xs[:, j]
    table["objective"] = sol.fun
    table["iterations"] = sol.iterations
    table["status"] = [Status.of(s).message for s in sol.status]
    table["converged"] = sol.status == Status.CONVERGED
    return table


def _diagnose(obj: Objective, est: _Estimate, options: SolverOptions,
              name: str) -> tuple[np.ndarray, np.ndarray, Diagnostics, np.ndarray | None]:
    """(Q, ∇²Q) at the estimate, its :class:`Diagnostics` and the per-observation scores (None
    where a compiled fit kept what the covariance needs of them);
    raises where they are not finite. Where SciPy stopped, the scale-free test decides
    convergence."""
    scores: np.ndarray | None = None
    if est.scale is not None and est.at_hat is not None:
        # A compiled fit formed Q, ∇Q, ∇²Q and S_Q at the estimate (and what the covariance
        # needs of the scores).
        f, g, H = (np.asarray(a) for a in est.at_hat)
        sq = est.scale
    else:
        f, g, H, _, q_hat, scores = obj.at(est.theta)
        q_hat, scores = q_hat[: obj.nobs], scores[: obj.nobs]
        if est.at_hat is not None and np.all(np.isfinite(est.at_hat[2])):
            # The solver already holds Q, ∇Q and the exact ∇²Q at its final iterate.
            f, g, H = (np.asarray(a) for a in est.at_hat)
        sq = objective_scale(q_hat, np.ones(obj.nobs), np)
    rg = float(relative_gradient(est.theta, sq, g, np))
    names = obj.spec.names
    if not (np.isfinite(f) and np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        bad = [n for n, gj, hj in zip(names, g, H, strict=True)
               if not (np.isfinite(gj) and np.all(np.isfinite(hj)))]
        raise EstimationFailed(
            f"{name}: the objective, gradient or Hessian is not finite at the estimate "
            f"(parameters {bad or names}); check the model for log(0), overflow or a "
            "parameter at the edge of its domain"
        )
    ev = np.linalg.eigvalsh(0.5 * (H + H.T))
    converged, status_text = est.converged, est.status
    if converged is None:
        # SciPy's own stopping rule does not decide convergence: the scale-free test does.
        scaled_pd = bool(positive_definite(np.linalg.eigvalsh(scaled_hessian(H))))
        converged = bool(rg <= options.gtol_floor and scaled_pd)
        if not converged:
            failed = []
            if not rg <= options.gtol_floor:
                failed.append(f"the scale-free gradient {rg:.2e} exceeds {options.gtol_floor:g}")
            if not scaled_pd:
                failed.append(f"the Hessian is not positive definite (eigenvalues "
                              f"{ev.min():.3g} to {ev.max():.3g})")
            status_text = f"scipy stopped ({status_text}) but " + " and ".join(failed)
    diag = Diagnostics(converged=bool(converged), status=status_text, iterations=est.iterations,
                       relative_gradient=rg, gradient_norm=float(np.linalg.norm(g)),
                       hessian_eigenvalues=ev, method=est.method)
    return f, H, diag, scores


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
                  progress: bool, start: np.ndarray | None = None,
                  scheduler: Any = None) -> BootstrapResults:
    """Refit every replicate (weights = resample counts) in one batched solve from ``start``
    (default: the estimate), on a Dask cluster in chunks where ``scheduler`` is given."""
    W = boot.weights(obj.nobs, clusters)
    B = W.shape[0]
    t0 = np.tile(theta_hat if start is None else start, (B, 1))
    with Progress(B, "bootstrap", progress) as bar:
        sol = solve_batch(obj, t0, W, options, warm=start is None, progress=bar,
                          scheduler=scheduler)
    xs = obj.spec.to_user_np(sol.theta)
    draws = pd.DataFrame(xs, columns=obj.spec.names)
    draws.index.name = "replicate"
    est = pd.Series(obj.spec.to_user_np(theta_hat), index=obj.spec.names)
    return BootstrapResults(
        draws=draws,
        converged=pd.Series(sol.status == Status.CONVERGED, name="converged"),
        status=pd.Series([Status.of(s).message for s in sol.status], name="status"),
        iterations=pd.Series(sol.iterations, name="iterations"),
        estimate=est,
        theta=sol.theta.copy(),
        weights=W,
    )


#: Rows (after padding) from which a SciPy search evaluates Q and ∇Q by a program of their own:
#: below them, compiling (cold) or loading (warm) that second program costs more than the
#: Hessians and scores it saves over a search's hundred or so trial points.
VALUE_GRAD_ROWS = 2048


def _scipy_estimate(obj: Objective, theta0: np.ndarray, method: str,
                    scipy_options: Mapping[str, Any] | None) -> _Estimate:
    """One start through SciPy with exact JAX derivatives and SciPy's own stopping rule.

    A method that needs only Q and ∇Q (BFGS, L-BFGS-B) on data of at least
    :data:`VALUE_GRAD_ROWS` rows gets them from one compiled reverse pass per trial point
    (:meth:`Objective.value_grad`), about half a full evaluation: ∇²Q and the per-row scores
    are formed once, at the estimate, by the diagnosis. On fewer rows, or for a method that
    asks for the Hessian, every point reads them from the one full evaluation
    (:meth:`Objective.at`) that the checks and the diagnosis use anyway."""
    last: dict[str, Any] = {}
    wants_hess = method.lower() in ("trust-exact", "newton-cg", "trust-krylov")
    cheap = not wants_hess and obj.rows >= VALUE_GRAD_ROWS
    vg = compiled(obj, "value_grad") if cheap else None
    w = obj.weights()

    def at(t):
        # SciPy asks for the value, gradient (and Hessian) at the same point: the last
        # evaluation is kept.
        if last.get("t") is None or not np.array_equal(last["t"], t):
            t = np.array(t, dtype=np.float64)
            last["t"] = t
            last["v"] = (tuple(np.asarray(a) for a in vg(t, w, obj.data)) if cheap
                         else obj.at(t)[:3])
        return last["v"]

    kwargs: dict[str, Any] = {"jac": True}
    if wants_hess:
        kwargs["hess"] = lambda t: at(t)[2]
    from scipy import optimize  # imported on use (start-up time)

    res = optimize.minimize(lambda t: (float(at(t)[0]), at(t)[1]), theta0,
                            method=method.lower(), options=dict(scipy_options or {}), **kwargs)
    return _Estimate(theta=np.asarray(res.x), status=str(res.message),
                     iterations=int(getattr(res, "nit", 0)), converged=None,
                     method=f"scipy {method}")
