"""Feasible optimal instruments for demand (and supply) estimation.

Chamberlain (1987) shows that the efficient instruments for conditional moments E[ξ, ω | Z] = 0
are the expected Jacobians of the structural errors with respect to the parameters, scaled by
their inverse covariance:

    [Z_D,jt^opt ; Z_S,jt^opt] = Σ_ξω⁻¹ E[ ∂ξ_jt/∂θ ; ∂ω_jt/∂θ | Z ].

For random-coefficients demand, Reynaert and Verboven (2014, J. Econometrics 179(1)) and Conlon
and Gortmaker (2020, RAND J. Econ. 51(4), Section 4.3) make this feasible at a first-step
estimate θ̂: the expectation is over the errors' density, approximated either at their mean
(``"approximate"``: ξ = ω = 0) or by averaging Jacobians over draws of (ξ, ω) from their normal
approximation (``"normal"``) or their empirical distribution (``"empirical"``). Each realization
needs prices that depend only on exogenous variables: with a supply side, the Bertrand–Nash
prices at the realized costs c = f⁻¹(X3 γ̂ + ω) (the ζ-markup fixed point of
:func:`structural.market.supply.equilibrium_prices`); without one, the fitted values of a
regression of prices on the demand instruments. At the realization's prices p and mean utilities
δ the Jacobians are exact JAX derivatives:

    ∂ξ/∂θ' = ∂δ/∂θ' − X1_p 1{θ = α} with ∂δ/∂θ' = −(∂s/∂δ')⁻¹ ∂s/∂θ'

(the implicit-function derivatives of the share inversion,
:func:`structural.market.inversion.implicit_delta`), and ∂ω/∂θ' = −∂η/∂θ' (linear costs) or
−∂η/∂θ' / c (log costs), η the Bertrand–Nash markups with δ(θ) moving as the inversion requires.
The new excluded instruments are Z_D^opt (and Z_S^opt) plus, as in PyBLP 1.3's
``OptimalInstrumentResults.to_problem``, the expected prices for a price coefficient that is
concentrated out, the cost shifters not in X1 (demand side) and the demand shifters not in X3
(supply side). Everything follows PyBLP 1.3's ``ProblemResults.compute_optimal_instruments`` so
the same estimate gives the same instruments.
"""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.compilation import traced_jit
from estimation.errors import NotConvergedWarning
from structural.errors import MarketDataError
from structural.market.demand import mixed_logit_shares
from structural.market.estimate import DemandResults, estimate_demand
from structural.market.inversion import implicit_delta
from structural.market.products import Products, _check_rank, _matrix
from structural.market.supply import equilibrium_prices

__all__ = ["OptimalInstruments", "optimal_instruments", "shifters"]

_METHODS = ("approximate", "normal", "empirical")


@dataclass
class OptimalInstruments:
    """What :func:`optimal_instruments` returns.

    ``demand_instruments`` (and ``supply_instruments`` with a supply side) hold Z^opt, one column
    per nonlinear parameter (``results.problem.labels``), long over products;
    ``expected_xi_jacobian``/``expected_omega_jacobian`` the averaged Jacobians (N, P) before
    scaling; ``inverse_covariance`` Σ_ξω⁻¹ (1×1 without supply: 1/var(ξ)); ``expected_prices``
    and ``expected_shares`` the realizations' averages. :meth:`to_products` re-creates the
    products with these instruments, :meth:`estimate` re-estimates on them.

    Examples
    --------
    Plain logit on Nevo's cereal data has no nonlinear parameter: its optimal excluded
    instrument is the expected price alone.

    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> from structural.market import optimal_instruments
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> opt = optimal_instruments(logit)
    >>> opt.demand_instruments.shape, opt.to_products().ZD_names
    ((2256, 0), ['E[prices]'])
    """

    results: DemandResults
    method: str
    draws: int
    demand_instruments: pd.DataFrame
    supply_instruments: pd.DataFrame | None
    expected_xi_jacobian: np.ndarray
    expected_omega_jacobian: np.ndarray | None
    inverse_covariance: np.ndarray
    expected_prices: np.ndarray
    expected_shares: np.ndarray
    equilibrium_converged: bool
    seconds: float

    def to_products(self, supply_shifters: list[str] | None = None,
                    demand_shifters: list[str] | None = None) -> Products:
        """The products with the optimal excluded instruments in place of the old ones.

        Demand: Z_D^opt, the expected prices when the price coefficient is concentrated out, and
        the cost shifters (default :func:`shifters`); supply: Z_S^opt and the demand shifters.
        The exogenous columns of X1 (of X3) join as always, and the absorbed fixed effects are
        removed from the demand instruments (PyBLP's ``to_problem``).

        Parameters
        ----------
        supply_shifters, demand_shifters : list of str, optional
            X3 (X1) column names to add to the demand (supply) instruments instead of the
            defaults; only with a supply side.

        Returns
        -------
        Products

        Raises
        ------
        MarketDataError
            Shifters given for results without a supply side, an unknown shifter column, or a
            singular instrument matrix.

        Examples
        --------
        >>> import pandas as pd
        >>> import pyblp.data
        >>> from structural.market import DemandSpec, build_products, estimate_demand
        >>> from structural.market import optimal_instruments
        >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
        >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
        >>> optimal_instruments(logit).to_products(supply_shifters=["sugar"])
        Traceback (most recent call last):
        ...
        structural.errors.MarketDataError: supply_shifters: the results have no supply side ...
        """
        prob = self.results.problem
        p = prob.products
        if not prob.supply and (supply_shifters is not None or demand_shifters is not None):
            which = "supply_shifters" if supply_shifters is not None else "demand_shifters"
            raise MarketDataError(which, "the results have no supply side (no cost formula), so "
                                  "there are no supply instruments or shifters to add")
        default_s, default_d = shifters(p)
        s_names = default_s if supply_shifters is None else list(supply_shifters)
        d_names = default_d if demand_shifters is None else list(demand_shifters)
        for which, names, have in (("supply_shifters", s_names, p.X3_names),
                                   ("demand_shifters", d_names, p.X1_names)):
            unknown = [n for n in names if n not in have]
            if unknown:
                raise MarketDataError(which, f"{unknown} are not columns of "
                                      f"{'X3' if which == 'supply_shifters' else 'X1'} "
                                      f"({', '.join(have)})")
        zd = [self.demand_instruments.to_numpy()]
        zd_names = [f"optimal[{c}]" for c in self.demand_instruments.columns]
        if prob.price_in_X1 and not prob.alpha_in_theta:
            zd.append(self.expected_prices[:, None])
            zd_names.append("E[prices]")
        # shifters are raw characteristics: the demand side's are absorbed with the rest below
        if s_names:
            zd.append(p.X3[:, [p.X3_names.index(n) for n in s_names]])
            zd_names += s_names
        exog = [i for i, n in enumerate(p.X1_names) if n != "prices"]
        zd.append(p.X1[:, exog])  # already absorbed: absorbing again leaves it as it is
        zd_names += [p.X1_names[i] for i in exog]
        ZD = p.absorb(np.column_stack(zd))
        _check_rank(ZD, zd_names, "demand_instruments")
        new = dataclasses.replace(p, ZD=ZD, ZD_names=zd_names)
        if prob.supply:
            zs = [self.supply_instruments.to_numpy()]
            zs_names = [f"optimal[{c}]" for c in self.supply_instruments.columns]
            if d_names:
                # the unabsorbed characteristic: rebuilt from the formula on the stored frame
                raw, raw_names = _matrix(p.spec.linear, p.frame, "linear")
                zs.append(raw[:, [raw_names.index(n) for n in d_names]])
                zs_names += d_names
            zs.append(p.X3)
            zs_names += p.X3_names
            ZS = np.column_stack(zs)
            _check_rank(ZS, zs_names, "supply_instruments")
            new = dataclasses.replace(new, ZS=ZS, ZS_names=zs_names)
        return new

    def estimate(self, **options) -> DemandResults:
        """Re-estimate on :meth:`to_products`, starting at the first-step estimates of Σ, Π
        (PyBLP's tutorial: ``instrument_results.to_problem().solve(results.sigma, ...)``).

        ``options`` go to :func:`~structural.market.estimate_demand` (e.g. ``method="1s"``,
        ``optimizer="bfgs"``; also ``sigma``/``pi`` to start elsewhere).

        Examples
        --------
        >>> import pandas as pd
        >>> import pyblp.data
        >>> from structural.market import DemandSpec, build_products, estimate_demand
        >>> from structural.market import optimal_instruments
        >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
        >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
        >>> again = optimal_instruments(logit).estimate()  # PyBLP: -30.0978 (1.0187)
        >>> round(float(again.params["prices"]), 4), round(float(again.bse["prices"]), 4)
        (-30.0978, 1.0187)
        """
        prob = self.results.problem
        start = {}
        if prob.K2:
            start = {"sigma": self.results.sigma, "pi": self.results.pi}
        if prob.nests is not None:
            start["rho"] = self.results.problem.unpack_numpy(self.results.theta)[2]
        start.update(options)
        return estimate_demand(self.to_products(), prob.agents, **start)


def optimal_instruments(results: DemandResults, method: str = "approximate", draws: int = 1,
                        seed: int | None = None, expected_prices=None) -> OptimalInstruments:
    r"""Feasible optimal instruments (Chamberlain 1987) at the estimates ``results``.

    .. math::

        Z^\text{opt}_{jt} = \Sigma_{\xi\omega}^{-1}
        E\left[\partial(\xi_{jt}, \omega_{jt})/\partial\theta \mid Z\right]

    evaluated at θ̂ as in Reynaert and Verboven (2014) and PyBLP 1.3's
    ``ProblemResults.compute_optimal_instruments`` (Conlon and Gortmaker 2020): the Jacobians are
    computed at prices that depend only on exogenous variables (the Bertrand–Nash prices at the
    realized costs with a supply side, else fitted prices), and averaged over realizations of
    (ξ, ω). Σ_ξω is the sample covariance of (ξ̂, ω̂) (``np.var`` of ξ̂ without supply).

    Parameters
    ----------
    results : DemandResults
        Logit or random-coefficients estimates, with or without supply.
    method : {"approximate", "normal", "empirical"}
        ``"approximate"``: one realization at ξ = ω = 0; ``"normal"``: ``draws`` realizations
        from N(0, Σ̂_ξω); ``"empirical"``: ``draws`` resamples of the estimated (ξ̂, ω̂) pairs.
    draws : int
        Realizations for ``"normal"``/``"empirical"`` (ignored by ``"approximate"``).
    seed : int, optional
        Seed of ``numpy.random.RandomState`` (PyBLP's generator and call sequence, so the same
        seed gives PyBLP's draws).
    expected_prices : array_like, optional
        E[p | Z] (long, N), used instead of the equilibrium or fitted prices.

    Returns
    -------
    OptimalInstruments

    Raises
    ------
    MarketDataError
        An unknown method, draws below one, expected prices of the wrong length or not finite,
        a nested logit, or an expected Jacobian that leaves the instruments singular (a zero
        column or one collinear with others, named by parameter), or residuals with no variance.

    Examples
    --------
    Nevo's random-coefficients model at PyBLP's starting values (no optimisation); the optimal
    instruments have one column per nonlinear parameter plus the expected price:

    >>> import numpy as np
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import (DemandSpec, build_agents, build_products,
    ...                                estimate_demand, optimal_instruments)
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> spec = DemandSpec("0 + prices", random="1 + prices + sugar + mushy",
    ...                   demographics="0 + income + income_squared + age + child",
    ...                   absorb="product_ids")
    >>> p = build_products(df, spec)
    >>> agents = build_agents(p, pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION))
    >>> sigma = np.diag([0.3302, 2.4526, 0.0163, 0.2441])  # PyBLP's tutorial starts
    >>> pi = [[5.4819, 0, 0.2037, 0], [15.8935, -1.2, 0, 2.6342], [-0.2506, 0, 0.0511, 0],
    ...       [1.2650, 0, -0.8091, 0]]
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     r = estimate_demand(p, agents, sigma=sigma, pi=pi, method="1s",
    ...                         optimizer="bfgs", optimizer_options={"maxiter": 0})
    >>> opt = optimal_instruments(r)
    >>> opt.demand_instruments.shape, len(opt.to_products().ZD_names)
    ((2256, 13), 14)
    """
    t0 = time.perf_counter()
    if not isinstance(results, DemandResults):
        raise MarketDataError("results", "expected the DemandResults of estimate_demand, got "
                              f"{type(results).__name__}")
    prob = results.problem
    if method not in _METHODS:
        raise MarketDataError("method", f"expected one of {_METHODS}, got {method!r}")
    if method == "approximate":
        draws = 1
    if not isinstance(draws, (int, np.integer)) or isinstance(draws, bool) or draws < 1:
        raise MarketDataError("draws", f"expected a positive integer, got {draws!r}")
    if prob.nests is not None:
        raise MarketDataError("model", "optimal instruments are implemented for logit and "
                              "random-coefficients logit, not nested logit")
    p = prob.products
    N = p.N
    xi = np.asarray(results.xi)
    omega = None if results.omega is None else np.asarray(results.omega)
    if expected_prices is not None:
        expected_prices = np.asarray(expected_prices, float).ravel()
        if expected_prices.shape != (N,):
            raise MarketDataError("expected_prices", f"expected {N} values (one per product), "
                                  f"got {expected_prices.size}")
        if not np.all(np.isfinite(expected_prices)):
            r = int(np.flatnonzero(~np.isfinite(expected_prices))[0])
            raise MarketDataError("expected_prices", f"not finite at row {r}")
    elif not prob.supply:
        expected_prices = _fitted_prices(p)

    xi_draws, omega_draws = _draw_errors(method, draws, seed, xi, omega)
    if prob.supply:
        inv_cov = _inverse(np.cov(xi, omega, rowvar=False), "covariance of (xi, omega)")
    else:
        var = float(np.var(xi))
        if not var > 0:
            raise MarketDataError("xi", "the demand residuals have no variance: optimal "
                                  "instruments scale by 1/var(xi)")
        inv_cov = np.array([[1.0 / var]])

    run = _realizations(results, expected_prices)
    # device_put: jnp.asarray of a NumPy array is a small program of its own (see estimate._put)
    sums = run(jax.device_put(xi_draws), jax.device_put(omega_draws))
    prices_e, shares_e, j_xi, j_eta, ok = (np.asarray(v) for v in sums)
    prices_e, shares_e = prices_e / draws, shares_e / draws
    j_xi = j_xi / draws
    converged = bool(ok)
    if not converged:
        warnings.warn("optimal instruments: the Bertrand–Nash prices of a realization did not "
                      "converge in every market", NotConvergedWarning, stacklevel=2)
    j_omega = None
    if prob.supply:
        j_omega = j_eta / draws
    _check_jacobian(prob, j_xi, j_omega)
    labels = list(prob.labels)
    if prob.supply:
        z = np.einsum("ab,nbp->nap", inv_cov, np.stack([j_xi, j_omega], axis=1))
        zd, zs = z[:, 0, :], z[:, 1, :]
    else:
        zd, zs = inv_cov[0, 0] * j_xi, None
    return OptimalInstruments(
        results=results, method=method, draws=int(draws),
        demand_instruments=pd.DataFrame(zd, columns=labels),
        supply_instruments=None if zs is None else pd.DataFrame(zs, columns=labels),
        expected_xi_jacobian=j_xi, expected_omega_jacobian=j_omega, inverse_covariance=inv_cov,
        expected_prices=prices_e, expected_shares=shares_e, equilibrium_converged=converged,
        seconds=time.perf_counter() - t0)


def shifters(products: Products) -> tuple[list[str], list[str]]:
    """(cost shifters: X3 columns not in X1, demand shifters: X1 columns not in X3).

    With a supply side each side's excluded optimal instruments are joined by the other side's
    own characteristics (PyBLP's default ``supply_shifter_formulation`` and
    ``demand_shifter_formulation``); intercepts and prices are never shifters. Empty without a
    cost formula.

    Examples
    --------
    BLP's automobiles: cost shifters join the demand instruments, demand shifters the supply
    instruments.

    >>> from papers import blp1995
    >>> from structural.market import build_products
    >>> from structural.market.optimal import shifters
    >>> shifters(build_products(blp1995.load()[0], blp1995.spec()))
    (['log(hpwt)', 'log(mpg)', 'log(space)', 'trend'], ['hpwt', 'mpd', 'space'])
    """
    if products.X3 is None:
        return [], []
    x1 = [n for n in products.X1_names if n not in ("1", "prices")]
    x3 = [n for n in products.X3_names if n != "1"]
    return sorted(set(x3) - set(x1)), sorted(set(x1) - set(x3))


# ----- pieces -------------------------------------------------------------------------------

def _fitted_prices(p: Products) -> np.ndarray:
    """E[p | Z] without supply: prices (within the absorbed fixed effects) projected on ZD,
    plus the fixed-effect means (PyBLP's reduced form)."""
    within = p.absorb(p.prices)
    Z = p.ZD
    coef = np.linalg.solve(Z.T @ Z, Z.T @ within)
    return Z @ coef + p.prices - within


def _inverse(S: np.ndarray, what: str) -> np.ndarray:
    S = np.atleast_2d(S)
    if not np.all(np.isfinite(S)) or np.linalg.cond(S) > 1e12:
        raise MarketDataError(what.split(" of ")[-1].strip("()").replace(", ", "/"),
                              f"the {what} is singular: the optimal instruments scale by its "
                              "inverse")
    return np.linalg.inv(S)


def _draw_errors(method: str, draws: int, seed: int | None, xi: np.ndarray,
                 omega: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(draws, N) realizations of ξ and ω: PyBLP's generator and call order, draw by draw."""
    N = len(xi)
    om = np.zeros(N) if omega is None else omega
    if method == "approximate":
        return np.zeros((1, N)), np.zeros((1, N))
    state = np.random.RandomState(seed)
    xs, os_ = [], []
    for _ in range(draws):  # the generator's sequence, not computation: one call per draw
        if method == "normal" and omega is None:
            xs.append(state.normal(0, np.std(xi), N))
            os_.append(om)
        elif method == "normal":
            d = state.multivariate_normal([0, 0], np.cov(xi, omega, rowvar=False), N)
            xs.append(d[:, 0])
            os_.append(d[:, 1])
        else:
            idx = state.choice(N, N)
            xs.append(xi[idx])
            os_.append(om if omega is None else omega[idx])
    return np.asarray(xs), np.asarray(os_)


def _realizations(results: DemandResults, expected_prices, keep: bool = True):
    """A compiled function of the (draws, N) error realizations returning the sums over draws of
    prices, shares, ∂ξ/∂θ' and ∂ω/∂θ' (N, P), and whether every equilibrium converged; kept
    between runs (``keep=False``: plain ``jax.jit``, whose jaxpr shows the computation)."""
    prob = results.problem
    lay = prob.layout
    mask = prob.mask
    alpha = float(results.price_coefficient)
    p_obs = prob.prices_pad
    log_costs = prob.spec.costs_type == "log"
    ia = next((i for i, loc in enumerate(prob.locations) if loc[0] == "beta"), None)
    # what does not depend on the draws is computed inside the program (traced once, kept), not
    # op by op before it: outside, each operation was a small program of its own, read back
    # from the compilation cache one by one in every run
    base_np = lay.pad(results.delta - results.xi)  # δ̂ − ξ̂ at the observed prices
    fixed_np = None if expected_prices is None else lay.pad(expected_prices)
    costs_np = prob.products.X3 @ results.gamma if prob.supply else None  # f(c) − ω = X3 γ

    def one(xi_draw, omega_draw, theta, mu0, w, a_rc, base, firms, fixed_p, fitted_costs):
        delta0 = base + _pad(lay, xi_draw)
        tilde = fitted_costs + omega_draw if prob.supply else None
        if fixed_p is not None:
            prices = fixed_p
            ok = jnp.asarray(True)
        else:
            costs = jnp.exp(tilde) if log_costs else tilde
            prices, _, conv = equilibrium_prices(_pad(lay, costs), firms, p_obs, delta0, mu0, w,
                                                 mask, alpha, a_rc)
            ok = jnp.all(conv)
        dp = jnp.where(mask, prices - p_obs, 0.0)
        delta = delta0 + alpha * dp
        view = _at_prices(prob, prices)
        mu, _ = view.agent_terms(theta)
        shares = jax.vmap(mixed_logit_shares)(delta, mu, w, mask)

        def errors(th):
            d = (implicit_delta(view.mu, th, delta, view.weights, mask) if prob.K2 else delta)
            x = lay.unpad(d)
            if ia is not None:  # ξ = δ − α p − X1e β: the price column at these prices
                x = x - th[ia] * lay.unpad(prices)
            if not prob.supply:
                return x, jnp.zeros_like(x)
            a = th[ia] if ia is not None else 0.0
            return x, view.markups(th, d, a)

        j_xi, j_eta = jax.jacfwd(errors)(theta)
        if prob.supply:  # ω = f(p − η): −∂η/∂θ', divided by c = exp(X3 γ + ω) for log costs
            j_eta = -j_eta / jnp.exp(tilde)[:, None] if log_costs else -j_eta
        return lay.unpad(prices), lay.unpad(shares), j_xi, j_eta, ok

    def total(xi_draws, omega_draws):
        N, P = prob.products.N, len(prob.locations)
        theta = jnp.asarray(results.theta)
        mu0, w = prob.agent_terms(theta)
        a_rc = prob.alpha_i(theta, 0.0) if prob.K2 else jnp.zeros_like(w)
        fixed = (theta, mu0, w, a_rc, jnp.asarray(base_np), jnp.asarray(prob.firms_pad),
                 None if fixed_np is None else jnp.asarray(fixed_np),
                 None if costs_np is None else jnp.asarray(costs_np))
        init = (jnp.zeros(N), jnp.zeros(N), jnp.zeros((N, P)), jnp.zeros((N, P)),
                jnp.asarray(True))

        def step(acc, draw):
            out = one(*draw, *fixed)
            sums = (a + o for a, o in zip(acc[:4], out[:4], strict=True))
            return (*sums, acc[4] & out[4]), None

        # draws one after another: each already batches every market, and a vmap over draws
        # would batch the per-market LAPACK solves (see demand.solve_by_market)
        acc, _ = jax.lax.scan(step, init, (xi_draws, omega_draws))
        return acc

    if not keep:
        return jax.jit(total)
    # kept between runs, keyed by the problem and every estimate ``total`` closes over
    key = ("optimal-instrument realizations", prob.program_key(), np.asarray(results.theta),
           alpha, np.asarray(results.delta), np.asarray(results.xi),
           None if expected_prices is None else np.asarray(expected_prices),
           np.asarray(results.gamma) if prob.supply else None)
    return traced_jit(total, key)


def _pad(lay, x_long):
    return jnp.zeros((lay.T, lay.J)).at[lay.t, lay.j].set(x_long)


def _at_prices(prob, prices_pad):
    """The problem seen at other prices: the price column of X2 replaced (prices enter X2
    linearly, as everywhere in the model); everything else is shared."""
    view = copy.copy(prob)
    vars(view).pop("_key_text", None)  # its programs' key is not the problem's
    view._programs = {}  # nor its programs: they were built for the observed prices
    if prob.K2 and prob.price_in_X2:
        view.X2_pad = prob.X2_pad.at[:, :, prob.ip2].set(jnp.where(prob.mask, prices_pad, 0.0))
    return view


def _check_jacobian(prob, j_xi: np.ndarray, j_omega: np.ndarray | None) -> None:
    """Name the parameter whose expected Jacobian column (of ξ within the absorbed fixed effects,
    stacked over ω with supply) is not finite, zero, or collinear with the earlier ones: its
    optimal instrument would make the instrument matrix singular."""
    if j_xi.shape[1] == 0:
        return
    what = "xi" if j_omega is None else "(xi, omega)"
    labels = prob.labels
    J = prob.products.absorb(j_xi)
    if j_omega is not None:
        J = np.vstack([J, j_omega])
    bad = ~np.all(np.isfinite(J), axis=0)
    if bad.any():
        raise MarketDataError(labels[int(np.flatnonzero(bad)[0])], f"the expected Jacobian of "
                              f"{what} with respect to this parameter is not finite")
    scale = np.abs(J).max(axis=0)
    top = max(float(scale.max()), 1e-300)
    s = np.linalg.svd(J / np.maximum(scale, 1e-300), compute_uv=False)
    if np.all(scale > 1e-12 * top) and s[-1] > s[0] * 1e-10:
        # every leading block of columns passes too (dropping columns cannot lower the
        # smallest singular value nor raise the largest): the loop below only names a culprit
        return
    for k in range(J.shape[1]):
        if scale[k] <= 1e-12 * top:
            raise MarketDataError(labels[k], f"the expected Jacobian of {what} with respect to "
                                  "this parameter is zero: its optimal instrument is singular "
                                  "(the parameter is not identified)")
        s = np.linalg.svd(J[:, :k + 1] / scale[:k + 1], compute_uv=False)
        if s[-1] <= s[0] * 1e-10:
            raise MarketDataError(labels[k], f"the expected Jacobian of {what} with respect to "
                                  "this parameter is collinear with that of "
                                  f"{', '.join(labels[:k])}: the optimal instruments are "
                                  "singular")
