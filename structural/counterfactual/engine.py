"""The counterfactual engine: every hypothesis solved over (draws × prices × Q) in one batch.

For an investment hypothesis h (some levers free, the rest fixed) the firm's problem is

    C_h(Q; θ, p) = min_z  F(z; p) + Q·v(z; p)   subject to   g(z; θ) ≥ 0,

(Sardana & Frankle 2023, arXiv:2401.00448, eq. 3, generalised to the pipeline's levers).
One free lever *binds* the constraint (solved in closed form where the technology has one, by
bisection otherwise). With a closed-form binding lever the reduced cost C(u) of the optimised log
levers u is differentiated by ``jax``: one lever is minimised by safeguarded Newton (``rtsafe``:
a coarse grid brackets the optimum, Newton steps inside the bracket), two by projected Newton on
the lever bounds (Bertsekas 1982; an Armijo line search, a KKT test at the end); along an
increasing Q grid each Q starts from the optimum extrapolated from the previous ones
(continuation), so a point costs two or three Newton steps. With two levers the path takes a
fixed number of Newton steps per Q (no line search, no test between them: each lane of a block
runs the same code) from the optimum's prediction (the cubic through the last two optima and
their tangents du/dlog Q, bent where a lever reaches its bound), each tangent by the
implicit-function theorem on ∇F + Q∇V = 0 (F, V: the fixed and per-query cost, differentiated
in one pass), and certifies each point by the KKT test and descent from its start; the points it
does not certify are gathered and re-solved by more steps, then by the line-searched Newton
(:func:`_refine`).
Projected Newton takes a lever whose technology names an offset o(θ) (``lever_offsets``: the
context c, seen by quality and cost as c + x beside the prompt x) in log(z + o) instead of log z,
so that an optimum running down to the lever's bound reaches it at a finite slope instead of an
e-fold per step (log c → −∞ along the path where c falls to its bound 1).
A point where the two-lever Newton fails its KKT test is, where the technology's cost has a ridge
(:meth:`Technology.kink`: the larger of two smooth pieces, e.g. decode's memory- and compute-bound
rooflines meeting at the serving batch), minimised along that ridge by a one-lever Newton and
certified as a minimum of the kinked cost (:meth:`_Problem.ridge`); a point not certified is
re-solved by the nested bisection below, and counted (:attr:`Solution.fallbacks`). Otherwise the
optimised levers are found by bisection on the total derivative

    dC/du_i = ∂F/∂u_i + ∂F/∂w · dw/du_i,     dw/du_i = −(∂g/∂u_i)/(∂g/∂w)

in log levers u and the binding lever w (implicit-function theorem, derivatives by ``jax.grad``).
Bisection needs only that the cost be unimodal along each lever on its feasible range, which holds
for these power-law technologies, and cannot fail halfway through a batch: every point returns a
status (0 binding, 1 target met with the binding lever at its lower bound, 2 unreachable within the
lever bounds). With two optimised levers the outer bisection uses the envelope theorem on the
inner optimum. Every solver is ``jit``-compiled once and ``vmap``-ped over the draws × prices (× Q)
lanes, which run in fixed blocks of 64 so that one compilation serves every batch size; there is
no Python loop over scenarios or draws. A technology with its own solver (the SQP of
:mod:`structural.firm`, see :mod:`structural.counterfactual.firm_backend`) plugs in instead.
"""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from estimation.compilation import traced_jit
from estimation.distributed import batch_mesh, shard_batch
from llmecon.errors import InputError
from structural.counterfactual.model import Technology, _bisect

__all__ = ["Hypothesis", "HypothesisError", "Solution", "breakeven", "breakevens",
           "probability_cheapest", "solve_grid"]

Array = Any

ITERATIONS = 64  # bisection halvings: a log-range of 60 shrinks below 1e-17
SCAN = 12  # coarse grid that brackets the optimum before Newton steps
TIE = 1e-9  # relative cost difference below which two hypotheses are equally cheap
#: Width of a break-even bracket in t = log Q (relative to max(1, |t|)) at which its search
#: stops: 1e-10 of t is a few 1e-9 of Q, finer than the costs' own precision sets the root, and
#: a lane that got there is not solved again (the search's every step solves both hypotheses).
BREAKEVEN_TTOL = 1e-10
#: Newton's tolerance on a log lever: 1e-12·(1 + |log z|) ≈ 3e-11 relative in z, where the cost's
#: relative error is of the order of its square (the optimum is flat).
XTOL = 1e-12
#: Two optimised levers: projected-Newton iterations before a point is declared non-converged
#: (and solved along the ridge, else by the nested bisection), halvings of one line search, the
#: coarse grid per lever that starts a point without a warm start, and the longest step in a log
#: lever. Converged points take at most 6 iterations on the bundled grid (7 from a cold start);
#: a point on the serving ridge zig-zags across it until the cap, and every lane of its block
#: waits for it (vmap), so the cap is kept low: 40 made the path 2–3× slower on that grid. A
#: cold start (no candidate starts: a point off a path) may take longer and gets
#: :data:`NEWTON2_COLD_ITERATIONS`.
NEWTON2_ITERATIONS = 12
NEWTON2_COLD_ITERATIONS = 40
LINE_SEARCH = 30
GRID2 = 8
#: Two levers along a path (:func:`_path_newton2`): Newton steps per Q (the first Q of a path,
#: from the coarse grid, takes :data:`PATH2_COLD_ITERATIONS`; the second, predicted by a line
#: from the first, :data:`PATH2_FIRST_ITERATIONS`), and the KKT test's tolerance on
#: the last step, in log levers relative to 1 + |u|. After a step of that size Newton's error
#: is of its square (about 1e-12 relative in the cost). A point that fails goes to
#: :func:`_newton2` (:func:`_refine`).
PATH2_ITERATIONS = 3
PATH2_FIRST_ITERATIONS = 3
PATH2_COLD_ITERATIONS = 6
PATH2_TOL = 1e-6
#: The coarse grid per lever that starts a path's first Q (:func:`_grid_start`): its 25 costs
#: are about a fifth of a 25-point path's work at 8 (64 costs); the first point then takes
#: :data:`PATH2_COLD_ITERATIONS` Newton steps and, like every point, is certified or re-solved
#: (a start off the cheapest basin shows as a dearer point in the tests against the nested
#: solver). A point solved alone (:func:`_newton2`) keeps :data:`GRID2`.
PATH2_GRID = 5
#: Steps of :func:`_path_newton2` that re-solve a point of a path failing its certificate,
#: before :func:`_newton2` with its line search (:meth:`_Problem.refine`): first
#: :data:`REFINE_SHORT` (a point left uncertified by the path is mostly within about 1e-6 of
#: its optimum: one more step and the test), then those still uncertified
#: :data:`REFINE_ITERATIONS` (one compiled program: the count is an argument).
REFINE_SHORT = 2
REFINE_ITERATIONS = 6
#: Relative rise of the cost over a step beyond which the re-solve's steps are damped
#: (:func:`_path_newton2` with ``damp``): far above rounding (a converged step changes the
#: cost by about 1e-12 relative, its rounding by 1e-16), far below a real overshoot.
DAMP_RISE = 1e-10
#: Whether the re-solve's steps are damped (:func:`_path_newton2`'s ``damp``).
DAMP = True
#: Internal output fields of the path: the two-lever point and its start (popped by the engine).
PATH_X, PATH_X0 = "_x", "_x0"
#: Points per hypothesis, in this process, that failed the two-lever path's certificate and
#: were re-solved by :func:`_newton2` (:func:`_refine`); read by ``benchmarks/counterfactual.py``.
REFINED: dict[str, int] = {}
MAX_STEP = 2.0
#: Internal output field: whether the two-lever Newton met its KKT test (popped by the engine).
CONVERGED = "_converged"
#: Whether points failing the two-lever Newton's KKT test are first solved along the cost's ridge
#: (:meth:`_Problem.ridge`); False sends them straight to the nested bisection (the engine before
#: the ridge solve, which ``benchmarks/counterfactual.py`` times beside it).
RIDGE = True


class HypothesisError(InputError):
    """A hypothesis that the engine cannot solve (named, with what was expected).

    Examples
    --------
    >>> import numpy as np
    >>> from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, solve_grid
    >>> tech = TradeoffTechnology(Target("performance", 60.0))
    >>> solve_grid(tech, [Hypothesis("h", ("N",))], {"w_T": np.ones(1), "w_I": np.ones(1)},
    ...            {"train_chip_hour": np.ones(1), "serve_chip_hour": np.ones(1)}, np.array([1e6]))
    Traceback (most recent call last):
    ...
    structural.counterfactual.engine.HypothesisError: hypotheses.h.free: unknown lever 'N'; ...
    """


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

    Examples
    --------
    Train a bigger model and keep inference per query fixed:

    >>> from structural.counterfactual import Hypothesis
    >>> h = Hypothesis("train_more", free=("T",), fixed={"I": 1e9}, description="more training")
    >>> h.free, dict(h.fixed)
    (('T',), {'I': 1000000000.0})
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
    defaults = tech.lever_defaults
    missing = [lv for lv in tech.levers if lv not in free and lv not in hyp.fixed
               and lv not in defaults]
    if missing:
        raise HypothesisError(f"hypotheses.{hyp.name}: lever {missing[0]!r} is neither free nor "
                              "fixed")
    bind = next((lv for lv in tech.bind_priority if lv in free), None)
    if bind is None:
        raise HypothesisError(f"hypotheses.{hyp.name}.free: none of {', '.join(free)} can bind "
                              f"the target; free one of {', '.join(tech.bind_priority)}")
    opt = [lv for lv in free if lv != bind]
    bounds = {}
    for lv in free:
        lo, hi = hyp.bounds.get(lv, tech.bounds[lv])
        if not 0 < lo < hi:
            raise HypothesisError(f"hypotheses.{hyp.name}.bounds.{lv}: expected 0 < low < high, "
                                  f"got ({lo}, {hi})")
        bounds[lv] = (float(np.log(lo)), float(np.log(hi)))
    return bind, opt, bounds


def make_solver(tech: Technology, hyp: Hypothesis) -> Callable[[dict, dict, Array], dict]:
    """The solver of one hypothesis at one point: ``solve(theta, prices, Q) -> dict`` of scalars
    (levers, cost by stage, ``fixed``, ``variable``, ``total``, ``status``). Pure JAX: vmap it.
    A technology with its own solver (``tech.own_solver``, e.g. the firm's SQP) supplies it;
    otherwise :class:`_Problem` solves it (``solve.warm_start`` says whether continuation along Q
    applies)."""
    own = tech.own_solver(hyp)
    if own is not None:
        return own
    problem = _Problem(tech, hyp)

    def solve(th: dict, pr: dict, Q: Array, x_start: Array | None = None) -> dict:
        return problem.solve(th, pr, Q, x_start)

    solve.warm_start = problem.warm_start
    return solve


class _Problem:
    """One hypothesis of a :class:`ConstrainedTechnology` at one point (θ, prices, Q), in log
    levers: ``opt`` are optimised (Newton or bisection), ``bind`` is solved from the target.

    Every method is pure JAX in (θ, prices, Q); the hypothesis' structure (which levers are free,
    the fixed values) is Python data fixed at trace time."""

    def __init__(self, tech: Technology, hyp: Hypothesis, nested: bool = False) -> None:
        self.tech = tech
        self.bind, self.opt, self.bounds = _plan(tech, hyp)
        self.fixed_stages = tech.fixed_stages
        # Fixed levers stay Python floats, so a technology can skip a stage that is off (D_F = 0)
        # at trace time instead of computing zeros at every Newton step.
        self.fixed = {k: float(v) for k, v in {**tech.lever_defaults, **hyp.fixed}.items()
                      if k in tech.levers and k not in hyp.free}
        self.charge = bool(hyp.charge_pretraining)
        self.blo, self.bhi = self.bounds[self.bind]
        self.closed = tech.closed_form(self.bind)
        # Two optimised levers with a closed-form binding one: projected Newton on the reduced
        # cost (warm-started along Q), unless ``nested`` asks for the nested bisection (the
        # fallback of points where Newton fails its KKT test).
        self.newton2 = len(self.opt) == 2 and self.closed and not nested
        self.warm_start = self.closed and (len(self.opt) == 1 or self.newton2)
        # Projected Newton works in u = log(z + o(θ)) for a lever whose technology names an
        # offset o (``lever_offsets``: the context c beside the prompt x, since quality and cost
        # see c + x). In log c the optimum runs down to c's bound 1 an e-fold per step (the cost
        # is nearly linear in c there, and the path's tangent steepens without limit); in
        # log(c + x) it reaches the bound at a finite slope, like any smooth lever.
        offsets = tech.lever_offsets if self.newton2 else {}
        self.offset = {lv: offsets[lv] for lv in self.opt if lv in offsets}
        self._grad_f = jax.grad(self.total, argnums=(0, 1))
        self._grad_g = jax.grad(self.margin, argnums=(0, 1))

    def assemble(self, u: Array, w: Array, th: Mapping[str, Array]) -> dict:
        z: dict[str, Array] = dict(self.fixed)
        for i, lv in enumerate(self.opt):
            if lv in self.offset:
                # z = z_lo + e^u − e^{u_lo}: exactly the bound z_lo at u = u_lo.
                z_lo, lo = np.exp(self.bounds[lv][0]), self.coord_lo(lv, th, jnp)
                z[lv] = z_lo + (jnp.exp(u[i]) - jnp.exp(lo))
            else:
                z[lv] = jnp.exp(u[i])
        z[self.bind] = jnp.exp(w)
        return z

    def coord_lo(self, lv: str, th: Mapping[str, Array], xp: Any = np) -> Array:
        """Lower bound of optimised lever ``lv``'s coordinate: log z_lo, or log(z_lo + o(θ))."""
        lo = self.bounds[lv][0]
        return xp.log(np.exp(lo) + th[self.offset[lv]]) if lv in self.offset else lo

    def box(self, th: Mapping[str, Array]) -> tuple[Array, Array]:
        """Bounds (lo, hi) of the optimised levers' coordinates (log levers, or log(z + o))."""
        lo = [self.coord_lo(v, th, jnp) for v in self.opt]
        hi = [jnp.log(np.exp(self.bounds[v][1]) + th[self.offset[v]]) if v in self.offset
              else self.bounds[v][1] for v in self.opt]
        return (jnp.stack([jnp.asarray(x, jnp.float64) for x in lo]),
                jnp.stack([jnp.asarray(x, jnp.float64) for x in hi]))

    def coords(self, z: Mapping[str, np.ndarray], th: Mapping[str, np.ndarray]) -> np.ndarray:
        """The optimised levers' coordinates (rows) at lever values z, on the host (NumPy):
        the inverse of :meth:`assemble`."""
        cols = []
        for lv in self.opt:
            if lv in self.offset:
                cols.append(np.log(z[lv] - np.exp(self.bounds[lv][0])
                                   + np.exp(self.coord_lo(lv, th))))
            else:
                cols.append(np.log(z[lv]))
        return np.stack(cols, axis=1)

    def total(self, u, w, th, pr, Q):
        parts = self.tech.cost_parts(self.assemble(u, w, th), th, pr, self.charge)
        return sum(v if k in self.fixed_stages else Q * v for k, v in parts.items())

    def margin(self, u, w, th):
        return self.tech.margin(self.assemble(u, w, th), th)

    def bind_solve(self, u, th):
        """The binding lever (log) that meets the target and its status (0 binding, 1 met at
        the lower bound, 2 unreachable)."""
        blo, bhi = self.blo, self.bhi
        y = self.tech.bind(self.bind, self.assemble(u, jnp.asarray(blo), th), th)
        if y is None:
            g_hi = self.margin(u, jnp.asarray(bhi), th)
            g_lo = self.margin(u, jnp.asarray(blo), th)
            w = _bisect(lambda t: self.margin(u, t, th), jnp.asarray(blo), jnp.asarray(bhi),
                        ITERATIONS)
            w = jnp.where(g_lo >= 0, blo - 1.0, jnp.where(g_hi < 0, bhi + 1.0, w))
        else:
            w = jnp.where(y > 0, jnp.log(jnp.where(y > 0, y, 1.0)), -jnp.inf)
            w = jnp.where(jnp.isnan(w), jnp.inf, w)
        status = jnp.where(w > bhi, 2, jnp.where(w < blo, 1, 0))
        return jnp.clip(w, blo, bhi), status

    def dcost(self, u, i, th, pr, Q):
        """Total derivative of cost along optimised lever i, −1 where the target is out of reach
        (more of any lever raises quality, so the search moves up)."""
        w, status = self.bind_solve(u, th)
        fu, fw = self._grad_f(u, w, th, pr, Q)
        gu, gw = self._grad_g(u, w, th)
        implicit = jnp.where(status == 0, -gu[i] / jnp.where(gw == 0, 1.0, gw), 0.0)
        d = fu[i] + fw * implicit
        return jnp.where(status == 2, -1.0, d), status

    def reduced_w(self, u, th, out: bool = False):
        """The closed-form binding lever (log, clipped to its bounds) at optimised levers u, and
        with ``out`` whether the target is out of reach there."""
        blo, bhi = self.blo, self.bhi
        y = self.tech.bind(self.bind, self.assemble(u, jnp.asarray(blo), th), th)
        w = jnp.log(jnp.where(y > 0, y, 1.0))
        w = jnp.where(y > 0, jnp.clip(w, blo, bhi), blo)
        return (w, ~(y <= jnp.exp(bhi))) if out else w     # unreachable (also inf/NaN)

    def split(self, u, th, pr):
        """(F, V) at optimised levers u with the closed-form binding lever substituted: the
        fixed and the per-query cost, so that the cost at any Q is F + Q·V (the binding lever
        does not depend on Q), and whether the target is out of reach there."""
        w, out = self.reduced_w(u, th, out=True)
        parts = self.tech.cost_parts(self.assemble(u, w, th), th, pr, self.charge)
        fixed = sum(v for k, v in parts.items() if k in self.fixed_stages)
        return jnp.stack([fixed, sum(v for k, v in parts.items()
                                     if k not in self.fixed_stages)]), out

    def reduced(self, u, th, pr, Q):
        """Cost at optimised levers u with the closed-form binding lever substituted, and
        whether the target is out of reach there (then the search moves up)."""
        w, out = self.reduced_w(u, th, out=True)
        return self.total(u, w, th, pr, Q), out

    def optimise(self, th, pr, Q, x_start=None):
        """The optimised levers (log), the iterations spent and whether the KKT test was met:
        Newton on the reduced cost with a closed-form binding lever (one lever: safeguarded;
        two: projected, :func:`_newton2`), else bisection on the total derivative (two levers:
        nested, the outer one by the envelope theorem). ``x_start``: the warm start of one lever,
        or the candidate starts (rows) of two."""
        opt, bounds = self.opt, self.bounds
        if not opt:
            return jnp.zeros(0), 0, True
        lo0, hi0 = bounds[opt[0]]
        if len(opt) == 1 and self.closed:
            x, it = _newton(lambda t: self.reduced(t[None], th, pr, Q), lo0, hi0, x_start)
            return x[None], it, True
        if self.newton2:
            lo, hi = self.box(th)
            return _newton2(lambda u: self.reduced(u, th, pr, Q), lo, hi, x_start)
        if len(opt) == 1:
            u = _bisect(lambda t: self.dcost(t[None], 0, th, pr, Q)[0], jnp.asarray(lo0),
                        jnp.asarray(hi0), ITERATIONS)
            return u[None], ITERATIONS, True
        lo1, hi1 = bounds[opt[1]]

        def inner(t0):
            if self.closed:
                t1, _ = _newton(lambda t: self.reduced(jnp.stack([t0, t]), th, pr, Q), lo1, hi1)
            else:
                t1 = _bisect(lambda t: self.dcost(jnp.stack([t0, t]), 1, th, pr, Q)[0],
                             jnp.asarray(lo1), jnp.asarray(hi1), ITERATIONS)
            return jnp.stack([t0, t1])

        def outer(t0):
            # Envelope theorem: along the inner optimum the profile's slope is the partial one.
            d, _ = self.dcost(inner(t0), 0, th, pr, Q)
            return d

        t0 = _bisect(outer, jnp.asarray(lo0), jnp.asarray(hi0), ITERATIONS)
        return inner(t0), ITERATIONS * ITERATIONS, True

    def solve(self, th: dict, pr: dict, Q: Array, x_start: Array | None = None) -> dict:
        return self.solve_u(th, pr, Q, x_start)[0]

    def solve_u(self, th: dict, pr: dict, Q: Array,
                x_start: Array | None = None) -> tuple[dict, Array]:
        """:meth:`solve`'s fields and the optimised levers (log), the next Q's warm start."""
        u, iterations, converged = self.optimise(th, pr, Q, x_start)
        return self.outputs(u, iterations, converged, th, pr, Q), u

    def outputs(self, u, iterations, converged, th: dict, pr: dict, Q: Array) -> dict:
        """:meth:`solve`'s fields at optimised levers u (log)."""
        w, status = self.bind_solve(u, th)
        z = self.assemble(u, w, th)
        parts = self.tech.cost_parts(z, th, pr, self.charge)
        fixed_cost = sum(v for k, v in parts.items() if k in self.fixed_stages)
        variable = sum(v for k, v in parts.items() if k not in self.fixed_stages)
        tot = fixed_cost + Q * variable
        out = {f"lever_{k}": jnp.broadcast_to(v, ()) for k, v in z.items()}
        out.update({f"cost_{k}": jnp.broadcast_to(v, ()) for k, v in parts.items()})
        out.update(fixed=fixed_cost, variable=variable, status=status,
                   total=jnp.where(status == 2, jnp.inf, tot), quality=self.tech.quality(z, th),
                   iterations=jnp.asarray(iterations),
                   u_opt=(jnp.log(z[self.opt[0]]) if self.opt and self.opt[0] in self.offset
                          else u[0] if self.opt else jnp.asarray(0.0)))
        if self.newton2:
            out[CONVERGED] = converged
        return out

    def path_point(self, th: dict, pr: dict, Q: Array, start: Array, iters: int,
                   prev: Array, damp: bool = False) -> tuple[dict, Array]:
        """:meth:`solve`'s fields at one point of a two-lever path by :func:`_path_newton2`
        from ``start``, and the optimum's tangents (:func:`_tangents`). ``CONVERGED`` certifies
        the point: the KKT test met and the cost no dearer than the start's (:func:`_refine`
        re-solves the others); ``PATH_X``, ``PATH_X0``: the point and ``prev`` (the last point of
        the path, where the target is met whatever Q is), the re-solve's starts (log levers)."""
        lo, hi = self.box(th)
        x, cs, kkt, d = _path_newton2(lambda u: self.split(u, th, pr), Q, lo, hi, start, iters,
                                      damp)
        out = self.outputs(x, iters, kkt, th, pr, Q)
        out[CONVERGED] = kkt & (out["total"] <= cs * (1.0 + 1e-12))
        out[PATH_X], out[PATH_X0] = x, prev
        return out, d

    def refine(self, th: dict, pr: dict, Q: Array, starts: Array, iters: Array) -> dict:
        """A point that failed the path's certificate, by ``iters`` more steps of
        :func:`_path_newton2` from the path's point (``starts``: it and the last point)."""
        return self.path_point(th, pr, Q, starts[0], iters, starts[1], DAMP)[0]

    def solve_from(self, th: dict, pr: dict, Q: Array, starts: Array) -> dict:
        """:meth:`solve` from candidate ``starts`` (:func:`_newton2`), with ``PATH_X`` and
        ``PATH_X0`` (the path's fields) carried through."""
        return {**self.solve(th, pr, Q, starts), PATH_X: starts[0], PATH_X0: starts[1]}

    def ridge(self, th: dict, pr: dict, Q: Array, x: Array) -> dict:
        """A point where the two-lever Newton failed its KKT test, solved along the cost's ridge
        (:meth:`Technology.kink`): the cost is there the larger of two smooth pieces, so its
        minimum may lie on the ridge h(u) = 0, where Newton's step zig-zags across the kink.

        One log lever s (the one h moves most) is solved from h(t, s) = 0 given the other t
        (Newton; derivatives by the implicit-function theorem, ds/dt = −h_t/h_s), and the cost
        along the ridge φ(t) = C(t, s(t)), smooth, is minimised by safeguarded Newton
        (:func:`_newton`) within an e-fold of Newton's end point ``x``. The result is certified
        (``CONVERGED``) where it is a minimum of the kinked cost: on the ridge (|h| ≤ 1e-9),
        inside the box and the search interval, φ'' > 0 with a Newton step below 1e-6, the cost
        rising off the ridge into both pieces (each one-sided derivative along the ridge's
        normal ≥ 0: the multiplier of max(f₁, f₂) lies in [0, 1]), reachable, and no dearer than
        ``x``. Points not certified go to the nested bisection (:func:`_fallback`)."""
        lo, hi = self.box(th)

        def h(u):
            w = self.reduced_w(u, th)
            return self.tech.kink(self.assemble(u, w, th), th, pr)

        if h(x) is None:                 # no ridge: every such point to the nested bisection
            return {**self.outputs(x, 0, False, th, pr, Q), CONVERGED: jnp.asarray(False)}
        gh = _gradient2(h, x)
        j = jnp.where(jnp.abs(gh[1]) >= jnp.abs(gh[0]), 1, 0)    # the lever solved on the ridge

        def at(t, s_):
            return jnp.where(j == 1, jnp.stack([t, s_]), jnp.stack([s_, t]))

        t0, s0 = x[1 - j], x[j]
        slo, shi = lo[j], hi[j]
        tlo = jnp.maximum(lo[1 - j], t0 - 1.0)
        thi = jnp.minimum(hi[1 - j], t0 + 1.0)
        s_of = _ridge_lever(lambda t, s_: h(at(t, s_)), s0, slo, shi)
        # φ' and φ'' at the minimiser from Newton's own loop (one copy of the derivative
        # through the ridge lever); they are −1 and NaN where the target is out of reach, which
        # the certificate refuses anyway (``out``).
        t, it, d1, d2 = _newton(lambda t: self.reduced(at(t, s_of(t)), th, pr, Q), tlo, thi,
                                t0, final=True)
        u = at(t, s_of(t))
        c, out = self.reduced(u, th, pr, Q)
        # Certificate (docstring): on the ridge, inside, a strict minimum along it ...
        s_ = u[j]
        inside = (t > tlo) & (t < thi) & (s_ > slo) & (s_ < shi)
        along = (d2 > 0) & (jnp.abs(d1 / d2) <= 1e-6 * (1.0 + jnp.abs(t)))
        # ... and the cost rising off it into each piece.
        n = _gradient2(h, u)
        n = n / jnp.linalg.norm(n)
        delta = 1e-6 * (1.0 + jnp.max(jnp.abs(u)))
        g = _gradient2(lambda v: self.reduced(v, th, pr, Q)[0], u)
        scale = jnp.linalg.norm(g) + jnp.abs(c) * 1e-12

        def rise(sign):
            v = u + sign * delta * n
            _, dv = jax.jvp(lambda e: self.reduced(v + e * sign * n, th, pr, Q)[0],
                            (jnp.asarray(0.0),), (jnp.asarray(1.0),))
            return dv >= -1e-8 * scale

        # both sides in one vmap: one copy of the directional derivative, not two
        rises = jax.vmap(rise)(jnp.asarray([1.0, -1.0]))
        x_cost, _ = self.reduced(x, th, pr, Q)
        ok = (jnp.abs(h(u)) <= 1e-9) & inside & along & rises[0] & rises[1] & ~out \
            & jnp.isfinite(c) & (c <= x_cost * (1.0 + 1e-12))
        res = self.outputs(u, it, ok, th, pr, Q)
        res[CONVERGED] = ok
        return res


def _newton(fun: Callable, lo0: Array, hi0: Array, x_start: Array | None = None,
            final: bool = False):
    """Minimise the scalar ``fun(t) -> (cost, out)`` on [lo0, hi0] by safeguarded Newton on its
    derivative (Press et al., Numerical Recipes, ``rtsafe``): a Newton step while it stays in the
    bracket and at least halves the previous step, else a bisection. From a coarse grid bracket
    (or a warm start) it converges in a few steps where bisection needs sixty-four. Returns the
    minimiser and the iterations taken; with ``final`` also the first and second derivative at
    the minimiser (−1 and NaN where ``out``), evaluated by the loop's own body in one more pass
    that takes no step: a caller that needs them (:meth:`_Problem.ridge`'s certificate) then
    holds one copy of the second-order derivative in its compiled program, not two (on the
    pipeline's ridge the derivative through the ridge lever is about 10,000 operations)."""

    def d1(t):
        # Forward mode: a scalar function of one lever needs no reverse pass.
        _, d, out = jax.jvp(fun, (t,), (jnp.ones_like(t),), has_aux=True)
        return d, out

    def d12(t):
        g, H, out = jax.jvp(d1, (t,), (jnp.ones_like(t),), has_aux=True)
        return jnp.where(out, -1.0, g), jnp.where(out, jnp.nan, H)

    def cond(s):
        x, lo, hi, _dxold, dx, it = s
        return (it < 200) & (hi - lo > XTOL * (1.0 + jnp.abs(x))) & \
            (jnp.abs(dx) > XTOL * (1.0 + jnp.abs(x)))

    def body(s):
        return update(s, *d12(s[0]))

    def update(s, g, H):
        x, lo, hi, dxold, dx, it = s
        lo = jnp.where(g < 0, x, lo)
        hi = jnp.where(g < 0, hi, x)
        step = g / H
        xn = x - step
        good = (H > 0) & (xn > lo) & (xn < hi) & (jnp.abs(step) < 0.5 * jnp.abs(dxold))
        # Newton converges quadratically: after an accepted step s the error is of order s²,
        # so a step below √XTOL lands within the tolerance; stop after taking it.
        done = good & (jnp.abs(step) <= 1e-6 * (1.0 + jnp.abs(x)))
        xnew = jnp.where(good, xn, 0.5 * (lo + hi))
        return xnew, lo, hi, dx, jnp.where(done, 0.0, xnew - x), it + 1

    lo0, hi0 = jnp.asarray(lo0), jnp.asarray(hi0)
    if x_start is not None:
        # Warm start (continuation along Q): the previous optimum is a few Newton steps away.
        init = (jnp.clip(x_start, lo0, hi0), lo0, hi0, hi0 - lo0, hi0 - lo0, 0)
    else:
        init = _bracket(d12, lo0, hi0)
    if not final:
        x, _, _, _, _, it = jax.lax.while_loop(cond, body, init)
        return x, it

    def last(s):   # evaluate, then step where the plain loop would have gone on
        state, _, _, _ = s
        g, H = d12(state[0])
        go = cond(state)
        new = update(state, g, H)
        return (tuple(jnp.where(go, a, b) for a, b in zip(new, state, strict=True)), g, H,
                ~go)

    zero = jnp.zeros_like(init[0])
    (x, _, _, _, _, it), g, H, _ = jax.lax.while_loop(lambda s: ~s[3], last,
                                                      (init, zero, zero, jnp.asarray(False)))
    return x, it, g, H


def _bracket(d12: Callable, lo0: Array, hi0: Array) -> tuple:
    """Newton's start from a coarse grid of :data:`SCAN` points: the first cell where the
    derivative turns positive, so Newton starts within one cell of the optimum and a whole batch
    stops together."""
    grid = jnp.linspace(lo0, hi0, SCAN)
    g_grid = jax.vmap(lambda t: d12(t)[0])(grid)
    up = g_grid >= 0                      # first grid point where the cost rises
    j = jnp.where(jnp.any(up), jnp.argmax(up), SCAN - 1)
    lo = jnp.where(j > 0, grid[jnp.maximum(j - 1, 0)], lo0)
    hi = grid[j]
    g_lo, g_hi = g_grid[jnp.maximum(j - 1, 0)], g_grid[j]
    frac = jnp.clip(-g_lo / jnp.where(g_hi - g_lo > 0, g_hi - g_lo, 1.0), 0.05, 0.95)
    x0 = jnp.where((j > 0) & (g_hi >= 0), lo + frac * (hi - lo), hi)
    return (x0, lo, hi, hi - lo, hi - lo, 0)


def _barrier(x):
    """``x`` materialised (``jax.lax.optimization_barrier``): XLA may not fuse the computation
    that made it into each of its consumers."""
    return jax.lax.optimization_barrier(x)


def _grid_start(fun: Callable, lo: Array, hi: Array, n: int | None = None) -> Array:
    """The cheapest feasible point of an ``n``² grid (default :data:`GRID2`) over the box of
    two log levers (the upper corner, the grid's last point, where none is feasible): a cold
    start."""
    axes = [jnp.linspace(lo[i], hi[i], GRID2 if n is None else n) for i in range(2)]
    grid = jnp.stack([a.ravel() for a in jnp.meshgrid(*axes, indexing="ij")], axis=1)
    c, out = _barrier(jax.vmap(fun)(grid))
    c = jnp.where(out | ~jnp.isfinite(c), jnp.inf, c)
    return grid[jnp.where(jnp.isfinite(jnp.min(c)), jnp.argmin(c), grid.shape[0] - 1)]


def _newton2(fun: Callable, lo: Array, hi: Array, starts: Array | None = None):
    """Minimise ``fun(u) -> (cost, out)`` over the box lo ≤ u ≤ hi of two log levers by
    projected Newton (Bertsekas 1982, "Projected Newton methods for optimization problems with
    simple constraints", SIAM J. Control Optim. 20(2)), ``out`` marking points where the target
    is out of reach (never accepted).

    An iteration fixes the levers at a bound whose derivative points out of the box and steps by
    Newton on the others (the Hessian shifted to positive definite where it is not), projected on
    the box. It tries two full steps, Newton's in the log levers and in the levers themselves
    (where the cost is nearly linear in a lever, e.g. one running down to its bound, the log step
    creeps an e-fold at a time), keeps the cheaper one that passes Armijo's test, else backtracks
    along the log step. The KKT test at u: the free levers' Hessian positive definite and their
    Newton step below 1e-6·(1 + |u|) (the step is then taken, and Newton converging
    quadratically it lands within about 1e-12), every fixed lever's derivative pointing out of
    the box. The start is the cheapest feasible row of ``starts`` (in a path: the last optimum
    and its extrapolation), else a :func:`_grid_start`. Where no start is feasible and the
    cheapest is the upper corner, the target is unreachable (every lever raises quality) and the
    corner is returned. Returns (u, iterations, converged); ``converged`` is False where the test
    was not met in :data:`NEWTON2_ITERATIONS` iterations (:data:`NEWTON2_COLD_ITERATIONS` from a
    cold start), a line search failed, or a derivative was not finite."""
    cap = NEWTON2_ITERATIONS if starts is not None else NEWTON2_COLD_ITERATIONS
    if starts is None:
        starts = _grid_start(fun, lo, hi)[None]
    cand = jnp.clip(jnp.atleast_2d(starts), lo, hi)
    c_cand, out_cand = _barrier(jax.vmap(fun)(cand))
    c_cand = jnp.where(out_cand | ~jnp.isfinite(c_cand), jnp.inf, c_cand)
    unreachable = ~jnp.isfinite(jnp.min(c_cand))
    x0 = cand[jnp.where(unreachable, cand.shape[0] - 1, jnp.argmin(c_cand))]
    unreachable = unreachable & jnp.all(x0 == hi)

    def body(s):
        x, it, _, _ = s
        c, g, H = _derivatives2(fun, x)
        step, lin, kkt, finite = _newton_steps(x, g, H, lo, hi)
        x, accepted = _take(fun, x, c, g, step, lin, kkt, finite, lo, hi)
        return x, it + 1, kkt | ~accepted, kkt

    s = jax.lax.while_loop(lambda s: ~s[2] & (s[1] < cap), body,
                           (x0, 0, unreachable, unreachable))
    x, it, _, ok = s
    return jnp.where(unreachable, hi, x), it, ok | unreachable


def _path_newton2(fv: Callable, Q: Array, lo: Array, hi: Array, start: Array, iters: int,
                  damp: bool = False):
    """One point of a two-lever path: ``iters`` projected Newton steps (:func:`_newton_steps`)
    on C(u) = F(u) + Q·V(u) (``fv(u) -> ((F, V), out)``, :meth:`_Problem.split`) from
    ``start``, with no line search and no test of convergence between them, so that every lane
    of a block runs the same code (a ``fori_loop`` of fixed length: one copy of the step in the
    compiled program, not ``iters``, which made the path's programs several times larger to
    compile and to load).

    Returns (u, the start's cost (inf where the target is out of reach there), whether the
    last step passed the KKT test at :data:`PATH2_TOL`, the optimum's tangents du/dlog Q). The
    last are the tangents along the path (:func:`_tangents`) by the implicit-function theorem
    on ∇F + Q∇V = 0: H du/dt = −Q∇V on the free levers (t = log Q), from the derivatives of F
    and V (one pass gives both). The caller certifies the point (the KKT test met and the cost
    no dearer than the start's) or hands it on (:func:`_refine`).

    With ``damp`` a step that raised the cost (beyond :data:`DAMP_RISE` relative, or out of
    reach) is taken back to the secant root of the directional derivative along it (a halving
    where the two slopes do not bracket a root) instead of stepping on from where it landed;
    the next evaluation, whose value each step computes anyway, judges the shortened step.
    Where the cost's curvature changes fast (the serving accounting's pieces) undamped Newton
    can cycle between two points on either side of the optimum; this breaks the cycle at no
    extra evaluation. A point whose last step was shortened fails the KKT test."""
    weights = jnp.stack([jnp.ones_like(Q), Q])
    x = jnp.clip(start, lo, hi)

    def step(i, s):
        x, c0, _, _, x_prev, c_prev, g_prev = s
        c2, g2, H2, out = _derivatives2(fv, x, aux=True)
        H = H2 @ weights
        g = g2 @ weights
        c = c2 @ weights
        c0 = jnp.where(i == 0, jnp.where(out | ~jnp.isfinite(c), jnp.inf, c), c0)
        step, _, kkt, finite = _newton_steps(x, g, H, lo, hi, PATH2_TOL)
        tangent = _tangents(x, g, H, Q * g2[:, 1], lo, hi)
        x_new = jnp.where(finite, jnp.clip(x + step, lo, hi), x)
        if damp:
            c = jnp.where(out, jnp.inf, c)
            # c_prev is inf before the first step: no rise to judge there.
            rose = jnp.isfinite(c_prev) & ~(c <= c_prev * (1.0 + DAMP_RISE))
            # Back along the step to the secant root of the directional derivative (the
            # overshoot crossed the optimum: it falls at the start, rises at the end), kept
            # within [0.1, 0.9] of the step; a halving where the slopes do not bracket it.
            d = x - x_prev
            s0, s1 = jnp.dot(g_prev, d), jnp.dot(g, d)
            t = jnp.where((s0 < 0) & (s1 > 0), s0 / jnp.where(s0 < s1, s0 - s1, -1.0), 0.5)
            t = jnp.clip(jnp.where(jnp.isfinite(t), t, 0.5), 0.1, 0.9)
            x_new = jnp.where(rose, x_prev + t * d, x_new)
            kkt = kkt & ~rose
            x_prev, c_prev, g_prev = (jnp.where(rose, a, b) for a, b in
                                      ((x_prev, x), (c_prev, c), (g_prev, g)))
        return x_new, c0, kkt, tangent, x_prev, c_prev, g_prev

    inf = jnp.asarray(jnp.inf, x.dtype)
    init = (x, inf, jnp.asarray(False), jnp.zeros((2, 2), x.dtype), x, inf, jnp.zeros_like(x))
    x, c0, kkt, tangent, _, _, _ = jax.lax.fori_loop(0, iters, step, init)
    return x, c0, kkt & jnp.isfinite(c0), tangent


def _tangents(x: Array, g: Array, H: Array, qv: Array, lo: Array, hi: Array) -> Array:
    """The optimum's tangents du/dlog Q at x (rows): on the levers free at x (those at a bound
    whose derivative ``g`` points out of the box fixed), H du = −Q∇V (``qv``), and each lever's
    with the other held, −(Q∂V/∂u_i)/H_ii, which the path's predictor follows past the point
    where the other lever reaches its bound. Zero where not finite."""
    free = ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))
    both = free[:, None] & free[None, :]
    tangent, _ = _solve2(jnp.where(both, H, jnp.asarray(_EYE2)), jnp.where(free, qv, 0.0))
    held = -qv / jnp.diagonal(H)
    t = jnp.stack([tangent, held])
    return jnp.where(jnp.all(jnp.isfinite(t), axis=1, keepdims=True), t, 0.0)


def _gradient2(fun: Callable, u: Array) -> Array:
    """Gradient of a scalar ``fun`` of two log levers, forward mode (two directions)."""
    return jax.vmap(lambda v: jax.jvp(fun, (u,), (v,))[1])(jnp.asarray(_EYE2))


#: Newton iterations that solve the ridge h(t, s) = 0 for s (quadratic from a nearby start).
RIDGE_ITERATIONS = 12


def _ridge_lever(h: Callable, s0: Array, lo: Array, hi: Array) -> Callable:
    """s(t) with h(t, s(t)) = 0 by Newton from ``s0`` (clipped to [lo, hi]), differentiable in t
    to any order by the implicit-function theorem: ds/dt = −h_t/h_s."""

    @jax.custom_jvp
    def s_of(t):
        def body(_, s):
            hv, hs = jax.jvp(lambda s_: h(t, s_), (s,), (jnp.ones_like(s),))
            return jnp.clip(s - hv / jnp.where(hs != 0, hs, 1.0), lo, hi)
        return jax.lax.fori_loop(0, RIDGE_ITERATIONS, body, s0)

    @s_of.defjvp
    def _(primals, tangents):
        (t,), (dt,) = primals, tangents
        s = s_of(t)
        ht = jax.jvp(lambda t_: h(t_, s), (t,), (jnp.ones_like(t),))[1]
        hs = jax.jvp(lambda s_: h(t, s_), (s,), (jnp.ones_like(s),))[1]
        return s, -ht / jnp.where(hs != 0, hs, 1.0) * dt

    return s_of


_EYE2 = np.eye(2)


def _second_directional(fun: Callable, u: Array, a: Array, b: Array):
    """(value, d fun[a], d² fun[a, b], aux) of ``fun(u) -> (value, aux)`` at u: a jvp along b of
    a jvp along a (:func:`_derivatives2` takes three such directions)."""
    def first(t):
        c, d, out = jax.jvp(fun, (t,), (a,), has_aux=True)
        return d, (c, out)
    d, dd, (c, out) = jax.jvp(first, (u,), (b,), has_aux=True)
    return c, d, dd, out


def _derivatives2(fun: Callable, u: Array, aux: bool = False):
    """Value, gradient and Hessian of ``fun(u) -> (value, out)`` at two log levers u in one
    pass (with ``aux``, also ``out``): three second-order forward derivatives d²C[e₀, e₀],
    d²C[e₁, e₁], d²C[e₀, e₁] (a jvp of a jvp each, which also gives the gradient and the
    value), the symmetric Hessian's three distinct entries; the forward Jacobian of the gradient
    computes four (the mixed one twice) and costs almost twice as much on the pipeline. A
    vector value (F, V) gives a gradient and Hessian per component (trailing axis)."""

    def second(a, b):
        return _second_directional(fun, u, a, b)

    # The three directions (e₀, e₀), (e₁, e₁), (e₀, e₁) as one vmap: one copy of the cost's
    # second-order derivative in the compiled program instead of three (the value, which does
    # not depend on the directions, is computed once either way).
    c, d, dd, out = jax.vmap(second)(jnp.asarray(_EYE2[[0, 1, 0]]),
                                     jnp.asarray(_EYE2[[0, 1, 1]]))
    # Materialise the six numbers: without the barrier XLA fuses the whole derivative
    # computation into each of their consumers, recomputing it several times per iteration.
    k = _barrier(jnp.stack([c[0], d[0], d[1], dd[0], dd[2], dd[1]]))
    out = out[0]
    res = (k[0], k[1:3], jnp.stack([k[3:5], k[4:6]]))
    return (*res, out) if aux else res


def _solve2(Hf: Array, gf: Array) -> tuple[Array, Array]:
    """-Hf⁻¹ gf for a 2 × 2 symmetric Hf, and whether Hf is positive definite."""
    a, b, d = Hf[0, 0], Hf[0, 1], Hf[1, 1]
    det = a * d - b * b
    return -jnp.stack([d * gf[0] - b * gf[1], a * gf[1] - b * gf[0]]) / det, \
        (a > 0) & (det > 0)


def _newton_steps(x: Array, g: Array, H: Array, lo: Array, hi: Array, tol: float = 1e-6):
    """Projected Newton steps in log levers and in the levers themselves (as a change of log
    lever), whether x passes the KKT test (a Newton step below ``tol``·(1 + |x|)), and whether
    the derivatives are finite.

    The levers fixed at a bound are those whose derivative points out of the box (Bertsekas
    1982); a lever at a bound that this leaves free but whose Newton step points out of the
    box is then fixed too, and the others' step solved again (a second stage of the active
    set, 2 × 2 algebra only). Clipping the two-lever step instead would keep the other lever's
    part of it, computed as if this one moved: where the context c runs into its bound as Q
    grows, that step overshot N and the path zig-zagged across the bound for several
    iterations. The KKT test reads the first stage's step."""
    fixed = ((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0))
    step, lin, pd, size = _projected_steps(~fixed, g, H)
    finite = jnp.all(jnp.isfinite(g)) & jnp.all(jnp.isfinite(H)) & jnp.all(jnp.isfinite(step))
    kkt = pd & finite & (size <= tol * (1.0 + jnp.max(jnp.abs(x))))
    leaves = ~fixed & (((x <= lo) & (step < 0)) | ((x >= hi) & (step > 0)))
    step2, lin2, _, _ = _projected_steps(~(fixed | leaves), g, H)
    again = jnp.any(leaves)
    return jnp.where(again, step2, step), jnp.where(again, lin2, lin), kkt, finite


def _projected_steps(free: Array, g: Array, H: Array):
    """:func:`_newton_steps`' two steps on the ``free`` levers (the others' step zero), whether
    their Hessian is positive definite, and the size of the log step before it is capped."""
    eye = jnp.asarray(_EYE2)
    both = free[:, None] & free[None, :]
    gf = jnp.where(free, g, 0.0)
    step, pd = _solve2(jnp.where(both, H, eye), gf)
    # Not positive definite: shift by the smallest eigenvalue plus a margin.
    a, b, d = (jnp.where(both, H, eye)[i, j] for i, j in ((0, 0), (0, 1), (1, 1)))
    lam = 0.5 * (a + d) - jnp.sqrt(0.25 * (a - d) ** 2 + b * b)
    shift = -lam + 1e-3 * jnp.maximum(jnp.abs(a), jnp.abs(d)) + 1e-300
    shifted, _ = _solve2(jnp.where(both, H, eye) + shift * eye, gf)
    step = jnp.where(pd, step, shifted)
    size = jnp.max(jnp.abs(step))
    step = step * jnp.minimum(1.0, MAX_STEP / jnp.where(size > 0, size, 1.0))
    # In z = exp(u): Hessian (H − diag g)/(z zᵀ), so the relative step s solves
    # (H − diag g) s = −g; where the cost is nearly linear in a lever (a lever running
    # down to its bound) this step lands where the log step would creep, an e-fold at most.
    rel, pd_lin = _solve2(jnp.where(both, H - jnp.diag(g), eye), gf)
    lin = jnp.minimum(jnp.log(jnp.maximum(1.0 + rel, 1e-300)), MAX_STEP)
    lin = jnp.where(pd_lin & jnp.all(jnp.isfinite(lin)), lin, step)
    return step, lin, pd, size


def _take(fun: Callable, x, c, g, step, lin, kkt, finite, lo, hi):
    """Line search: the cheaper of the full log and linear steps where one passes Armijo's
    test, else backtracking along the log step. Returns (new x, accepted)."""
    def armijo(xn, cn, on):
        return ~on & (cn <= c + 1e-4 * jnp.dot(g, xn - x))

    trial = jnp.clip(jnp.stack([x + step, x + lin]), lo, hi)
    ct, ot = _barrier(jax.vmap(fun)(trial))
    good = armijo(trial, ct, ot)
    pick = jnp.where(good[1] & (~good[0] | (ct[1] < ct[0])), 1, 0)

    def back_cond(ls):
        _, xn, cn, on, k = ls
        return ~armijo(xn, cn, on) & (k < LINE_SEARCH) & ~kkt & finite

    def back(ls):
        t, _, _, _, k = ls
        xn = jnp.clip(x + t * step, lo, hi)
        return (0.5 * t, xn, *_barrier(fun(xn)), k + 1)

    _, xn, cn, on, _ = jax.lax.while_loop(back_cond, back,
                                          (0.5, trial[pick], ct[pick], ot[pick], 0))
    # The last (tiny) Newton step is taken without a line search: rounding, not descent,
    # decides its cost comparison; only a step out of reach is refused.
    accepted = finite & (armijo(xn, cn, on) | (kkt & ~on))
    return jnp.where(accepted, xn, x), accepted


def _predict(x1: Array, t1: Array, x0: Array, t0: Array, h: Array, h1: Array, cubic: Array,
             lo: Array, hi: Array) -> Array:
    """The two-lever path's start at the next Q (log Q a step ``h`` past the last point x1,
    which is ``h1`` past the one before, x0), projected on the box: the cubic through both
    points with their tangents (Hermite, t1[0] and t0[0]: :func:`_tangents`) extrapolated,
    where ``cubic`` and the levers free at both are the same, else the tangent's line. Where
    that crosses a lever's bound, the other lever follows the tangent to the crossing and its
    tangent with the bound's lever held (t1[1]) beyond: the bound's lever stops there, and
    the other's path bends."""
    d1, d0 = t1[0], t0[0]
    s = jnp.where(h1 != 0, h1, 1.0)
    # p(τ) = x1 + d1 τ + a τ² + b τ³ with p(−s) = x0, p'(−s) = d0.
    A, B = x0 - x1 + d1 * s, d0 - d1
    a, b = (3.0 * A + B * s) / s**2, (B + 2.0 * A / s) / s**2
    same = cubic & jnp.all((d1 == 0) == (d0 == 0))
    pred = x1 + d1 * h + jnp.where(same, a * h**2 + b * h**3, 0.0)
    over = (pred < lo) | (pred > hi)
    step = d1 * h
    tau = jnp.clip((jnp.where(pred < lo, lo, hi) - x1) / jnp.where(step != 0, step, 1.0), 0.0,
                   1.0)
    # Lever i follows the crossing of the other one, j = 1 − i.
    bend = x1 + step * tau[::-1] + t1[1] * (1.0 - tau[::-1]) * h
    pred = jnp.where(over[::-1] & ~over, bend, pred)
    return jnp.clip(pred, lo, hi)


def make_path_solver(tech, hyp: Hypothesis) -> Callable[[dict, dict, Array], dict]:
    """Solve one hypothesis along an increasing Q grid by continuation: the first Q from a
    coarse bracket (one lever) or grid (two), each next one by Newton from the optimum predicted
    by the last two (a few steps, since the optimum moves smoothly with Q). Returns arrays over
    the grid; vmap over draws × prices."""
    problem = _Problem(tech, hyp)

    def path(th: dict, pr: dict, Qs: Array) -> dict:
        lq = jnp.log(jnp.maximum(Qs, 1e-300))
        if problem.newton2:
            return path2(th, pr, Qs, lq)
        first, x_first = problem.solve_u(th, pr, Qs[0])

        def step(carry, i):
            x1, x0 = carry
            # Predict by extrapolating the last two optima linearly in log Q (secant
            # continuation); the first step, or one next to Q = 0, starts from the last optimum.
            slope = (x1 - x0) / jnp.where(lq[i - 1] != lq[i - 2], lq[i - 1] - lq[i - 2], 1.0)
            ok = (i >= 2) & (Qs[i - 2] > 0) & jnp.isfinite(slope)
            pred = jnp.where(ok, x1 + slope * (lq[i] - lq[i - 1]), x1)
            out, x = problem.solve_u(th, pr, Qs[i], pred[0])
            return (x, x1), out

        _, rest = jax.lax.scan(step, (x_first, x_first), jnp.arange(1, Qs.shape[0]))
        return {k: jnp.concatenate([first[k][None], rest[k]]) for k in first}

    def path2(th: dict, pr: dict, Qs: Array, lq: Array) -> dict:
        # Two levers: the first Q from a coarse grid, then a fixed number of Newton steps from
        # the optimum's prediction (_predict: the tangents in log Q, projected on the
        # box); a point that fails the certificate is re-solved after the path (_refine).
        lo, hi = problem.box(th)
        start = _grid_start(lambda u: problem.reduced(u, th, pr, Qs[0]), lo, hi, PATH2_GRID)

        first, d_first = problem.path_point(th, pr, Qs[0], start, PATH2_COLD_ITERATIONS, start)

        def step(carry, i):
            x1, t1, x0, t0 = carry
            h, h1 = lq[i] - lq[i - 1], lq[i - 1] - lq[i - 2]
            pred = _predict(x1, t1, x0, t0, h, h1, (i >= 2) & (Qs[jnp.maximum(i - 2, 0)] > 0),
                            lo, hi)
            pred = jnp.where((Qs[i - 1] > 0) & jnp.all(jnp.isfinite(pred)), pred, x1)
            # The prediction can still land out of reach (no line search follows): start from
            # the last point instead, and carry it on past a point that ended out of reach.
            pred = jnp.where(problem.reduced_w(pred, th, out=True)[1], x1, pred)
            # The second Q's prediction is a line (PATH2_FIRST_ITERATIONS steps from it).
            iters = jnp.where(i == 1, PATH2_FIRST_ITERATIONS, PATH2_ITERATIONS)
            out, d = problem.path_point(th, pr, Qs[i], pred, iters, x1)
            return (jnp.where(out["status"] == 2, x1, out[PATH_X]), d, x1, t1), out

        x_first = first[PATH_X]
        _, rest = jax.lax.scan(step, (x_first, d_first, x_first, d_first),
                               jnp.arange(1, Qs.shape[0]))
        return {k: jnp.concatenate([jnp.asarray(first[k])[None], rest[k]]) for k in first}

    return path


BLOCK = 64  # lanes per compiled call: one shape, so one compilation serves every batch size
BLOCK_PATH = 256  # lanes per call of the continuation solver (each lane is a whole Q grid)
#: Lanes per call of the continuation solver in a large batch (:func:`path_block`): its loop
#: over Q runs hundreds of small kernels per step, whose fixed cost 256 lanes do not amortise
#: (the three-lever path costs about a quarter less per point in blocks of 1024). A lane's
#: bytes do not depend on its block's size or its place in it (lanes never interact; tested).
BLOCK_PATH_LARGE = 1024
#: Points per call of the re-solves of a path's uncertified points (:func:`_refine`): a call
#: costs about a millisecond whatever its size, as much as solving a thousand points.
BLOCK_REFINE = 1024
#: Points per call of the nested-bisection fallback (:func:`_fallback`): a run sends it a few
#: points at a time (16 of the 11,658 of ``heavy_training_vs_long_context``, one or two per step
#: of its heavy-vs-balanced break-even, 17 steps), and a lane costs the same whether it is
#: padding or not, so a block of 64 spent ~90% of this solver's time on padding. A call's
#: vmapped loops also run as long as its slowest lane: on that scenario's technology a call took
#: 3.4, 3.8, 21 and 53 ms of CPU at 1, 2, 4 and 8 lanes (lanes at several Q), so 2 (was 8); in
#: its warm run the fallback's calls took 0.79 s of wall time in all (40 calls) against 1.14 s
#: (19 calls of 8).
BLOCK_NESTED = 2
#: Threads that solve the nested fallback's blocks at once (:func:`_in_blocks`): its calls,
#: dispatched one after another, ran one after another (16 points of
#: ``heavy_training_vs_long_context`` in 8 calls, and 2 calls in most steps of its break-even
#: search); a lane's result does not depend on the thread.
NESTED_WORKERS = 2
#: Shortest Q grid solved by continuation. The continuation solver compiles once per grid length
#: (the grid is its shared argument) and costs more to compile than the point solver, which the
#: break-even search compiles anyway; a short grid (the shock table's two Q) gains nothing from
#: continuation, so it is solved point by point (in the reasoning example this saves compiling a
#: second continuation solver, about a third of its compile time).
PATH_MIN_Q = 4


def path_block(lanes: int) -> int:
    """Lanes per call of the continuation solver for a batch of ``lanes`` lanes: the large
    block (:data:`BLOCK_PATH_LARGE`) where its padding costs at most a quarter more lanes than
    the small block's, which keeps small runs (and their compilation) on :data:`BLOCK_PATH`.

    Examples
    --------
    >>> from structural.counterfactual.engine import path_block
    >>> path_block(300), path_block(1100), path_block(4000)
    (256, 256, 1024)
    """
    def padded(block):
        return -(-lanes // block) * block

    return BLOCK_PATH_LARGE if padded(BLOCK_PATH_LARGE) <= 1.25 * padded(BLOCK_PATH) \
        else BLOCK_PATH


def _in_blocks(fn: Callable, mapped: Sequence[Mapping[str, Array] | Array], shared: tuple,
               n: int, block: int = BLOCK, keep: Collection[str] | None = None,
               workers: int = 1) -> dict[str, np.ndarray]:
    """Apply ``fn`` (a jitted vmap over :data:`BLOCK` lanes) to a batch of n lanes, block by
    block (the last block padded with copies of its last lane).

    Every call has the same shape, so each solver compiles once however many draws, prices and
    Q a run has (compiling dominates small runs); small blocks also stay in cache and let each
    block's Newton loop stop as soon as its own lanes have converged. With several local devices
    (:func:`estimation.distributed.batch_mesh`) each call takes one block per device, sharded
    along the lanes (``NamedSharding(mesh, P("batch"))``): every device runs the one-block
    program on its own block, and each lane's result keeps its bytes (lanes never interact).

    Blocks are dispatched (asynchronously) at most :func:`in_flight` ahead of the one whose
    results are copied out, and only the fields in ``keep`` (default all) are copied, straight
    into their place in the returned arrays. A block's outputs are then released before the
    next ones are made, so a large batch works in the same few blocks' worth of memory, warm in
    cache and in the page tables, as a small one: holding every block's outputs (23 fields of
    each point for the three-lever path) and joining them at the end touched about 250 fresh
    bytes per point, whose page faults made a large batch dearer per point than a small one.

    ``workers`` > 1 (one device): the blocks are solved on that many threads at once, for a
    solver called on a few small blocks whose calls would otherwise run one after another."""
    mesh = batch_mesh()
    group = block * (1 if mesh is None else mesh.size)
    m = -(-n // group) * group
    arrays = [{k: np.asarray(v, dtype=np.float64) for k, v in x.items()}
              if isinstance(x, Mapping) else np.asarray(x, dtype=np.float64) for x in mapped]

    def part(a, start):
        # Only the last block is padded (a copy of that block, not of the whole batch).
        p = a[start:start + group]
        return p if len(p) == group else np.concatenate(
            [p, np.repeat(p[-1:], group - len(p), axis=0)])

    res: dict[str, np.ndarray] = {}

    def collect(start: int, o: Mapping[str, Array]) -> None:
        stop = min(start + group, n)
        for k, v in o.items():
            if keep is None or k in keep:
                v = np.asarray(v)
                if k not in res:
                    res[k] = np.empty((n, *v.shape[1:]), v.dtype)
                res[k][start:stop] = v[:stop - start]

    def call(start: int) -> Mapping[str, Array]:
        blk = [{k: part(v, start) for k, v in x.items()} if isinstance(x, dict)
               else part(x, start) for x in arrays]
        return fn(*(blk if mesh is None else shard_batch(blk, mesh)), *shared)

    if workers > 1 and mesh is None and m > group:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="blocks") as pool:
            starts = range(0, m, group)
            for start, o in zip(starts, pool.map(
                    lambda a: {k: np.asarray(v) for k, v in call(a).items()}, starts),
                    strict=True):
                collect(start, o)
        return res
    ahead = in_flight()
    pending: deque = deque()
    for start in range(0, m, group):   # fixed-size blocks of one batch, not scenarios
        pending.append((start, call(start)))
        if len(pending) > ahead:
            collect(*pending.popleft())
    while pending:
        collect(*pending.popleft())
    return res


def in_flight() -> int:
    """Blocks :func:`_in_blocks` dispatches ahead of the one it copies out: one per CPU core
    (the runtime runs blocks on a pool of that many threads), so that none waits for work."""
    return max(2, os.cpu_count() or 1)


@dataclass
class Solution:
    """Solved grid: ``values[h][field]`` arrays of shape (K draws, P price points, nQ).

    Examples
    --------
    Two fixed-inference hypotheses of Erdil's (2024) training/inference trade-off, in FLOPs:

    >>> import numpy as np
    >>> from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, solve_grid
    >>> tech = TradeoffTechnology(Target("performance", 60.0))
    >>> hyps = [Hypothesis("train_more", ("T",), fixed={"I": 1e9}),
    ...         Hypothesis("infer_more", ("T",), fixed={"I": 1e11})]
    >>> theta = {"w_T": np.array([1.0]), "w_I": np.array([1.0])}
    >>> prices = {"train_chip_hour": np.array([1.0]), "serve_chip_hour": np.array([1.0])}
    >>> Q = np.geomspace(1e3, 1e12, 10)
    >>> sol = solve_grid(tech, hyps, theta, prices, Q)
    >>> sol.hypotheses, sol.total("train_more").shape
    (['train_more', 'infer_more'], (1, 1, 10))
    """

    hypotheses: list[str]
    Q: np.ndarray
    values: dict[str, dict[str, np.ndarray]]
    #: Points per hypothesis where the two-lever Newton failed its KKT test and neither it nor
    #: the ridge solve was certified, so the nested bisection solved them (absent: a hypothesis
    #: without that solver).
    fallbacks: dict[str, int] = field(default_factory=dict)

    def total(self, h: str) -> np.ndarray:
        return self.values[h]["total"]

    def feasible(self, h: str) -> np.ndarray:
        return self.values[h]["status"] < 2


def _flat_batch(theta: Mapping[str, Array], prices: Mapping[str, Array], Q: Array):
    """Broadcast theta (K,), prices (P,), Q (nQ,) to a flat (K·P·nQ,) batch."""
    K = len(next(iter(theta.values())))
    P = len(next(iter(prices.values())))
    nQ = len(Q)
    # NumPy on the host: each jnp.broadcast_to here was a one-op program compiled every run.
    th = {k: np.broadcast_to(np.asarray(v, np.float64)[:, None, None], (K, P, nQ)).ravel()
          for k, v in theta.items()}
    pr = {k: np.broadcast_to(np.asarray(v, np.float64)[None, :, None], (K, P, nQ)).ravel()
          for k, v in prices.items()}
    q = np.broadcast_to(np.asarray(Q, np.float64)[None, None, :], (K, P, nQ)).ravel()
    return th, pr, q, (K, P, nQ)


_COMPILED: dict[tuple, Callable] = {}


def _compiled(fn: Callable, kind: str, solver: Callable) -> Callable:
    """``jax.jit(fn)``, ``fn`` being ``solver`` as batched for the solve ``kind``, with its traced
    program kept between runs (:func:`estimation.compilation.traced_jit`): keyed by ``kind``
    and the solver's code and captured values (technology, hypothesis), so a warm run reads it
    back instead of tracing and lowering it again. Every compiled site of the engine goes
    through here. The key also holds the module's numeric settings (iteration counts,
    tolerances), which the solvers read when traced: a program traced under other settings (a
    test or a user tuning them) is never read back."""
    from structural.counterfactual import model

    settings = {f"{m.__name__}.{k}": v for m in (model, _this_module()) for k, v in vars(m).items()
                if k.isupper() and isinstance(v, (bool, int, float, str))}
    return traced_jit(fn, (kind, solver, settings))


def _this_module():
    import sys

    return sys.modules[__name__]


def _key(tech) -> str:
    """Cache key of a technology without its target value (the value travels as data)."""
    return repr(dataclasses.replace(tech, target=type(tech.target)(tech.target.kind, 0.0)))


def with_target(tech, theta: Mapping[str, Array]) -> dict[str, Array]:
    """theta plus the target value as a parameter (one per draw), unless already there."""
    th = dict(theta)
    if "target" not in th:
        K = len(np.atleast_1d(next(iter(th.values()))))
        th["target"] = np.full(K, float(tech.target.value))
    return th


def batched_solver(tech, hyp: Hypothesis) -> Callable:
    """``jit(vmap(make_solver(tech, hyp)))``, cached per (technology, hypothesis)."""
    own = tech.own_batched_solver(hyp)
    if own is not None:
        return own
    key = (_key(tech), repr(hyp))
    if key not in _COMPILED:
        solver = make_solver(tech, hyp)
        _COMPILED[key] = _compiled(jax.vmap(solver), "point", solver)
    return _COMPILED[key]


def batched_path_solver(tech, hyp: Hypothesis) -> Callable:
    """``jit`` of the continuation solver over lanes (draw × price) sharing one Q grid."""
    key = ("path", _key(tech), repr(hyp))
    if key not in _COMPILED:
        path = make_path_solver(tech, hyp)
        _COMPILED[key] = _compiled(jax.vmap(path, in_axes=(0, 0, None)), "path", path)
    return _COMPILED[key]


def batched_nested_solver(tech, hyp: Hypothesis) -> Callable:
    """``jit(vmap)`` of the nested-bisection solver of a two-lever hypothesis (the fallback)."""
    key = ("nested", _key(tech), repr(hyp))
    if key not in _COMPILED:
        nested = _Problem(tech, hyp, nested=True).solve
        _COMPILED[key] = _compiled(jax.vmap(nested), "nested", nested)
    return _COMPILED[key]


def batched_ridge_solver(tech, hyp: Hypothesis) -> Callable:
    """``jit(vmap)`` of :meth:`_Problem.ridge` (points where the two-lever Newton failed)."""
    key = ("ridge", _key(tech), repr(hyp))
    if key not in _COMPILED:
        ridge = _Problem(tech, hyp).ridge
        _COMPILED[key] = _compiled(jax.vmap(ridge), "ridge", ridge)
    return _COMPILED[key]


def batched_refine_solver(tech, hyp: Hypothesis, robust: bool = False) -> Callable:
    """``jit(vmap)`` of :meth:`_Problem.refine` (``robust``: :meth:`_Problem.solve_from`), the
    re-solves of the path's uncertified points (:func:`_refine`); the first takes its step
    count as a shared last argument."""
    key = ("refine", robust, _key(tech), repr(hyp))
    if key not in _COMPILED:
        solve = _Problem(tech, hyp).solve_from if robust else _Problem(tech, hyp).refine
        axes = 0 if robust else (0, 0, 0, 0, None)
        _COMPILED[key] = _compiled(jax.vmap(solve, in_axes=axes),
                                   "robust" if robust else "refine", solve)
    return _COMPILED[key]


def _refine(tech, hyp: Hypothesis, out: dict[str, np.ndarray], th: Mapping[str, Array],
            pr: Mapping[str, Array], q_at: Callable[[tuple], np.ndarray]) -> int:
    """Re-solve, in place, the points of a two-lever path that failed its certificate
    (:meth:`_Problem.path_point`): first by more of the path's Newton steps from the path's
    point and its start (:meth:`_Problem.refine`: :data:`REFINE_SHORT`, then
    :data:`REFINE_ITERATIONS`), then those still uncertified by
    :func:`_newton2` with its line search (:meth:`_Problem.solve_from`); a point that this also
    fails keeps ``CONVERGED`` False for :func:`_fallback`. The points are gathered, so only
    they pay for the extra steps. Returns the number of points re-solved."""
    if PATH_X not in out:
        return 0
    first = None
    for steps in (REFINE_SHORT, REFINE_ITERATIONS, None):   # None: the line-searched Newton
        bad = np.nonzero(~np.asarray(out[CONVERGED], dtype=bool))
        n = len(bad[0])
        first = n if first is None else first
        if not n:
            break
        lanes = bad[0]
        # The step count as NumPy (as Q in solve_grid): the kept program's cheap signature.
        fix = _in_blocks(batched_refine_solver(tech, hyp, steps is None),
                         [{k: np.asarray(v)[lanes] for k, v in th.items()},
                          {k: np.asarray(v)[lanes] for k, v in pr.items()}, q_at(bad),
                          np.stack([out[PATH_X][bad], out[PATH_X0][bad]], axis=1)],
                         () if steps is None else (np.asarray(steps, np.int32),), n,
                         BLOCK_REFINE)
        for k, v in out.items():
            v[bad] = fix[k].astype(v.dtype)
    out.pop(PATH_X), out.pop(PATH_X0)
    return first


def _fallback(tech, hyp: Hypothesis, out: dict[str, np.ndarray], th: Mapping[str, Array],
              pr: Mapping[str, Array], q_at: Callable[[tuple], np.ndarray]) -> int | None:
    """Re-solve, in place, the points of ``out`` where the two-lever Newton failed its KKT test
    (``th``, ``pr`` indexed by the first axis of ``out``'s arrays, ``q_at`` giving Q at the failed
    points' indices): first along the cost's ridge from Newton's end point
    (:meth:`_Problem.ridge`, where the technology has one), then by nested bisection where that
    is not certified. Returns the number solved by nested bisection (None: no such solver)."""
    converged = out.pop(CONVERGED, None)
    if converged is None:
        return None

    def gather(bad):
        lanes = bad[0]
        return [{k: np.asarray(v)[lanes] for k, v in th.items()},
                {k: np.asarray(v)[lanes] for k, v in pr.items()}, q_at(bad)]

    bad = np.nonzero(~np.asarray(converged, dtype=bool))
    problem = _Problem(tech, hyp)
    if len(bad[0]) and RIDGE:
        args = gather(bad)
        x = problem.coords({v: out[f"lever_{v}"][bad] for v in problem.opt}, args[0])
        fix = _in_blocks(batched_ridge_solver(tech, hyp), [*args, x], (), len(bad[0]))
        ok = fix.pop(CONVERGED).astype(bool)
        for k, v in out.items():
            v[tuple(b[ok] for b in bad)] = fix[k][ok]
        bad = tuple(b[~ok] for b in bad)
    n = len(bad[0])
    if n:
        fix = _in_blocks(batched_nested_solver(tech, hyp), gather(bad), (), n, BLOCK_NESTED,
                         workers=NESTED_WORKERS)
        for k, v in out.items():
            v[bad] = fix[k]
    return n


def solve_flat(tech, hyp: Hypothesis, th: Mapping[str, Array], pr: Mapping[str, Array],
               q: Array, counts: dict[str, int] | None = None,
               fields: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Solve one hypothesis on a flat batch (every array of the same length n); the number of
    points re-solved by the fallback goes to ``counts[hyp.name]``; ``fields``: the output fields
    to return (default all)."""
    out = _in_blocks(batched_solver(tech, hyp), [th, pr, q], (), len(q),
                     keep=_kept(tech, hyp, fields))
    n = _fallback(tech, hyp, out, th, pr, lambda bad: np.asarray(q)[bad[0]])
    if n is not None and counts is not None:
        counts[hyp.name] = n
    return out


def _kept(tech, hyp: Hypothesis, fields: Collection[str] | None) -> set[str] | None:
    """The output fields a solve copies out: ``fields``, ``total`` and ``status``, and what the
    re-solves of uncertified points read (the path's points, the optimised levers)."""
    if fields is None:
        return None
    opt = _plan(tech, hyp)[1] if tech.own_solver(hyp) is None else []
    return {*fields, "total", "status", PATH_X, PATH_X0, CONVERGED,
            *(f"lever_{v}" for v in opt)}


def solve_grid(tech, hypotheses: Sequence[Hypothesis], theta: Mapping[str, Array],
               prices: Mapping[str, Array], Q: Array, *,
               fields: Collection[str] | None = None) -> Solution:
    """Solve every hypothesis on the (draws × prices × Q) grid, batched (vmap over lanes).

    A sweep that keeps few ``fields`` copies only those out of each solved block.

    Parameters
    ----------
    tech : technology (see :mod:`structural.counterfactual.model`)
    hypotheses : the investment hypotheses to compare
    theta : parameter name → array of K draws (K = 1 for published constants)
    prices : price field → array of P price points
    Q : lifetime queries, array of nQ values
    fields : output fields to keep, default all (``total`` and ``status`` are always kept)

    Examples
    --------
    >>> import numpy as np
    >>> from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, solve_grid
    >>> tech = TradeoffTechnology(Target("performance", 60.0))
    >>> hyps = [Hypothesis("train_more", ("T",), fixed={"I": 1e9}),
    ...         Hypothesis("infer_more", ("T",), fixed={"I": 1e11})]
    >>> theta = {"w_T": np.array([1.0]), "w_I": np.array([1.0])}
    >>> prices = {"train_chip_hour": np.array([1.0]), "serve_chip_hour": np.array([1.0])}
    >>> Q = np.geomspace(1e3, 1e12, 10)
    >>> sol = solve_grid(tech, hyps, theta, prices, Q)
    >>> [f"{c:.3g}" for c in sol.total("train_more")[0, 0, :3]]
    ['1.14e+17', '1.14e+17', '1.14e+17']
    """
    theta = with_target(tech, theta)
    K, P, nQ = shape = (len(next(iter(theta.values()))), len(next(iter(prices.values()))),
                        len(Q))
    flat = None   # the (K·P·nQ,) batch, built only for a hypothesis that needs it
    values = {}
    fallbacks: dict[str, int] = {}
    for hyp in hypotheses:  # hypotheses differ in structure (which levers are free): one each
        if make_solver(tech, hyp).warm_start and nQ >= PATH_MIN_Q and np.all(np.diff(Q) > 0):
            lane_th = {k: np.broadcast_to(np.asarray(v, float)[:, None], (K, P)).ravel()
                       for k, v in theta.items()}
            lane_pr = {k: np.broadcast_to(np.asarray(v, float)[None, :], (K, P)).ravel()
                       for k, v in prices.items()}
            # Q as NumPy, not JAX: a call whose arguments are all NumPy finds its kept program
            # by shapes alone, not by spelling out its ~57 leaves' JAX types (0.34 ms a call).
            out = _in_blocks(batched_path_solver(tech, hyp), [lane_th, lane_pr],
                             (np.asarray(Q, np.float64),), K * P, path_block(K * P),
                             keep=_kept(tech, hyp, fields))
            REFINED[hyp.name] = REFINED.get(hyp.name, 0) + _refine(
                tech, hyp, out, lane_th, lane_pr,
                lambda bad: np.asarray(Q, dtype=np.float64)[bad[1]])
            n = _fallback(tech, hyp, out, lane_th, lane_pr,
                          lambda bad: np.asarray(Q, dtype=np.float64)[bad[1]])
            if n is not None:
                fallbacks[hyp.name] = n
            values[hyp.name] = {k: v.reshape(shape) for k, v in out.items()}
        else:
            if flat is None:
                flat = _flat_batch(theta, prices, Q)[:3]
            out = solve_flat(tech, hyp, *flat, counts=fallbacks, fields=fields)
            values[hyp.name] = {k: v.reshape(shape) for k, v in out.items()}
    return Solution([h.name for h in hypotheses], np.asarray(Q, dtype=float), values, fallbacks)


def breakeven(tech, h1: Hypothesis, h2: Hypothesis, theta: Mapping[str, Array],
              prices: Mapping[str, Array], Q: Array, sol: Solution,
              iters: int = 16) -> dict[str, np.ndarray]:
    """Break-even lifetime queries between two hypotheses for every draw and price point.

    The first sign change of C_h1(Q) − C_h2(Q) on the Q grid is refined by the Illinois method in
    log Q (both problems re-solved at every step, in one batch). Returns arrays of shape (K, P):
    ``Q`` (NaN where there is no crossing in the grid's range; see ``crossed``), ``crossed``,
    ``crossings`` (number of sign changes on the grid) and ``cheaper_below`` (+1 where h1 is
    cheaper below the break-even, −1 where h2 is).

    Examples
    --------
    Above about a million lifetime queries, spending on training beats spending on inference:

    >>> import numpy as np
    >>> from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, solve_grid
    >>> tech = TradeoffTechnology(Target("performance", 60.0))
    >>> hyps = [Hypothesis("train_more", ("T",), fixed={"I": 1e9}),
    ...         Hypothesis("infer_more", ("T",), fixed={"I": 1e11})]
    >>> theta = {"w_T": np.array([1.0]), "w_I": np.array([1.0])}
    >>> prices = {"train_chip_hour": np.array([1.0]), "serve_chip_hour": np.array([1.0])}
    >>> Q = np.geomspace(1e3, 1e12, 10)
    >>> from structural.counterfactual import breakeven
    >>> sol = solve_grid(tech, hyps, theta, prices, Q)
    >>> be = breakeven(tech, hyps[0], hyps[1], theta, prices, Q, sol)
    >>> f"{float(be['Q'][0, 0]):.3g}", int(be["cheaper_below"][0, 0])
    ('1.14e+06', -1)
    """
    return breakevens(tech, [(h1, h2)], theta, prices, Q, sol, iters)[0]


def _first_crossing(sol: Solution, h1: Hypothesis, h2: Hypothesis, Q: Array) -> dict:
    """The first sign change of C_h1(Q) − C_h2(Q) on the Q grid per draw and price: a search's
    starting state for :func:`breakevens` (bracket ends ``lo``/``hi`` flat over (K, P))."""
    c1, c2 = sol.total(h1.name), sol.total(h2.name)          # (K, P, nQ), inf: infeasible
    valid = np.isfinite(c1) & np.isfinite(c2)
    with np.errstate(invalid="ignore"):
        d = c1 - c2
        # Costs equal to solver precision are ties, not crossings (nested hypotheses meet there).
        tie = np.abs(d) <= TIE * np.maximum(np.abs(c1), np.abs(c2))
    s = np.where(valid, np.where(tie, 0.0, np.sign(d)), np.nan)
    change = (s[..., :-1] * s[..., 1:] < 0)
    crossed = change.any(axis=-1)
    first = np.argmax(change, axis=-1)
    Qg = np.asarray(Q, dtype=float)
    qlo = np.where(crossed, Qg[first], Qg[0])
    qhi = np.where(crossed, Qg[np.minimum(first + 1, len(Qg) - 1)], Qg[0])
    below = np.take_along_axis(s, first[..., None], axis=-1)[..., 0]
    return {"h": (h1, h2), "crossed": crossed, "change": change, "below": below,
            "lo": qlo.ravel().copy(), "hi": qhi.ravel().copy(), "todo": crossed.ravel()}


def _illinois_update(r: dict, x: np.ndarray, ln: np.ndarray, f: np.ndarray,
                     g: np.ndarray) -> None:
    """One Illinois step of search ``r``: lanes ``g`` (their indices ``ln``) evaluated at
    ``x[ln]`` gave Δ = ``f``; the bracket end on Δ's side moves to x."""
    fx = np.full(len(x), np.nan)
    fx[ln] = f
    a, c, fa, fc, side = r["a"], r["c"], r["fa"], r["fc"], r["side"]
    same_a = np.sign(fx) == np.sign(fa)
    # Illinois: halve the stale end's value when the same end is kept twice in a row.
    fc = np.where(g & same_a & (side == 1), 0.5 * fc, fc)
    fa = np.where(g & ~same_a & (side == -1), 0.5 * fa, fa)
    r["a"], r["fa"] = np.where(g & same_a, x, a), np.where(g & same_a, fx, fa)
    r["c"], r["fc"] = np.where(g & ~same_a, x, c), np.where(g & ~same_a, fx, fc)
    r["side"] = np.where(g, np.where(same_a, 1, -1), side)


def _lockstep_deltas(tech, live: list[dict], th: dict, pr: dict, lanes: list, ts: list,
                     pool: Any = None) -> list:
    """Δ = log C_h1 − log C_h2 of search ``live[i]`` on its lanes ``lanes[i]`` at ``ts[i]`` (one
    t per lane; Q = t where the search is linear, e^t otherwise): every hypothesis solved once
    over the lanes of all searches (:func:`breakevens`), each on a thread of ``pool`` where one
    is given (a lane's result does not depend on the thread or the other lanes)."""
    parts: dict[str, list] = {}
    for i, r in enumerate(live):
        for h in r["h"]:
            parts.setdefault(h.name, [h, []])[1].append(i)
    solved = {}
    for name, (h, users) in parts.items():
        users = [i for i in users if len(lanes[i])]
        if not users:
            continue
        th_l = {k: np.concatenate([live[i]["th"][k][lanes[i]] for i in users])
                for k in th}
        pr_l = {k: np.concatenate([live[i]["pr"][k][lanes[i]] for i in users])
                for k in pr}
        q_l = np.concatenate([np.where(live[i]["lin"][lanes[i]], ts[i], np.exp(ts[i]))
                              for i in users])
        args = (tech, h, th_l, pr_l, q_l)
        solved[name] = (users, solve_flat(*args) if pool is None
                        else pool.submit(solve_flat, *args))
    totals: dict[tuple[int, str], np.ndarray] = {}
    for name, (users, out) in solved.items():
        tot = (out if pool is None else out.result())["total"]
        cuts = np.cumsum([len(lanes[i]) for i in users])[:-1]
        for i, piece in zip(users, np.split(tot, cuts), strict=True):
            totals[(i, name)] = piece
    outs = []
    for i, r in enumerate(live):
        out = np.full(len(lanes[i]), np.nan)
        if len(lanes[i]):
            with np.errstate(invalid="ignore", divide="ignore"):
                out = (np.log(totals[(i, r["h"][0].name)])
                       - np.log(totals[(i, r["h"][1].name)]))
        outs.append(out)
    return outs


def breakevens(tech, pairs: Sequence[tuple[Hypothesis, Hypothesis]], theta: Mapping[str, Array],
               prices: Mapping[str, Array], Q: Array, sol: Solution,
               iters: int = 16, *, parallel: bool = False) -> list[dict[str, np.ndarray]]:
    """:func:`breakeven` of several pairs of hypotheses, searched in lockstep: each step of the
    Illinois method solves each hypothesis once, over the lanes of every pair that still needs
    it, instead of once per pair (a hypothesis in two pairs, e.g. the ``balanced`` of
    ``heavy_training vs balanced`` and ``long_context vs balanced``, shares its blocks and the
    fallback's). Each lane's steps are those of :func:`breakeven` alone (a point's solution
    does not depend on the other points of its batch), so the results are the same.

    ``parallel``: each step's hypotheses are solved at once, one thread each (compiled solvers
    release the GIL), for a run whose solvers are already compiled (a cold run would compile
    them on several threads at once). The step then lasts as long as its slowest hypothesis
    instead of all of them: in ``heavy_training_vs_long_context`` the few lanes of
    ``balanced`` that fail Newton's test and go to the ridge and nested solvers (about 60 ms
    a step), beside some 400 lanes of each other hypothesis. Same results.

    Examples
    --------
    Two pairs, one search: the results are :func:`breakeven`'s pair by pair.

    >>> import numpy as np
    >>> from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, solve_grid
    >>> from structural.counterfactual import breakeven
    >>> from structural.counterfactual.engine import breakevens
    >>> tech = TradeoffTechnology(Target("performance", 60.0))
    >>> hyps = [Hypothesis("train_more", ("T",), fixed={"I": 1e9}),
    ...         Hypothesis("infer_more", ("T",), fixed={"I": 1e11}),
    ...         Hypothesis("infer_most", ("T",), fixed={"I": 1e12})]
    >>> theta = {"w_T": np.array([1.0]), "w_I": np.array([1.0])}
    >>> prices = {"train_chip_hour": np.array([1.0]), "serve_chip_hour": np.array([1.0])}
    >>> Q = np.geomspace(1e3, 1e12, 10)
    >>> sol = solve_grid(tech, hyps, theta, prices, Q)
    >>> both = breakevens(tech, [(hyps[0], hyps[1]), (hyps[0], hyps[2])], theta, prices, Q, sol)
    >>> one = breakeven(tech, hyps[0], hyps[2], theta, prices, Q, sol)
    >>> f"{float(both[0]['Q'][0, 0]):.3g}", bool(np.array_equal(both[1]["Q"], one["Q"]))
    ('1.14e+06', True)
    """
    if not pairs:
        return []
    searches = [_first_crossing(sol, h1, h2, Q) for h1, h2 in pairs]
    K, P = searches[0]["crossed"].shape
    theta = with_target(tech, theta)
    th = {k: np.broadcast_to(np.asarray(v, float)[:, None], (K, P)).ravel()
          for k, v in theta.items()}
    pr = {k: np.broadcast_to(np.asarray(v, float)[None, :], (K, P)).ravel()
          for k, v in prices.items()}
    # Illinois (modified regula falsi) on Δ(t) = log C_h1 − log C_h2 with t = log Q (t = Q next
    # to Q = 0): it keeps a bracket like bisection but converges superlinearly, so each of the
    # few steps is one batched solve of every hypothesis over every pair, draw and price.
    live = [r for r in searches if r["todo"].any()]
    for r in live:
        todo = r["todo"]
        r["th"] = {k: v[todo] for k, v in th.items()}
        r["pr"] = {k: v[todo] for k, v in pr.items()}
        r["lin"] = r["lo"][todo] <= 0

    from concurrent.futures import ThreadPoolExecutor

    # one thread a hypothesis, at most one a core (in_flight): more would only queue
    workers = min(len({h.name for r in live for h in r["h"]}), in_flight()) if parallel else 1
    if workers < 2:
        _illinois(tech, live, th, pr, iters, None)
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="breakeven") as pool:
            _illinois(tech, live, th, pr, iters, pool)
    return [{"Q": np.where(r["crossed"], r["lo"].reshape(K, P), np.nan), "crossed": r["crossed"],
             "crossings": r["change"].sum(axis=-1),
             "cheaper_below": np.where(r["crossed"], -r["below"], 0)} for r in searches]


def _illinois(tech, live: list[dict], th: dict, pr: dict, iters: int, pool: Any) -> None:
    """The lockstep Illinois search of :func:`breakevens` on its ``live`` searches, in place
    (each search's bracket ``lo`` ends at its break-even in t)."""
    def deltas(lanes, ts):
        return _lockstep_deltas(tech, live, th, pr, lanes, ts, pool)

    for r in live:
        todo, lin = r["todo"], r["lin"]
        r["a"] = np.where(lin, r["lo"][todo], np.log(np.where(lin, 1.0, r["lo"][todo])))
        r["c"] = np.where(lin, r["hi"][todo], np.log(r["hi"][todo]))
        r["side"] = np.zeros(len(r["a"]))
    # both ends of every bracket in one solve per hypothesis
    every = [np.arange(len(r["a"])) for r in live]
    ends = deltas([np.concatenate([e, e]) for e in every],
                  [np.concatenate([r["a"], r["c"]]) for r in live])
    for r, e, f in zip(live, every, ends, strict=True):
        r["fa"], r["fc"] = f[:len(e)], f[len(e):]
    for _ in range(iters):
        xs, going = [], []
        for r in live:
            a, c, fa, fc = r["a"], r["c"], r["fa"], r["fc"]
            # A lane whose bracket has closed to BREAKEVEN_TTOL (or that hit the root) is done:
            # only the others are solved again, and the step leaves its values as they are.
            g = ~((np.abs(c - a) <= BREAKEVEN_TTOL * np.maximum(1.0, np.abs(a)))
                  | (fa == 0) | (fc == 0))
            with np.errstate(invalid="ignore", divide="ignore"):
                x = np.clip((a * fc - c * fa) / np.where(fc != fa, fc - fa, 1.0),
                            np.minimum(a, c), np.maximum(a, c))
            xs.append(np.where(np.isfinite(x), x, 0.5 * (a + c)))
            going.append(g)
        if not any(g.any() for g in going):
            break
        lanes = [np.flatnonzero(g) for g in going]
        found = deltas(lanes, [x[ln] for x, ln in zip(xs, lanes, strict=True)])
        for r, x, ln, f, g in zip(live, xs, lanes, found, going, strict=True):
            _illinois_update(r, x, ln, f, g)
    for r in live:
        best = np.where(np.abs(r["fa"]) < np.abs(r["fc"]), r["a"], r["c"])
        r["lo"][r["todo"]] = np.where(r["lin"], best, np.exp(best))


def probability_cheapest(sol: Solution) -> dict[str, np.ndarray]:
    """P(h is the cheapest feasible hypothesis) over draws, shape (P, nQ) per hypothesis.

    Examples
    --------
    >>> import numpy as np
    >>> from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, solve_grid
    >>> tech = TradeoffTechnology(Target("performance", 60.0))
    >>> hyps = [Hypothesis("train_more", ("T",), fixed={"I": 1e9}),
    ...         Hypothesis("infer_more", ("T",), fixed={"I": 1e11})]
    >>> theta = {"w_T": np.array([1.0]), "w_I": np.array([1.0])}
    >>> prices = {"train_chip_hour": np.array([1.0]), "serve_chip_hour": np.array([1.0])}
    >>> Q = np.geomspace(1e3, 1e12, 10)
    >>> from structural.counterfactual.engine import probability_cheapest
    >>> p = probability_cheapest(solve_grid(tech, hyps, theta, prices, Q))
    >>> p["train_more"][0]
    array([0., 0., 0., 0., 1., 1., 1., 1., 1., 1.])
    """
    totals = np.stack([sol.total(h) for h in sol.hypotheses])   # (H, K, P, nQ)
    best = np.argmin(totals, axis=0)
    any_feasible = np.isfinite(totals).any(axis=0)
    return {h: np.mean((best == i) & any_feasible, axis=0) for i, h in enumerate(sol.hypotheses)}
