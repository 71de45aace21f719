"""After estimation: elasticities, diversion ratios, markups, consumer surplus, counterfactuals.

For the mixed-logit family (logit and random coefficients) with ∂s/∂p' = Λ − Γ
(:func:`structural.market.demand.share_price_terms`), and for the nested logit with one or more
nesting parameters (its closed-form ∂s/∂p' = Λ − Γ,
:func:`structural.market.demand.nested_share_price_terms`):

- price elasticities ε_jk = (∂s_j/∂p_k) p_k / s_j;
- diversion ratios D_jk = −(∂s_k/∂p_j)/(∂s_j/∂p_j), and on the diagonal the diversion to the
  outside good, −(∂s_0/∂p_j)/(∂s_j/∂p_j) with ∂s_0/∂p_j = −Σ_k ∂s_k/∂p_j (PyBLP's layout);
- markups η and marginal costs c = p − η from the Bertrand–Nash conditions
  (:mod:`structural.market.supply`);
- consumer surplus per market, CS_t = Σ_i w_i log(1 + Σ_j exp(δ_jt + μ_ijt)) / (−α_i)
  (Small and Rosen 1981; Nevo 2000 eq. 10), in the units of price; for the nested logit
  CS_t = log(1 + Σ_h D_ht^(1−ρ_h)) / (−α), D_ht = Σ_{j∈h} exp(δ_jt/(1−ρ_h)) (McFadden 1978);
- equilibrium counterfactuals by the ζ-markup fixed point: a merger (new owners), a cost shock
  (new costs; pass-through dp/dc), a per-unit tax (cost + tax), removing products (exit).

Every counterfactual can carry intervals from parametric draws of (θ, α) from the estimates'
asymptotic covariance: each draw re-solves the share inversion at the observed shares, from
δ̂ + (∂δ/∂θ')(θ_d − θ̂) (the implicit-function derivative at the estimates; for the nested logit
the closed form δ = log s_j − log s_0 − ρ log s_j|h), backs out that draw's costs,
and re-solves the equilibrium — the draws split into :data:`DRAW_PARTS` parts, one compiled
program run on each part on a thread of its own: the inversions and costs one draw after
another, then the equilibria of all the part's markets from one queue per class of market
sizes (each padded only to its class's size), each market costing its own SQUAREM steps, and
the rest of a draw skipped once one of its markets fails
(:func:`~structural.market.supply.queued_equilibria`; the nested logit's draws one after
another); a draw whose inversion or equilibrium fails (within :data:`DRAW_ITERATIONS`
SQUAREM steps, or stalled for :data:`DRAW_PATIENCE` steps), or whose ρ leaves [0, 1) or
α_i ≥ 0 for every consumer of a market (no equilibrium; not solved), is dropped and the count
of those kept is reported.

Examples
--------
A parametric draw's equilibrium gets a tenth of the point counterfactual's SQUAREM steps, and
is given up after 30 steps in a row without a tenfold fall of its residual:

>>> from structural.market import post
>>> post.DRAW_ITERATIONS, post.DRAW_PATIENCE
(1000, 30)

The draws' set-up takes at most 256 MiB at a time (each of the two parts, solved on two threads,
holds a block of at most half that):

>>> post.DRAW_BLOCK_BYTES // 2**20, post.DRAW_PARTS
(256, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from structural.errors import MarketDataError
from structural.market import inversion
from structural.market.demand import (
    choice_probabilities,
    nested_logit_inclusive_value,
    nested_logit_shares,
    nested_share_jacobian,
    nested_share_price_terms,
    share_price_terms,
)
from structural.market.estimate import DemandResults, _put
from structural.market.inversion import _markets_at_once, implicit_delta, solve_delta
from structural.market.supply import (
    bertrand_markups,
    equilibrium_prices,
    mixed_logit_markups,
    nested_equilibrium_prices,
    owners,
    queued_equilibria,
)

#: SQUAREM steps (three ζ evaluations each) a parametric draw's equilibrium may take before the
#: draw is dropped (the point counterfactual keeps
#: :func:`~structural.market.supply.equilibrium_prices`' 10,000). Of the 200 draws of Nevo's
#: merger (``papers.nevo2000``) 145 converge, in at most 45 steps (the simple iteration took 22
#: to 782 ζ steps). The other 55 never do: each gives some consumers an upward-sloping demand
#: (α_i ≥ 0) in the markets that fail, where the iteration cycles or drifts to negative prices
#: (with such consumers a firm's profit grows without bound in its price); they stall.
DRAW_ITERATIONS = 1000
#: SQUAREM steps in a row without a tenfold fall of a market's residual before a draw is dropped
#: as stalled: Nevo's 55 failing draws stop after 31 to 60 steps instead of 1,000 (measured with
#: the draws starting from the observed prices, before they started from the point's), and none of
#: the 145 converging draws needs more (the same 145 are kept as with the simple iteration and
#: 10,000 steps).
DRAW_PATIENCE = 30
#: bytes of the parametric draws' set-up (each draw's μ, δ, costs, ...) held at once, all
#: :data:`DRAW_PARTS` parts together: each part's mixed-logit draws go through in blocks of
#: ``DRAW_BLOCK_BYTES // DRAW_PARTS`` (314 of Nevo's draws, 27 of BLP's a block: μ is 0.36 and
#: 4.8 MB a draw), so their memory does not grow with the number of draws
DRAW_BLOCK_BYTES = 2**28
#: the draws' equilibria go through queues of markets of similar sizes
#: (:func:`_size_classes`: BLP's 20 markets of 72 to 150 products in classes of 104 and 150,
#: 2,540 slots instead of 3,000; a third class, 96, 120 and 150, pads 5% fewer slots for 1.5
#: CPU s more compiling, one cold run each), each padded to a multiple of this many products (or
#: to the largest market): so BLP's draws come out bit for bit as with every market padded to
#: 150 products (padded to their largest market exactly, in classes of 95, 116 and 150, three of
#: its markets, of 113, 115 and 116 products, moved in their last bits). Bit for bit is observed
#: on XLA:CPU for these sizes, not guaranteed: the ζ-map's sums over fewer slots agree up to
#: rounding (:func:`~structural.market.supply._zeta_leading`)
_SLOT_MULTIPLE = 8
#: at most this many size classes (queues) for the draws' equilibria: each one more is one more
#: program to compile (above)
_SIZE_CLASSES = 2
#: parts the parametric draws are split into, each solved on a thread of its own (a compiled
#: program runs outside the GIL), so the draws use the cores a single program leaves idle
#: (in ``papers.nevo2000`` the optimal-instrument step runs beside them, so they gain less than
#: half); a draw's results do not depend on the part it is in
DRAW_PARTS = 2

__all__ = ["DRAW_BLOCK_BYTES", "DRAW_ITERATIONS", "DRAW_PARTS", "DRAW_PATIENCE", "Counterfactual",
           "consumer_surplus", "counterfactual", "diversion_ratios", "elasticities", "long_matrix",
           "markups", "price_derivatives"]


def _state(results: DemandResults):
    """(δ, μ, w, α_i − α, α) at the estimates, padded."""
    return _state_of(results.problem, jnp.asarray(results.theta), results.price_coefficient,
                     jnp.asarray(results.problem.layout.pad(results.delta)))


def _state_of(prob, theta, alpha, delta_pad):
    mu, w = prob.agent_terms(theta)
    a_rc = prob.alpha_i(theta, 0.0) if prob.K2 else jnp.zeros_like(w)
    return delta_pad, mu, w, a_rc, alpha


def _nests(prob, theta):
    """Each product's ρ (padded (T, J)) and its nest code (T, J) at θ."""
    rho = prob.unpack(theta)[2]
    nests = jnp.asarray(prob.nests_pad)
    rho_j = rho[nests] if rho.shape[0] > 1 else jnp.full(nests.shape, rho[0])
    return rho_j, nests


#: the nested-logit functions of one market, vmapped over markets (n_nests and α shared)
_nested_jacobian = jax.vmap(nested_share_jacobian, in_axes=(0, 0, 0, 0, None))
_nested_terms = jax.vmap(nested_share_price_terms, in_axes=(0, 0, 0, 0, None, None))
_nested_shares = jax.vmap(nested_logit_shares, in_axes=(0, 0, 0, 0, None))
_nested_inclusive = jax.vmap(nested_logit_inclusive_value, in_axes=(0, 0, 0, 0, None))


def price_derivatives(results: DemandResults) -> np.ndarray:
    """∂s_j/∂p_k per market, padded (T, J, J) (row j, column k): logit, nested logit and
    random-coefficients logit.

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> from structural.market import post
    >>> post.price_derivatives(logit).shape
    (94, 24, 24)
    """
    prob = results.problem
    program = prob.program("price derivatives", lambda: partial(_price_derivatives, prob))
    return np.asarray(program(*_at_estimates(results)))


def _at_estimates(results: DemandResults):
    """(θ, α, δ padded) of the estimates on the device: a kept program's arguments."""
    return (_put(results.theta), _put(np.float64(results.price_coefficient)),
            _put(results.problem.layout.pad(results.delta)))


def _price_derivatives(prob, theta, alpha, delta_pad):
    m2 = prob.mask[:, :, None] & prob.mask[:, None, :]
    d, mu, w, a_rc, alpha = _state_of(prob, theta, alpha, delta_pad)
    if prob.nests is not None:  # ∂s/∂p' = α ∂s/∂δ' (Berry 1994, eq. 28)
        rho_j, nests = _nests(prob, theta)
        return jnp.where(m2, alpha * _nested_jacobian(d, rho_j, nests, prob.mask, prob.n_nests),
                         0.0)
    lam, gam = jax.vmap(share_price_terms)(d, mu, w, prob.mask, alpha + a_rc)
    return jnp.where(m2, jax.vmap(jnp.diag)(lam) - gam, 0.0)


def elasticities(results: DemandResults) -> np.ndarray:
    """Own- and cross-price elasticities ε_jk = ∂s_j/∂p_k · p_k/s_j, padded (T, J, J).

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> import numpy as np
    >>> from structural.market import post
    >>> e = post.elasticities(logit)
    >>> own = np.diagonal(e, axis1=1, axis2=2)[logit.problem.layout.t, logit.problem.layout.j]
    >>> round(float(np.median(own)), 2)
    -3.65
    """
    prob = results.problem
    jac = price_derivatives(results)
    s = np.asarray(prob.shares_pad)
    p = np.asarray(prob.prices_pad)
    m = np.asarray(prob.mask)
    with np.errstate(divide="ignore", invalid="ignore"):
        e = jac * p[:, None, :] / np.where(m, s, 1.0)[:, :, None]
    return np.where(m[:, :, None] & m[:, None, :], e, 0.0)


def diversion_ratios(results: DemandResults) -> np.ndarray:
    """Diversion ratios, padded (T, J, J): D_jk for k ≠ j, the outside good on the diagonal.

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> from structural.market import post
    >>> d = post.diversion_ratios(logit)
    >>> d.shape, round(float(d[0, 0, 0]), 3)
    ((94, 24, 24), 0.562)
    """
    prob = results.problem
    jac = price_derivatives(results)
    jt = np.transpose(jac, (0, 2, 1))  # [j, k] = ∂s_k/∂p_j
    own = np.diagonal(jac, axis1=1, axis2=2)
    m = np.asarray(prob.mask)
    with np.errstate(divide="ignore", invalid="ignore"):
        D = -jt / np.where(m, own, 1.0)[:, :, None]
        outside = jt.sum(axis=2) / np.where(m, own, 1.0)  # −∂s0/∂p_j / ∂s_j/∂p_j
    idx = np.arange(D.shape[1])
    D[:, idx, idx] = outside
    return np.where(m[:, :, None] & m[:, None, :], D, 0.0)


def markups(results: DemandResults) -> np.ndarray:
    """Bertrand–Nash markups η = p − c (long, N) under the data's ownership.

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> from structural.market import post
    >>> eta = post.markups(logit)
    >>> eta.shape, round(float((eta / df["prices"]).median()), 3)
    ((2256,), 0.316)
    """
    prob = results.problem
    program = prob.program("markups", lambda: partial(_markups, prob))
    return np.asarray(program(*_at_estimates(results)))


def _markups(prob, theta, alpha, delta_pad):
    if prob.nests is not None:
        rho_j, nests = _nests(prob, theta)
        lam, gam = _nested_terms(delta_pad, rho_j, nests, prob.mask, prob.n_nests, alpha)
        eta = bertrand_markups(lam, gam, prob.shares_pad, jnp.asarray(prob.firms_pad), prob.mask)
        return prob.layout.unpad(eta)
    return prob.markups(theta, delta_pad, alpha)


def consumer_surplus(results: DemandResults, prices=None) -> np.ndarray:
    """CS_t = Σ_i w_i log(1 + Σ_j exp(V_ijt)) / (−α_i) per market (T,), at ``prices`` (long);
    for the nested logit log(1 + Σ_h D_ht^(1−ρ_h)) / (−α) (McFadden 1978), as PyBLP's
    ``compute_consumer_surpluses``.

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> from structural.market import post
    >>> cs = post.consumer_surplus(logit)
    >>> cs.shape, round(float(cs[0]), 4)
    ((94,), 0.0196)
    """
    prob = results.problem
    d, mu, w, a_rc, alpha = _state(results)
    if prices is not None:
        prices = np.asarray(prices, float)
        if prices.shape != (prob.products.N,) or not np.all(np.isfinite(prices)):
            raise MarketDataError("prices", f"expected {prob.products.N} finite prices (long), "
                                  f"got shape {prices.shape}")
        dp = jnp.asarray(prob.layout.pad(prices - prob.products.prices))
        d = d + alpha * dp
        mu = mu + dp[:, :, None] * a_rc[:, None, :]
    if prob.nests is not None:
        rho_j, nests = _nests(prob, jnp.asarray(results.theta))
        return np.asarray(_nested_inclusive(d, rho_j, nests, prob.mask, prob.n_nests) / -alpha)
    return np.asarray(jax.vmap(_cs_market)(d, mu, w, prob.mask, alpha + a_rc))


def _cs_market(delta, mu, weights, mask, alpha_i):
    u = jnp.where(mask[:, None], delta[:, None] + mu, -jnp.inf)
    m = jnp.maximum(jnp.max(u, axis=0), 0.0)
    inclusive = m + jnp.log(jnp.exp(-m) + jnp.sum(jnp.exp(u - m), axis=0))
    return jnp.sum(weights * inclusive / -alpha_i)


def long_matrix(results: DemandResults, matrix: np.ndarray, name: str) -> pd.DataFrame:
    """A padded (T, J, J) matrix as a long table: market, product j, product k, value.

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> from structural.market import post
    >>> post.long_matrix(logit, post.elasticities(logit), "elasticity").head(3).round(3)
      market_ids product_j product_k  elasticity
    0      C01Q1     F1B04     F1B04      -2.139
    1      C01Q1     F1B04     F1B06       0.027
    2      C01Q1     F1B04     F1B07       0.052
    """
    prob = results.problem
    lay = prob.layout
    pid = lay.pad(np.asarray(prob.products.product_ids, dtype=object), fill=None)
    rows = []
    for t in range(lay.T):
        n = int(lay.mask[t].sum())
        block = matrix[t, :n, :n]
        jj, kk = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        rows.append(pd.DataFrame({"market_ids": lay.market_ids[t], "product_j": pid[t, jj.ravel()],
                                  "product_k": pid[t, kk.ravel()], name: block.ravel()}))
    return pd.concat(rows, ignore_index=True)


@dataclass
class Counterfactual:
    """Equilibrium after a change: prices, shares, markups and consumer surplus (long, per row),
    with intervals from parametric draws when asked (``*_low``/``*_high`` columns).

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> from structural.market import post
    >>> cf = post.counterfactual(logit, firm_ids=df["firm_ids"].replace(2, 1).to_numpy())
    >>> cf.converged, sorted(cf.table.columns)[:4]
    (True, ['market_ids', 'new_markups', 'new_prices', 'new_shares'])
    """

    table: pd.DataFrame
    surplus: pd.DataFrame
    converged: bool
    iterations: int
    draws: int


def counterfactual(results: DemandResults, *, firm_ids=None, costs=None, cost_shock=None,
                   tax=None, remove=None, draws: int = 0, level: float = 0.95,
                   seed: int = 0) -> Counterfactual:
    """Solve the Bertrand–Nash equilibrium after a change, optionally with draw-based intervals.

    Parameters
    ----------
    results : DemandResults
        Logit, nested-logit or random-coefficients estimates.
    firm_ids : array_like, optional
        New owners (long, N): a merger is the data's firm ids with merged firms relabelled.
    costs : array_like, optional
        Marginal costs (long); default those implied by the data's prices and ownership.
    cost_shock, tax : array_like or float, optional
        Added to marginal cost (a per-unit tax is a cost the firm pays on every unit sold).
    remove : array_like of bool, optional
        Products that exit (long mask); entry is the same computation with the entrant in the
        data at a prohibitive price beforehand.
    draws : int
        Parametric draws of (θ, α) ~ N(estimate, covariance) for intervals (0: point values);
        each draw's equilibrium is sought from the point counterfactual's prices where that
        converged (where a market has several equilibria, the one next to the point's), from
        the observed prices elsewhere; a draw whose equilibrium is not
        found (within :data:`DRAW_ITERATIONS` steps, or stalled for :data:`DRAW_PATIENCE`
        steps) is dropped. Memory: the draws' prices (draws, T, J) and ΔCS (draws, T), and
        for the logit and random coefficients at most :data:`DRAW_BLOCK_BYTES` of the draws'
        set-up (each draw's μ, T·J·I numbers, with its δ, costs and weights) at a time, the
        draws going through in blocks of a :data:`DRAW_PARTS`-th of that in each part (the
        nested logit's one draw at a time); for random coefficients also δ's slope in θ (T·J·K
        numbers, from K tangents of μ, T·J·I·K), computed beside the point equilibrium, so
        that both are held at once.
    level : float
        Interval coverage.
    seed : int
        Seed of the draws.

    Returns
    -------
    Counterfactual

    Examples
    --------
    A merger of firms 1 and 2 in Nevo's data, plain logit:

    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> from structural.market import post
    >>> cf = post.counterfactual(logit, firm_ids=df["firm_ids"].replace(2, 1).to_numpy())
    >>> change = cf.table["new_prices"] / cf.table["prices"] - 1
    >>> round(float(change[df["firm_ids"].isin([1, 2])].mean()), 4)
    0.0677
    """
    prob = results.problem
    lay = prob.layout
    firms, shift, keep, given_costs = _change(prob, firm_ids, costs, cost_shock, tax, remove)
    mask_cf = _put(lay.pad(keep, fill=False))
    solver = _solve_nested if prob.nests is not None else _solve_mixed

    def solve(theta, alpha, delta_pad, firms, shift, mask_cf, *costs, **limits):
        return solver(prob, theta, alpha, delta_pad, firms, shift, mask_cf,
                      costs[0] if costs else None, limits)

    # the change is an argument of one kept program per problem (not a closure of a new jit
    # per call), so a second process reads it back instead of tracing and lowering it again
    change = (firms, shift, mask_cf) + (() if given_costs is None else (given_costs,))
    costs_kind = "implied" if given_costs is None else "given"
    d0 = _put(lay.pad(results.delta))
    theta, alpha = _put(results.theta), _put(np.float64(results.price_coefficient))
    # the budget read where it lives (inversion), so that a program is named by the budget in
    # force (the tests change it)
    program = prob.program(f"counterfactual ({costs_kind} costs, markets of "
                           f"{inversion._MARKET_BYTES} bytes at once)", lambda: solve)
    # the random-coefficients draws' dδ/dθ' on a thread of its own beside the point
    # equilibrium, which leaves the other core idle (a compiled program runs outside the GIL)
    slope = None
    if draws and prob.nests is None and prob.K2:
        from estimation.background import Background

        slope = Background(prob.program("counterfactual draws' dδ/dθ' at the estimates",
                                        lambda: partial(_delta_slope, prob)), theta, d0,
                           name="counterfactual-slope")
    p, s1, mk, dcs, it, conv = program(theta, alpha, d0, *change)
    table = pd.DataFrame({"market_ids": prob.products.market_ids,
                          "product_ids": prob.products.product_ids,
                          "prices": prob.products.prices,
                          "new_prices": lay.unpad(np.asarray(p)),
                          "new_shares": lay.unpad(np.asarray(s1)),
                          "new_markups": lay.unpad(np.asarray(mk))})
    table.loc[~keep, ["new_prices", "new_shares", "new_markups"]] = np.nan
    surplus = pd.DataFrame({"market_ids": lay.market_ids, "change_in_cs": np.asarray(dcs)})
    if draws:
        # the draws start from the point's equilibrium where it was found, else as it started
        start = _put(np.where(np.asarray(conv)[:, None], np.asarray(p),
                              np.asarray(prob.prices_pad)))
        d_theta = slope.result() if slope is not None else _put(_no_slope(prob, theta, d0))
        draws = _intervals(results, (solve, costs_kind),
                           (start, theta, alpha, d0, d_theta, *change), table, surplus, draws,
                           level, seed)
    return Counterfactual(table, surplus, bool(np.all(np.asarray(conv))),
                          int(np.asarray(it).max()), draws)


def _change(prob, firm_ids, costs, cost_shock, tax, remove):
    """The change, checked and padded: owners, cost shift, products kept and given costs."""
    lay = prob.layout
    N = prob.products.N
    firms_long = prob.products.firm_ids if firm_ids is None else np.asarray(firm_ids)
    if len(firms_long) != N:
        raise MarketDataError("firm_ids", f"expected {N} values, got {len(firms_long)}")
    # copied to the device as they stand (``_put``): ``jnp.asarray`` runs a compiled copy per
    # shape and dtype, which a warm run reads back one by one
    firms = _put(lay.pad(pd.factorize(pd.Series(firms_long))[0], fill=-1))
    shift = np.zeros(N)
    for name, v in (("cost_shock", cost_shock), ("tax", tax)):
        if v is not None:
            v = np.broadcast_to(np.asarray(v, float), (N,))
            if not np.all(np.isfinite(v)):
                raise MarketDataError(name, "must be finite")
            shift = shift + v
    keep = np.ones(N, bool) if remove is None else ~np.asarray(remove, bool)
    if keep.shape != (N,):
        raise MarketDataError("remove", f"expected {N} booleans (long), got shape {keep.shape}")
    given = None
    if costs is not None:
        costs = np.asarray(costs, float)
        if costs.shape != (N,) or not np.all(np.isfinite(costs)):
            raise MarketDataError("costs", f"expected {N} finite marginal costs (long), got "
                                  f"shape {costs.shape}")
        given = _put(lay.pad(costs))
    return firms, _put(lay.pad(shift)), keep, given


def _solve_mixed(prob, theta, alpha, delta_pad, firms, shift, mask_cf, given_costs, limits):
    """Logit / random coefficients: (prices, shares, markups, ΔCS, iterations, converged);
    ``limits``: the equilibrium's ``max_iterations``, ``patience`` and ``start`` where not the
    default."""
    d, mu, w, a_rc, c = _mixed_costs(prob, theta, alpha, delta_pad, shift, given_costs)
    limits = dict(limits)
    keyed = {"alpha_rc": a_rc} | ({"start": limits.pop("start")} if "start" in limits else {})
    p, it, conv = _by_market(partial(equilibrium_prices, alpha=alpha, **limits), c, firms,
                             prob.prices_pad, d, mu, w, mask_cf, **keyed)
    return (*_mixed_outcome(prob, alpha, (d, mu, w, a_rc), c, p, mask_cf), it, conv)


def _mixed_costs(prob, theta, alpha, delta_pad, shift, given_costs):
    """(δ, μ, w, α_i − α) at θ and the marginal costs the equilibrium faces (the given ones, or
    those the data's prices imply under the data's owners, plus ``shift``)."""
    d, mu, w, a_rc, _ = _state_of(prob, theta, alpha, delta_pad)
    c = given_costs
    if c is None:
        c = prob.prices_pad - _by_market(mixed_logit_markups, d, mu, w, alpha + a_rc, prob.mask,
                                         jnp.asarray(prob.firms_pad))
    return d, mu, w, a_rc, c + shift


def _mixed_outcome(prob, alpha, state, c, p, mask_cf):
    """(prices, shares, markups, ΔCS) at the equilibrium prices p; ``state`` (δ, μ, w, α_i − α)
    at the observed prices."""
    d, mu, w, a_rc = state
    dp = jnp.where(mask_cf, p - prob.prices_pad, 0.0)
    d1 = d + alpha * dp
    mu1 = mu + dp[:, :, None] * a_rc[:, None, :]
    s1 = jax.vmap(lambda a, b, ww, m: choice_probabilities(a, b, m) @ ww)(d1, mu1, w, mask_cf)
    cs0 = _by_market(jax.vmap(_cs_market), d, mu, w, prob.mask, alpha + a_rc)
    cs1 = _by_market(jax.vmap(_cs_market), d1, mu1, w, mask_cf, alpha + a_rc)
    return p, s1, p - c, cs1 - cs0


def _solve_nested(prob, theta, alpha, delta_pad, firms, shift, mask_cf, given_costs, limits):
    """Nested logit: (prices, shares, markups, ΔCS, iterations, converged)."""
    rho_j, nests = _nests(prob, theta)
    H = prob.n_nests
    c = given_costs
    if c is None:
        lam, gam = _nested_terms(delta_pad, rho_j, nests, prob.mask, H, alpha)
        s = _nested_shares(delta_pad, rho_j, nests, prob.mask, H)
        c = prob.prices_pad - bertrand_markups(lam, gam, s, jnp.asarray(prob.firms_pad),
                                               prob.mask)
    c = c + shift
    p, it, conv = nested_equilibrium_prices(c, firms, prob.prices_pad, delta_pad, rho_j, nests,
                                            mask_cf, alpha, H, **limits)
    d1 = delta_pad + alpha * jnp.where(mask_cf, p - prob.prices_pad, 0.0)
    s1 = _nested_shares(d1, rho_j, nests, mask_cf, H)
    cs0 = _nested_inclusive(delta_pad, rho_j, nests, prob.mask, H) / -alpha
    cs1 = _nested_inclusive(d1, rho_j, nests, mask_cf, H) / -alpha
    return p, s1, p - c, cs1 - cs0, it, conv


def _intervals(results, solve_kind, point, table, surplus, draws, level, seed) -> int:
    """Add ``*_low``/``*_high`` columns from parametric draws; return the draws kept.
    ``solve_kind``: the counterfactual's solver and its costs' kind (the kept program's name);
    ``point``: where the draws start (the point counterfactual's prices in the markets where it
    converged, the observed prices elsewhere), then its arguments at the estimates (θ, α, δ,
    dδ/dθ' (:func:`_delta_slope`; unused by the nested logit), then the change). Each draw's
    equilibrium is sought from the point counterfactual's prices: where a market has several
    equilibria, a draw then finds the one next to the point's (the interval describes the
    uncertainty of that equilibrium), not whichever the iteration reaches from the observed
    prices under that draw's parameters."""
    prob = results.problem
    lay = prob.layout
    solve, costs_kind = solve_kind
    pt, pa, V = _draw_layout(results)
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(np.zeros(V.shape[0]), V, size=draws, method="eigh")
    rho_at = np.asarray([i for i, (k, _, _) in enumerate(prob.locations) if k == "rho"], int)
    at = (pt, pa, rho_at)

    def one(zd, real, p_point, theta0, alpha0, d0, *change):  # a nested-logit draw
        theta, alpha, usable = _draw_parameters(prob, at, zd, theta0, alpha0)

        def solved(d0):  # closed-form inversion
            out = solve(theta, alpha, prob.delta(theta, d0)[0], *change,
                        max_iterations=DRAW_ITERATIONS, patience=DRAW_PATIENCE, start=p_point)
            return out[0], out[3], jnp.all(out[5])

        def unsolved(d0):  # prices (T, J) and ΔCS (T,), as solved gives them
            return (jnp.full_like(p_point, jnp.nan), jnp.full(p_point.shape[:1], jnp.nan),
                    jnp.asarray(False))

        return jax.lax.cond(usable & real, solved, unsolved, d0)

    def all_draws(z, real, p_point, theta0, alpha0, d0, d_theta, *change):
        if prob.nests is None:
            return _queued_draws(prob, at, z, p_point, theta0, alpha0, d0, change, real,
                                 d_theta)
        # one draw after another (a map, not a vmap): a vmap of the solvers' while-loops runs
        # every lane until the slowest lane stops, so each draw would pay for the slowest's steps
        return jax.lax.map(lambda a: one(*a, p_point, theta0, alpha0, d0, *change), (z, real))

    program = prob.program(f"counterfactual draws ({costs_kind} costs, from the point's prices, "
                           f"at most {DRAW_ITERATIONS} steps, patience {DRAW_PATIENCE}, "
                           f"blocks of {DRAW_BLOCK_BYTES // DRAW_PARTS} bytes, markets of "
                           f"{inversion._MARKET_BYTES} bytes at once, markets padded to "
                           f"{[n for _, n in _size_classes(lay.mask.sum(axis=1))]} products "
                           "by size)", lambda: all_draws)
    pd_, cs_d, ok = _draws_in_parts(program, z, point)
    if not ok.any():  # no usable draw: no interval (the count, 0, says so)
        for col, frame in (("new_prices", table), ("change_in_cs", surplus)):
            frame[f"{col}_low"] = frame[f"{col}_high"] = np.nan
        return 0
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    pl = np.asarray(pd_)[:, lay.t, lay.j][ok]  # long (NumPy: no eager device programs)
    table["new_prices_low"] = np.quantile(pl, lo_q, axis=0)
    table["new_prices_high"] = np.quantile(pl, hi_q, axis=0)
    cs_ok = np.asarray(cs_d)[ok]
    surplus["change_in_cs_low"] = np.quantile(cs_ok, lo_q, axis=0)
    surplus["change_in_cs_high"] = np.quantile(cs_ok, hi_q, axis=0)
    return int(ok.sum())


def _draws_in_parts(program, z, point):
    """``program``'s (prices, ΔCS, kept) of the draws ``z``, run as :data:`DRAW_PARTS` parts of
    as many draws (the last padded with draws not solved), each on a (daemon) thread of its own: a
    compiled program runs outside the GIL, so the parts share the machine's cores. A draw's
    results do not depend on the other draws of its part (the blocks of
    :func:`_queued_draws`; the nested logit's draws one after another), so they are those of
    one part of all the draws."""
    from estimation.background import Background

    D = z.shape[0]
    parts = max(1, min(DRAW_PARTS, D))
    size = -(-D // parts)
    zp = np.zeros((parts * size, z.shape[1]), z.dtype)
    zp[:D] = z
    real = np.arange(parts * size) < D

    def part(i):
        at = slice(i * size, (i + 1) * size)
        return [np.asarray(a) for a in program(_put(zp[at]), _put(real[at]), *point)]

    # daemon threads (Background): a Ctrl-C meanwhile is not held up by the other parts
    rest = [Background(part, i, name=f"counterfactual-draws-{i}") for i in range(1, parts)]
    outs = [part(0)] + [r.result() for r in rest]
    return tuple(np.concatenate(a)[:D] for a in zip(*outs, strict=True))


def _draw_parameters(prob, at, zd, theta0, alpha0):
    """A draw's (θ, α) from its deviation zd, and whether it has a model to solve: nothing to
    solve where ρ leaves [0, 1) (no model), or where every consumer of a market has an
    upward-sloping demand (α_i ≥ 0: the first-order conditions' solution, if any, is a profit
    minimum); where only some do, a firm's profit has a local maximum, the solution the point
    counterfactual finds, and the draw is solved as it is."""
    pt, pa, rho_at = at
    nt = len(pt)
    theta = theta0.at[pt].add(zd[:nt])
    alpha = alpha0 + (zd[nt] if pa is not None else 0.0)
    upward = jnp.all((prob.alpha_i(theta, alpha) >= 0) | (prob.agent_terms(theta)[1] <= 0),
                     axis=1)
    usable = jnp.all((theta[rho_at] >= 0) & (theta[rho_at] < 1)) & ~jnp.any(upward)
    return theta, alpha, usable


def _queued_draws(prob, at, z, p_point, theta0, alpha0, d0, change, real=None, d_theta=None):
    """Logit / random-coefficients draws: each draw's share inversion at the observed shares
    (from δ's first-order change in θ, the implicit function theorem) and costs, one draw after
    another, then the equilibria of every draw's markets from one queue per size class
    (:func:`~structural.market.supply.queued_equilibria`; in each, the markets where some
    consumers' demand slopes up, where the draws that fail fail, first, so that the rest of such
    a draw is skipped): (prices (D, T, J), ΔCS (D, T), kept (D,)).

    The draws go through in blocks whose set-up (μ (T, J, I), δ, costs, ... per draw) takes at
    most ``DRAW_BLOCK_BYTES // DRAW_PARTS`` (at least one draw a block: each of the parts of
    :func:`_draws_in_parts` holds one at once), one block after another, the last
    padded with draws not solved: the memory is bounded whatever the number of draws. A
    market's iterates do not depend on the other markets of its queue, and a draw is dropped
    exactly when one of its markets fails, so the blocks change neither the draws kept nor
    their prices and ΔCS (a dropped draw's, never read, may differ: which of its markets were
    skipped depends on its queue). ``d_theta``: :func:`_delta_slope` (computed here where not
    given)."""
    if d_theta is None:
        d_theta = _delta_slope(prob, theta0, d0)
    setup = partial(_draw_setup, prob, at, theta0, alpha0, d0, d_theta, change)
    D = z.shape[0]
    per_draw = sum(a.size * a.dtype.itemsize
                   for a in jax.tree.leaves(jax.eval_shape(setup, z[0], True)))
    B = max(1, min(D, DRAW_BLOCK_BYTES // DRAW_PARTS // per_draw))
    block = partial(_draw_block, prob, setup, p_point, change)
    real = jnp.ones(D, bool) if real is None else real
    if B == D:
        return block(z, real)
    n_blocks = -(-D // B)
    zb = jnp.concatenate([z, jnp.zeros((n_blocks * B - D, z.shape[1]), z.dtype)])
    real = jnp.concatenate([real, jnp.zeros(n_blocks * B - D, bool)])
    p, dcs, kept = jax.lax.map(lambda a: block(*a), (zb.reshape(n_blocks, B, -1),
                                                     real.reshape(n_blocks, B)))
    return (p.reshape(n_blocks * B, *p.shape[2:])[:D], dcs.reshape(n_blocks * B, -1)[:D],
            kept.reshape(-1)[:D])


def _delta_slope(prob, theta0, d0):
    """dδ/dθ' (T, J, K) at the estimates θ0 (δ0 their inversion) by the implicit function
    theorem (:func:`~structural.market.inversion.implicit_delta`): each draw's share inversion
    starts from δ0 + (dδ/dθ')(θ − θ0); :func:`_no_slope` where δ has no θ."""
    if not prob.K2 or prob.nests is not None:
        return jnp.asarray(_no_slope(prob, theta0, d0))
    return jax.jacfwd(lambda th: implicit_delta(prob.mu, th, d0, prob.weights, prob.mask))(
        theta0)


def _no_slope(prob, theta0, d0) -> np.ndarray:
    """The draws' dδ/dθ' where δ has no θ: zeros (T, J, K) for the logit, an empty array for
    the nested logit (its draws invert in closed form and never read it)."""
    return np.zeros((0,) if prob.nests is not None else d0.shape + theta0.shape)


def _draw_setup(prob, at, theta0, alpha0, d0, d_theta, change, zd, real):
    """One draw's (α, solved, (δ, μ, w, α_i − α, costs), markets where some demand slopes up);
    ``real`` False: a block's padding, not solved."""
    shift, given = change[1], (change[3] if len(change) > 3 else None)
    theta, alpha, usable = _draw_parameters(prob, at, zd, theta0, alpha0)

    def solved(_):
        mu_d, w_d = prob.agent_terms(theta)
        # solve_delta itself goes market after market where the markets outgrow the cache
        d, _, conv_d = solve_delta(d0 + d_theta @ (theta - theta0), prob.log_s, mu_d, w_d,
                                   prob.mask)
        return jnp.all(conv_d), _mixed_costs(prob, theta, alpha, d, shift, given)

    shapes = jax.eval_shape(solved, None)

    def unsolved(_):  # not solved: zeros (False), never read
        return jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), shapes)

    ok, (d, mu, w, a_rc, c) = jax.lax.cond(usable & real, solved, unsolved, None)
    some_up = jnp.any((alpha + a_rc >= 0) & (w > 0), axis=1)
    return alpha, usable & real & ok, (d, mu, w, a_rc, c), some_up


def _by_market(solver, *arrays, **keyed):
    """``solver`` (a function of arrays batched over markets, (T, ...) in and out) on
    :func:`~structural.market.inversion._markets_at_once` markets at a time: its results (T,
    ...); ``keyed``: arrays passed by keyword. All T at once where they fit (the solver as it
    is).

    A vmap over the markets (the solvers' own batch) runs every market's while-loop until the
    slowest stops and streams all its markets' arrays through each step: where those outgrow a
    core's cache, fewer markets at a time are faster (BLP's merger equilibria, markups and ΔCS;
    they differ from the batch's in rounding only). The solver is called on chunks of markets
    as it is, never vmapped: a vmap would batch its per-market LU factorisations into one
    batched LAPACK call, which can deadlock XLA's worker pool while two programs run at once
    (see :func:`~structural.market.supply.mixed_logit_markups`); a remainder of fewer markets is
    one more call.
    """
    T = arrays[0].shape[0]
    at_once = _markets_at_once(T, max((a[0] for a in (*arrays, *keyed.values())),
                                      key=lambda a: a.size * a.dtype.itemsize))
    if at_once == T:
        return solver(*arrays, **keyed)
    names, n = tuple(keyed), T // at_once * at_once

    def call(pos, kw):
        return solver(*pos, **dict(zip(names, kw, strict=True)))

    head = jax.tree.map(lambda a: a[:n].reshape(-1, at_once, *a.shape[1:]),
                        (arrays, tuple(keyed.values())))
    out = jax.tree.map(lambda a: a.reshape(n, *a.shape[2:]),
                       jax.lax.map(lambda args: call(*args), head))
    if n == T:
        return out
    tail = call(tuple(a[n:] for a in arrays), tuple(v[n:] for v in keyed.values()))
    return jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, tail)


def _draw_block(prob, setup, p_point, change, z, real):
    """:func:`_queued_draws` of one block of draws (``real`` False: padding). The markets'
    equilibria go through one queue per size class (:func:`_size_classes`), each market's
    ζ-map on its class's slots only (:func:`~structural.market.supply.queued_equilibria`): the
    same iterates, without the work on the slots that are padding in all of a class's markets
    (BLP's 111 products a market on average, padded to 150); a draw failed in one class is
    not solved in the next."""
    firms, mask_cf = change[0], change[2]
    alpha, alive, (d, mu, w, a_rc, c), some_up = jax.lax.map(lambda a: setup(*a), (z, real))
    D, T = some_up.shape
    owner = jax.vmap(owners)(firms)
    wa = w * (alpha[:, None, None] + a_rc)
    start = jnp.where(mask_cf, p_point, prob.prices_pad)
    lanes, dead = _markets_at_once(T, mu[0, 0]), ~alive
    p = jnp.zeros((D, *start.shape))  # every market is in one class
    for markets, n in _size_classes(prob.layout.mask.sum(axis=1)):
        Tc = T if markets is None else len(markets)
        at = None if markets is None else jnp.asarray(markets)

        def fetch(k, at=at, n=n, Tc=Tc):
            i, t = k // Tc, (k % Tc if at is None else at[k % Tc])
            return ((c[i, t, :n], owner[t, :n], prob.prices_pad[t, :n], d[i, t, :n],
                     mu[i, t, :n], w[i, t], wa[i, t], mask_cf[t, :n], alpha[i], a_rc[i, t]),
                    start[t])

        order = jnp.argsort(~(some_up if at is None else some_up[:, at]).ravel(), stable=True)
        pc, _, dead = queued_equilibria(fetch, order, jnp.arange(D * Tc) // Tc, dead, lanes,
                                        DRAW_ITERATIONS, DRAW_PATIENCE)
        p = pc.reshape(D, T, -1) if at is None else p.at[:, at].set(pc.reshape(D, Tc, -1))
    dcs = jax.lax.map(lambda a: _mixed_outcome(prob, a[0], a[1:5], a[5], a[6], mask_cf)[3],
                      (alpha, d, mu, w, a_rc, c, p))
    return p, dcs, ~dead


def _size_classes(sizes, most=_SIZE_CLASSES):
    """The markets by size for the draws' equilibria (:func:`_draw_block`): at most ``most``
    classes of markets of consecutive sizes, each padded to its largest market rounded up to a
    multiple of :data:`_SLOT_MULTIPLE` (at most the largest market), chosen to pad the fewest
    slots; [(markets, slots)] from the smallest, ``markets`` None for one class of all of them
    (markets of one size: Nevo's 24 products everywhere).

    Examples
    --------
    >>> from structural.market.post import _size_classes
    >>> [(m.tolist(), n) for m, n in _size_classes([3, 30, 4, 29, 12], 2)]
    [([0, 2], 8), ([1, 3, 4], 30)]
    >>> _size_classes([24, 24, 24])
    [(None, 24)]
    """
    sizes = np.asarray(sizes)
    values = np.unique(sizes)
    slots = np.minimum(-(-values // _SLOT_MULTIPLE) * _SLOT_MULTIPLE, values[-1])
    count = np.searchsorted(np.sort(sizes), values, side="right")  # markets up to each size
    # cost[c, b]: the fewest slots of the markets up to values[b] in at most c + 1 classes, the
    # last of which starts above values[cut[c, b]] (-1: one class)
    cost = np.tile(count * slots, (most, 1))
    cut = np.full((most, len(values)), -1)
    for c in range(1, most):
        for b in range(len(values)):
            for a in range(b):
                total = cost[c - 1, a] + (count[b] - count[a]) * slots[b]
                if total < cost[c, b]:
                    cost[c, b], cut[c, b] = total, a
    classes, c, b = [], most - 1, len(values) - 1
    while b >= 0:
        a = cut[c, b] if c > 0 else -1
        low = values[a] if a >= 0 else -1
        classes.append((np.flatnonzero((sizes > low) & (sizes <= values[b])), int(slots[b])))
        b, c = a, c - 1
    return [(None, int(slots[-1]))] if len(classes) == 1 else classes[::-1]


def _draw_layout(results: DemandResults):
    """Indices of θ to perturb and the covariance of (θ, α) for parametric draws."""
    prob = results.problem
    names = list(results.params.index)
    theta_idx = [i for i, (k, _, _) in enumerate(prob.locations) if k != "beta"]
    cols = [names[i] for i in theta_idx]
    alpha_name = "prices" if prob.price_in_X1 else None
    if alpha_name is not None:
        cols.append(alpha_name)
    V = results.covariance.loc[cols, cols].to_numpy()
    return np.asarray(theta_idx, int), alpha_name, V
