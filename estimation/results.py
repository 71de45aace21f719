"""What a fit returns, in the statsmodels vocabulary, with convergence diagnostics up front."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.bootstrap import BootstrapResults
from estimation.errors import CovarianceWarning, SpecificationError
from estimation.objective import Objective
from estimation.solver import Status
from estimation.tables import parameter_table, render

#: Interval types :func:`estimation.fit` accepts as ``ci=`` (``auto`` first).
CI_METHODS = ("auto", "normal", "t", "percentile")


@dataclass
class Diagnostics:
    """Convergence diagnostics of the fit at θ̂ (θ = optimiser coordinates)."""

    converged: bool
    status: str
    iterations: int
    relative_gradient: float
    gradient_norm: float
    hessian_eigenvalues: np.ndarray
    method: str

    @property
    def condition_number(self) -> float:
        ev = np.abs(self.hessian_eigenvalues)
        return float(ev.max() / ev.min()) if ev.min() > 0 else float("inf")


@dataclass
class Results:
    r"""Estimates, covariance, inference and diagnostics of one fit.

    ``params``, ``bse``, ``cov_params()``, ``conf_int()``, ``tvalues``, ``pvalues``, ``llf``,
    ``aic``, ``bic`` follow statsmodels. SEs are on the user's scale (delta method through the
    parameter transforms) or, when a bootstrap was run and ``se_source == "bootstrap"``, the
    bootstrap SEs of the converged replicates.

    ``tvalues``, ``pvalues`` and ``conf_int()`` use the reference of :attr:`interval_method`:
    the standard normal (asymptotic, large n and many clusters), Student t with
    :attr:`df_resid` degrees of freedom (the usual small-sample choice), or the bootstrap's
    percentiles (which respect a parameter's bounds). The summary states which, and why.

    ``cov_warning`` is set by an estimator whose analytic covariance is known to be wrong (the
    Huber-density MLE's Hessian): reading ``bse``, ``cov_params()`` or ``conf_int()`` without a
    bootstrap then warns with that reason (:class:`~estimation.errors.CovarianceWarning`).

    Examples
    --------
    A normal sample's mean and standard deviation by maximum likelihood:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import Param
    >>> from estimation.fit import fit
    >>> y = np.random.default_rng(0).normal(1.0, 2.0, 50)
    >>> def loglik(p, d):
    ...     z = (d["y"] - p["mu"]) / p["sigma"]
    ...     return -0.5 * z**2 - jnp.log(p["sigma"]) - 0.5 * jnp.log(2 * jnp.pi)
    >>> res = fit(loglik, {"y": y}, [Param("mu"), Param("sigma", transform="log")],
    ...           start={"mu": 0.0, "sigma": 1.0}, progress=False, name="normal")
    >>> res.table().round(3)
           estimate  std_err       z  p_value  ci_low  ci_high
    mu        1.258    0.258   4.881      0.0   0.753    1.763
    sigma     1.822    0.182  10.000      0.0   1.465    2.179
    >>> round(res.llf, 3), bool(res.converged), res.cov_type
    (-100.951, True, 'hessian')

    The summary puts the diagnostics that say whether to trust the fit beside the estimates:

    >>> print(res.summary())  # doctest: +ELLIPSIS
    ==========...
    Model:                              normal   Std. errors:                       hessian
    Estimator:              maximum likelihood   Converged:                             yes
    ...

    Any differentiable function of the parameters, by the delta method (the coefficient of
    variation :math:`\sigma/\mu` here):

    >>> res.delta_method(lambda p: jnp.array([p["sigma"] / p["mu"]]), names=["cv"]).round(2)
        estimate  std_err  ci_low  ci_high
    cv      1.45     0.33    0.80     2.10
    """

    objective: Objective
    theta: np.ndarray
    fun: float
    cov_theta: np.ndarray
    cov_type: str
    diagnostics: Diagnostics
    name: str = "model"
    starts: pd.DataFrame | None = None
    bootstrap: BootstrapResults | None = None
    se_source: str = "asymptotic"
    notes: list[str] = field(default_factory=list)
    cluster_correction: str | None = None
    n_clusters: int | None = None
    ci_method: str = "auto"
    cov_warning: str | None = None

    # --- parameters -----------------------------------------------------------------------
    @property
    def spec(self):
        return self.objective.spec

    @property
    def kind(self) -> str:
        return self.objective.kind

    @property
    def nobs(self) -> int:
        return self.objective.nobs

    @property
    def converged(self) -> bool:
        return self.diagnostics.converged

    @property
    def params(self) -> pd.Series:
        x = self.spec.to_user_np(self.theta)
        return pd.Series(x, index=self.spec.names, name="estimate")

    def _jac(self) -> np.ndarray:
        return self.spec.jacobian_diag_np(self.theta)

    @property
    def uses_bootstrap(self) -> bool:
        return self.se_source == "bootstrap" and self.bootstrap is not None

    @property
    def interval_method(self) -> str:
        """The intervals shown: ``ci_method``, with ``auto`` resolved (percentile with a
        bootstrap, else normal)."""
        if self.ci_method == "auto":
            return "percentile" if self.uses_bootstrap else "normal"
        return self.ci_method

    @property
    def df_resid(self) -> int:
        """Degrees of freedom of the t reference: G − 1 with clusters, else n − k."""
        if self.n_clusters is not None and self.cov_type == "cluster":
            return max(self.n_clusters - 1, 1)
        return max(self.nobs - len(self.theta), 1)

    def _critical(self, alpha: float, method: str | None = None) -> float:
        """The two-sided critical value of ``method`` (default :attr:`interval_method`): the
        quantile 1 − α/2 of Student's t with :attr:`df_resid` degrees of freedom, or of N(0, 1).
        From ``scipy.special`` (what ``scipy.stats.t.ppf`` and ``norm.ppf`` call, so the same
        numbers) rather than ``scipy.stats``, whose import is seconds of a short command."""
        from scipy import special

        if (method or self.interval_method) == "t":
            return float(special.stdtrit(self.df_resid, 1 - alpha / 2))
        return float(special.ndtri(1 - alpha / 2))

    def _warn_if_unreliable(self) -> None:
        if self.cov_warning is not None and not self.uses_bootstrap:
            warnings.warn(f"{self.name}: {self.cov_warning}", CovarianceWarning, stacklevel=3)

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the user's parameters: bootstrap, or J V_θ Jᵀ (delta method)."""
        self._warn_if_unreliable()
        if self.uses_bootstrap:
            assert self.bootstrap is not None
            # Parameters the bootstrap did not resample (e.g. a nuisance scale) get NaN.
            return self.bootstrap.cov().reindex(index=self.spec.names, columns=self.spec.names)
        J = self._jac()
        V = J[:, None] * self.cov_theta * J[None, :]
        return pd.DataFrame(V, index=self.spec.names, columns=self.spec.names)

    @property
    def bse(self) -> pd.Series:
        return pd.Series(np.sqrt(np.diag(self.cov_params().to_numpy())), index=self.spec.names,
                         name="std_err")

    @property
    def tvalues(self) -> pd.Series:
        return (self.params / self.bse).rename("z")

    @property
    def pvalues(self) -> pd.Series:
        from scipy import special  # scipy.stats.t.sf / norm.sf call these; lighter import

        z = np.abs(self.tvalues.to_numpy())
        p = (2 * special.stdtr(self.df_resid, -z) if self.interval_method == "t"
             else 2 * special.ndtr(-z))
        return pd.Series(p, index=self.spec.names, name="p_value")

    def conf_int(self, alpha: float = 0.05, method: str | None = None) -> pd.DataFrame:
        """Confidence intervals: ``normal`` (Wald, z), ``t`` (Student t, :attr:`df_resid`) or
        ``percentile`` (bootstrap); default :attr:`interval_method`."""
        method = method or self.interval_method
        if method not in CI_METHODS[1:]:
            raise SpecificationError(f"method must be one of {CI_METHODS[1:]}, got {method!r}")
        if method == "percentile":
            if self.bootstrap is None:
                raise SpecificationError("percentile intervals need a bootstrap (bootstrap=B)")
            return self.bootstrap.conf_int(alpha, "percentile").reindex(self.spec.names)
        crit = self._critical(alpha, method)
        return pd.DataFrame({"lower": self.params - crit * self.bse,
                             "upper": self.params + crit * self.bse})

    def interval_note(self) -> str:
        """Which intervals and standard errors the table shows, and why (for the summary)."""
        m = self.interval_method
        if m == "percentile":
            return ("intervals: bootstrap percentile (the replicates' quantiles; they respect "
                    "bounds and need no normal approximation)")
        se = "bootstrap" if self.uses_bootstrap else self.cov_type
        if self.cov_type == "cluster" and not self.uses_bootstrap:
            se += f", {self.cluster_correction} small-sample factor"
        if m == "t":
            return (f"intervals: Student t with {self.df_resid} degrees of freedom and {se} SEs "
                    "(small-sample reference)")
        why = ("asymptotic; with few rows per parameter prefer ci='t', cov_type='hc3' or a "
               "bootstrap" if self.nobs < 50 * len(self.theta) else "asymptotic")
        return f"intervals: normal (Wald, z) with {se} SEs ({why})"

    # --- fit statistics ---------------------------------------------------------------------
    @property
    def llf(self) -> float:
        """Log-likelihood at the estimate (MLE); NaN for M-estimation, which has none."""
        return float(-self.fun) if self.kind == "mle" else float("nan")

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * len(self.theta)

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * len(self.theta)

    # --- functions of the parameters --------------------------------------------------------
    def _func_theta(self, func: Callable) -> Callable:
        return _func_theta(func, self.spec)

    def _value_and_jacobian(self, func: Callable) -> tuple[np.ndarray, np.ndarray]:
        """(func(x̂), ∂func/∂θ at θ̂) from one compiled function (see :func:`_compiled_func`)."""
        spec = self.spec

        def both(theta):
            g = _func_theta(func, spec)
            return g(theta), jax.jacobian(g)(theta)

        fn = _compiled_func(func, spec, "value_and_jacobian", lambda: both)
        est, G = fn(np.asarray(self.theta))
        return np.asarray(est), np.asarray(G)

    def delta_method_cov(self, func: Callable) -> np.ndarray:
        """Covariance of func(x̂) by the delta method, G V_θ Gᵀ with G = ∂func/∂θ."""
        self._warn_if_unreliable()
        if self.uses_bootstrap:
            # Bootstrap: the covariance of func over the converged replicates.
            vals = self._bootstrap_apply(func)
            return np.atleast_2d(np.cov(vals, rowvar=False, ddof=1))
        G = self._value_and_jacobian(func)[1]
        return G @ self.cov_theta @ G.T

    def _bootstrap_apply(self, func: Callable) -> np.ndarray:
        boot = self.bootstrap
        if boot is None:
            raise SpecificationError(f"{self.name}: no bootstrap was run (bootstrap=B)")
        if boot.theta is not None:
            theta = boot.theta[boot.converged.to_numpy()]
        else:
            theta = self.spec.to_internal(boot.used().to_numpy(), what="bootstrap draws")
        if theta.shape[1] != len(self.theta):
            missing = [n for n in self.spec.names if n not in boot.draws.columns]
            raise SpecificationError(
                f"{self.name}: the bootstrap replicates hold {theta.shape[1]} parameters but the "
                f"fit has {len(self.theta)} (missing from the replicates: {missing}); functions "
                "of the parameters need every parameter in each replicate")
        spec = self.spec
        fn = _compiled_func(func, spec, "vmap", lambda: jax.vmap(_func_theta(func, spec)))
        return np.asarray(fn(np.asarray(theta)))

    def delta_method(self, func: Callable, names: list[str] | None = None,
                     alpha: float = 0.05) -> pd.DataFrame:
        """Estimate, SE and CI of any differentiable function of the parameters.

        ``func`` takes the parameter dict (JAX scalars) and returns a scalar, an array or a
        dict of scalars. With a bootstrap, SEs and percentile CIs come from the replicates.
        """
        est = self._value_and_jacobian(func)[0]
        V = self.delta_method_cov(func)
        se = np.sqrt(np.diag(V))
        if names is None:
            names = [f"f{i}" for i in range(len(est))]
        if self.interval_method == "percentile" and self.uses_bootstrap:
            vals = self._bootstrap_apply(func)
            lo, hi = np.quantile(vals, [alpha / 2, 1 - alpha / 2], axis=0)
        else:
            crit = self._critical(alpha)
            lo, hi = est - crit * se, est + crit * se
        return pd.DataFrame({"estimate": est, "std_err": se, "ci_low": lo, "ci_high": hi},
                            index=names)

    # --- presentation -------------------------------------------------------------------------
    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """Parameter table: estimate, std err, z, p, CI (the CSV layout of the CLI)."""
        return parameter_table(self, alpha)

    def summary(self, fmt: str = "text", alpha: float = 0.05) -> str:
        """A results box: estimates and, just as prominently, whether to trust them."""
        d = self.diagnostics
        conv = "yes" if d.converged else f"NO ({d.status})"
        ev = d.hessian_eigenvalues
        header = [
            ("Model", self.name),
            ("Estimator", "maximum likelihood" if self.kind == "mle" else "M-estimation"),
            ("Observations", str(self.nobs)),
            ("Parameters", str(len(self.theta))),
            ("Log-likelihood" if self.kind == "mle" else "Objective",
             f"{self.llf:.6g}" if self.kind == "mle" else f"{self.fun:.10g}"),
            ("AIC / BIC", f"{self.aic:.5g} / {self.bic:.5g}" if self.kind == "mle" else "n/a"),
            ("Std. errors", self.se_source if self.se_source == "bootstrap" else self.cov_type),
            ("Optimizer", d.method),
            ("Converged", conv),
            ("Iterations", str(d.iterations)),
            ("Rel. gradient", f"{d.relative_gradient:.2e}"),
            ("Hessian eig. min/max", f"{ev.min():.3g} / {ev.max():.3g}" if ev.size else "n/a"),
            ("Condition number", f"{d.condition_number:.3g}"),
        ]
        notes = list(self.notes)
        if self.starts is not None:
            short = {s.message: s.name.lower() for s in Status}
            st = self.starts["status"].map(lambda m: short.get(m, m)).value_counts()
            header.append(("Starts", f"{len(self.starts)} ("
                           + ", ".join(f"{v} {k}" for k, v in st.items()) + ")"))
        if self.bootstrap is not None:
            header.append(("Bootstrap", f"{self.bootstrap.n_converged}/{self.bootstrap.n_draws} "
                           "converged"))
        if not d.converged:
            notes.insert(0, "the optimiser did NOT converge: do not use these estimates.")
        notes.append(self.interval_note())
        if self.cov_warning is not None and not self.uses_bootstrap:
            notes.append(self.cov_warning)
        with warnings.catch_warnings():  # the summary states the reason in its notes
            warnings.simplefilter("ignore", CovarianceWarning)
            tab = self.table(alpha)
        ref = "P>|t|" if self.interval_method == "t" else "P>|z|"
        tab = tab.rename(columns={"std_err": "std err", "p_value": ref,
                                  "z": "t" if self.interval_method == "t" else "z",
                                  "ci_low": f"[{alpha / 2:g}", "ci_high": f"{1 - alpha / 2:g}]"})
        return render(f"{self.name} results", header, tab, fmt, notes)

    def __str__(self) -> str:
        return self.summary()

    def _repr_markdown_(self) -> str:  # pragma: no cover - notebooks
        return self.summary("markdown")


def to_dict(res: Results) -> dict[str, Any]:
    """A JSON-friendly dict of the main results."""
    return {
        "params": res.params.to_dict(),
        "bse": res.bse.to_dict(),
        "converged": res.converged,
        "status": res.diagnostics.status,
        "objective": res.fun,
        "nobs": res.nobs,
    }


def _func_theta(func: Callable, spec: Any) -> Callable:
    """θ ↦ func(parameters on the user's scale) as a 1-d float64 array."""
    def g(theta):
        out = func(spec.model_dict(theta))
        if isinstance(out, dict):
            out = jnp.stack([jnp.asarray(v) for v in out.values()])
        return jnp.atleast_1d(jnp.asarray(out, dtype=jnp.float64))

    return g


_FUNCS: dict[tuple, Callable] = {}


def _compiled_func(func: Callable, spec: Any, what: str, make: Callable[[], Callable]) -> Callable:
    """The compiled form of ``make()`` (a function of θ) of a function of the parameters,
    shared by every call with the same code and the same captured values.

    Functions handed to :meth:`Results.delta_method` are usually lambdas written inline, a new
    object at every call; JAX would compile each afresh. Their code object and the values they
    capture identify them instead (a closure over an unhashable value is compiled every time).
    The traced program is kept between runs (:func:`estimation.compilation.traced_jit`).
    """
    from estimation.compilation import compiler_options, traced_jit

    code = getattr(func, "__code__", None)
    key = None
    if code is not None:
        try:
            cells = tuple(c.cell_contents for c in (func.__closure__ or ()))
            key = (what, code, cells, func.__defaults__, id(func.__globals__), spec.params)
            hash(key)
        except (TypeError, ValueError):  # an unhashable or empty cell
            key = None
    if key is None:
        return jax.jit(make())
    fn = _FUNCS.get(key)
    if fn is None:
        # A function of θ alone: milliseconds to run, compiled quickly.
        fn = _FUNCS[key] = traced_jit(make(), (what, func, spec.params), compiler_options())
    return fn

