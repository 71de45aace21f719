"""Named design matrices from Wilkinson formulas, through ``formulaic`` (no parser of our own).

``design("y ~ x1 + C(g)", df)`` gives the response and the regressor matrix with formulaic's
column names, the matching :class:`ParamSpec` and ``linear(p, data)`` = Xβ for a model function,
so a probit through :func:`estimation.fit` is three lines::

    d = estimation.design("admit ~ gre + gpa + C(rank)", df)
    probit = lambda p, data: jax.scipy.stats.norm.logcdf((2 * data["y"] - 1) * d.linear(p, data))
    res = estimation.fit(probit, d.data, d.params)

``iv_design("y ~ 1 + x + [p ~ z1 + z2]", df)`` splits an instrumental-variables formula — the
syntax of linearmodels and of formulaic's multistage formulas — into the dependent variable,
exogenous regressors, endogenous regressors and excluded instruments. formulaic parses the
bracket as a stage formula ``[endog ~ instruments]``; each endogenous term appears on the
outer right-hand side as ``<term>_hat`` with the original term as its ``origin``.

Rows with a missing value in any variable the formula uses are an error naming the column and
rows (``missing="raise"``), or are dropped from every matrix together (``missing="drop"``), the
number dropped being recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.errors import SpecificationError
from estimation.parameters import Param, ParamSpec

MISSING = ("raise", "drop")


def _parser():
    from formulaic.parser import DefaultFormulaParser

    return DefaultFormulaParser(feature_flags=DefaultFormulaParser.FeatureFlags.ALL)


def _context(depth: int) -> Any:
    """The caller's namespace, so formulas may call the user's own functions (np.log, f)."""
    from formulaic.utils.context import capture_context

    return capture_context(depth + 1)


@dataclass
class Design:
    r"""A response and a named regressor matrix from a formula.

    Attributes
    ----------
    y : Series or None
        The left-hand side (None for a one-sided formula).
    X : DataFrame
        The regressors, one column per coefficient, named as formulaic names them
        (``Intercept``, ``x1``, ``C(g)[T.b]``, ...).
    dropped : list
        Index labels of rows dropped for missing values (``missing="drop"``).

    Examples
    --------
    A design hands a model its named coefficients (``params``), its data dict (``data``) and
    the linear index :math:`X\beta` (``linear``): least squares on ``y ~ x``:

    >>> import numpy as np
    >>> import pandas as pd
    >>> from estimation import Squared, design, fit
    >>> x = np.linspace(0.0, 1.0, 20)
    >>> y = 1.0 + 2.0 * x + np.random.default_rng(0).normal(0.0, 0.01, 20)
    >>> d = design("y ~ x", pd.DataFrame({"x": x, "y": y}))
    >>> d.names, d.params
    (['Intercept', 'x'], ParamSpec(Intercept:identity, x:identity))
    >>> res = fit(residuals=lambda p, data: data["y"] - d.linear(p, data), loss=Squared(),
    ...           data=d.data, params=d.params, kind="m", progress=False)
    >>> res.params.round(2).tolist()
    [1.0, 2.0]
    """

    formula: str
    X: pd.DataFrame
    y: pd.Series | None = None
    dropped: list = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [str(c) for c in self.X.columns]

    @property
    def params(self) -> ParamSpec:
        """One identity-transformed coefficient per column, starting at 0."""
        return ParamSpec([Param(n, start=0.0) for n in self.names])

    @property
    def data(self) -> dict[str, np.ndarray]:
        """``{"X": (n, k), "y": (n,)}`` float64, the data dict a model function receives."""
        out = {"X": self.X.to_numpy(dtype=np.float64)}
        if self.y is not None:
            out["y"] = self.y.to_numpy(dtype=np.float64)
        return out

    def coefficients(self, p: Mapping[str, Any]) -> jax.Array:
        """β stacked in column order from the parameter dict."""
        return jnp.stack([jnp.asarray(p[n]) for n in self.names])

    def linear(self, p: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> jax.Array:
        """The linear index Xβ (pure JAX; ``data["X"]`` if given, so bootstraps reweight it)."""
        X = self.data["X"] if data is None else data["X"]
        return jnp.asarray(X) @ self.coefficients(p)


@dataclass
class IVDesign:
    """The four blocks of a linear instrumental-variables model, as named DataFrames.

    Attributes
    ----------
    formula : str
        The formula the blocks came from.
    dependent : Series
        The left-hand side y.
    exog, endog, instruments : DataFrame
        The exogenous regressors (with the intercept), the endogenous regressors and the
        excluded instruments, one named column each.
    dropped : list
        Index labels of rows dropped for missing values (``missing="drop"``).

    Examples
    --------
    >>> import pandas as pd
    >>> from estimation import iv_design
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0], "w": [0.0, 1.0, 0.0], "p": [1.0, 2.0, 3.0],
    ...                    "z": [0.5, 1.0, 2.0]})
    >>> blocks = iv_design("y ~ w + [p ~ z]", df)
    >>> [blocks.exog.columns.tolist(), blocks.endog.columns.tolist(),
    ...  blocks.instruments.columns.tolist()]
    [['Intercept', 'w'], ['p'], ['z']]
    """

    formula: str
    dependent: pd.Series
    exog: pd.DataFrame
    endog: pd.DataFrame
    instruments: pd.DataFrame
    dropped: list = field(default_factory=list)


def _check_frame(data: Any) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        if isinstance(data, Mapping):
            return pd.DataFrame(dict(data))
        raise SpecificationError(f"data must be a DataFrame or a dict of columns, got "
                                 f"{type(data).__name__}")
    return data


def _missing_rows(data: pd.DataFrame, variables: set[str], missing: str) -> tuple[pd.DataFrame,
                                                                                   list]:
    """Refuse (naming column and rows) or drop rows with a missing value in a used variable."""
    if missing not in MISSING:
        raise SpecificationError(f"missing must be one of {MISSING}, got {missing!r}")
    cols = [c for c in data.columns if str(c) in variables]
    if not cols:
        return data, []
    na = data[cols].isna()
    if not na.to_numpy().any():
        return data, []
    if missing == "raise":
        col = next(c for c in cols if na[c].any())
        rows = data.index[na[col].to_numpy()][:5].tolist()
        raise SpecificationError(f"column {col!r} has missing values (rows {rows}); pass "
                                 "missing='drop' to drop such rows")
    bad = na.any(axis=1).to_numpy()
    return data.loc[~bad], data.index[bad].tolist()


def _materialize(terms, data: pd.DataFrame, context: Any, what: str) -> pd.DataFrame:
    from formulaic import model_matrix
    from formulaic.formula import SimpleFormula

    try:
        mm = model_matrix(SimpleFormula(list(terms)), data, context=context, na_action="raise",
                          output="pandas")
    except Exception as err:  # formulaic's message names the term; add which block failed
        raise SpecificationError(f"{what}: {err}") from err
    X = pd.DataFrame(mm)
    X.columns = [str(c) for c in X.columns]
    X.index = data.index
    _check_numeric(X, what)
    return X


def _check_numeric(X: pd.DataFrame, what: str) -> None:
    bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if bad:
        raise SpecificationError(f"{what}: column {bad[0]!r} is not numeric (dtype "
                                 f"{X[bad[0]].dtype}); wrap categories in C()")
    A = X.to_numpy(dtype=np.float64)
    nonfinite = ~np.isfinite(A)
    if nonfinite.any():
        j = int(np.flatnonzero(nonfinite.any(axis=0))[0])
        rows = X.index[nonfinite[:, j]][:5].tolist()
        raise SpecificationError(f"{what}: column {X.columns[j]!r} is not finite (rows {rows}); "
                                 "check transformations such as log(0)")


def _response(terms, data, context, formula: str) -> pd.Series:
    y = _materialize(terms, data, context, "dependent variable")
    if y.shape[1] != 1:
        raise SpecificationError(
            f"the left-hand side of {formula!r} gives {y.shape[1]} columns {list(y.columns)}; "
            "expected one numeric column (is it a string or categorical column?)")
    return y.iloc[:, 0].astype(np.float64)


def _variables(formula) -> set[str]:
    return {str(v) for v in formula.required_variables}


def design(formula: str, data: pd.DataFrame | Mapping[str, Any], *, missing: str = "raise",
           context: Any = None) -> Design:
    """Response and regressors from a Wilkinson formula (formulaic syntax).

    Parameters
    ----------
    formula : str
        ``"y ~ x1 + np.log(x2) + C(g)"`` (an intercept is added unless ``0 +`` or ``- 1``), or
        a one-sided ``"x1 + x2"``.
    data : DataFrame
    missing : {"raise", "drop"}
        Missing values in a variable the formula uses: an error naming the column and rows, or
        drop those rows (listed in ``Design.dropped``).
    context : mapping, optional
        Names the formula may call; default: the caller's namespace.

    Examples
    --------
    >>> import pandas as pd
    >>> import estimation
    >>> df = pd.DataFrame({"y": [1.0, 0.0, 1.0, 1.0], "x": [0.5, 1.5, 2.0, 3.0],
    ...                    "g": ["a", "b", "a", "b"]})
    >>> d = estimation.design("y ~ x + C(g)", df)
    >>> d.X.columns.tolist()
    ['Intercept', 'x', 'C(g)[T.b]']
    >>> d.y.tolist()
    [1.0, 0.0, 1.0, 1.0]
    """
    from formulaic import Formula

    data = _check_frame(data)
    context = _context(1) if context is None else context
    try:
        f = Formula(formula)
    except Exception as err:
        raise SpecificationError(f"cannot parse formula {formula!r}: {err}") from err
    data, dropped = _missing_rows(data, _variables(f), missing)
    if len(data) == 0:
        raise SpecificationError(f"no rows left to fit {formula!r}")
    if hasattr(f, "lhs"):
        y = _response(f.lhs, data, context, formula)
        X = _materialize(f.rhs, data, context, "regressors")
    else:
        y, X = None, _materialize(f, data, context, "regressors")
    return Design(formula=formula, X=X, y=y, dropped=dropped)


def iv_design(formula: str, data: pd.DataFrame | Mapping[str, Any], *, missing: str = "raise",
              context: Any = None) -> IVDesign:
    """Split ``"y ~ exog + [endog ~ instruments]"`` into named blocks (formulaic multistage).

    The exogenous block keeps formulaic's intercept rule (``0 +`` removes it); the endogenous
    and instrument blocks never carry an intercept, as in linearmodels' ``IV2SLS.from_formula``.
    A formula without a bracket has no endogenous regressors (OLS as a special case).

    Parameters
    ----------
    formula : str
        ``"y ~ 1 + w + [p ~ z1 + z2]"`` (linearmodels' syntax).
    data : DataFrame or dict of columns
    missing : {"raise", "drop"}
        Missing values in a variable the formula uses: an error naming the column and rows, or
        drop those rows (listed in ``IVDesign.dropped``).
    context : mapping, optional
        Names the formula may call; default: the caller's namespace.

    Returns
    -------
    IVDesign

    Examples
    --------
    >>> import pandas as pd
    >>> from estimation import iv_design
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 4.0], "p": [1.0, 2.0, 3.0],
    ...                    "z1": [0.5, 1.0, 2.0], "z2": [1.0, 0.0, 1.0]})
    >>> blocks = iv_design("y ~ [p ~ z1 + z2]", df)
    >>> blocks.exog.columns.tolist(), blocks.instruments.columns.tolist()
    (['Intercept'], ['z1', 'z2'])
    >>> blocks.dependent.tolist()
    [1.0, 2.0, 4.0]
    """
    from formulaic import Formula

    data = _check_frame(data)
    context = _context(1) if context is None else context
    try:
        f = Formula(formula, _parser=_parser())
    except Exception as err:
        raise SpecificationError(f"cannot parse formula {formula!r}: {err}") from err
    if not hasattr(f, "lhs"):
        raise SpecificationError(f"{formula!r} has no dependent variable: write 'y ~ ...'")
    rhs = f.rhs
    deps = list(getattr(rhs, "deps", ()) or ())
    root = rhs.root if deps else rhs
    exog_terms = [t for t in root if getattr(t, "origin", None) is None]
    endog_terms: list = []
    instr_terms: list = []
    for stage in deps:
        endog_terms += list(stage.lhs)
        instr_terms += [t for t in stage.rhs if str(t) != "1"]
    from formulaic.formula import SimpleFormula

    variables = {str(v) for v in f.lhs.required_variables}
    for terms in (exog_terms, endog_terms, instr_terms):
        if terms:
            variables |= _variables(SimpleFormula(terms))
    data, dropped = _missing_rows(data, variables, missing)
    if len(data) == 0:
        raise SpecificationError(f"no rows left to fit {formula!r}")
    y = _response(f.lhs, data, context, formula)
    empty = pd.DataFrame(index=data.index)

    def block(terms, what):
        return _materialize(terms, data, context, what) if terms else empty.copy()

    exog = block(exog_terms, "exogenous regressors")
    endog = block(endog_terms, "endogenous regressors")
    instr = block(instr_terms, "instruments")
    # The stage formula's own intercept is dropped above; a "0 +" inside it leaves none either.
    for frame in (endog, instr):
        if "Intercept" in frame.columns:
            frame.drop(columns="Intercept", inplace=True)
    return IVDesign(formula=formula, dependent=y, exog=exog, endog=endog, instruments=instr,
                    dropped=dropped)
