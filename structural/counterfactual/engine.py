"""The counterfactual engine: every hypothesis solved over (draws × prices × Q) in one batch.

For an investment hypothesis h (some levers free, the rest fixed) the firm's problem is

    C_h(Q; θ, p) = min_z  F(z; p) + Q·v(z; p)   subject to   g(z; θ) ≥ 0,

(Sardana & Frankle 2023, arXiv:2401.00448, eq. 3, generalised to the pipeline levers of the design).
One free lever *binds* the constraint (solved in closed form where the technology has one, by
bisection otherwise); the others are optimised by bisection on the total derivative

    dC/du_i = ∂F/∂u_i + ∂F/∂w · dw/du_i,     dw/du_i = −(∂g/∂u_i)/(∂g/∂w)

in log levers u and the binding lever w (implicit-function theorem, derivatives by ``jax.grad``).
Bisection needs only that the cost be unimodal along each lever on its feasible range, which holds
for these power-law technologies, and cannot fail halfway through a batch: every point returns a
status (0 binding, 1 target met with the binding lever at its lower bound, 2 unreachable within the
lever bounds). With two optimised levers the outer bisection uses the envelope theorem on the
inner optimum. Everything is ``jit``-compiled and ``vmap``-ped over the flattened
draws × prices × Q grid: there is no Python loop over scenarios or draws.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from structural.counterfactual.model import FIXED_STAGES, _bisect

Array = Any

#: Which free lever binds the target, in order of preference (closed forms first).
BIND_PRIORITY = {"pipeline": ("D", "c", "DF", "k", "N"), "tradeoff": ("I", "T")}
ITERATIONS = 64  # bisection halvings: a log-range of 60 shrinks below 1e-17


class HypothesisError(ValueError):
    """A hypothesis that the engine cannot solve (named, with what was expected)."""


@dataclass(frozen=True)
class Hypothesis:
    """An investment hypothesis: the firm's problem with some levers free.

    Attributes
    ----------
    name : str
        Label used in every table and plot.
    free : tuple of str
        Levers chosen by the firm (one to three of the technology's levers).
    fixed : dict
        Values of the levers that are not free.
    charge_pretraining : bool
        Whether the pretraining and data cost of the (base) model is counted; False for a base
        model that is bought in or open weights.
    bounds : dict
        Per-lever (low, high) overriding the technology's defaults.
    description : str
        One sentence for the report.
    """

    name: str
    free: tuple[str, ...]
    fixed: Mapping[str, float] = field(default_factory=dict)
    charge_pretraining: bool = True
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    description: str = ""


def _plan(tech, hyp: Hypothesis) -> tuple[str, list[str], dict[str, tuple[float, float]]]:
    free = list(hyp.free)
    unknown = [lv for lv in free if lv not in tech.levers]
    if unknown:
        raise HypothesisError(f"hypotheses.{hyp.name}.free: unknown lever {unknown[0]!r}; "
                              f"expected some of {', '.join(tech.levers)}")
    if not 1 <= len(free) <= 3:
        raise HypothesisError(f"hypotheses.{hyp.name}.free: expected 1 to 3 free levers, "
                              f"got {len(free)}")
    missing = [lv for lv in tech.levers if lv not in free and lv not in hyp.fixed]
    if missing:
        raise HypothesisError(f"hypotheses.{hyp.name}: lever {missing[0]!r} is neither free nor "
                              "fixed")
    bind = next(lv for lv in BIND_PRIORITY[tech.name] if lv in free)
    opt = [lv for lv in free if lv != bind]
    bounds = {}
    for lv in free:
        lo, hi = hyp.bounds.get(lv, tech.bounds[lv])
        if not 0 < lo < hi:
            raise HypothesisError(f"hypotheses.{hyp.name}.bounds.{lv}: expected 0 < low < high, "
                                  f"got ({lo}, {hi})")
        bounds[lv] = (float(np.log(lo)), float(np.log(hi)))
    return bind, opt, bounds


def make_solver(tech, hyp: Hypothesis) -> Callable[[dict, dict, Array], dict]:
    """The solver of one hypothesis at one point: ``solve(theta, prices, Q) -> dict`` of scalars
    (levers, cost by stage, ``fixed``, ``variable``, ``total``, ``status``). Pure JAX: vmap it."""
    bind, opt, bounds = _plan(tech, hyp)
    fixed = {k: float(v) for k, v in hyp.fixed.items() if k in tech.levers}
    charge = bool(hyp.charge_pretraining)
    blo, bhi = bounds[bind]

    def assemble(u: Array, w: Array) -> dict:
        z = {k: jnp.asarray(v, jnp.float64) for k, v in fixed.items()}
        for i, lv in enumerate(opt):
            z[lv] = jnp.exp(u[i])
        z[bind] = jnp.exp(w)
        return z

    def total(u, w, th, pr, Q):
        parts = tech.cost_parts(assemble(u, w), th, pr, charge)
        return sum(v if k in FIXED_STAGES else Q * v for k, v in parts.items())

    def margin(u, w, th):
        return tech.margin(assemble(u, w), th)

    def bind_solve(u, th):
        y = tech.bind(bind, assemble(u, jnp.asarray(blo)), th)
        if y is None:
            g_hi = margin(u, jnp.asarray(bhi), th)
            g_lo = margin(u, jnp.asarray(blo), th)
            w = _bisect(lambda t: margin(u, t, th), jnp.asarray(blo), jnp.asarray(bhi), ITERATIONS)
            w = jnp.where(g_lo >= 0, blo - 1.0, jnp.where(g_hi < 0, bhi + 1.0, w))
        else:
            w = jnp.where(y > 0, jnp.log(jnp.where(y > 0, y, 1.0)), -jnp.inf)
            w = jnp.where(jnp.isnan(w), jnp.inf, w)
        status = jnp.where(w > bhi, 2, jnp.where(w < blo, 1, 0))
        return jnp.clip(w, blo, bhi), status

    grad_f = jax.grad(total, argnums=(0, 1))
    grad_g = jax.grad(margin, argnums=(0, 1))

    def dcost(u, i, th, pr, Q):
        """Total derivative of cost along optimised lever i, −1 where the target is out of reach
        (more of any lever raises quality, so the search moves up)."""
        w, status = bind_solve(u, th)
        fu, fw = grad_f(u, w, th, pr, Q)
        gu, gw = grad_g(u, w, th)
        implicit = jnp.where(status == 0, -gu[i] / jnp.where(gw == 0, 1.0, gw), 0.0)
        d = fu[i] + fw * implicit
        return jnp.where(status == 2, -1.0, d), status

    def optimise(th, pr, Q):
        if not opt:
            return jnp.zeros(0)
        lo0, hi0 = bounds[opt[0]]
        if len(opt) == 1:
            u = _bisect(lambda t: dcost(t[None], 0, th, pr, Q)[0], jnp.asarray(lo0),
                        jnp.asarray(hi0), ITERATIONS)
            return u[None]
        lo1, hi1 = bounds[opt[1]]

        def inner(t0):
            t1 = _bisect(lambda t: dcost(jnp.stack([t0, t]), 1, th, pr, Q)[0], jnp.asarray(lo1),
                         jnp.asarray(hi1), ITERATIONS)
            return jnp.stack([t0, t1])

        def outer(t0):
            u = inner(t0)
            d, _ = dcost(u, 0, th, pr, Q)
            return d

        t0 = _bisect(outer, jnp.asarray(lo0), jnp.asarray(hi0), ITERATIONS)
        return inner(t0)

    def solve(th: dict, pr: dict, Q: Array) -> dict:
        u = optimise(th, pr, Q)
        w, status = bind_solve(u, th)
        z = assemble(u, w)
        parts = tech.cost_parts(z, th, pr, charge)
        fixed_cost = sum(v for k, v in parts.items() if k in FIXED_STAGES)
        variable = sum(v for k, v in parts.items() if k not in FIXED_STAGES)
        tot = fixed_cost + Q * variable
        out = {f"lever_{k}": jnp.broadcast_to(v, ()) for k, v in z.items()}
        out.update({f"cost_{k}": jnp.broadcast_to(v, ()) for k, v in parts.items()})
        out.update(fixed=fixed_cost, variable=variable, status=status,
                   total=jnp.where(status == 2, jnp.inf, tot), quality=tech.quality(z, th))
        return out

    return solve


@dataclass
class Solution:
    """Solved grid: ``values[h][field]`` arrays of shape (K draws, P price points, nQ)."""

    hypotheses: list[str]
    Q: np.ndarray
    values: dict[str, dict[str, np.ndarray]]

    def total(self, h: str) -> np.ndarray:
        return self.values[h]["total"]

    def feasible(self, h: str) -> np.ndarray:
        return self.values[h]["status"] != 2


def _flat_batch(theta: Mapping[str, Array], prices: Mapping[str, Array], Q: Array):
    """Broadcast theta (K,), prices (P,), Q (nQ,) to a flat (K·P·nQ,) batch."""
    K = len(next(iter(theta.values())))
    P = len(next(iter(prices.values())))
    nQ = len(Q)
    th = {k: jnp.broadcast_to(jnp.asarray(v, jnp.float64)[:, None, None], (K, P, nQ)).ravel()
          for k, v in theta.items()}
    pr = {k: jnp.broadcast_to(jnp.asarray(v, jnp.float64)[None, :, None], (K, P, nQ)).ravel()
          for k, v in prices.items()}
    q = jnp.broadcast_to(jnp.asarray(Q, jnp.float64)[None, None, :], (K, P, nQ)).ravel()
    return th, pr, q, (K, P, nQ)


_COMPILED: dict[tuple, Callable] = {}


def batched_solver(tech, hyp: Hypothesis) -> Callable:
    """``jit(vmap(make_solver(tech, hyp)))``, cached per (technology, hypothesis)."""
    key = (repr(tech), repr(hyp))
    if key not in _COMPILED:
        _COMPILED[key] = jax.jit(jax.vmap(make_solver(tech, hyp)))
    return _COMPILED[key]


def _bucket(n: int) -> int:
    """Batch sizes are padded to powers of two so that one compiled solver serves every call."""
    return max(64, 1 << (int(n) - 1).bit_length())


def solve_flat(tech, hyp: Hypothesis, th: Mapping[str, Array], pr: Mapping[str, Array],
               q: Array) -> dict[str, np.ndarray]:
    """Solve one hypothesis on a flat batch (every array of the same length n)."""
    n = len(q)
    m = _bucket(n)

    def pad(a):
        a = jnp.asarray(a, jnp.float64)
        return jnp.concatenate([a, jnp.broadcast_to(a[-1:], (m - n,))]) if m > n else a

    out = batched_solver(tech, hyp)({k: pad(v) for k, v in th.items()},
                                    {k: pad(v) for k, v in pr.items()}, pad(q))
    return {k: np.asarray(v)[:n] for k, v in out.items()}


def solve_grid(tech, hypotheses: Sequence[Hypothesis], theta: Mapping[str, Array],
               prices: Mapping[str, Array], Q: Array) -> Solution:
    """Solve every hypothesis on the (draws × prices × Q) grid, one batched call each.

    Parameters
    ----------
    tech : technology (see :mod:`structural.counterfactual.model`)
    hypotheses : the investment hypotheses to compare
    theta : parameter name → array of K draws (K = 1 for published constants)
    prices : price field → array of P price points
    Q : lifetime queries, array of nQ values
    """
    th, pr, q, shape = _flat_batch(theta, prices, Q)
    values = {}
    for hyp in hypotheses:  # hypotheses differ in structure (which levers are free): one each
        out = solve_flat(tech, hyp, th, pr, q)
        values[hyp.name] = {k: v.reshape(shape) for k, v in out.items()}
    return Solution([h.name for h in hypotheses], np.asarray(Q, dtype=float), values)


def breakeven(tech, h1: Hypothesis, h2: Hypothesis, theta: Mapping[str, Array],
              prices: Mapping[str, Array], Q: Array, sol: Solution,
              iters: int = 48) -> dict[str, np.ndarray]:
    """Break-even lifetime queries between two hypotheses for every draw and price point.

    The first sign change of C_h1(Q) − C_h2(Q) on the Q grid is refined by bisection in log Q
    (both problems re-solved at every step, in one batch). Returns arrays of shape (K, P):
    ``Q`` (NaN where there is no crossing in the grid's range; see ``crossed``), ``crossed``,
    ``crossings`` (number of sign changes on the grid) and ``cheaper_below`` (+1 where h1 is
    cheaper below the break-even, −1 where h2 is).
    """
    d = sol.total(h1.name) - sol.total(h2.name)               # (K, P, nQ), inf where infeasible
    valid = np.isfinite(sol.total(h1.name)) & np.isfinite(sol.total(h2.name))
    s = np.sign(np.where(valid, d, np.nan))
    change = (s[..., :-1] * s[..., 1:] < 0)
    crossed = change.any(axis=-1)
    first = np.argmax(change, axis=-1)
    Qg = np.asarray(Q, dtype=float)
    qlo = np.where(crossed, Qg[first], Qg[0])
    qhi = np.where(crossed, Qg[np.minimum(first + 1, len(Qg) - 1)], Qg[0])
    below = np.take_along_axis(s, first[..., None], axis=-1)[..., 0]
    K, P = crossed.shape
    th = {k: np.broadcast_to(np.asarray(v, float)[:, None], (K, P)).ravel()
          for k, v in theta.items()}
    pr = {k: np.broadcast_to(np.asarray(v, float)[None, :], (K, P)).ravel()
          for k, v in prices.items()}
    lo, hi = qlo.ravel().copy(), qhi.ravel().copy()
    todo = crossed.ravel()
    if todo.any():
        # Bisection in log Q (linear next to Q = 0); each step is one batched solve of both
        # hypotheses over every draw and price point (the loop runs over steps, not points).
        th_c = {k: v[todo] for k, v in th.items()}
        pr_c = {k: v[todo] for k, v in pr.items()}
        a, c = lo[todo], hi[todo]
        sign_lo = np.sign(solve_flat(tech, h1, th_c, pr_c, a)["total"]
                          - solve_flat(tech, h2, th_c, pr_c, a)["total"])
        for _ in range(iters):
            m = np.where(a > 0, np.sqrt(a * c), 0.5 * (a + c))
            sm = np.sign(solve_flat(tech, h1, th_c, pr_c, m)["total"]
                         - solve_flat(tech, h2, th_c, pr_c, m)["total"])
            same = sm == sign_lo
            a, c = np.where(same, m, a), np.where(same, c, m)
        lo[todo] = np.where(a > 0, np.sqrt(a * c), 0.5 * (a + c))
    q = lo
    q = q.reshape(K, P)
    return {"Q": np.where(crossed, q, np.nan), "crossed": crossed,
            "crossings": change.sum(axis=-1), "cheaper_below": np.where(crossed, -below, 0)}


def probability_cheapest(sol: Solution) -> dict[str, np.ndarray]:
    """P(h is the cheapest feasible hypothesis) over draws, shape (P, nQ) per hypothesis."""
    totals = np.stack([sol.total(h) for h in sol.hypotheses])   # (H, K, P, nQ)
    best = np.argmin(totals, axis=0)
    any_feasible = np.isfinite(totals).any(axis=0)
    return {h: np.mean((best == i) & any_feasible, axis=0) for i, h in enumerate(sol.hypotheses)}
