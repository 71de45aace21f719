"""GMM estimation of logit, nested-logit and random-coefficients demand, with optional supply.

The nonlinear parameters θ (Σ, Π, ρ, and the price coefficient when supply is estimated) are
found by minimising the GMM objective with the linear parameters concentrated out (BLP 1995;
Nevo 2000; Conlon and Gortmaker 2020, eq. 13):

    q(θ) = N ḡ(θ)' W ḡ(θ),   ḡ = [ZD'ξ(θ); ZS'ω(θ)] / N,
    ξ = δ(θ) − X1 β(θ),   ω = f(p − η(θ)) − X3 γ(θ),

where δ(θ) is the share inversion (:mod:`structural.market.inversion`), η the Bertrand–Nash
markups (:mod:`structural.market.supply`), f the identity or log, and (β, γ) the linear GMM
estimate given δ (:func:`structural.market.gmm.linear_gmm`). The gradient is exact (JAX, with the
implicit-function derivatives of δ); one-step (``"1s"``) or two-step (``"2s"``) GMM; robust or
clustered covariance. The scaling of q, the starting weighting matrix W = (Z'Z/N)⁻¹, centred
moment covariances and the sandwich follow PyBLP 1.3, so the same problem gives the same numbers.

Examples
--------
L-BFGS-B (the default optimizer) ends a GMM step when an iteration lowers q by less than
:data:`LBFGSB_FTOL` relative and its quadratic model promises no more (PyBLP's ftol is 0):

>>> from structural.market.estimate import LBFGSB_FTOL
>>> LBFGSB_FTOL
1e-12

The ``"least-squares"`` optimizer minimises q = r'r, r = √N L'ḡ, by SciPy's trust-region least
squares; a stop counts as converged where a Gauss–Newton step promises under
:data:`LEAST_SQUARES_DECREMENT` relative:

>>> from structural.market.estimate import LEAST_SQUARES_DECREMENT, LEAST_SQUARES_OPTIONS
>>> LEAST_SQUARES_OPTIONS["x_scale"], LEAST_SQUARES_DECREMENT
('jac', 1e-10)
"""

from __future__ import annotations

import numbers
import time
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.errors import NotConvergedWarning, SpecificationError
from structural.errors import MarketDataError
from structural.market import gmm
from structural.market.demand import random_coefficients
from structural.market.inversion import implicit_delta, solve_delta
from structural.market.products import Agents, Products

__all__ = ["LBFGSB_FTOL", "LEAST_SQUARES_DECREMENT", "LEAST_SQUARES_OPTIONS", "DemandResults",
           "Problem", "estimate_demand"]

#: L-BFGS-B's default ``ftol``: an iteration that lowers q by less than this, relative to
#: max(|q|, 1), ends a GMM step. gtol = 1e-8 alone is not reached: with δ solved to 1e-13, q
#: moves by ~2e-13 relative between evaluations at one θ (BLP 1995, q ≈ 497), so near the
#: minimum the gradient is rounding noise; PyBLP's ftol = 0 then ends a step only when an
#: iteration fails to lower q at all, after 4-30 evaluations whose line searches chase that
#: noise. The rule alone stops whatever the gradient (success=True), so a stop is accepted only
#: where the Newton decrement is under the same bound too (:func:`_stopped_early`); otherwise
#: the step goes on with ftol = 0. BLP's estimate takes 55-60 evaluations instead of 64 with
#: ftol = 0 and lands within 3e-7 relative of where ftol = 0 does (whose own spread, over
#: starting δ's 1e-6 apart, is 6.5e-7).
LBFGSB_FTOL = 1e-12

#: Defaults of the ``"least-squares"`` optimizer (SciPy's ``least_squares``, method "trf").
#: ftol decides where a step ends. Measured against 1e-15 tolerances (simulated markets with
#: supply, two steps; Nevo 2000 one step, bounded and not): ftol 1e-12 lands within 6e-8 and
#: 9e-8 relative (estimates and SEs) in 24 and 13 evaluations; 1e-10 is 1.6e-6 and 2.1e-6 off
#: (more than L-BFGS-B's 3e-7) for 3 and 2 fewer; 1e-14 chases rounding (57 evaluations, no
#: closer: the minimum is itself defined to ~1e-7). xtol and gtol at 1e-12 change nothing.
#: Read-only: a caller's options go through ``optimizer_options``.
LEAST_SQUARES_OPTIONS = MappingProxyType({"ftol": 1e-12, "xtol": 1e-10, "gtol": 1e-10,
                                         "x_scale": "jac", "max_nfev": 200})

#: A least-squares stop (ftol or xtol) is accepted only where a Gauss–Newton step promises to
#: lower q by at most this, relative to max(q, 1) (:func:`_gauss_newton_decrement`): at the
#: accepted stops measured (simulated markets with supply, Nevo 2000) it promised 2e-15 to
#: 1.5e-14 relative, rounding; where clipped costs put a kink in q the trust region shrank onto
#: it and xtol stopped with the gradient at 68 and 0.15 relative promised.
LEAST_SQUARES_DECREMENT = 1e-10


def _put(x) -> jax.Array:
    """A NumPy array on the device as it stands: ``jnp.asarray`` of a NumPy array runs a small
    compiled copy, one per shape and dtype, which a warm run reads back from the compilation
    cache one by one (a dozen of them in a demand fit); ``jax.device_put`` copies the bytes."""
    return jax.device_put(x)


@dataclass
class DemandResults:
    """What :func:`estimate_demand` returns: estimates, SEs and the state post-estimation needs.

    ``params``/``bse`` are Series over every parameter (θ first, then β, then γ); ``objective`` is
    PyBLP's N ḡ'Wḡ at the estimate; ``inversion`` reports per market the SQUAREM iterations and
    convergence of the final share inversion.

    Examples
    --------
    Nevo's cereal data, plain logit with product fixed effects (PyBLP's tutorial):

    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> round(float(logit.params["prices"]), 3), round(float(logit.bse["prices"]), 3)
    (-30.047, 1.009)
    >>> bool(logit.converged)
    True
    """

    problem: Problem
    theta: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    params: pd.Series
    bse: pd.Series
    covariance: pd.DataFrame
    objective: float
    gradient: np.ndarray
    W: np.ndarray
    delta: np.ndarray
    xi: np.ndarray
    omega: np.ndarray | None
    costs: np.ndarray | None
    inversion: pd.DataFrame
    converged: bool
    steps: int
    optimizer_iterations: int
    evaluations: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def sigma(self) -> np.ndarray:
        return self.problem.unpack_numpy(self.theta)[0]

    @property
    def pi(self) -> np.ndarray:
        return self.problem.unpack_numpy(self.theta)[1]

    @property
    def price_coefficient(self) -> float:
        """The linear price coefficient α (zero when prices are not in X1)."""
        return float(self.problem.alpha_of(self.theta, self.beta))

    def summary(self) -> str:
        """Estimates with robust SEs, objective, gradient norm and the inversion report."""
        t = pd.DataFrame({"estimate": self.params, "std_err": self.bse})
        lines = [f"{self.problem.kind} demand{' and supply' if self.problem.supply else ''}: "
                 f"N={self.problem.products.N} products, T={self.problem.layout.T} markets",
                 t.to_string(float_format=lambda x: f"{x:.6g}"),
                 f"GMM objective {self.objective:.8g} after {self.steps} step(s), "
                 f"{self.optimizer_iterations} iterations, {self.evaluations} evaluations; "
                 f"gradient ∞-norm {np.max(np.abs(self.gradient), initial=0.0):.3g}; "
                 f"converged: {self.converged}"]
        if len(self.inversion):
            bad = int((~self.inversion["converged"]).sum())
            lines.append(f"share inversion: {len(self.inversion) - bad}/{len(self.inversion)} "
                         f"markets converged, max {int(self.inversion['iterations'].max())} "
                         "SQUAREM iterations")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


class Problem:
    """A demand (and supply) estimation problem: data laid out for JAX and the θ layout.

    Parameters
    ----------
    products : Products
        From :func:`structural.market.products.build_products`.
    agents : Agents, optional
        Required for random coefficients (:func:`~structural.market.products.build_agents`).
    sigma, pi : array_like, optional
        Starting Σ (K2, K2) and Π (K2, D); nonzero entries are estimated, zeros stay fixed (as in
        PyBLP).
    rho : float or array_like, optional
        Starting nesting parameter(s) of a nested logit: one value, or one per nest.
    costs_bounds : (low, high), optional
        Clip marginal costs into this range (PyBLP's ``costs_bounds``).
    atol : float
        Share-inversion tolerance on ‖F(δ) − δ‖∞ per market.

    Examples
    --------
    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, Problem, build_products
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> prob = Problem(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> prob.layout.T, prob.K2
    (94, 0)
    """

    def __init__(self, products: Products, agents: Agents | None = None, sigma=None, pi=None,
                 rho=None, costs_bounds: tuple[float, float] | None = None,
                 atol: float = 1e-13) -> None:
        self.products = p = products
        self.spec = products.spec
        self.layout = products.layout
        self.supply = products.X3 is not None
        self.agents = agents
        K2 = 0 if p.X2 is None else p.X2.shape[1]
        if K2 and agents is None:
            raise MarketDataError("agents", "random coefficients need agents (nodes, weights)")
        self.kind = "random-coefficients logit" if K2 else (
            "nested logit" if p.nesting_ids is not None else "logit")
        Dd = 0 if agents is None else agents.demographics.shape[2]
        self.K2, self.Dd = K2, Dd
        self.labels: list[str] = []
        self.locations: list[tuple[str, int, int]] = []
        x2n = p.X2_names
        dn = agents.demographics_names if agents is not None else []
        if K2:
            sigma0 = (np.zeros((K2, K2)) if sigma is None
                      else np.atleast_2d(np.asarray(sigma, float)))
            if sigma0.shape != (K2, K2):
                raise MarketDataError("sigma", f"expected a {K2}×{K2} matrix (X2: "
                                      f"{', '.join(x2n)}), got shape {sigma0.shape}")
            pi0 = np.zeros((K2, Dd)) if pi is None else np.atleast_2d(np.asarray(pi, float))
            if pi0.shape != (K2, Dd):
                raise MarketDataError("pi", f"expected a {K2}×{Dd} matrix (X2 × demographics "
                                      f"{', '.join(dn)}), got shape {pi0.shape}")
            n_nodes = agents.nodes.shape[2]
            if n_nodes < K2:
                cols = np.flatnonzero(np.any(sigma0 != 0, axis=0))
                if len(cols) > n_nodes:
                    raise MarketDataError("nodes", f"agent data has {n_nodes} nodes columns; Σ "
                                          f"has {len(cols)} nonzero columns")
                full = np.zeros((*agents.nodes.shape[:2], K2))
                full[:, :, cols] = agents.nodes[:, :, :len(cols)]
                self.agents = agents = Agents(full, agents.weights, agents.demographics,
                                              agents.demographics_names)
            for r, c in zip(*np.nonzero(np.tril(sigma0)), strict=True):
                self.locations.append(("sigma", r, c))
                self.labels.append(f"sigma[{x2n[r]},{x2n[c]}]" if r != c else f"sigma[{x2n[r]}]")
            for r, c in zip(*np.nonzero(pi0), strict=True):
                self.locations.append(("pi", r, c))
                self.labels.append(f"pi[{x2n[r]},{dn[c]}]")
            self.theta0 = [sigma0[r, c] if k == "sigma" else pi0[r, c]
                           for k, r, c in self.locations]
        else:
            self.theta0 = []
        self.nests = None
        if p.nesting_ids is not None:
            codes, uniq = pd.factorize(pd.Series(p.nesting_ids), sort=True)
            self.nests = codes
            H = len(uniq) if self.spec.rho_per_nest else 1
            rho0 = np.full(H, 0.7) if rho is None else np.broadcast_to(
                np.asarray(rho, float).ravel(), (H,)).copy()
            if np.any(rho0 < 0) or np.any(rho0 >= 1):
                raise MarketDataError("rho", f"nesting parameters must lie in [0, 1), got {rho0}")
            for h in range(H):
                self.locations.append(("rho", h, 0))
                self.labels.append(f"rho[{uniq[h]}]" if H > 1 else "rho")
            self.theta0 += list(rho0)
        elif rho is not None:
            raise MarketDataError("rho", "a nesting parameter needs a nesting column in the spec")
        # With supply the markups depend on the price coefficient: it joins θ (as in PyBLP).
        self.price_in_X1 = "prices" in p.X1_names
        self.price_in_X2 = "prices" in x2n
        if self.supply and not (self.price_in_X1 or self.price_in_X2):
            raise MarketDataError("linear", "supply needs prices in X1 or X2")
        if self.supply and p.nesting_ids is not None:
            raise MarketDataError("cost", "supply is implemented for logit and random coefficients")
        self.alpha_in_theta = self.supply and self.price_in_X1
        ip = p.X1_names.index("prices") if self.price_in_X1 else -1
        if self.alpha_in_theta:
            self.locations.append(("beta", ip, 0))
            self.labels.append("prices")
            self.theta0.append(0.0)  # replaced by the logit IV estimate at the start
        self.ip = ip
        self.elim = [k for k in range(p.X1.shape[1]) if not (self.alpha_in_theta and k == ip)]
        self.P = len(self.locations)
        self.costs_bounds = costs_bounds
        self.atol = atol
        self._compiled = None
        self._programs: dict = {}
        self._build_arrays()

    def program_key(self) -> dict:
        """What the problem's compiled programs compute besides their arguments' shapes: every
        array and setting they read (the data frame aside), so a later process with the same
        problem reads the programs back (:func:`estimation.compilation.traced_jit`)."""
        import dataclasses

        own = {k: v for k, v in vars(self).items()
               if k not in ("products", "agents", "_compiled", "_programs", "_key_text")}
        products = {f.name: getattr(self.products, f.name)
                    for f in dataclasses.fields(self.products) if f.name != "frame"}
        return {"problem": own, "products": products, "agents": self.agents}

    def program(self, name: str, make):
        """The kept program ``name`` of this problem, built once by ``make()`` (a function of
        arrays) and wrapped by :func:`~estimation.compilation.traced_jit`."""
        from estimation.compilation import traced_jit

        if name not in self._programs:
            self._programs[name] = traced_jit(make(), (name, self._key()))
        return self._programs[name]

    def _key(self):
        """:meth:`program_key` as its fingerprint, computed once for all of the problem's
        programs (hashing the data is tens of milliseconds; a problem keeps several programs);
        the key itself where it cannot be fingerprinted (its programs are then not kept)."""
        if "_key_text" not in vars(self):
            from estimation.compilation import fingerprint

            try:
                self._key_text = ("problem fingerprint", fingerprint(self.program_key()))
            except Exception:  # unkeyable: traced_jit finds that again and keeps nothing
                self._key_text = self.program_key()
        return self._key_text

    # ----- layout and θ ---------------------------------------------------------------------
    def _build_arrays(self) -> None:
        p, lay = self.products, self.layout
        self.mask = _put(lay.mask)
        self.log_s = _put(lay.pad(np.log(p.shares)))
        outside = 1.0 - np.bincount(lay.t, weights=p.shares)
        self.log_s0 = np.log(outside)
        self.logit_delta = _put(lay.pad(np.log(p.shares) - self.log_s0[lay.t]))
        self.prices_pad = _put(lay.pad(p.prices))
        self.shares_pad = _put(lay.pad(p.shares))
        firms = pd.factorize(pd.Series(p.firm_ids))[0]
        self.firms_pad = lay.pad(firms, fill=-1)
        if self.K2:
            self.X2_pad = _put(lay.pad(p.X2))
            self.nodes = _put(self.agents.nodes)
            self.weights = _put(self.agents.weights)
            self.demog = _put(self.agents.demographics)
            self.ip2 = p.X2_names.index("prices") if self.price_in_X2 else -1
        if self.nests is not None:
            codes = self.nests
            group_share = pd.Series(p.shares).groupby([lay.t, codes]).transform("sum").to_numpy()
            self.log_within = _put(np.log(p.shares / group_share))
            self.nests_pad = lay.pad(codes)
            self.n_nests = int(codes.max()) + 1
        if p.absorb_ids is not None:
            codes = pd.factorize(pd.Series(p.absorb_ids))[0]
            self.absorb_codes = _put(codes)
            self.absorb_counts = _put(np.bincount(codes).astype(float))
        N = p.N
        self.ZD = _put(p.ZD)
        X1e = p.X1[:, self.elim]
        self.X1e = _put(X1e)
        self.X1p = _put(p.X1[:, self.ip]) if self.price_in_X1 else None
        if self.supply:
            self.ZS = _put(p.ZS)
            self.X3 = _put(p.X3)
            MD, MS = p.ZD.shape[1], p.ZS.shape[1]
            K1, K3 = X1e.shape[1], p.X3.shape[1]
            ZX = np.zeros((MD + MS, K1 + K3))
            ZX[:MD, :K1] = p.ZD.T @ X1e / N
            ZX[MD:, K1:] = p.ZS.T @ p.X3 / N
            self.ZX = _put(ZX)
        else:
            self.ZX = _put(p.ZD.T @ X1e / N)
        M, K = self.ZX.shape
        if K + self.P > M:
            raise MarketDataError("demand_instruments", f"{K + self.P} parameters but only {M} "
                                  "moments: add instruments (the specification is not identified)")
        if K and np.linalg.matrix_rank(np.asarray(self.ZX)) < K:
            raise MarketDataError("linear", "X1/X3 are not identified by the instruments (Z'X "
                                  "has deficient rank): a column is collinear or absorbed")

    def unpack(self, theta):
        """(Σ, Π, ρ per product, α) from the θ vector."""
        sigma = jnp.zeros((self.K2, self.K2))
        pi = jnp.zeros((self.K2, self.Dd))
        rho = []
        alpha = None
        for i, (k, r, c) in enumerate(self.locations):
            if k == "sigma":
                sigma = sigma.at[r, c].set(theta[i])
            elif k == "pi":
                pi = pi.at[r, c].set(theta[i])
            elif k == "rho":
                rho.append(theta[i])
            else:
                alpha = theta[i]
        return sigma, pi, (jnp.stack(rho) if rho else None), alpha

    def unpack_numpy(self, theta) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(Σ, Π, ρ) of :meth:`unpack` in NumPy, for results: no device work (each ``.at[]``
        of :meth:`unpack` outside a compiled program is a small program of its own)."""
        theta = np.asarray(theta, float)
        sigma, pi = np.zeros((self.K2, self.K2)), np.zeros((self.K2, self.Dd))
        rho = []
        for i, (k, r, c) in enumerate(self.locations):
            if k == "sigma":
                sigma[r, c] = theta[i]
            elif k == "pi":
                pi[r, c] = theta[i]
            elif k == "rho":
                rho.append(theta[i])
        return sigma, pi, (np.asarray(rho) if rho else None)

    def alpha_of(self, theta, beta):
        """The linear price coefficient: from θ with supply, else from β (0 without prices)."""
        if not self.price_in_X1:
            return 0.0
        if self.alpha_in_theta:
            return theta[next(i for i, loc in enumerate(self.locations) if loc[0] == "beta")]
        return beta[self.ip]

    def mu(self, theta):
        """μ (T, J, I) for the random-coefficients model."""
        sigma, pi, _, _ = self.unpack(theta)
        coefs = jax.vmap(random_coefficients, in_axes=(None, None, 0, 0))(
            sigma, pi, self.nodes, self.demog)  # (T, K2, I)
        return jnp.einsum("tjk,tki->tji", self.X2_pad, coefs)

    def alpha_i(self, theta, alpha_linear):
        """Each agent's price sensitivity α + (Σ ν_i + Π D_i)_price: (T, I)."""
        if not self.K2:
            return jnp.full((self.layout.T, 1), alpha_linear)
        if not self.price_in_X2:
            return jnp.broadcast_to(alpha_linear, self.weights.shape)
        sigma, pi, _, _ = self.unpack(theta)
        coefs = jax.vmap(random_coefficients, in_axes=(None, None, 0, 0))(
            sigma, pi, self.nodes, self.demog)
        return alpha_linear + coefs[:, self.ip2, :]

    def agent_terms(self, theta):
        """(μ (T, J, I), weights (T, I)) for the mixed-logit family (logit: one agent, μ = 0)."""
        if self.K2:
            return self.mu(theta), self.weights
        T, J = self.layout.T, self.layout.J
        return jnp.zeros((T, J, 1)), jnp.ones((T, 1))

    # ----- δ(θ) ------------------------------------------------------------------------------
    def delta(self, theta, delta0, max_iterations=5000):
        """δ(θ) padded (T, J) with exact θ-derivatives, and (iterations, converged) per market."""
        T = self.layout.T
        if self.K2:
            mu = jax.lax.stop_gradient(self.mu(theta))
            d, it, conv = solve_delta(jax.lax.stop_gradient(delta0), self.log_s, mu, self.weights,
                                      self.mask, self.atol, max_iterations)
            d = implicit_delta(self.mu, theta, jax.lax.stop_gradient(d), self.weights, self.mask)
            return d, it, conv
        ones = jnp.ones(T, dtype=bool)
        zeros = jnp.zeros(T, dtype=int)
        if self.nests is not None:
            _, _, rho, _ = self.unpack(theta)
            rho_j = rho[self.nests] if rho.shape[0] > 1 else jnp.full(self.products.N, rho[0])
            d_long = self.layout.unpad(self.logit_delta) - rho_j * self.log_within
            return self._pad_jax(d_long), zeros, ones
        return self.logit_delta, zeros, ones

    def _pad_jax(self, x_long):
        lay = self.layout
        return jnp.zeros((lay.T, lay.J)).at[lay.t, lay.j].set(x_long)

    def absorb(self, x):
        if self.products.absorb_ids is None:
            return x
        means = jax.ops.segment_sum(x, self.absorb_codes,
                                    num_segments=self.absorb_counts.shape[0]) / self.absorb_counts
        return x - means[self.absorb_codes]

    # ----- supply ----------------------------------------------------------------------------
    def markups(self, theta, delta_pad, alpha_linear):
        """Bertrand–Nash markups η = −(O ∘ (∂s/∂p')')⁻¹ s per market, long (N,)."""
        from structural.market.supply import mixed_logit_markups

        mu, w = self.agent_terms(theta)
        a_i = self.alpha_i(theta, alpha_linear)
        eta = mixed_logit_markups(delta_pad, mu, w, a_i, self.mask, jnp.asarray(self.firms_pad))
        return self.layout.unpad(eta)

    def tilde_costs(self, theta, delta_pad, alpha_linear):
        c = jnp.asarray(self.products.prices) - self.markups(theta, delta_pad, alpha_linear)
        if self.costs_bounds is not None:
            lo, hi = self.costs_bounds
            c = jnp.clip(c, lo if lo is not None else -jnp.inf, hi if hi is not None else jnp.inf)
        return (jnp.log(c) if self.spec.costs_type == "log" else c), c

    # ----- GMM -------------------------------------------------------------------------------
    def raw_residuals(self, theta, delta0):
        """(y_D, y_S): δ(θ) − α p (before concentrating β) and f(c(θ)); the inversion report."""
        d_pad, it, conv = self.delta(theta, delta0)
        d = self.layout.unpad(d_pad)
        _, _, _, alpha = self.unpack(theta)
        yd = d - (alpha * self.X1p if self.alpha_in_theta else 0.0)
        ys = None
        if self.supply:
            ys, _ = self.tilde_costs(theta, d_pad, alpha if self.alpha_in_theta else 0.0)
        return yd, ys, d_pad, it, conv

    def moment_means(self, theta, delta0, W):
        """ḡ(θ) with (β, γ) concentrated out at W, the raw residuals (y_D, y_S) and the aux
        (δ padded, iterations, converged, b, ξ, ω) of :meth:`objective_parts`."""
        N = self.products.N
        yd, ys, d_pad, it, conv = self.raw_residuals(theta, delta0)
        yd_raw = yd
        yd = self.absorb(yd)
        Zy = self.ZD.T @ yd / N
        if self.supply:
            Zy = jnp.concatenate([Zy, self.ZS.T @ ys / N])
        b = gmm.linear_gmm(self.ZX, Zy, W) if self.ZX.shape[1] else jnp.zeros(0)
        gbar = Zy - self.ZX @ b
        K1 = self.X1e.shape[1]
        xi = yd - self.X1e @ b[:K1]
        omega = ys - self.X3 @ b[K1:] if self.supply else None
        return gbar, (yd_raw, ys), (d_pad, it, conv, b, xi, omega)

    def objective_parts(self, theta, delta0, W):
        """q(θ) = N ḡ'Wḡ (the module's equation) and the aux of :meth:`moment_means`."""
        gbar, _, aux = self.moment_means(theta, delta0, W)
        return self.products.N * gbar @ W @ gbar, aux

    def moment_residuals(self, theta, delta0, W, L):
        """r(θ) = √N L'ḡ(θ) for W = LL': q(θ) = r'r, GMM as nonlinear least squares.

        Returns ``((r, y_D, y_S), aux)``: the raw residuals ride along so that one forward-mode
        Jacobian gives both ∂r/∂θ' and the δ and cost Jacobians of the standard errors.
        """
        gbar, (yd, ys), aux = self.moment_means(theta, delta0, W)
        return (jnp.sqrt(float(self.products.N)) * (L.T @ gbar), yd, ys), aux

    def initial_W(self) -> np.ndarray:
        p, N = self.products, self.products.N
        blocks = [p.ZD.T @ p.ZD / N] + ([p.ZS.T @ p.ZS / N] if self.supply else [])
        S = np.zeros((sum(b.shape[0] for b in blocks),) * 2)
        i = 0
        for b in blocks:
            S[i:i + len(b), i:i + len(b)] = b
            i += len(b)
        return gmm.weights(S, "the 2SLS weighting matrix (instruments)")

    def moments(self, xi, omega) -> np.ndarray:
        g = np.asarray(xi)[:, None] * self.products.ZD
        if self.supply:
            g = np.hstack([g, np.asarray(omega)[:, None] * self.products.ZS])
        return g


def estimate_demand(products: Products, agents: Agents | None = None, *, sigma=None, pi=None,
                    rho=None, method: str = "2s", optimizer: str | None = None,
                    optimizer_options: dict | None = None, W_type: str = "robust",
                    se_type: str = "robust", initial_update: bool = False,
                    costs_bounds: tuple | None = None, sigma_bounds=None,
                    atol: float = 1e-13, problem: Problem | None = None) -> DemandResults:
    """Estimate demand (and supply, when the spec has a cost formula) by GMM.

    Parameters
    ----------
    products, agents
        Data (agents only for random coefficients).
    sigma, pi, rho
        Starting values; nonzero entries of Σ and Π are estimated (PyBLP's convention).
    method : {"1s", "2s"}
        One-step GMM with W = (Z'Z/N)⁻¹, or two-step with W = S⁻¹ from the first step.
    optimizer : {"bfgs", "l-bfgs-b", "least-squares"}, optional
        SciPy routine on the exact gradient; default L-BFGS-B with ``{"ftol": LBFGSB_FTOL,
        "gtol": 1e-8}`` and bounds σ_kk ≥ 0, ρ ∈ [0, 0.99] (PyBLP's defaults but for ftol,
        which is 0 there; an ftol stop with progress still predicted goes on with ftol 0), run
        on θ scaled by its starting values' sizes (same minimum, fewer evaluations); BFGS
        (``{"gtol": 1e-5}``) is unbounded and unscaled, PyBLP's path. ``"least-squares"``
        writes q as a sum of squares (Hansen 1982; Nocedal and Wright 2006, Chapter 10),

            q(θ) = r(θ)'r(θ),   r(θ) = √N L'ḡ(θ),   W = LL' (Cholesky),

        and minimises it by SciPy's trust-region reflective ``least_squares`` (Branch, Coleman
        and Li 1999) on the exact Jacobian ∂r/∂θ' (forward mode through the implicit
        derivatives of δ and of the markups), with the same bounds and
        :data:`LEAST_SQUARES_OPTIONS`. Its Gauss–Newton model 2 J'J of q's Hessian drops
        Σ_m r_m ∇²r_m, which is small where the moments fit (Nevo's cereal data, q ≈ 4.6: 13-15
        evaluations where BFGS takes 67 and L-BFGS-B over 200) and large where they do not (BLP's
        automobiles, q ≈ 497: 70 evaluations for the first GMM step and over 200 for the
        second, against about 28 each for L-BFGS-B).
        A stop is accepted only where a Gauss–Newton step promises no more
        (:data:`LEAST_SQUARES_DECREMENT`); where clipped costs (``costs_bounds``) put kinks in q,
        L-BFGS-B is the safer choice.
    optimizer_options : dict, optional
        SciPy options merged over the defaults above (the caller's keys win); ``{"ftol": 0}``
        restores PyBLP's rule, and a caller's own ftol is obeyed as it stands. For
        ``"least-squares"`` only ``ftol``, ``xtol``, ``gtol``, ``x_scale`` and ``max_nfev``
        (a budget per GMM step).
    sigma_bounds : optional
        Any value other than None lifts the bounds σ_kk ≥ 0 (PyBLP's unbounded Σ diagonal).
    W_type, se_type : {"robust", "clustered"}
        Moment covariance used for the updated weighting matrix and for the SEs (clustered on the
        ``clustering_ids`` column).
    initial_update : bool
        Replace the starting W by S⁻¹ evaluated at the starting values before step one.
    costs_bounds : (low, high), optional
        Clip marginal costs into this range before f (PyBLP's ``costs_bounds``).
    atol : float
        Share-inversion tolerance per market.
    problem : Problem, optional
        A problem built before (with its starting values); its compiled objective is reused, so
        a second estimation skips compilation.

    Returns
    -------
    DemandResults

    Raises
    ------
    MarketDataError
        Bad starting values, optimizer or optimizer options, or an unidentified specification.

    Examples
    --------
    Nevo's cereal data, plain logit with product fixed effects (PyBLP's tutorial
    reports -30.0471 with SE 1.0086):

    >>> import pandas as pd
    >>> import pyblp.data
    >>> from structural.market import DemandSpec, build_products, estimate_demand
    >>> df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    >>> logit = estimate_demand(build_products(df, DemandSpec("prices", absorb="product_ids")))
    >>> round(float(logit.params["prices"]), 4), round(float(logit.bse["prices"]), 4)
    (-30.0471, 1.0086)
    """
    t0 = time.perf_counter()
    _check_options(products, method, W_type, se_type)
    prob = problem or Problem(products, agents, sigma=sigma, pi=pi, rho=rho,
                              costs_bounds=costs_bounds, atol=atol)
    clusters_W = products.clustering_ids if W_type == "clustered" else None
    clusters_se = products.clustering_ids if se_type == "clustered" else None
    theta = np.asarray(prob.theta0, float)
    W = prob.initial_W()
    if prob.alpha_in_theta:  # start the price coefficient at the demand-only IV estimate
        theta[-1] = _logit_alpha(prob)
    optimizer, opts = _optimizer_options(optimizer, optimizer_options)
    if prob._compiled is None and (initial_update or optimizer != "least-squares" or not prob.P):
        prob._compiled = prob.program("demand objective", lambda: jax.value_and_grad(
            prob.objective_parts, has_aux=True))
    if initial_update:
        (_, aux), _ = prob._compiled(_put(theta), prob.logit_delta, _put(W))
        W = _updated_W(prob, aux, clusters_W, "moment covariances at the starting values")
    # nothing to minimise (P = 0): the plain evaluation of _gmm_steps, whatever the optimizer
    steps_of = _least_squares_steps if optimizer == "least-squares" and prob.P else _gmm_steps
    fit = steps_of(prob, theta, W, 1 if method == "1s" else 2, optimizer, opts,
                   _bounds(prob, theta, sigma_bounds), clusters_W)
    return _results(prob, fit, clusters_se, t0)


def _check_options(products: Products, method: str, W_type: str, se_type: str) -> None:
    if method not in ("1s", "2s"):
        raise MarketDataError("method", f"expected '1s' or '2s', got {method!r}")
    for name, val in (("W_type", W_type), ("se_type", se_type)):
        if val not in ("robust", "clustered"):
            raise MarketDataError(name, f"expected 'robust' or 'clustered', got {val!r}")
        if val == "clustered" and products.clustering_ids is None:
            raise MarketDataError("clustering_ids", f"{name}='clustered' needs this column")


def _optimizer_options(optimizer: str | None, optimizer_options: dict | None):
    """The SciPy routine and its options: PyBLP's defaults but ftol, unless the caller overrides
    them."""
    if optimizer is None:
        optimizer = "l-bfgs-b"
    if optimizer not in ("bfgs", "l-bfgs-b", "least-squares"):
        raise MarketDataError("optimizer", "expected 'bfgs', 'l-bfgs-b' or 'least-squares', "
                              f"got {optimizer!r}")
    if optimizer == "least-squares":
        return optimizer, _least_squares_options(optimizer_options)
    opts = {"gtol": 1e-5} if optimizer == "bfgs" else {"ftol": LBFGSB_FTOL, "gtol": 1e-8}
    opts.update(optimizer_options or {})
    return optimizer, opts


def _least_squares_options(optimizer_options: dict | None) -> dict:
    """:data:`LEAST_SQUARES_OPTIONS` with the caller's keys over them, each checked here (SciPy
    would fail deep inside the first GMM step, or warn and change the value)."""
    opts = {**LEAST_SQUARES_OPTIONS, **(optimizer_options or {})}
    for key, val in opts.items():
        if key not in LEAST_SQUARES_OPTIONS:
            raise MarketDataError("optimizer_options", f"{key!r} is not an option of the "
                                  f"least-squares optimizer ({', '.join(LEAST_SQUARES_OPTIONS)})")
        if key == "max_nfev":
            if val is not None and (isinstance(val, bool) or not isinstance(val, int | np.integer)
                                    or val < 1):
                raise MarketDataError("optimizer_options", "max_nfev must be a positive integer "
                                      f"or None, got {val!r}")
        elif key == "x_scale":
            if not (isinstance(val, str) and val == "jac"):
                raise MarketDataError("optimizer_options", f"x_scale must be 'jac', got {val!r}")
        elif val is not None and (isinstance(val, bool) or not isinstance(val, numbers.Real)
                                  or not np.isfinite(val) or val < 0
                                  or 0 < val < np.finfo(float).eps):
            # SciPy warns and raises a tolerance under machine epsilon to it
            raise MarketDataError("optimizer_options", f"{key} must be 0, None or a finite number "
                                  f"≥ machine epsilon, got {val!r}")
    if all((opts[k] or 0.0) < np.finfo(float).eps for k in ("ftol", "xtol", "gtol")):
        raise MarketDataError("optimizer_options", "at least one of ftol, xtol and gtol must be "
                              "at least machine epsilon (otherwise nothing ends a GMM step)")
    return opts


@dataclass
class _Fit:
    """Where the GMM steps ended: θ, W, the objective's value, aux and gradient there."""

    theta: np.ndarray
    W: np.ndarray
    q: float
    aux: tuple
    grad: np.ndarray
    steps: int
    iterations: int
    evaluations: int
    converged: bool
    notes: list[str]
    jacobians: tuple | None = None  # (∂y_D/∂θ', ∂y_S/∂θ') at θ where an optimizer had them


def _gmm_steps(prob: Problem, theta, W, steps: int, optimizer: str, opts: dict, bounds,
               clusters_W) -> _Fit:
    """Minimise q(θ) once per GMM step, updating W = S⁻¹ between steps.

    L-BFGS-B works on θ/s with s = |θ₀| (1 where θ₀ = 0): its first step and the first
    Hessian approximation are the identity, which in θ's own units sends a trial point as
    far as the gradient's size, whatever the parameters' scales (BLP's Π ≈ −45 beside
    σ ≈ 0.3–6 drove its line search into q ≈ 2·10⁴ six times). Scaling changes the path only:
    L-BFGS-B's tolerances take it to the same minimum. BFGS keeps PyBLP's unscaled path,
    because with PyBLP's gtol = 1e-5 where it stops depends on the path (Nevo's tutorial).
    """
    vg = prob._compiled
    # committed to the device as the δ the objective returns is, so that the first call and
    # the warm-started ones are one program, not two lowerings of it
    delta_state = {"d": jax.device_put(prob.logit_delta, jax.devices()[0])}
    counts = {"evals": 0, "iters": 0}
    scale = (np.where(theta != 0, np.abs(theta), 1.0) if optimizer == "l-bfgs-b"
             else np.ones_like(theta))
    last: dict = {}  # the latest evaluation: where the optimizer stops, as a rule

    def evaluate(th, W_):
        at = (th.tobytes(), np.asarray(W_).tobytes())
        if last.get("at") == at:
            return last["out"]
        out = vg(_put(th), delta_state["d"], _put(W_))
        last.update(at=at, out=out)
        return out

    def fun(x, W_):
        (q, aux), g = evaluate(x * scale, W_)
        counts["evals"] += 1
        d_pad, _, conv = aux[0], aux[1], aux[2]
        if bool(np.all(np.asarray(conv))) and np.isfinite(float(q)):
            delta_state["d"] = d_pad  # warm start the next inversion, as PyBLP does
        qf = float(q)
        if not np.isfinite(qf):
            return 1e10, np.zeros_like(x)
        return qf, np.asarray(g) * scale

    scaled_bounds = [tuple(None if v is None else v / s for v in b)
                     for b, s in zip(bounds, scale, strict=True)]
    converged = True
    notes: list[str] = []
    import scipy.optimize  # imported on use: with scipy.stats, most of a second of start-up

    for step in range(steps):
        if prob.P:
            res = scipy.optimize.minimize(
                fun, theta / scale, args=(W,), jac=True, method=optimizer.upper(),
                bounds=scaled_bounds if optimizer == "l-bfgs-b" else None, options=opts)
            if _stopped_early(res, scaled_bounds, opts):
                # ftol ended the step with progress still predicted: on as PyBLP would (ftol 0)
                counts["iters"] += int(res.nit)
                res = scipy.optimize.minimize(
                    fun, res.x, args=(W,), jac=True, method="L-BFGS-B", bounds=scaled_bounds,
                    options={**opts, "ftol": 0.0})
            theta = np.asarray(res.x, float) * scale
            counts["iters"] += int(res.nit)
            if not res.success:
                converged = False
                notes.append(f"step {step + 1}: optimizer stopped: {res.message}")
        # q, δ and the gradient at the optimizer's θ: its last evaluation, not a second one
        (q, aux), grad = evaluate(theta, W)
        if step + 1 < steps:
            W = _updated_W(prob, aux, clusters_W, f"moment covariances after step {step + 1}")
    return _Fit(theta, np.asarray(W), float(q), aux, np.asarray(grad), steps, counts["iters"],
                counts["evals"], converged, notes)


def _least_squares_steps(prob: Problem, theta, W, steps: int, optimizer: str, opts: dict,
                         bounds, clusters_W) -> _Fit:
    """Minimise q(θ) = r(θ)'r(θ), r = √N L'ḡ(θ) and W = LL', once per GMM step by SciPy's
    trust-region reflective least squares (``least_squares(method="trf")``), with the exact
    Jacobian ∂r/∂θ' from one forward-mode program (:meth:`Problem.moment_residuals`).

    Every evaluation gives r and its Jacobian together (forward mode through the implicit
    derivatives of δ and of the markups: one factorisation per market serves all P tangents),
    so SciPy's separate calls for r and for ∂r/∂θ' at one θ cost one program call. δ is warm
    started from the latest converged inversion, as in :func:`_gmm_steps`.
    """
    import scipy.optimize  # imported on use: with scipy.stats, most of a second of start-up

    program = prob.program("demand moment residuals", lambda: _residuals_and_jacobians(prob))
    delta_state = {"d": jax.device_put(prob.logit_delta, jax.devices()[0])}
    counts = {"evals": 0, "iters": 0}
    seen: dict = {}  # evaluations by (θ, W): SciPy asks for r and then J at the same θ

    def evaluate(th, W_, L):
        at = (np.asarray(th, float).tobytes(), W_.tobytes())
        if at not in seen:
            out = program(_put(np.asarray(th, float)), delta_state["d"], _put(W_), _put(L))
            counts["evals"] += 1
            r, conv = np.asarray(out[0]), np.asarray(out[4][2])
            if bool(np.all(conv)) and np.all(np.isfinite(r)):
                delta_state["d"] = out[4][0]  # warm start the next inversion, as PyBLP does
            if len(seen) > 4:
                seen.clear()
            seen[at] = (r, np.asarray(out[1]), out)
        return seen[at]

    lb, ub = _bound_arrays(bounds)
    converged, notes = True, []
    for step in range(steps):
        L = np.linalg.cholesky(W)
        if not np.all(np.isfinite(evaluate(theta, W, L)[0])):  # SciPy would raise ValueError
            converged = False
            notes.append(f"step {step + 1}: the moments are not finite at its starting θ")
            r, J, out = evaluate(theta, W, L)
            aux = out[4]
            break  # no W can be computed from them for a next step
        else:
            res = scipy.optimize.least_squares(
                lambda th, W_=W, L_=L: evaluate(th, W_, L_)[0], theta,
                jac=lambda th, *_, W_=W, L_=L: evaluate(th, W_, L_)[1], bounds=(lb, ub),
                method="trf", **opts)
            theta = np.asarray(res.x, float)
            # trf keeps iterates strictly inside the bounds: a bound it holds is the estimate
            # (σ = 0 exactly, as L-BFGS-B returns it, not 1e-16 that later steps would free)
            theta = np.where(res.active_mask == -1, lb, np.where(res.active_mask == 1, ub, theta))
            counts["iters"] += int(res.njev) - 1  # accepted steps: J once at the start
            r, J, out = evaluate(theta, W, L)
            g = J.T @ r  # ½ ∇q: a bound holds only where the gradient pushes θ against it
            held = ((res.active_mask == -1) & (g > 0)) | ((res.active_mask == 1) & (g < 0))
            promised = _gauss_newton_decrement(r, J, held)
            if not res.success:
                converged = False
                notes.append(f"step {step + 1}: optimizer stopped: {res.message}")
            elif promised > LEAST_SQUARES_DECREMENT * max(float(r @ r), 1.0):
                converged = False
                notes.append(f"step {step + 1}: optimizer stopped ({res.message}) where a "
                             f"Gauss–Newton step still promises q {promised:.3g} lower")
        r, J, out = evaluate(theta, W, L)
        aux = out[4]
        if step + 1 < steps:
            W = _updated_W(prob, aux, clusters_W, f"moment covariances after step {step + 1}")
    return _Fit(theta, np.asarray(W), float(r @ r), aux, 2.0 * J.T @ r, steps, counts["iters"],
                counts["evals"], converged, notes, (out[2], out[3]))


def _bound_arrays(bounds) -> tuple[np.ndarray, np.ndarray]:
    """SciPy-style ``[(lo, hi), ...]`` bounds (None: unbounded) as arrays of lower and upper
    bounds with ∓inf."""
    return (np.array([-np.inf if b[0] is None else b[0] for b in bounds], float),
            np.array([np.inf if b[1] is None else b[1] for b in bounds], float))


def _updated_W(prob: Problem, aux, clusters, what: str) -> np.ndarray:
    """W = S⁻¹ from the moment covariances at an evaluation's (ξ, ω) (``aux[4]``, ``aux[5]``)."""
    return gmm.weights(gmm.moment_covariances(prob.moments(aux[4], aux[5]), clusters), what)


def _gauss_newton_decrement(r, J, held) -> float:
    """The fall in q = r'r that a full Gauss–Newton step promises with the bounds that hold
    (``held``: a bound SciPy finds active with the gradient pushing θ against it) kept:

        Δq = (J_F'r)' (J_F'J_F)⁺ (J_F'r) = ‖P_F r‖²,

    J_F the columns of ∂r/∂θ' of the free parameters and P_F the projection onto their span
    (½ ∇q' H⁻¹ ∇q with the Gauss–Newton Hessian H = 2 J_F'J_F, the Newton decrement)."""
    JF = J[:, ~np.asarray(held, bool)]
    step = np.linalg.lstsq(JF, r, rcond=None)[0]
    return float(np.sum((JF @ step) ** 2))


def _residuals_and_jacobians(prob: Problem):
    """(r, ∂r/∂θ', ∂y_D/∂θ', ∂y_S/∂θ', aux) at (θ, δ₀, W, L): :meth:`Problem.moment_residuals`
    and its forward-mode Jacobian, one program."""
    def both(theta, delta0, W, L):
        jac, ((r, _, _), aux) = jax.jacfwd(
            lambda th: _with_value(prob.moment_residuals(th, delta0, W, L)), has_aux=True)(theta)
        return r, jac[0], jac[1], jac[2], aux
    return both


def _with_value(out):
    """``(f, aux)`` → ``(f, (f, aux))``: jacfwd's aux then carries the value too."""
    return out[0], out


def _stopped_early(res, bounds, opts: dict) -> bool:
    """Whether L-BFGS-B's ftol rule, at the default :data:`LBFGSB_FTOL`, ended a step that its
    own quadratic model says is not over.

    The rule stops once an iteration lowers q by at most ftol·max(|q|, 1), however large the
    gradient (a shifted Rosenbrock stops with gradients of 1e-4 to 6e-3). The step is accepted
    only if the Newton decrement of the projected gradient g_P (zero where a bound holds θ),
    with L-BFGS-B's inverse-Hessian approximation H⁻¹, promises no more either:

        ½ g_P' H⁻¹ g_P ≤ ftol · max(|q|, 1).

    BLP 1995's second step stops at 3.3e-13 relative (accepted), its first at 3.4e-12 and the
    premature Rosenbrock stops at 9e-12 to 7e-11 (continued). A caller's own ftol is obeyed.
    """
    ftol = opts.get("ftol")
    stop = str(res.message).replace("_", " ")  # SciPy spells it both ways across versions
    if ftol != LBFGSB_FTOL or not res.success or "REDUCTION OF F" not in stop:
        return False
    x, g = np.asarray(res.x, float), np.asarray(res.jac, float)
    lo, hi = _bound_arrays(bounds)
    gp = x - np.clip(x - g, lo, hi)
    decrement = 0.5 * float(gp @ res.hess_inv.matvec(gp))
    return not decrement <= ftol * max(abs(float(res.fun)), 1.0)


def _results(prob: Problem, fit: _Fit, clusters_se, t0: float) -> DemandResults:
    """Standard errors (PyBLP's sandwich, G with the raw δ Jacobian), tables and the report."""
    products, N = prob.products, prob.products.N
    theta, W = fit.theta, fit.W
    d_pad, it, conv, b, xi, omega = fit.aux
    K1 = prob.X1e.shape[1]
    K3 = prob.X3.shape[1] if prob.supply else 0
    if fit.jacobians is not None:  # the optimizer's last evaluation had them
        jac_d, jac_s = fit.jacobians
    elif prob.P:
        # compiled, not op by op: the eager Jacobian dispatched thousands of small programs
        jac = prob.program("demand residual jacobian", lambda: jax.jacfwd(
            lambda th, d0: prob.raw_residuals(th, d0)[:2]))
        jac_d, jac_s = jac(_put(theta), d_pad)
    else:
        jac_d, jac_s = np.zeros((N, 0)), (np.zeros((N, 0)) if prob.supply else None)
    Gd = np.hstack([np.asarray(jac_d), -np.asarray(prob.X1e), np.zeros((N, K3))])
    G = products.ZD.T @ Gd / N
    if prob.supply:
        Gs = np.hstack([np.asarray(jac_s), np.zeros((N, K1)), -np.asarray(prob.X3)])
        G = np.vstack([G, products.ZS.T @ Gs / N])
    S = gmm.moment_covariances(prob.moments(xi, omega), clusters_se)
    V = gmm.sandwich(G, W, S, N)
    b = np.asarray(b)
    beta = np.zeros(products.X1.shape[1])
    beta[prob.elim] = b[:K1]
    if prob.alpha_in_theta:
        beta[prob.ip] = theta[-1]
    names = (prob.labels + [products.X1_names[k] for k in prob.elim]
             + [f"gamma[{n}]" for n in products.X3_names])
    report = pd.DataFrame({"market": prob.layout.market_ids, "iterations": np.asarray(it),
                           "converged": np.asarray(conv)})
    converged, notes = fit.converged, list(fit.notes)
    if not bool(np.all(np.asarray(conv))):
        converged = False
        notes.append(f"share inversion failed in {int((~np.asarray(conv)).sum())} markets")
    costs = None
    if prob.supply:
        # one kept program, not the markups op by op
        costs_at = prob.program("demand costs", lambda: lambda th, d: prob.tilde_costs(
            th, d, th[-1] if prob.alpha_in_theta else 0.0)[1])
        costs = np.asarray(costs_at(_put(theta), d_pad))
    if not converged:
        warnings.warn("; ".join(notes), NotConvergedWarning, stacklevel=3)
    return DemandResults(
        problem=prob, theta=theta, beta=beta, gamma=b[K1:],
        params=pd.Series(np.concatenate([theta, b]), index=names),
        bse=pd.Series(np.sqrt(np.maximum(np.diag(V), 0.0)), index=names),
        covariance=pd.DataFrame(V, index=names, columns=names), objective=fit.q,
        gradient=fit.grad, W=W, delta=prob.layout.unpad(np.asarray(d_pad)),
        xi=np.asarray(xi), omega=None if omega is None else np.asarray(omega), costs=costs,
        inversion=report, converged=converged, steps=fit.steps,
        optimizer_iterations=fit.iterations, evaluations=fit.evaluations,
        seconds=time.perf_counter() - t0, notes=notes)


def _bounds(prob: Problem, theta: np.ndarray, sigma_bounds) -> list[tuple]:
    out = []
    for (k, r, c), v in zip(prob.locations, theta, strict=True):
        if k == "sigma" and r == c and sigma_bounds is None:
            out.append((min(0.0, v), None))
        elif k == "rho":
            out.append((min(0.0, v), max(0.99, v)))
        else:
            out.append((None, None))
    return out


def _logit_alpha(prob: Problem) -> float:
    """The price coefficient of the demand-only linear IV at δ = logit δ (a starting value)."""
    p = prob.products
    y = np.log(p.shares) - prob.log_s0[prob.layout.t]
    if p.absorb_ids is not None:  # Problem.absorb in NumPy: no device work for a start value
        codes = np.asarray(prob.absorb_codes)
        y = y - (np.bincount(codes, weights=y) / np.asarray(prob.absorb_counts))[codes]
    Z = p.ZD
    W = np.linalg.pinv(Z.T @ Z)
    X = p.X1
    A = X.T @ Z @ W
    try:
        b = np.linalg.solve(A @ Z.T @ X, A @ Z.T @ y)
    except np.linalg.LinAlgError:
        raise SpecificationError("X1 is not identified by the demand instruments") from None
    return float(b[prob.ip])
