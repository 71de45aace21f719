r"""One start on one device: a whole fit as one compiled program.

A fit from a single start (no grid, no bootstrap pool to fill, no cluster) needs none of the
batched solver's machinery between rounds. :func:`fit_one` runs it as one ``jit``: the
evaluation at the start (Q finite there and every parameter moving it; else the host runs the
full start checks for their message), the Newton iterations of :func:`estimation.solver._step`
(the same damped exact-Hessian step, line search and convergence test as every member of a
batch) in a ``lax.while_loop`` until the member leaves the running state, the final full Newton
steps of :func:`polish_ready` / :func:`polish_keeps`, and, where the covariance asks for it, the
outer product of the scores at the estimate
(:meth:`~estimation.objective.Objective.score_outer`), all without a return to the host. The
observation weights are built inside from the row count (ones over the observations, zeros over
the rows that pad them to their bucket), so nothing of the data's size crosses from the host but
the data themselves.

Compared with a pool of one member driven round by round, this traces and lowers one program
instead of two (the round and the host's ``evaluate``), and evaluates the data about half as
often: the start checks and the estimate's diagnosis come from what the iterations compute,
not from (n, k) arrays of scores brought back to the host three to five times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from estimation.solver import (
    MU0_COLD,
    NOISE_ULPS,
    RUNNING,
    PoolState,
    SolverOptions,
    Status,
    _classify,
    _eig_scaled,
    _step,
    _value_grad_hess,
    positive_definite,
    relative_gradient,
)

#: Full Newton steps tried at the chosen estimate after the solver has stopped.
POLISH_STEPS = 3
_EPS = float(np.finfo(np.float64).eps)


def scaled_hessian(H, xp=np):
    r""":math:`D H D` with :math:`D = \operatorname{diag}(|H_{jj}|)^{-1/2}`: the Hessian in units
    of each parameter's curvature (``xp``: NumPy on the host, ``jax.numpy`` in compiled code)."""
    d = 1.0 / xp.sqrt(xp.maximum(xp.abs(xp.diagonal(H)), 1e-300))
    return 0.5 * (H + H.T) * d[:, None] * d[None, :]


def polish_ready(H, rg, xp=np):
    """Whether a full Newton step from a point with Hessian ``H`` and scale-free gradient ``rg``
    is worth trying: H positive definite in its own units and the gradient not exactly zero."""
    return positive_definite(xp.linalg.eigvalsh(scaled_hessian(H, xp))) & (rg != 0.0)


def polish_moves(theta, t2, g, sq, xp=np):
    r"""Whether the full Newton step from ``theta`` (gradient ``g``, scale S_Q = ``sq``) to
    ``t2`` is more than rounding, so worth a pass over the data: its Newton decrement
    :math:`\tfrac12 g^\top H^{-1} g = \tfrac12 g^\top(\theta - t_2)` above
    :math:`(16\varepsilon)^2 S_Q`, what a step of :data:`~estimation.solver.NOISE_ULPS` units in
    the last place of each parameter (in its own units: the Hessian's metric) would gain. The
    first step from the solver's estimate gains far more (its decrement is at most
    ``ftol``·S_Q = 10⁻¹⁴ S_Q, not 10⁻²⁹ S_Q); a step after it is usually noise."""
    return 0.5 * xp.sum(g * (theta - t2)) > (NOISE_ULPS * _EPS) ** 2 * sq


def polish_keeps(f, sq, rg, f2, g2, H2, rg2, xp=np):
    """Whether the point reached by a full Newton step (Q = ``f2``, gradient ``g2``, Hessian
    ``H2``, scale-free gradient ``rg2``) replaces the current one (``f``, scale ``sq``, ``rg``):
    everything finite, the scale-free gradient lower, and Q not above its rounding noise.

    The solver stops as soon as its convergence test passes, which can leave an estimate a few
    parts in 10⁶ from the optimum where the objective is flat (a zero-truncated Poisson, say);
    Newton converges quadratically there, so one or two more steps bring it to the digits that
    R, Stata or statsmodels print. A step across a kink of a robust loss fails the test.
    """
    finite = xp.isfinite(f2) & xp.all(xp.isfinite(g2)) & xp.all(xp.isfinite(H2))
    noise = NOISE_ULPS * _EPS * (xp.abs(f) + sq)
    return finite & (rg2 < rg) & (f2 <= f + noise)


class OneFit(NamedTuple):
    """What the program hands back (NumPy on the host): the estimate and Q, ∇Q, ∇²Q and the
    scale S_Q there, the iterations and :class:`~estimation.solver.Status` code, whether Q was
    finite at the start and which parameters moved it there (∂Q/∂θ_j ≠ 0) and, where asked
    for, :math:`\\sum_i s_i s_i^\\top` at the estimate."""

    theta: np.ndarray
    f: np.ndarray
    g: np.ndarray
    H: np.ndarray
    sq: np.ndarray
    iterations: np.ndarray
    status: np.ndarray
    start_finite: np.ndarray
    start_moves: np.ndarray
    outer: np.ndarray | None


class _TracedOnce:
    """``obj`` whose Q, ∇Q, ∇²Q, S_Q (and IRLS curvature) are one nested ``jit``: the Newton
    step and the polish both call it, and it is traced and lowered once, not once per call."""

    def __init__(self, obj):
        self._obj = obj
        self._vgh = jax.jit(lambda t, w, d: obj.with_data(d).value_grad_hess_scale(t, w))
        self._vgh_gn = jax.jit(lambda t, w, d: obj.with_data(d).value_grad_hess_gn_scale(t, w))

    def __getattr__(self, name):
        return getattr(self._obj, name)

    def value_grad_hess_scale(self, theta, w):
        return self._vgh(theta, w, self._obj.data)

    def value_grad_hess_gn_scale(self, theta, w):
        return self._vgh_gn(theta, w, self._obj.data)


def _polish(obj, w, use_gn, theta, f, g, H, sq, go):
    """:data:`POLISH_STEPS` full Newton steps from the solver's estimate (where ``go``), each
    kept only where :func:`polish_keeps` says so; the first refused one ends the loop."""

    def body(c):
        i, _, theta, f, g, H, sq, rg = c
        t2 = theta - jnp.linalg.solve(0.5 * (H + H.T), g)
        ready = polish_ready(H, rg, jnp) & polish_moves(theta, t2, g, sq, jnp)

        def at_step(_):  # a pass over the data, only where the step is worth trying
            f2, g2, H2, _, sq2 = _value_grad_hess(obj, t2, w, use_gn)  # the step's own function
            return f2, g2, H2, sq2

        f2, g2, H2, sq2 = jax.lax.cond(ready, at_step, lambda _: (f, g, H, sq), None)
        rg2 = relative_gradient(t2, sq2, g2)
        keep = ready & polish_keeps(f, sq, rg, f2, g2, H2, rg2, jnp)
        new = tuple(jnp.where(keep, b, a) for a, b in
                    ((theta, t2), (f, f2), (g, g2), (H, H2), (sq, sq2), (rg, rg2)))
        return (i + 1, ~keep, *new)

    rg = relative_gradient(theta, sq, g)
    out = jax.lax.while_loop(lambda c: (c[0] < POLISH_STEPS) & ~c[1], body,
                             (0, ~go, theta, f, g, H, sq, rg))
    return out[2:7]


def _entered(obj, theta0, w, opts: SolverOptions, use_gn: bool) -> PoolState:
    """The member's state once it has entered at ``theta0``: what :func:`_step` makes of a fresh
    member (Q, ∇Q, ∇²Q, the eigen-decomposition and the status there), without the line search
    a fresh member computes and discards."""
    f, g, H, B, sq = _value_grad_hess(obj, theta0, w, use_gn)
    ev, V, sc = _eig_scaled(H)
    mu, it = jnp.float64(MU0_COLD), jnp.int64(0)
    status = _classify(opts, f, g, H, sq, ev, V, sc, relative_gradient(theta0, sq, g), mu, it)
    return PoolState(theta0, f, g, H, B, sq, ev, V, sc, mu, it, status, jnp.bool_(False))


def _make_program(template, opts: SolverOptions, outer: bool, key: tuple) -> Callable:
    """The jitted ``run(theta0, nobs, data) -> OneFit`` of one model (data as an argument, so
    one compilation serves every dataset of its row bucket), kept traced on disk under ``key``
    (:func:`estimation.compilation.traced_jit`): a later run neither traces nor lowers it."""
    from estimation.compilation import traced_jit

    steps = np.asarray(opts.steps, dtype=np.float64)
    use_gn = template.has_gauss_newton and len(opts.gn_steps) > 0
    gn_steps = np.asarray(opts.gn_steps if use_gn else (), dtype=np.float64)

    def run(theta0, nobs, data):
        obj = _TracedOnce(template.with_data(data))
        rows = next(iter(data.values())).shape[0]
        w = (jnp.arange(rows) < nobs).astype(jnp.float64)
        state = _entered(obj, theta0, w, opts, use_gn)
        end = jax.lax.while_loop(lambda s: s.status == RUNNING,
                                 lambda s: _step(obj, s, w, opts, steps, gn_steps, use_gn),
                                 state)
        theta, f, g, H, sq = _polish(obj, w, use_gn, end.theta, end.f, end.g, end.H, end.sq,
                                     end.status == Status.CONVERGED)
        return OneFit(theta, f, g, H, sq, end.it, end.status, jnp.isfinite(state.f),
                      state.g != 0.0,
                      obj.score_outer(theta, w) if outer else None)

    return traced_jit(run, ("one-start fit", *key))


_PROGRAMS: dict[tuple, Callable] = {}


def fit_one(obj, theta0: np.ndarray, opts: SolverOptions, outer: bool = False) -> OneFit:
    """Minimise ``obj`` from ``theta0`` (internal coordinates) in one compiled program, with
    the start checks' sums and, where ``outer``, the scores' outer product at the estimate."""
    # The pool's size, rounds and threads do not enter this program.
    key = (obj.static_key, replace(opts, pool=1, round_iters=1, threads=None), outer)
    run = _PROGRAMS.get(key)
    if run is None:
        run = _PROGRAMS[key] = _make_program(obj, opts, outer, key)
    out = run(np.asarray(theta0, dtype=np.float64), np.int64(obj.nobs), obj.data)
    return OneFit._make(None if a is None else np.asarray(a) for a in out)
