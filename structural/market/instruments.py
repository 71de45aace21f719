"""Excluded instruments for differentiated-products demand built from product characteristics.

Gandhi and Houde (2019), "Measuring Substitution Patterns in Differentiated-Products
Industries", NBER Working Paper 26375: the instruments that identify substitution are functions
of the *distances* between a product's characteristics and those of the other products in its
market, summed separately over the product's own firm and over its rivals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from structural.errors import MarketDataError
from structural.market.products import Layout

__all__ = ["differentiation_instruments"]

_KINDS = ("local", "quadratic")


def differentiation_instruments(products_df: pd.DataFrame, characteristics: Sequence[str], *,
                                kind: str = "local", interact: bool = False,
                                market: str = "market_ids",
                                firm: str | None = "firm_ids") -> pd.DataFrame:
    r"""Gandhi–Houde differentiation instruments, split into own-firm and rival sums.

    With :math:`d_{jkt\ell} = x_{jt\ell} - x_{kt\ell}` the difference between products
    :math:`j` and :math:`k` of market :math:`t` in characteristic :math:`\ell`, and
    :math:`J_{ft}` the products of :math:`j`'s firm :math:`f` (Gandhi and Houde 2019, eqs. for
    the "local" and "quadratic" instruments):

    .. math::

        Z^\text{Local,Own}_{jt\ell} = \sum_{k \in J_{ft} \setminus \{j\}}
            1(|d_{jkt\ell}| < \text{SD}_\ell), \qquad
        Z^\text{Local,Rival}_{jt\ell} = \sum_{k \notin J_{ft}} 1(|d_{jkt\ell}| < \text{SD}_\ell),

        Z^\text{Quad,Own}_{jt\ell} = \sum_{k \in J_{ft} \setminus \{j\}} d_{jkt\ell}^2, \qquad
        Z^\text{Quad,Rival}_{jt\ell} = \sum_{k \notin J_{ft}} d_{jkt\ell}^2,

    where :math:`\text{SD}_\ell` is the standard deviation of the pairwise differences
    :math:`d_{jkt\ell}` (:math:`j \ne k`) pooled over all markets. With ``interact`` the summands
    become :math:`1(|d_{jkt\ell}| < \text{SD}_\ell)\, d_{jkt\ell'}` for every :math:`\ell'`
    (local) and :math:`d_{jkt\ell}\, d_{jkt\ell'}` for :math:`\ell' \ge \ell` (quadratic). The
    result equals ``pyblp.build_differentiation_instruments`` (same column order: the own-firm
    block, then the rival block).

    Parameters
    ----------
    products_df : DataFrame
        One row per product and market.
    characteristics : sequence of str
        Numeric columns of ``products_df`` (the :math:`x_\ell`).
    kind : {"local", "quadratic"}
        Which instrument.
    interact : bool
        Add the cross-characteristic terms.
    market : str
        Column of market identifiers.
    firm : str or None
        Column of firm identifiers. ``None`` gives firm-agnostic instruments: one block of sums
        over all other products of the market.

    Returns
    -------
    DataFrame
        Same index as ``products_df``; columns ``diff_{kind}_{own|rival|all}_{term}`` where
        ``term`` is a characteristic or ``a*b`` for an interaction.

    Raises
    ------
    MarketDataError
        A column is missing or not finite, ``characteristics`` is empty, or ``kind`` is unknown.

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.market.instruments import differentiation_instruments
    >>> df = pd.DataFrame({"market_ids": [1, 1, 1], "firm_ids": [1, 1, 2],
    ...                    "x": [0.0, 1.0, 3.0]})
    >>> differentiation_instruments(df, ["x"], kind="quadratic")
       diff_quadratic_own_x  diff_quadratic_rival_x
    0                   1.0                     9.0
    1                   1.0                     4.0
    2                   0.0                    13.0
    >>> differentiation_instruments(df, ["x"], kind="cubic")
    Traceback (most recent call last):
    ...
    structural.errors.MarketDataError: kind: expected 'local' or 'quadratic', got 'cubic'
    """
    if kind not in _KINDS:
        raise MarketDataError("kind", f"expected 'local' or 'quadratic', got {kind!r}")
    chars = list(characteristics)
    if not chars:
        raise MarketDataError("characteristics", "expected at least one column")
    for col in [market, *([firm] if firm is not None else []), *chars]:
        if col not in products_df:
            raise MarketDataError(col, "required column is missing")
        miss = products_df[col].isna().to_numpy()
        if miss.any():
            raise MarketDataError(col, f"missing value at row {int(np.flatnonzero(miss)[0])}")
    X = np.empty((len(products_df), len(chars)))
    for c, col in enumerate(chars):
        try:
            X[:, c] = products_df[col].to_numpy(float)
        except (TypeError, ValueError):
            raise MarketDataError(col, "expected numbers") from None
        bad = ~np.isfinite(X[:, c])
        if bad.any():
            raise MarketDataError(col, f"not finite at row {int(np.flatnonzero(bad)[0])}")

    lay = Layout.from_ids(products_df[market].to_numpy())
    Xp = lay.pad(X)                                              # (T, J, K)
    J = lay.J
    pair = lay.mask[:, :, None] & lay.mask[:, None, :] & ~np.eye(J, dtype=bool)
    if firm is None:
        blocks = {"all": pair}
    else:
        f = lay.pad(pd.factorize(products_df[firm])[0], fill=-1)
        same = f[:, :, None] == f[:, None, :]
        blocks = {"own": pair & same, "rival": pair & ~same}

    def diff(a: int) -> np.ndarray:
        """d[t, j, k] = x_jta − x_kta, (T, J, J): one characteristic at a time to bound memory."""
        return Xp[:, :, None, a] - Xp[:, None, :, a]

    def terms():
        K = len(chars)
        if kind == "quadratic":
            for a in range(K):
                for b in range(a, K if interact else a + 1):
                    yield (chars[a] if a == b else f"{chars[a]}*{chars[b]}"), diff(a) * diff(b)
            return
        n = pair.sum()
        for a in range(K):
            # SD of the pairwise differences over all markets (j ≠ k), as PyBLP computes it
            da = diff(a)
            sd = np.sqrt((da[pair] ** 2).sum() / n - (da[pair].sum() / n) ** 2)
            close = (np.abs(da) < sd).astype(float)
            if not interact:
                yield chars[a], close
            else:
                for b in range(K):
                    yield f"{chars[a]}*{chars[b]}", close * diff(b)

    sums: dict[str, list[tuple[str, np.ndarray]]] = {block: [] for block in blocks}
    for name, term in terms():
        for block, m in blocks.items():
            sums[block].append((name, lay.unpad(np.where(m, term, 0.0).sum(axis=2))))
    out = {f"diff_{kind}_{block}_{name}": v for block in blocks for name, v in sums[block]}
    return pd.DataFrame(out, index=products_df.index)
