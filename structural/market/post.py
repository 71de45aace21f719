"""After estimation: elasticities, diversion ratios, markups, consumer surplus, counterfactuals.

For the mixed-logit family (logit and random coefficients) with ∂s/∂p' = Λ − Γ
(:func:`structural.market.demand.share_price_terms`), and for the nested logit (its closed-form
∂s/∂p'; elasticities, diversion ratios and markups only):

- price elasticities ε_jk = (∂s_j/∂p_k) p_k / s_j;
- diversion ratios D_jk = −(∂s_k/∂p_j)/(∂s_j/∂p_j), and on the diagonal the diversion to the
  outside good, −(∂s_0/∂p_j)/(∂s_j/∂p_j) with ∂s_0/∂p_j = −Σ_k ∂s_k/∂p_j (PyBLP's layout);
- markups η and marginal costs c = p − η from the Bertrand–Nash conditions
  (:mod:`structural.market.supply`);
- consumer surplus per market, CS_t = Σ_i w_i log(1 + Σ_j exp(δ_jt + μ_ijt)) / (−α_i)
  (Small and Rosen 1981; Nevo 2000 eq. 10), in the units of price;
- equilibrium counterfactuals by the ζ-markup fixed point: a merger (new owners), a cost shock
  (new costs; pass-through dp/dc), a per-unit tax (cost + tax), removing products (exit).

Every counterfactual can carry intervals from parametric draws of (θ, α) from the estimates'
asymptotic covariance: each draw re-solves the share inversion at the observed shares, backs out
that draw's costs, and re-solves the equilibrium — all draws in one ``vmap``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from structural.errors import MarketDataError
from structural.market.demand import choice_probabilities, mixed_logit_shares, share_price_terms
from structural.market.estimate import DemandResults
from structural.market.inversion import solve_delta
from structural.market.supply import bertrand_markups, equilibrium_prices

__all__ = ["Counterfactual", "consumer_surplus", "counterfactual", "diversion_ratios",
           "elasticities", "long_matrix", "markups", "price_derivatives"]


def _require_mixed(results: DemandResults) -> None:
    if results.problem.nests is not None:
        raise MarketDataError("model", "consumer surplus and counterfactual equilibria are "
                              "implemented for logit and random coefficients (not nested logit)")


def _state(results: DemandResults, theta=None, alpha=None, delta_pad=None):
    prob = results.problem
    theta = jnp.asarray(results.theta if theta is None else theta)
    alpha = results.price_coefficient if alpha is None else alpha
    mu, w = prob.agent_terms(theta)
    a_rc = prob.alpha_i(theta, 0.0) if prob.K2 else jnp.zeros_like(w)
    if delta_pad is None:
        delta_pad = jnp.asarray(prob.layout.pad(results.delta))
    return delta_pad, mu, w, a_rc, alpha


def _nested_price_derivatives(results: DemandResults) -> jnp.ndarray:
    """∂s_j/∂p_k = α ∂s_j/∂δ_k for the nested logit (Berry 1994, eq. 28; Cardell 1997):

    ∂s_j/∂δ_k = s_j [1{j=k}/(1−ρ) − 1{h(j)=h(k)} ρ/(1−ρ) s_k|h − s_k],

    s_k|h = s_k / Σ_{l∈h} s_l the share within the nest, ρ the nesting parameter of h(j).
    """
    prob = results.problem
    lay = prob.layout
    _, _, rho, _ = prob.unpack(jnp.asarray(results.theta))
    rho_j = rho[prob.nests] if rho.shape[0] > 1 else jnp.full(prob.products.N, rho[0])
    rho_pad = jnp.asarray(lay.pad(np.asarray(rho_j)))
    s = prob.shares_pad
    nests = jnp.asarray(prob.nests_pad)
    m = prob.mask
    same = (nests[:, :, None] == nests[:, None, :]) & m[:, :, None] & m[:, None, :]
    nest_total = jnp.sum(jnp.where(same, s[:, None, :], 0.0), axis=2)  # (T, J): S_h(j)
    within = s / jnp.where(m, nest_total, 1.0)
    r = (rho_pad / (1.0 - rho_pad))[:, :, None]
    eye = jnp.eye(lay.J, dtype=bool)[None]
    dsdd = s[:, :, None] * (jnp.where(eye, 1.0, 0.0) / (1.0 - rho_pad)[:, :, None]
                            - jnp.where(same, r * within[:, None, :], 0.0) - s[:, None, :])
    return results.price_coefficient * dsdd


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
    m2 = prob.mask[:, :, None] & prob.mask[:, None, :]
    if prob.nests is not None:
        return np.asarray(jnp.where(m2, _nested_price_derivatives(results), 0.0))
    d, mu, w, a_rc, alpha = _state(results)
    lam, gam = jax.vmap(share_price_terms)(d, mu, w, prob.mask, alpha + a_rc)
    jac = jax.vmap(jnp.diag)(lam) - gam
    return np.asarray(jnp.where(prob.mask[:, :, None] & prob.mask[:, None, :], jac, 0.0))


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
    if prob.nests is not None:
        jac = jnp.asarray(price_derivatives(results))
        lam = jnp.diagonal(jac, axis1=1, axis2=2)
        gam = jax.vmap(jnp.diag)(lam) - jac  # so that diag(Λ) − Γ = ∂s/∂p'
        eta = bertrand_markups(lam, gam, prob.shares_pad, jnp.asarray(prob.firms_pad), prob.mask)
        return np.asarray(prob.layout.unpad(eta))
    return np.asarray(prob.markups(jnp.asarray(results.theta),
                                   jnp.asarray(prob.layout.pad(results.delta)),
                                   results.price_coefficient))


def consumer_surplus(results: DemandResults, prices=None) -> np.ndarray:
    """CS_t = Σ_i w_i log(1 + Σ_j exp(V_ijt)) / (−α_i) per market (T,), at ``prices`` (long).

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
    _require_mixed(results)
    prob = results.problem
    d, mu, w, a_rc, alpha = _state(results)
    if prices is not None:
        dp = jnp.asarray(prob.layout.pad(np.asarray(prices) - prob.products.prices))
        d = d + alpha * dp
        mu = mu + dp[:, :, None] * a_rc[:, None, :]
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
        Logit or random-coefficients estimates.
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
        Parametric draws of (θ, α) ~ N(estimate, covariance) for intervals (0: point values).
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
    _require_mixed(results)
    prob = results.problem
    lay = prob.layout
    N = prob.products.N
    firms_long = prob.products.firm_ids if firm_ids is None else np.asarray(firm_ids)
    if len(firms_long) != N:
        raise MarketDataError("firm_ids", f"expected {N} values, got {len(firms_long)}")
    firms = jnp.asarray(lay.pad(pd.factorize(pd.Series(firms_long))[0], fill=-1))
    shift = np.zeros(N)
    for name, v in (("cost_shock", cost_shock), ("tax", tax)):
        if v is not None:
            v = np.broadcast_to(np.asarray(v, float), (N,))
            if not np.all(np.isfinite(v)):
                raise MarketDataError(name, "must be finite")
            shift = shift + v
    keep = np.ones(N, bool) if remove is None else ~np.asarray(remove, bool)
    mask_cf = jnp.asarray(lay.pad(keep, fill=False))
    given_costs = None if costs is None else jnp.asarray(lay.pad(np.asarray(costs, float)))

    def solve(theta, alpha, delta_pad):
        d, mu, w, a_rc, _ = _state(results, theta, alpha, delta_pad)
        c0 = given_costs
        if c0 is None:
            lam, gam = jax.vmap(share_price_terms)(d, mu, w, prob.mask, alpha + a_rc)
            s = jax.vmap(mixed_logit_shares)(d, mu, w, prob.mask)
            c0 = prob.prices_pad - bertrand_markups(
                lam, gam, s, jnp.asarray(prob.firms_pad), prob.mask)
        c = c0 + jnp.asarray(lay.pad(shift))
        p, it, conv = equilibrium_prices(c, firms, prob.prices_pad, d, mu, w, mask_cf, alpha, a_rc)
        dp = jnp.where(mask_cf, p - prob.prices_pad, 0.0)
        d1 = d + alpha * dp
        mu1 = mu + dp[:, :, None] * a_rc[:, None, :]
        s1 = jax.vmap(lambda a, b, ww, m: choice_probabilities(a, b, m) @ ww)(d1, mu1, w, mask_cf)
        cs0 = jax.vmap(_cs_market)(d, mu, w, prob.mask, alpha + a_rc)
        cs1 = jax.vmap(_cs_market)(d1, mu1, w, mask_cf, alpha + a_rc)
        return p, s1, p - c, cs1 - cs0, it, conv

    d0 = jnp.asarray(lay.pad(results.delta))
    p, s1, mk, dcs, it, conv = jax.jit(solve)(jnp.asarray(results.theta),
                                             results.price_coefficient, d0)
    table = pd.DataFrame({"market_ids": prob.products.market_ids,
                          "product_ids": prob.products.product_ids,
                          "prices": prob.products.prices,
                          "new_prices": np.asarray(lay.unpad(p)),
                          "new_shares": np.asarray(lay.unpad(s1)),
                          "new_markups": np.asarray(lay.unpad(mk))})
    table.loc[~keep, ["new_prices", "new_shares", "new_markups"]] = np.nan
    surplus = pd.DataFrame({"market_ids": lay.market_ids, "change_in_cs": np.asarray(dcs)})
    if draws:
        pt, pa, V = _draw_layout(results)
        rng = np.random.default_rng(seed)
        z = rng.multivariate_normal(np.zeros(V.shape[0]), V, size=draws, method="eigh")

        def one(zd):
            nt = len(pt)
            theta = jnp.asarray(results.theta).at[pt].add(zd[:nt])
            alpha = results.price_coefficient + (zd[nt] if pa is not None else 0.0)
            mu_d, w_d = prob.agent_terms(theta)
            d, _, ok = solve_delta(d0, prob.log_s, mu_d, w_d, prob.mask)
            out = solve(theta, alpha, d)
            return out[0], out[3], jnp.all(ok) & jnp.all(out[5])

        pd_, cs_d, ok = jax.jit(jax.vmap(one))(jnp.asarray(z))
        ok = np.asarray(ok)
        lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
        pl = np.asarray(jax.vmap(lay.unpad)(pd_))[ok]
        table["new_prices_low"] = np.quantile(pl, lo_q, axis=0)
        table["new_prices_high"] = np.quantile(pl, hi_q, axis=0)
        cs_ok = np.asarray(cs_d)[ok]
        surplus["change_in_cs_low"] = np.quantile(cs_ok, lo_q, axis=0)
        surplus["change_in_cs_high"] = np.quantile(cs_ok, hi_q, axis=0)
        draws = int(ok.sum())
    return Counterfactual(table, surplus, bool(np.all(np.asarray(conv))), int(np.max(it)), draws)


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
