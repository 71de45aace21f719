"""What drives the answer: first-order variance shares of each headline quantity by parameter
group.

For a headline quantity Y (log break-even Q, log cost at the reference Q, whether a hypothesis is
the cheapest) computed on K joint parameter draws, the first-order Sobol index of a group g of
parameters is

    S_g = Var(E[Y | X_g]) / Var(Y)

(Sobol 1993; Saltelli et al. 2008, *Global Sensitivity Analysis*, §1.2.5): the share of Y's
variance that knowing X_g exactly would remove — which measurement would most narrow the answer.
Groups are drawn independently of each other (a fit's correlated replicates form one group).

Method (stated): the *given-data* estimator. E[Y | X_g] is approximated by least squares of Y on
a full quadratic in the standardised X_g (constant, X, squares and cross products), fitted on the
same draws that produced Y, and S_g is that regression's adjusted R² clipped to [0, 1]
(Strong, Oakley & Chilcott 2012 estimate the same conditional expectation by regression on the
inputs). It needs no extra solves of the firm's problem, unlike the pick-freeze estimators
(Saltelli/Jansen), at the price of a smooth approximation of E[Y | X_g]; the shares need not sum
to one (interactions, and the approximation). Draws with an undefined Y (no break-even in the Q
grid, unreachable target) are left out, and their number is reported.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from estimation.tables import MAX_WIDTH
from structural.counterfactual.outputs import _fmt, to_markdown

__all__ = ["decomposition", "decomposition_json", "first_order", "variance_lines"]

METHOD = ("first-order Sobol indices S_g = Var(E[Y|X_g])/Var(Y), given-data estimator: "
          "adjusted R² of least squares of Y on a full quadratic in the group's standardised "
          "draws (no extra model solves); groups drawn independently")


def _design(X: np.ndarray) -> np.ndarray:
    """[1, x_i, x_i x_j (i ≤ j)] of the standardised columns of X (K × m)."""
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    m = Z.shape[1]
    cols = [np.ones(len(Z)), *Z.T]
    cols += [Z[:, i] * Z[:, j] for i in range(m) for j in range(i, m)]
    return np.column_stack(cols)


def first_order(y: np.ndarray, groups: Mapping[str, np.ndarray]) -> dict[str, float]:
    """S_g for every group (``groups[g]`` is the K × m array of group g's draws); NaN when Y has
    fewer than 20 defined draws or no variance.

    Examples
    --------
    Y depends on the first group only, so it carries all of Y's variance:

    >>> import numpy as np
    >>> from structural.counterfactual.sensitivity import first_order
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.normal(size=(2000, 1)), rng.normal(size=(2000, 1))
    >>> {g: round(s, 1) for g, s in first_order(3 * a[:, 0], {"a": a, "b": b}).items()}
    {'a': 1.0, 'b': 0.0}
    """
    ok = np.isfinite(y)
    y = y[ok]
    out = {}
    for g, X in groups.items():
        X = np.asarray(X, float).reshape(len(ok), -1)[ok]
        m = X.shape[1]
        p = 1 + m + m * (m + 1) // 2
        if len(y) < max(20, p + 5) or np.var(y) == 0:
            out[g] = float("nan")
            continue
        A = _design(X)
        n = len(y)
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        r2 = 1.0 - np.sum((y - A @ coef) ** 2) / np.sum((y - y.mean()) ** 2)
        adj = 1.0 - (1.0 - r2) * (n - 1) / (n - p)
        out[g] = float(np.clip(adj, 0.0, 1.0))
    return out


def decomposition(quantities: Mapping[str, np.ndarray], theta: Mapping[str, np.ndarray],
                  groups: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """One row per (headline quantity, group): the group's first-order share, the draws used.

    ``quantities`` maps a label to its K per-draw values; ``theta[name]`` holds K + 1 rows (row 0
    the point estimate, as :class:`~structural.counterfactual.params.ParameterDraws`).

    Examples
    --------
    >>> import numpy as np
    >>> from structural.counterfactual.sensitivity import decomposition
    >>> rng = np.random.default_rng(0)
    >>> theta = {"x": rng.normal(size=2000), "z": rng.normal(size=2000)}
    >>> y = {"cost": (2 * theta["x"] + theta["z"])[1:]}  # row 0 of theta is the point
    >>> table = decomposition(y, theta, {"x-group": ("x",), "z-group": ("z",)})
    >>> table.round(1)
      quantity    group parameters  first_order_share  draws_used
    0     cost  x-group          x                0.8        1999
    1     cost  z-group          z                0.2        1999
    """
    X = {g: np.column_stack([np.asarray(theta[n], float)[1:] for n in names])
         for g, names in groups.items() if names}
    rows = []
    for label, y in quantities.items():
        y = np.asarray(y, float)
        shares = first_order(y, X)
        for g, s in shares.items():
            rows.append({"quantity": label, "group": g, "parameters": ", ".join(groups[g]),
                         "first_order_share": s, "draws_used": int(np.isfinite(y).sum())})
    return pd.DataFrame(rows)


def _wrap(text: str) -> list[str]:
    """A report line wrapped to the console's 100 columns (continuations indented)."""
    return textwrap.wrap(text, MAX_WIDTH, subsequent_indent="  ", break_on_hyphens=False)


def variance_lines(vd: pd.DataFrame, console: bool) -> list[str]:
    """The variance decomposition: a groups × quantities table, or on the console one wrapped
    line per quantity listing each group's share. Shared by the pipeline and the market
    scenarios' reports.

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.counterfactual.sensitivity import variance_lines
    >>> vd = pd.DataFrame({"quantity": ["cost", "cost"], "group": ["α", "ρ"],
    ...                    "first_order_share": [0.75, 0.25]})
    >>> variance_lines(vd, console=True)[-1]
    '- cost: α 0.75, ρ 0.25'
    """
    method = _wrap(f"Method: {vd.attrs.get('method', METHOD)}.")
    if not console:
        wide = vd.pivot_table(index="group", columns="quantity", values="first_order_share",
                              sort=False, dropna=False)
        return ["\n".join(method), "", to_markdown(wide.reset_index())]
    lines = [*method, ""]
    for q, sub in vd.groupby("quantity", sort=False):
        shares = ", ".join(f"{g} {_fmt(float(v))}" for g, v in
                           zip(sub["group"], sub["first_order_share"], strict=True))
        lines += _wrap(f"- {q}: {shares}")
    return lines


def decomposition_json(table: pd.DataFrame | None) -> dict:
    """{quantity: {group: share}} plus the method (NaN shares as None), for ``summary.json``.

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.counterfactual.sensitivity import decomposition_json
    >>> vd = pd.DataFrame({"quantity": ["cost"], "group": ["α"], "first_order_share": [1.0]})
    >>> decomposition_json(vd)["cost"]
    {'α': 1.0}
    """
    if table is None or not len(table):
        return {}
    out: dict = {"method": table.attrs.get("method", METHOD)}
    for q, sub in table.groupby("quantity", sort=False):
        out[q] = {r["group"]: (None if not np.isfinite(r["first_order_share"])
                               else float(r["first_order_share"])) for _, r in sub.iterrows()}
    return out
