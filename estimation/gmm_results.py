"""What a GMM or instrumental-variables fit returns, in the vocabulary of :class:`Results`.

``params``, ``bse``, ``cov_params()``, ``conf_int()``, ``tvalues``, ``pvalues``, ``nobs`` and
``summary()`` (text, Markdown, LaTeX through :func:`estimation.tables.render`) behave as for
:func:`estimation.fit`; GMM adds the objective n·ḡ'Wḡ, Hansen's J test, the weighting matrix
and, for linear IV, the first-stage diagnostics.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.hypothesis_tests import TestResult
from estimation.tables import parameter_table, render


@dataclass
class GMMResults:
    r"""Estimates, covariance and tests of one GMM / IV fit.

    Inference uses the standard normal (z statistics) unless the fit was ``debiased``, in which
    case ``tvalues`` are referred to Student's t with ``df_resid`` degrees of freedom, as in
    linearmodels and Stata's ``small`` option.

    Attributes
    ----------
    params : Series
        Estimates on the user's scale (nonlinear parameters, then concentrated linear ones).
    objective : float
        :math:`n\,\bar g(\hat\theta)^\top W \bar g(\hat\theta)` with the weighting matrix W
        of the last step.
    j_stat : TestResult or None
        Hansen's J test of the over-identifying restrictions (None when exactly identified or
        when the weighting matrix of the last step is not efficient).
    sargan : TestResult or None
        Sargan's n·R² test (2SLS only; homoskedastic errors).
    first_stage : DataFrame or None
        One row per endogenous regressor: R², partial R², Shea's partial R², the Wald and F
        statistics of the excluded instruments with their p-value, and Sanderson–Windmeijer's
        conditional F (linear IV only).

    Examples
    --------
    What :func:`~estimation.ivreg` and :func:`~estimation.gmm` return:

    >>> import numpy as np
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> z1, z2, u = rng.normal(size=(3, 200))
    >>> x = z1 + 0.5 * z2 + 0.5 * u + rng.normal(size=200)      # x is endogenous: it holds u
    >>> df = pd.DataFrame({"y": 1.0 + 2.0 * x + u, "x": x, "z1": z1, "z2": z2})
    >>> from estimation import ivreg
    >>> res = ivreg("y ~ 1 + [x ~ z1 + z2]", df)
    >>> res.table()[["estimate", "std_err"]].round(3)
               estimate  std_err
    Intercept     1.009    0.068
    x             2.070    0.050
    >>> print(res.sargan)
    Sargan: statistic = 0.07168, df = 1, p = 0.7889
    >>> res.first_stage[["partial_rsquared", "f_stat"]].round(1)
       partial_rsquared  f_stat
    x               0.5   144.3

    Functions of the estimates by the delta method:

    >>> import jax.numpy as jnp
    >>> res.delta_method(lambda p: jnp.array([p["x"] / p["Intercept"]]), names=["ratio"]).round(2)
           estimate  std_err  ci_low  ci_high
    ratio      2.05     0.15    1.76     2.34
    """

    params: pd.Series
    cov: pd.DataFrame
    nobs: int
    estimator: str
    cov_type: str
    objective: float
    weight_matrix: pd.DataFrame
    converged: bool = True
    status: str = "closed form"
    iterations: int = 1
    j_stat: TestResult | None = None
    sargan: TestResult | None = None
    first_stage: pd.DataFrame | None = None
    residuals: pd.DataFrame | pd.Series | None = None
    df_resid: int | None = None
    debiased: bool = False
    name: str = "GMM"
    diagnostics: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    # --- inference ------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.params.index)

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the estimates (the sandwich of the requested ``cov_type``)."""
        return self.cov

    @property
    def bse(self) -> pd.Series:
        """Standard errors, ``sqrt(diag(cov))``. A variance that is zero in exact arithmetic (a
        dummy fitting one observation exactly under HC1 or clustering) can come out a few ulps
        below zero: such rounding is read as 0; a clearly negative variance is NaN and warned."""
        var = np.diag(self.cov.to_numpy()).copy()
        scale = float(np.max(np.abs(var), initial=0.0))
        var[(var < 0) & (var >= -64 * np.finfo(float).eps * scale)] = 0.0
        if (var < 0).any():
            bad = list(self.params.index[var < 0])
            warnings.warn(f"negative variance for {bad}: their standard errors are NaN",
                          RuntimeWarning, stacklevel=2)
        with np.errstate(invalid="ignore"):
            se = np.sqrt(var)
        return pd.Series(se, index=self.params.index, name="std_err")

    @property
    def tvalues(self) -> pd.Series:
        return (self.params / self.bse).rename("t" if self.debiased else "z")

    def _dist(self):
        from scipy import stats  # imported on use: scipy.stats is a second of start-up

        return stats.t(self.df_resid) if self.debiased and self.df_resid else stats.norm()

    @property
    def pvalues(self) -> pd.Series:
        return pd.Series(2 * self._dist().sf(np.abs(self.tvalues.to_numpy())),
                         index=self.params.index, name="p_value")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald intervals θ̂ ± q_{1−α/2}·SE (normal, or t when ``debiased``)."""
        q = self._dist().ppf(1 - alpha / 2)
        return pd.DataFrame({"lower": self.params - q * self.bse,
                             "upper": self.params + q * self.bse})

    # --- functions of the parameters (the hooks wald_test uses) ---------------------------------
    def _func_vec(self, func: Callable) -> Callable:
        names = self.names

        def g(x):
            out = func({n: x[j] for j, n in enumerate(names)})
            if isinstance(out, dict):
                out = jnp.stack([jnp.asarray(v) for v in out.values()])
            return jnp.atleast_1d(jnp.asarray(out, dtype=jnp.float64))

        return g

    def delta_method_cov(self, func: Callable) -> np.ndarray:
        """Covariance of func(θ̂) by the delta method, D V Dᵀ with D = ∂func/∂θ (JAX)."""
        x = jnp.asarray(self.params.to_numpy())
        D = np.asarray(jax.jacobian(self._func_vec(func))(x))
        return D @ self.cov.to_numpy() @ D.T

    def delta_method(self, func: Callable, names: list[str] | None = None,
                     alpha: float = 0.05) -> pd.DataFrame:
        """Estimate, SE and normal CI of a differentiable function of the parameters."""
        est = np.asarray(self._func_vec(func)(jnp.asarray(self.params.to_numpy())))
        se = np.sqrt(np.diag(self.delta_method_cov(func)))
        from scipy import stats  # imported on use: scipy.stats is a second of start-up

        z = stats.norm.ppf(1 - alpha / 2)
        return pd.DataFrame({"estimate": est, "std_err": se, "ci_low": est - z * se,
                             "ci_high": est + z * se},
                            index=names or [f"f{i}" for i in range(len(est))])

    # --- presentation ---------------------------------------------------------------------------
    def table(self, alpha: float = 0.05) -> pd.DataFrame:
        """Estimate, std err, z (or t), p, CI: the CSV layout of :meth:`Results.table`."""
        return parameter_table(self, alpha)

    def summary(self, fmt: str = "text", alpha: float = 0.05) -> str:
        """A results box (text, Markdown or LaTeX) with the tests and the convergence verdict."""
        n_mom = self.weight_matrix.shape[0]
        header = [
            ("Model", self.name),
            ("Estimator", self.estimator),
            ("Observations", str(self.nobs)),
            ("Parameters / moments", f"{len(self.params)} / {n_mom}"),
            ("Std. errors", self.cov_type + (" (debiased)" if self.debiased else "")),
            ("GMM objective", f"{self.objective:.10g}"),
            ("Converged", "yes" if self.converged else f"NO ({self.status})"),
            ("Iterations", str(self.iterations)),
        ]
        for test in (self.j_stat, self.sargan):
            if test is not None:
                header.append((test.name, f"{test.statistic:.4g} (df {test.df}, "
                               f"p {test.pvalue:.3g})"))
        notes = list(self.notes)
        if not self.converged:
            notes.insert(0, "the optimiser did NOT converge: do not use these estimates.")
        stat = "t" if self.debiased else "z"
        tab = self.table(alpha).rename(columns={
            "std_err": "std err", "z": stat, "p_value": f"P>|{stat}|",
            "ci_low": f"[{alpha / 2:g}", "ci_high": f"{1 - alpha / 2:g}]"})
        text = render(f"{self.name} results", header, tab, fmt, notes)
        if self.first_stage is not None:
            fs = self.first_stage[["rsquared", "partial_rsquared", "shea_rsquared", "f_stat",
                                   "f_pvalue", "sw_f"]]
            head = [("Instruments", ", ".join(self.diagnostics.get("excluded_instruments", [])))]
            cd = self.diagnostics.get("cragg_donald")
            if cd is not None:
                head.append(("Cragg-Donald F", f"{cd:.4g}"))
            text += "\n\n" + render("First stage (excluded instruments)", head, fs, fmt)
        return text

    def __str__(self) -> str:
        return self.summary()

    def _repr_markdown_(self) -> str:  # pragma: no cover - notebooks
        return self.summary("markdown")
