r"""One start on one device: a whole fit as one compiled program.

A fit from a single start (no grid, no bootstrap pool to fill, no cluster) needs none of the
batched solver's machinery between rounds. :func:`fit_one` runs it as one ``jit``: the
evaluation at the start (Q finite there and every parameter moving it; else the host runs the
full start checks for their message), the Newton iterations of the batched solver (the same
damped exact-Hessian step, line-search rule and convergence test as every member of a batch,
:func:`estimation.solver._search` / :func:`estimation.solver._advance`, entering at the start
as a fresh member of a pool does, but with the full Newton step evaluated first and the other
step lengths only where it fails Armijo's test) until the member leaves the running state, the
final full Newton steps of :func:`polish_ready` / :func:`polish_moves` / :func:`polish_keeps`,
and, where the covariance asks for them, the scores at the estimate or their outer product
(:meth:`~estimation.objective.Objective.score_outer`), all without a return to the host. All
of it is one ``lax.while_loop`` whose body evaluates the model's derivatives once, so XLA
compiles that code (most of a fit's compile time) once per program. The observation weights
are built inside from the row count (ones over the observations, zeros over the rows that pad
them to their bucket), so nothing of the data's size crosses from the host but the data
themselves.

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
    _advance,
    _direction,
    _first_step_kept,
    _search,
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
    scores: np.ndarray | None


#: Phases of the one loop: a Newton iteration (the first one enters at the start; the full
#: Newton step's point is evaluated), the point the line search chose where the full step
#: failed Armijo's test, a polish step, and done.
_NEWTON, _SEARCHED, _POLISH, _DONE = 0, 1, 2, 3


class _Carry(NamedTuple):
    phase: jax.Array
    state: PoolState
    polished: jax.Array  # polish steps taken
    scores: jax.Array  # ∂q_i/∂θ at state.theta (a (1, k) placeholder where not kept)
    start_f: jax.Array
    start_g: jax.Array
    # The step the line search chose (phase _SEARCHED): its point, decrease?, floor trial?
    pending: jax.Array
    pending_ok: jax.Array
    pending_floor: jax.Array
    # The full Newton step's point from ``state`` (:func:`_polish_step`, computed once per
    # pass at the state the pass ends at): the next pass's point where it polishes.
    polish_to: jax.Array


def _fresh(theta0, k: int) -> PoolState:
    """The member about to enter at ``theta0``: its first pass only evaluates Q, ∇Q, ∇²Q there
    and classifies the start (:func:`estimation.solver._advance` of a fresh member)."""
    eye = jnp.eye(k)
    return PoolState(theta0, jnp.float64(0.0), jnp.zeros(k), eye, eye, jnp.float64(1.0),
                     jnp.ones(k), eye, jnp.ones(k), jnp.float64(MU0_COLD), jnp.int64(0),
                     jnp.int64(RUNNING), jnp.bool_(True))


def _polish_step(s: PoolState):
    """(the full Newton step's point from ``s``, whether it is worth a pass over the data:
    :func:`polish_ready` and :func:`polish_moves`)."""
    t = s.theta - jnp.linalg.solve(0.5 * (s.H + s.H.T), s.g)
    go = polish_ready(s.H, relative_gradient(s.theta, s.sq, s.g), jnp)
    return t, go & polish_moves(s.theta, t, s.g, s.sq, jnp)


def _newton_or_searched(c: _Carry, search: Callable, pN, noise, step0, x, at, f1):
    """A Newton or searched pass of :func:`_make_program`'s loop (no Gauss–Newton direction):
    the full step's point ``x`` (evaluated: ``at``, value ``f1``) is kept under Armijo's test,
    else ``search`` (value only, run only then) picks the step; a chosen point other than
    ``x`` is deferred to the next pass. Returns (decrease?, floor trial?, θ', its
    evaluation, apply?, defer?, deferred point, its decrease?, its floor?)."""
    s = c.state
    no = jnp.bool_(False)
    newton, searched = c.phase == _NEWTON, c.phase == _SEARCHED
    stay = (s.f, s.g, s.H, s.B, s.sq)
    first_ok = _first_step_kept(f1, s, step0 * pN, noise)
    look = newton & ~s.fresh & ~first_ok
    s_ok, s_floor, s_p = jax.lax.cond(look, lambda _: search(f1), lambda _: (no, no, pN), None)
    t2 = jnp.where(s_ok | s_floor, s.theta + s_p, s.theta)
    at_x = jnp.all(t2 == x)
    moves = s_ok | s_floor
    defer = look & moves & ~at_x
    ok = jnp.where(searched, c.pending_ok, jnp.where(look, s_ok, first_ok))
    floor = jnp.where(searched, c.pending_floor, look & s_floor)
    theta2 = jnp.where(look & ~moves, s.theta, x)
    at2 = tuple(jnp.where(look & ~moves, a, b) for a, b in zip(stay, at, strict=True))
    apply = (newton | searched) & ~defer
    return ok, floor, theta2, at2, apply, defer, t2, s_ok, s_floor


def _polished(c: _Carry, polish, x, at):
    """A polish pass: the full Newton step's point ``x`` from the estimate (evaluated: ``at``),
    kept where :func:`polish_keeps` says so. Returns (the state, polish steps taken, whether
    another polish step may follow: kept and fewer than :data:`POLISH_STEPS` taken; the
    caller adds :func:`_polish_step`'s test at the state)."""
    s = c.state
    f2, g2, H2, _, sq2 = at
    rg = relative_gradient(s.theta, s.sq, s.g)
    rg2 = relative_gradient(x, sq2, g2)
    keep = polish_keeps(s.f, s.sq, rg, f2, g2, H2, rg2, jnp)
    polished = s._replace(**{n: jnp.where(keep, b, a) for n, a, b in
                             (("theta", s.theta, x), ("f", s.f, f2), ("g", s.g, g2),
                              ("H", s.H, H2), ("sq", s.sq, sq2))})
    p_count = c.polished + jnp.where(polish, 1, 0)
    return polished, p_count, keep & (p_count < POLISH_STEPS)


def _next_phase(polish, defer, stepped: PoolState, p_more, go):
    """The phase after a pass: polish again where ``p_more`` (a polish pass kept its step) and
    the next full Newton step is worth a pass (``go``); after a Newton or searched pass, the
    searched point where one was deferred, else Newton while running, polish once converged
    where ``go``, else done. ``go`` is :func:`_polish_step`'s test at the state the pass ends
    at, computed once for both: that state is ``stepped`` wherever the Newton branch reads it
    (not deferred) and the polished state after a polish pass; the step's point is the next
    polish pass's."""
    n_phase = jnp.where(
        defer, _SEARCHED,
        jnp.where(stepped.status == RUNNING, _NEWTON,
                  jnp.where((stepped.status == Status.CONVERGED) & go, _POLISH, _DONE)))
    return jnp.where(polish, jnp.where(p_more & go, _POLISH, _DONE), n_phase)


def _one_fit(end, obj, w, keep_scores, outer, scores, free):
    """The fit program's outputs from the loop's last carry: the estimate, its status, and
    the score outer product (or the scores) where asked for (held parameters: zero rows and
    columns; a held parameter counts as moving Q at the start)."""
    s = end.state
    if keep_scores:
        S = end.scores
        out_outer = (S * w[:, None]).T @ S if outer else None
        out_scores = S if scores else None
    else:
        out_outer = (obj.score_outer(s.theta, w) * free[:, None] * free[None, :]
                     if outer else None)
        out_scores = None
    return OneFit(s.theta, s.f, s.g, s.H, s.sq, s.it, s.status, jnp.isfinite(end.start_f),
                  (end.start_g != 0.0) | (free == 0.0), out_outer, out_scores)


def _evaluator(obj, w, keep_scores: bool, use_gn: bool, free) -> Callable:
    """The fit loop's one evaluation of the model: x -> ((Q, ∇Q, ∇²Q, curvature, S_Q), the
    scores or None), with the held parameters (``free`` = 0) masked out: their gradient and
    scores zero, their rows and columns of the Hessian and curvature those of the identity, so
    that no step moves them and the convergence tests see only the free block."""
    held = 1.0 - free
    both = free[:, None] * free[None, :]

    def mask(H):
        return H * both + jnp.diag(held)

    def evaluate(x):
        if keep_scores:
            f, g, H, sq, _, S = obj.evaluate(x, w)
            return (f, g * free, mask(H), mask(H), sq), S * free
        f, g, H, B, sq = _value_grad_hess(obj, x, w, use_gn)
        return (f, g * free, mask(H), mask(B), sq), None

    return evaluate


def _make_program(template, opts: SolverOptions, outer: bool, scores: bool,
                  key: tuple, options: dict | None = None) -> Callable:
    """The jitted ``run(theta0, nobs, free, data) -> OneFit`` of one model (data as an argument, so
    one compilation serves every dataset of its row bucket), kept traced on disk under ``key``
    (:func:`estimation.compilation.traced_jit`): a later run neither traces nor lowers it.

    The program is one ``lax.while_loop`` whose body evaluates the model's Q, ∇Q, ∇²Q, S_Q
    (and, where kept, the scores) once, at the point its phase names:

    * Newton: entering at the start, then the full Newton step θ + p_N of each iteration. Where
      the step passes Armijo's test (:func:`estimation.solver._first_step_kept`; near the
      optimum, always) the member takes it (:func:`estimation.solver._advance`): one pass over
      the data per iteration. Where it fails, the other step lengths' values (value only, in a
      ``lax.cond`` that runs only then) pick the step as the batched solver's line search does
      (:func:`estimation.solver._search`); a chosen point other than the full step's, or no
      move, is evaluated by the next pass (phase "searched") or read from the state.
    * Polish: the full Newton steps of :func:`polish_keeps` from the solver's estimate, entered
      only where :func:`polish_moves` says a step is more than rounding.

    XLA then compiles the model's derivatives once, not once per phase (start, iterations,
    fallback, polish, scores): that code is most of a fit's compile time. Residual models with
    an IRLS direction search all step lengths first, as the pool does (their trials may cross
    a kink of the loss that the full step does not), and evaluate the chosen point.
    """
    from estimation.compilation import traced_jit

    steps = np.asarray(opts.steps, dtype=np.float64)
    use_gn = template.has_gauss_newton and len(opts.gn_steps) > 0
    gn_steps = np.asarray(opts.gn_steps if use_gn else (), dtype=np.float64)
    # The scores ride along with each evaluation (no second copy of the model's derivatives)
    # where the data are one chunk and the curvature is the exact Hessian.
    carry_scores = (outer or scores) and not use_gn

    def run(theta0, nobs, free, data):
        obj = template.with_data(data)
        rows = next(iter(data.values())).shape[0]
        keep_scores = carry_scores and not obj._is_chunked()
        w = (jnp.arange(rows) < nobs).astype(jnp.float64)
        k = theta0.shape[0]
        no = jnp.bool_(False)

        evaluate = _evaluator(obj, w, keep_scores, use_gn, free)

        def body(c: _Carry) -> _Carry:
            s = c.state
            newton, searched = c.phase == _NEWTON, c.phase == _SEARCHED
            polish = c.phase == _POLISH
            noise = NOISE_ULPS * _EPS * (jnp.abs(s.f) + s.sq)
            pN = _direction(s.ev, s.V, s.sc, s.g, s.mu)
            t_pol = c.polish_to
            if use_gn:  # every trial value first, as the pool's step
                gn_ok, gn_floor, gn_p = jax.lax.cond(
                    newton & ~s.fresh,
                    lambda _: _search(obj, s, w, pN, noise, steps, gn_steps, use_gn),
                    lambda _: (no, no, pN), None)
                x_newton = jnp.where(gn_ok | gn_floor, s.theta + gn_p, s.theta)
            else:
                x_newton = jnp.where(s.fresh, s.theta, s.theta + steps[0] * pN)
            x = jnp.where(polish, t_pol, jnp.where(searched, c.pending, x_newton))
            at, S2 = evaluate(x)
            f1 = jnp.where(jnp.isfinite(at[0]), at[0], jnp.inf)

            # Newton and searched: the step, now or (the line search's other point) next pass.
            if use_gn:
                ok, floor, theta2, at2 = gn_ok, gn_floor, x, at
                apply, defer = newton, no
                t2, s_ok, s_floor = x, no, no  # never deferred
            else:
                def search(f1):  # value only, where the full step failed
                    return _search(obj, s, w, pN, noise, steps, gn_steps, use_gn, f1)

                (ok, floor, theta2, at2, apply, defer, t2, s_ok,
                 s_floor) = _newton_or_searched(c, search, pN, noise, steps[0], x, at, f1)
            stepped = _advance(opts, s, ok, floor, theta2, at2)
            start_f = jnp.where(s.fresh, at[0], c.start_f)
            start_g = jnp.where(s.fresh, at[1], c.start_g)
            polished, p_count, p_more = _polished(c, polish, x, at)

            state = jax.tree.map(lambda n, p, o: jnp.where(polish, p, jnp.where(apply, n, o)),
                                 stepped, polished, s)
            # One polish step's solve per pass (:func:`_next_phase`).
            t_next, go = _polish_step(state)
            S = c.scores
            if keep_scores:  # the scores where the state moved to the evaluated point
                S = jnp.where(jnp.all(state.theta == x), S2, S)
            return _Carry(_next_phase(polish, defer, stepped, p_more, go), state, p_count, S,
                          start_f,
                          start_g, jnp.where(defer, t2, c.pending),
                          jnp.where(defer, s_ok, c.pending_ok),
                          jnp.where(defer, s_floor, c.pending_floor), t_next)

        S0 = jnp.zeros((rows, k) if keep_scores else (1, k))
        # The first pass is a Newton pass at the start: no polish point is read before the
        # first pass sets one.
        first = _Carry(jnp.int64(_NEWTON), _fresh(theta0, k), jnp.int64(0), S0,
                       jnp.float64(0.0), jnp.zeros(k), theta0, no, no, theta0)
        end = jax.lax.while_loop(lambda c: c.phase != _DONE, body, first)
        return _one_fit(end, obj, w, keep_scores, outer, scores, free)

    return traced_jit(run, ("one-start fit", *key), options)


_PROGRAMS: dict[tuple, Callable] = {}


def fit_one(obj, theta0: np.ndarray, opts: SolverOptions, outer: bool = False,
            scores: bool = False, free: np.ndarray | None = None) -> OneFit:
    """Minimise ``obj`` from ``theta0`` (internal coordinates) in one compiled program, with
    the start checks' sums and, where ``outer``, the scores' outer product at the estimate
    (where ``scores``, the scores themselves, one row per padded row, or None where the
    program does not keep them: Gauss–Newton curvature or data in several chunks).

    ``free`` (boolean, one per parameter; default all): the parameters that move; the others
    are held at ``theta0`` and their entries of the gradient, Hessian and scores are zero
    (the Hessian's diagonal one). The mask is an argument of the program, not part of it, so
    fits of one model that hold different parameters share one compilation."""
    # The pool's size, rounds and threads do not enter this program.
    from estimation.compilation import compiler_options

    # On a few thousand rows the fit runs in milliseconds and compiles in seconds: compiled
    # quickly there (compilation.QUICK_COMPILE), with XLA's default beyond.
    options = compiler_options(obj.rows)
    key = (obj.static_key, replace(opts, pool=1, round_iters=1, threads=None), outer, scores,
           options is not None)
    run = _PROGRAMS.get(key)
    if run is None:
        run = _PROGRAMS[key] = _make_program(obj, opts, outer, scores, key, options)
    theta0 = np.asarray(theta0, dtype=np.float64)
    free = np.ones(theta0.shape) if free is None else np.asarray(free, dtype=np.float64)
    out = run(theta0, np.int64(obj.nobs), free, obj.data)
    return OneFit._make(None if a is None else np.asarray(a) for a in out)
