"""Products × markets data in long form, validated, with formula specifications.

One row per product j in market t: ``market_ids``, ``product_ids``, ``firm_ids``, ``shares``,
``prices``, characteristics and excluded instruments. A :class:`DemandSpec` names the formulas
(``formulaic`` syntax, as in PyBLP): X1 the linear characteristics (mean utility
δ_jt = x_jt β + ξ_jt), X2 the characteristics with random coefficients, X3 the marginal-cost
characteristics, and the agent demographics D that shift the random coefficients (Π).
The excluded demand instruments ZD are joined by the exogenous columns of X1 (every column but
``prices``), the supply instruments ZS by the columns of X3 — Berry, Levinsohn and Pakes (1995),
Conlon and Gortmaker (2020, RAND J. Econ., "Best practices…", Section 2).

Markets are laid out for batched computation as a (T, J) grid padded to the largest market with a
mask, so every per-market computation is one ``vmap`` over markets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from structural.errors import MarketDataError

__all__ = ["Agents", "DemandSpec", "Layout", "Products", "build_agents", "build_products"]


@dataclass(frozen=True)
class DemandSpec:
    """A demand (and optionally supply) specification.

    Parameters
    ----------
    linear : str
        X1 formula, e.g. ``"0 + prices"`` or ``"1 + prices + hpwt"``. Prices enter as the column
        ``prices`` (linearly) wherever they appear.
    random : str, optional
        X2 formula of the characteristics with random coefficients; None for (nested) logit.
    demographics : str, optional
        Agent formula for the demographics D (e.g. ``"0 + income + age"``) that shift the random
        coefficients through Π.
    cost : str, optional
        X3 formula of marginal cost; with it, supply moments are added (joint estimation).
    absorb : str, optional
        One column whose fixed effects are absorbed from X1, the demand instruments and δ
        (within transformation), e.g. ``"product_ids"``.
    demand_instruments : str
        Prefix of the excluded demand instrument columns (``demand_instruments0``, ``…1``, …).
    supply_instruments : str
        Prefix of the excluded supply instrument columns.
    costs_type : {"linear", "log"}
        Whether X3 γ + ω models c or log c.
    nesting : str, optional
        Column of nest ids: a nested logit with one ρ per nest (``rho_per_nest``) or one for all.
    rho_per_nest : bool
        One nesting parameter per nest instead of one shared ρ.

    Examples
    --------
    Plain logit with product fixed effects, and Nevo's random-coefficients specification:

    >>> from structural.market import DemandSpec
    >>> logit = DemandSpec("prices", absorb="product_ids")
    >>> rc = DemandSpec("0 + prices", random="1 + prices + sugar + mushy",
    ...                 demographics="0 + income + income_squared + age + child",
    ...                 absorb="product_ids")
    >>> logit.random is None, rc.random
    (True, '1 + prices + sugar + mushy')
    """

    linear: str
    random: str | None = None
    demographics: str | None = None
    cost: str | None = None
    absorb: str | None = None
    demand_instruments: str = "demand_instruments"
    supply_instruments: str = "supply_instruments"
    costs_type: str = "linear"
    nesting: str | None = None
    rho_per_nest: bool = False

    def __post_init__(self) -> None:
        if self.costs_type not in ("linear", "log"):
            raise MarketDataError("costs_type",
                                  f"expected 'linear' or 'log', got {self.costs_type!r}")
        if self.nesting is not None and self.random is not None:
            raise MarketDataError("nesting", "random coefficients nested logit is not supported")
        if self.demographics is not None and self.random is None:
            raise MarketDataError("demographics", "demographics need a random-coefficients formula")


@dataclass(frozen=True)
class Layout:
    """Where each row sits in the padded (T, J) market grid.

    ``t`` and ``j`` are the row's market and slot; ``mask`` (T, J) marks real products.

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> layout = build_products(df, DemandSpec("prices")).layout
    >>> layout.T, layout.mask.shape, int(layout.mask.sum())
    (94, (94, 24), 2256)
    """

    market_ids: np.ndarray
    t: np.ndarray
    j: np.ndarray
    mask: np.ndarray

    @property
    def T(self) -> int:
        return self.mask.shape[0]

    @property
    def J(self) -> int:
        return self.mask.shape[1]

    def pad(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Long (N, ...) → padded (T, J, ...)."""
        x = np.asarray(x)
        out = np.full((self.T, self.J, *x.shape[1:]), fill, dtype=x.dtype)
        out[self.t, self.j] = x
        return out

    def unpad(self, x):
        """Padded (T, J, ...) → long (N, ...) (works on JAX arrays too)."""
        return x[self.t, self.j]

    @staticmethod
    def from_ids(market_ids: np.ndarray) -> Layout:
        codes, uniques = pd.factorize(pd.Series(market_ids), sort=False)
        counts = np.bincount(codes)
        j = np.zeros(len(codes), dtype=int)
        seen = np.zeros(len(uniques), dtype=int)
        for i, c in enumerate(codes):  # once, at set-up
            j[i] = seen[c]
            seen[c] += 1
        mask = np.arange(counts.max())[None, :] < counts[:, None]
        return Layout(np.asarray(uniques), codes, j, mask)


@dataclass
class Products:
    """Validated product data and the design matrices of a :class:`DemandSpec` (long form).

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> p = build_products(df, DemandSpec("1 + prices + sugar"))
    >>> p.X1_names, p.X1.shape
    (['1', 'prices', 'sugar'], (2256, 3))
    """

    spec: DemandSpec
    frame: pd.DataFrame
    market_ids: np.ndarray
    product_ids: np.ndarray
    firm_ids: np.ndarray
    shares: np.ndarray
    prices: np.ndarray
    X1: np.ndarray
    X1_names: list[str]
    ZD: np.ndarray
    ZD_names: list[str]
    X2: np.ndarray | None = None
    X2_names: list[str] = field(default_factory=list)
    X3: np.ndarray | None = None
    X3_names: list[str] = field(default_factory=list)
    ZS: np.ndarray | None = None
    ZS_names: list[str] = field(default_factory=list)
    absorb_ids: np.ndarray | None = None
    nesting_ids: np.ndarray | None = None
    clustering_ids: np.ndarray | None = None
    layout: Layout = None  # type: ignore[assignment]

    @property
    def N(self) -> int:
        return len(self.shares)

    def absorb(self, x: np.ndarray) -> np.ndarray:
        """Within transformation: subtract each fixed-effect group's mean (identity if none)."""
        if self.absorb_ids is None:
            return x
        codes = pd.factorize(pd.Series(self.absorb_ids))[0]
        x = np.asarray(x, float)
        sums = np.zeros((codes.max() + 1, *x.shape[1:]))
        np.add.at(sums, codes, x)
        return x - (sums / np.bincount(codes).reshape(-1, *([1] * (x.ndim - 1))))[codes]


#: the one-column transforms :func:`_matrix` computes itself, each as formulaic spells a term
#: of it (``log(hpwt)``, ``I(1 / income)``: BLP's cost and demographic formulas) and computes it
#: (NumPy's log; Python's true division): a term spelt otherwise goes to formulaic
_TRANSFORMS = {"log": (re.compile(r"log\((\w+)\)"), np.log),
               "reciprocal": (re.compile(r"I\(1 / (\w+)\)"), lambda x: 1 / x)}


def _plain_terms(formula: str, df: pd.DataFrame) -> list[str] | None:
    """The terms of ``formula`` when it is ``1 + a + b …``, ``0 + a + b …`` or ``a + b …`` (an
    implicit intercept, which formulaic puts first) over distinct numeric (float or integer,
    NumPy or nullable) columns of ``df`` with no missing value, or the transforms of one such
    column in :data:`_TRANSFORMS`, in order (``"1"`` the intercept); None for any other formula
    (other transforms, interactions, categoricals), which formulaic builds. Its matrix
    (:func:`_plain_column`) is what formulaic gives for such a formula; the shortcut saves
    importing formulaic (0.4–0.6 CPU s of a command, 0.1 after SciPy's optimisers)."""
    terms = [t.strip() for t in formula.split("+")]
    if terms[0] not in ("0", "1"):
        terms = ["1", *terms]
    names = terms[1:]
    if len(set(names)) < len(names):
        return None
    for n in names:
        column = _column_of(n)
        if column not in (None, n) and ("log" in df.columns or "I" in df.columns):
            return None  # formulaic reads a column named log or I in place of the function
        col = None if column is None else df.get(column)
        if not isinstance(col, pd.Series) or not (pd.api.types.is_float_dtype(col.dtype) or
                                                  pd.api.types.is_integer_dtype(col.dtype)) \
                or col.isna().any():
            return None
    return names if terms[0] == "0" else ["1", *names]


def _column_of(term: str) -> str | None:
    """The column a plain term names: itself, or the column of a transform in
    :data:`_TRANSFORMS`; None for any other term."""
    if term.isidentifier():
        return term
    found = _transform_of(term)
    return None if found is None else found[0]


def _transform_of(term: str) -> tuple[str, Callable[[np.ndarray], np.ndarray]] | None:
    """(column, transform) of a term spelt as one of :data:`_TRANSFORMS`, else None."""
    for pattern, transform in _TRANSFORMS.values():
        found = pattern.fullmatch(term)
        if found and found.group(1).isidentifier():  # log(1): formulaic reads a number
            return found.group(1), transform
    return None


def _plain_column(term: str, df: pd.DataFrame) -> np.ndarray:
    """A plain term's column (:func:`_plain_terms`) as formulaic computes it."""
    found = None if term.isidentifier() else _transform_of(term)
    if found is None:
        return df[term].to_numpy(float)
    return found[1](df[found[0]].to_numpy(float))


def _matrix(formula: str, df: pd.DataFrame, what: str) -> tuple[np.ndarray, list[str]]:
    names = _plain_terms(formula, df)
    if names is not None:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # reported below
            x = np.column_stack([np.ones(len(df)) if n == "1" else _plain_column(n, df)
                                 for n in names]) if names else np.zeros((len(df), 0))
        if any(_column_of(n) not in (None, n) for n in names):
            # laid out by column, as formulaic's matrix is (such a formula was formulaic's
            # before these transforms were taken here): the products that use it round
            # by its layout (BLP's estimates moved 3e-8 laid out by row)
            x = np.asfortranarray(x)
    else:
        from formulaic import model_matrix

        try:
            mm = model_matrix(formula, df)
        except Exception as exc:  # formulaic raises many types; the user needs the formula and why
            raise MarketDataError(what, f"cannot build {formula!r}: {exc}") from None
        names = [("1" if c == "Intercept" else str(c)) for c in mm.columns]
        x = np.asarray(mm, dtype=float)
    if x.shape[0] != len(df):
        raise MarketDataError(what, f"{formula!r} dropped rows (missing values in its columns)")
    bad = ~np.isfinite(x)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise MarketDataError(what, f"column {names[c]!r} of {formula!r} is not finite at row {r}")
    return x, names


def _numbered(df: pd.DataFrame, prefix: str) -> list[str]:
    cols = [c for c in df.columns if str(c).startswith(prefix) and str(c)[len(prefix):].isdigit()]
    return sorted(cols, key=lambda c: int(str(c)[len(prefix):]))


def _require(df: pd.DataFrame, col: str) -> None:
    if col not in df.columns:
        raise MarketDataError(col, "required column is missing")
    if df[col].isna().any():
        r = int(np.flatnonzero(df[col].isna().to_numpy())[0])
        raise MarketDataError(col, f"missing value at row {r}")


def _check_rank(Z: np.ndarray, names: list[str], what: str) -> None:
    if Z.shape[1] == 0:
        return
    s = np.linalg.svd(Z / np.maximum(np.abs(Z).max(axis=0), 1e-300), compute_uv=False)
    if s[-1] <= s[0] * 1e-10:
        raise MarketDataError(what, f"instrument matrix ({', '.join(names)}) is singular "
                              "(collinear or constant-zero instruments)")


def build_products(df: pd.DataFrame, spec: DemandSpec) -> Products:
    """Validate long-form product data and build the design matrices of ``spec``.

    Parameters
    ----------
    df : DataFrame
        One row per product and market with ``market_ids``, ``shares``, ``prices`` and the columns
        the formulas name; ``product_ids`` and ``firm_ids`` as needed (``firm_ids`` for supply).
    spec : DemandSpec
        The formulas and instrument prefixes.

    Returns
    -------
    Products

    Raises
    ------
    MarketDataError
        A required column is missing or has missing values, a share is not in (0, 1), the shares of
        a market do not sum below one, a product appears twice in a market, a formula cannot be
        built, there are fewer instruments than parameters, or an instrument matrix is singular.

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> p = build_products(df, DemandSpec("prices", absorb="product_ids"))
    >>> len(p.prices), p.layout.T
    (2256, 94)
    >>> build_products(df.drop(columns="shares"), DemandSpec("prices"))
    Traceback (most recent call last):
    ...
    structural.errors.MarketDataError: shares: required column is missing
    """
    if not isinstance(df, pd.DataFrame) or len(df) == 0:
        raise MarketDataError("products", "expected a non-empty table of products")
    df = df.reset_index(drop=True)
    for col in ("market_ids", "shares", "prices"):
        _require(df, col)
    for col in ("shares", "prices"):
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise MarketDataError(col, "expected numbers")
    if not np.isfinite(df["prices"].to_numpy(float)).all():
        raise MarketDataError("prices", "not finite")
    s = df["shares"].to_numpy(float)
    bad = ~((s > 0) & (s < 1))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise MarketDataError("shares", f"row {r} (market {df['market_ids'].iloc[r]}): share "
                              f"{s[r]!r} is not strictly between 0 and 1")
    totals = df.groupby("market_ids", sort=False)["shares"].sum()
    over = totals[totals >= 1]
    if len(over):
        raise MarketDataError("shares", f"market {over.index[0]}: inside shares sum to "
                              f"{over.iloc[0]:.6g}; they must sum below one (outside good)")
    product_ids = df["product_ids"].to_numpy() if "product_ids" in df else np.arange(len(df))
    if "product_ids" in df:
        _require(df, "product_ids")
        dup = df.duplicated(["market_ids", "product_ids"])
        if dup.any():
            r = int(np.flatnonzero(dup.to_numpy())[0])
            raise MarketDataError("product_ids", f"product {product_ids[r]} appears twice in "
                                  f"market {df['market_ids'].iloc[r]}")
    if spec.cost is not None or "firm_ids" in df:
        _require(df, "firm_ids")
    firm_ids = df["firm_ids"].to_numpy() if "firm_ids" in df else np.arange(len(df))

    X1, X1_names = _matrix(spec.linear, df, "linear")
    absorb_ids = None
    if spec.absorb is not None:
        _require(df, spec.absorb)
        absorb_ids = df[spec.absorb].to_numpy()
        keep = [i for i, n in enumerate(X1_names) if n != "1"]  # the intercept is absorbed
        X1, X1_names = X1[:, keep], [X1_names[i] for i in keep]
    if X1.shape[1] == 0 and spec.random is None:
        raise MarketDataError("linear", "X1 has no columns")
    zd_cols = _numbered(df, spec.demand_instruments)
    for c in zd_cols:
        _require(df, c)
    exog = [i for i, n in enumerate(X1_names) if n != "prices"]
    ZD = np.column_stack([df[zd_cols].to_numpy(float), X1[:, exog]]) if zd_cols or exog else \
        np.zeros((len(df), 0))
    ZD_names = list(zd_cols) + [X1_names[i] for i in exog]

    products = Products(spec, df, df["market_ids"].to_numpy(), product_ids, firm_ids, s,
                        df["prices"].to_numpy(float), X1, X1_names, ZD, ZD_names,
                        absorb_ids=absorb_ids,
                        clustering_ids=df["clustering_ids"].to_numpy() if "clustering_ids" in df
                        else None)
    if spec.random is not None:
        products.X2, products.X2_names = _matrix(spec.random, df, "random")
    if spec.nesting is not None:
        _require(df, spec.nesting)
        products.nesting_ids = df[spec.nesting].to_numpy()
    if spec.cost is not None:
        products.X3, products.X3_names = _matrix(spec.cost, df, "cost")
        zs_cols = _numbered(df, spec.supply_instruments)
        for c in zs_cols:
            _require(df, c)
        products.ZS = np.column_stack([df[zs_cols].to_numpy(float), products.X3])
        products.ZS_names = list(zs_cols) + products.X3_names
    ZDa = products.absorb(ZD)
    _check_rank(ZDa, ZD_names, "demand_instruments")
    products.ZD = ZDa
    products.X1 = products.absorb(X1)
    if products.ZS is not None:
        _check_rank(products.ZS, products.ZS_names, "supply_instruments")
    products.layout = Layout.from_ids(products.market_ids)
    return products


@dataclass
class Agents:
    """Integration nodes ν (I, K2), weights w and demographics D per agent, padded per market.

    ``nodes`` (T, I, K2), ``weights`` (T, I) (zero for padding), ``demographics`` (T, I, D).

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_agents, build_products
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> p = build_products(df, DemandSpec("0 + prices", random="1 + prices"))
    >>> agents = build_agents(p, integration=("monte_carlo", 50), seed=0)
    >>> agents.nodes.shape, agents.weights.shape
    ((94, 50, 2), (94, 50))
    """

    nodes: np.ndarray
    weights: np.ndarray
    demographics: np.ndarray
    demographics_names: list[str]

    def __post_init__(self) -> None:
        # the implicit dδ/dθ factorises ∂s/∂δ' by Cholesky, positive definite only for w ≥ 0
        _check_weights(np.asarray(self.weights, float),
                       lambda ix: f"market index {ix[0]}, agent {ix[1]}")


def _check_weights(w: np.ndarray, where) -> None:
    """Raise on the first agent weight that is negative or not finite; ``where(index)`` names
    its row."""
    bad = ~(np.isfinite(w) & (w >= 0))
    if bad.any():
        ix = np.unravel_index(int(np.argmax(bad)), w.shape)
        raise MarketDataError("weights", f"agent weights must be finite and non-negative; "
                              f"{where(ix)} has {float(w[ix])!r}")


def build_agents(products: Products, agents: pd.DataFrame | None = None,
                 integration: tuple[str, int] | None = None, seed: int = 0) -> Agents:
    """Agents for the random-coefficients integral, from supplied data or generated nodes.

    Parameters
    ----------
    products : Products
        Built with a random-coefficients spec (K2 = number of X2 columns).
    agents : DataFrame, optional
        ``market_ids``, ``weights``, ``nodes0``…``nodes{K2-1}`` and the demographic columns
        (PyBLP's layout). Without ``nodes*`` columns, ``integration`` supplies them.
    integration : (kind, size), optional
        ``("monte_carlo", I)``: I standard-normal draws per market with weights 1/I;
        ``("product", level)``: a Gauss–Hermite product rule with ``level`` nodes per dimension
        (the same nodes in every market). Required when ``agents`` is None.
    seed : int
        Seed of the Monte Carlo draws.

    Returns
    -------
    Agents

    Examples
    --------
    Nevo's agents (PyBLP's layout: nodes, weights and demographics per market):

    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_agents, build_products
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> people = pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)
    >>> spec = DemandSpec("0 + prices", random="1 + prices + sugar + mushy",
    ...                   demographics="0 + income + income_squared + age + child")
    >>> agents = build_agents(build_products(df, spec), people)
    >>> agents.nodes.shape, agents.demographics_names
    ((94, 20, 4), ['income', 'income_squared', 'age', 'child'])
    """
    lay = products.layout
    K2 = products.X2.shape[1]
    spec = products.spec
    if agents is not None and not _numbered(agents, "nodes") and integration is None:
        raise MarketDataError("nodes", "agent data has no nodes0… columns; give an integration")
    if agents is None:
        if integration is None:
            raise MarketDataError("integration", "give agent data or an integration rule")
        nodes, weights = _integration_nodes(integration, K2, lay.T, seed)
        if spec.demographics is not None:
            raise MarketDataError("demographics", "demographics need agent data")
        return Agents(nodes, weights, np.zeros((lay.T, nodes.shape[1], 0)), [])
    agents = agents.reset_index(drop=True)
    _require(agents, "market_ids")
    known = set(lay.market_ids.tolist())
    a_markets = agents["market_ids"].to_numpy()
    missing = known - set(a_markets.tolist())
    if missing:
        first = sorted(missing, key=str)[0]
        raise MarketDataError("market_ids", f"market {first} has products but no agents")
    agents = agents[np.isin(a_markets, list(known))].reset_index(drop=True)
    tcode = {m: i for i, m in enumerate(lay.market_ids.tolist())}
    t = np.array([tcode[m] for m in agents["market_ids"]])
    counts = np.bincount(t, minlength=lay.T)
    slot = np.zeros(len(t), dtype=int)
    seen = np.zeros(lay.T, dtype=int)
    for i, c in enumerate(t):
        slot[i] = seen[c]
        seen[c] += 1
    I = counts.max()
    node_cols = _numbered(agents, "nodes")
    if node_cols:
        # fewer columns than K2: they fill the columns of Σ that are not all zero (PyBLP's rule,
        # applied by Problem once Σ is known)
        for c in node_cols[:K2]:
            _require(agents, c)
        _require(agents, "weights")
        nodes_long = agents[node_cols[:K2]].to_numpy(float)
        w_long = agents["weights"].to_numpy(float)
        _check_weights(w_long, lambda ix: f"market {agents['market_ids'].iat[ix[0]]}, "
                                          f"agent {slot[ix[0]]}")
    else:
        kind = integration[0]
        if kind != "monte_carlo":
            raise MarketDataError("integration", "with agent demographics only monte_carlo nodes")
        rng = np.random.default_rng(seed)
        nodes_long = rng.standard_normal((len(agents), K2))
        w_long = 1.0 / counts[t]
    D_long, D_names = (np.zeros((len(agents), 0)), [])
    if spec.demographics is not None:
        D_long, D_names = _matrix(spec.demographics, agents, "demographics")
    nodes = np.zeros((lay.T, I, nodes_long.shape[1]))
    weights = np.zeros((lay.T, I))
    D = np.zeros((lay.T, I, D_long.shape[1]))
    nodes[t, slot] = nodes_long
    weights[t, slot] = w_long
    D[t, slot] = D_long
    return Agents(nodes, weights, D, D_names)


def _integration_nodes(integration: tuple[str, int], K2: int, T: int,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    kind, size = integration
    if kind == "monte_carlo":
        rng = np.random.default_rng(seed)
        return rng.standard_normal((T, size, K2)), np.full((T, size), 1.0 / size)
    if kind == "product":
        x, w = np.polynomial.hermite_e.hermegauss(size)
        w = w / w.sum()
        grids = np.meshgrid(*([x] * K2), indexing="ij")
        wgrids = np.meshgrid(*([w] * K2), indexing="ij")
        nodes = np.stack([g.ravel() for g in grids], axis=1)
        weights = np.prod(np.stack([g.ravel() for g in wgrids], axis=1), axis=1)
        return (np.broadcast_to(nodes, (T, *nodes.shape)).copy(),
                np.broadcast_to(weights, (T, len(weights))).copy())
    raise MarketDataError("integration", f"expected 'monte_carlo' or 'product', got {kind!r}")
