r"""Batched Newton with line search: one compiled solver for fits, multistart grids and bootstraps.

Each member of a batch (a start, or a bootstrap replicate given as observation weights) iterates

.. math::

    d_H = -S\,(S H S + \mu I)^{-1} S g, \qquad S = \operatorname{diag}(|H_{jj}|)^{-1/2},

with H the exact JAX Hessian, shifted by its most negative eigenvalue where it is indefinite so
that every direction descends (Nocedal & Wright, *Numerical Optimization*, 2nd ed., §3.4), plus,
for M-estimation on residuals, the IRLS/Gauss–Newton direction from
:math:`\sum_i w_i (\psi_i/r_i) J_i J_i^\top`. A few step lengths along each direction are
evaluated at once and the best decrease is taken: robust losses have kinks that a trust region
would cross only by crawling. :math:`\mu` shrinks after a successful step and grows after a
failed one. At the rounding floor of Q, where no decrease is visible, a
full Newton step is kept only if it halves the scale-free gradient. A member whose parameter has
no effect at all (gradient and Hessian row exactly zero, e.g. an underflowed term) stops as FLAT.

Convergence is judged scale-free, for every member, so that one tolerance means the same for any
model, data size or units: the Hessian is positive definite and either

.. math::

    \max_j |g_j| \max(|\theta_j|, 1) / S_Q \le \mathtt{gtol}
    \quad \text{(relative gradient), or} \quad
    \tfrac12\, g^\top H^{-1} g \le \mathtt{ftol} \cdot S_Q \quad \text{(Newton decrement)},

with :math:`S_Q = \sum_i w_i |q_i - \bar q|` the spread of the contributions: scale-free like
:math:`|Q|`, but blind to a constant added to every contribution, which would otherwise make any
start look converged.

A batch runs in rounds inside a fixed-size pool: a member that has converged (or hit ``maxiter``,
or stalled) leaves the pool between rounds and the next waiting member takes its slot, so a few
stragglers never hold up thousands of finished members, and only one shape is ever compiled.
A large batch runs in several such pools at once, one per host thread and core, fed from one
queue of waiting members.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from estimation.distributed import batch_mesh, shard_batch
from estimation.errors import SpecificationError
from estimation.progress import Progress


class Status(enum.IntEnum):
    """Outcome of one member of a batched solve, each carrying the message a user reads
    (``Status.of(code).message``); the codes travel through the compiled solver as integers."""

    message: str

    def __new__(cls, code: int, message: str) -> Status:
        obj = int.__new__(cls, code)
        obj._value_ = code
        obj.message = message
        return obj

    RUNNING = 0, "running"
    CONVERGED = 1, "converged"
    MAXITER = 2, "iteration limit reached"
    STALLED = 3, "stalled: no step decreases the objective"
    NONFINITE = 4, "objective or gradient not finite"
    SINGULAR = 5, "stationary but the Hessian is not positive definite (flat or saddle)"
    FLAT = 6, "a parameter has no effect (its gradient and Hessian row are exactly zero)"

    @classmethod
    def of(cls, code: int | np.integer) -> Status:
        """The member with integer ``code`` (as the compiled solver reports it)."""
        return cls._value2member_map_[int(code)]  # type: ignore[return-value]


# Plain integers for the compiled code (JAX takes ints, not enum members, as constants).
RUNNING, CONVERGED, MAXITER, STALLED, NONFINITE, SINGULAR, FLAT = (int(s) for s in Status)
_TINY = 1e-300
_EPS = float(np.finfo(np.float64).eps)
#: Smallest eigenvalue of the Jacobi-scaled Hessian, relative to its largest, for "positive
#: definite": below it the estimate is not identified to working precision (its inverse would
#: carry no correct digit beyond the fourth), so the member is reported singular, not converged.
PD_RTOL = 1e-12
#: Initial damping μ₀ of a member: a start from a grid or a user guess is usually far from the
#: optimum, where the undamped Newton step overshoots and the first iterations would only raise
#: μ (on the Chinchilla grid, 116k member-iterations instead of 129k); a warm start (a bootstrap
#: replicate begun at the estimate) takes full Newton steps at once (damped, the Chinchilla
#: bootstrap needs 46.6k member-iterations instead of 23.5k).
MU0_COLD, MU0_WARM = 1e-2, 1e-8
#: A trial value must fall below Q by this many ε·(|Q| + S_Q) to count as a decrease, and may
#: exceed Q by as much and still be "not visibly worse" at the rounding floor. Summing
#: Q = Σ w_i q_i adds noise of about ε·Σ|w_i q_i| ≤ ε·(|Q| + S_Q); the margin covers the
#: contributions' own rounding (a few ulps of each q_i, more where q_i amplifies its residual's
#: error, as ρ(r/σ) does for small σ). Smaller decreases are left to the rounding-floor rule (a
#: full Newton step kept only if it halves the relative gradient).
NOISE_ULPS = 16.0
#: Armijo's sufficient-decrease constant for the first trial step (Nocedal & Wright, §3.1:
#: "c₁ is chosen to be quite small, say c₁ = 10⁻⁴"): the full Newton step is kept when Q falls
#: by at least this fraction of what its slope promises, without comparing the shorter steps.
ARMIJO_C1 = 1e-4


def positive_definite(ev):
    """Whether ascending eigenvalues ``ev`` of a Jacobi-scaled Hessian are numerically > 0
    (operators only, so it serves NumPy on the host and JAX inside the solver alike)."""
    return ev[..., 0] > PD_RTOL * abs(ev[..., -1])


@dataclass(frozen=True)
class SolverOptions:
    r"""Options of the batched Newton solver.

    Parameters
    ----------
    maxiter : int
        Iteration cap per member; a member that reaches it is reported as not converged.
    gtol : float
        Scale-free gradient tolerance (see module docstring).
    ftol : float
        A member has also converged when its Hessian is positive definite and the Newton
        decrement :math:`\tfrac12 g^\top H^{-1} g` (the decrease still on offer) is below
        :math:`\mathtt{ftol} \cdot S_Q`.
    gtol_floor, ftol_floor : float
        Looser versions of both tests for a member that can no longer decrease the objective
        (rounding floor); beyond them it is reported as stalled, not converged.
    pool : int
        Number of members iterated together; waiting members fill freed slots between rounds.
    threads : int, optional
        Pools run at once, each in its own host thread (default: the machine's cores, at most
        4; never more than the batch fills).
    round_iters : int
        Iterations per compiled round between pool refills.
    steps, gn_steps : tuple of float
        Step lengths tried at once (value only) along the Newton and the IRLS direction: an
        approximate exact line search that can cross the kinks of a robust loss.

    Examples
    --------
    Passed to :func:`~estimation.fit` as ``options``; a tight iteration cap shows up in the
    diagnostics rather than being hidden:

    >>> import warnings
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import NotConvergedWarning, SolverOptions
    >>> from estimation.fit import fit
    >>> y = np.random.default_rng(0).normal(size=20)
    >>> model = lambda p, d: -jnp.cosh(d["y"] - p["a"])
    >>> res = fit(model, {"y": y}, ["a"], start={"a": 3.0}, options=SolverOptions(maxiter=50),
    ...           progress=False)
    >>> bool(res.converged)
    True
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", NotConvergedWarning)
    ...     capped = fit(model, {"y": y}, ["a"], start={"a": 3.0},
    ...                  options=SolverOptions(maxiter=1), progress=False)
    >>> bool(capped.converged), capped.diagnostics.status
    (False, 'iteration limit reached')
    """

    maxiter: int = 400
    gtol: float = 1e-9
    ftol: float = 1e-14
    gtol_floor: float = 1e-6
    ftol_floor: float = 1e-11
    pool: int = 64
    round_iters: int = 3
    threads: int | None = None
    steps: tuple[float, ...] = (1.0, 0.5, 0.25, 1 / 16)
    gn_steps: tuple[float, ...] = (1.0, 0.25)


def relative_gradient(theta, q_scale, g, xp=jnp):
    r""":math:`\max_j |g_j| \max(|\theta_j|, 1) / S_Q`: the scale-free stationarity measure, with
    :math:`S_Q` the objective's scale (:func:`estimation.objective.objective_scale`); ``xp`` is
    ``numpy`` on the host (no per-operation compilation) or ``jax.numpy`` inside the solver."""
    scale = xp.maximum(xp.abs(theta), 1.0)
    return xp.max(xp.abs(g) * scale, axis=-1) / xp.maximum(q_scale, _TINY)


def _scaled(H):
    d = jnp.abs(jnp.diag(H))
    d = jnp.maximum(d, 1e-12 * jnp.max(d) + _TINY)
    s = 1.0 / jnp.sqrt(d)
    return H * s[:, None] * s[None, :], s


def one_at_a_time(f: Callable) -> Callable:
    """``f`` whose ``jax.vmap`` runs the members one after another (``lax.map``), not as one
    batched call.

    For LAPACK kernels (eigh, Cholesky). jaxlib's batched LAPACK kernels split a large batch
    over XLA's intra-op thread pool and block the worker that called them until the pieces are
    done. :func:`solve_batch` runs a pool per host thread; when the compiled rounds of two
    threads each reach such a kernel at once on a two-core machine, both workers of the pool
    wait on pieces that no worker is left to run, and the process hangs (seen with 400
    bootstrap replicates of the loss-to-success link; reproduced with two threads each
    running a vmapped eigh of 64 matrices of size 40, ``tests/estimation/test_solver_threads.py``).
    A single matrix per call runs inline on its caller, so nothing can wait on the pool. The
    same cause as the market package's :func:`structural.market.demand.solve_by_market`."""
    g = jax.custom_batching.custom_vmap(f)

    @g.def_vmap
    def _rule(axis_size, in_batched, *args):
        args = tuple(a if b else jnp.broadcast_to(a, (axis_size, *jnp.shape(a)))
                     for a, b in zip(args, in_batched, strict=True))
        out = jax.lax.map(lambda xs: g(*xs), args)
        return out, jax.tree.map(lambda _: True, out)

    return g


@one_at_a_time
def _eigh(H):
    return jnp.linalg.eigh(H)


@one_at_a_time
def _psd_solve(A, b):
    c = jax.scipy.linalg.cho_factor(A, lower=True)
    return jax.scipy.linalg.cho_solve(c, b)


def _eig_scaled(H):
    """Eigen-decomposition of the Jacobi-scaled S H S, computed once per iteration: it serves
    the convergence test at the new point and the next Newton direction. One member's matrix
    per LAPACK call under ``vmap`` (:func:`one_at_a_time`)."""
    Hs, s = _scaled(H)
    ev, V = _eigh(Hs)
    return ev, V, s


def _direction(ev, V, s, g, mu):
    """−(SHS + shift)⁻¹ S g in original units; the shift makes the system positive definite."""
    shift = jnp.maximum(0.0, -ev[0] * 1.0001) + mu * jnp.max(jnp.abs(ev))
    return s * (-V @ ((V.T @ (g * s)) / jnp.maximum(ev + shift, _TINY)))


def _direction_psd(B, g, mu):
    """−(SBS + λI)⁻¹ S g for a positive semi-definite B (IRLS): a Cholesky suffices."""
    Bs, s = _scaled(B)
    lam = mu * jnp.max(jnp.diag(Bs)) + 1e-12
    return -s * _psd_solve(Bs + lam * jnp.eye(B.shape[0]), g * s)


def _newton_decrement(ev, V, s, g):
    """(positive definite?, λ²/2 = ½ gᵀH⁻¹g): the decrease a full Newton step still promises
    (Boyd & Vandenberghe, *Convex Optimization*, §9.5.1)."""
    z = V.T @ (g * s)
    pd_ok = positive_definite(ev)
    dec = 0.5 * jnp.sum(z * z / jnp.where(pd_ok, ev, 1.0))
    return pd_ok, jnp.where(pd_ok, dec, jnp.inf)


#: An array of the pool: NumPy between rounds, JAX inside the compiled round.
Arr = jax.Array | np.ndarray


class PoolState(NamedTuple):
    """Every member's iterate and what the next iteration reuses (first axis = pool slot).

    ``H`` is the exact Hessian, ``B`` the IRLS curvature (``H`` again without residuals), ``sq``
    the scale S_Q of the objective, ``ev``/``V``/``sc`` the eigen-decomposition of the
    Jacobi-scaled Hessian and its scaling, ``mu`` the damping, ``it`` the iterations taken,
    ``status`` a :class:`Status` code, ``fresh`` whether the slot's member has just entered.
    """

    theta: Arr
    f: Arr
    g: Arr
    H: Arr
    B: Arr
    sq: Arr
    ev: Arr
    V: Arr
    sc: Arr
    mu: Arr
    it: Arr
    status: Arr
    fresh: Arr


def initial_state(theta: np.ndarray, mu0: float, status: np.ndarray | None = None) -> PoolState:
    """A pool of members about to enter at ``theta`` (P, k): every slot is fresh, so the first
    iteration only evaluates Q, ∇Q and ∇²Q there."""
    P, k = theta.shape
    eye = np.tile(np.eye(k), (P, 1, 1))
    return PoolState(
        theta=theta.copy(), f=np.zeros(P), g=np.zeros((P, k)), H=eye, B=eye.copy(),
        sq=np.ones(P), ev=np.ones((P, k)), V=eye.copy(), sc=np.ones((P, k)),
        mu=np.full(P, mu0), it=np.zeros(P, dtype=np.int64),
        status=np.full(P, RUNNING, dtype=np.int64) if status is None else status,
        fresh=np.ones(P, dtype=bool),
    )


def _value_grad_hess(obj, theta, w, use_gn: bool):
    """(Q, ∇Q, ∇²Q, IRLS curvature, S_Q) at ``theta``; without Gauss-Newton the curvature is the
    Hessian itself."""
    if use_gn:
        return obj.value_grad_hess_gn_scale(theta, w)
    f, g, H, sq = obj.value_grad_hess_scale(theta, w)
    return f, g, H, H, sq


def _trial_values(obj, s: PoolState, w, pN, steps, gn_steps, use_gn: bool, f_first=None):
    """(trial values along the Newton direction, their moves), with the IRLS direction's
    appended where ``use_gn``: a few step lengths along each direction evaluated at once.
    ``f_first``: Q at the first step, already known (it is not evaluated again)."""
    tail = steps if f_first is None else steps[1:]
    tN = jax.vmap(lambda t: obj.value(s.theta + t * pN, w))(tail)
    if f_first is not None:
        tN = jnp.concatenate([jnp.reshape(f_first, (1,)), tN])
    trial_f = tN
    moves = steps[:, None] * pN
    if use_gn:
        pG = _direction_psd(s.B, s.g, s.mu)
        tG = jax.vmap(lambda t: obj.value(s.theta + t * pG, w))(gn_steps)
        trial_f = jnp.concatenate([tN, tG])
        moves = jnp.concatenate([moves, gn_steps[:, None] * pG])
    return jnp.where(jnp.isfinite(trial_f), trial_f, jnp.inf), moves


def _first_step_kept(f1, s: PoolState, move, noise):
    """Whether the first (longest) trial step is taken without looking at the others: Q falls
    by more than its rounding noise and by at least ``ARMIJO_C1`` of the decrease its slope
    promises (Armijo's condition; Nocedal & Wright, §3.1)."""
    return (~s.fresh & (f1 < s.f - noise)
            & (f1 <= s.f + ARMIJO_C1 * jnp.dot(s.g, move)))


def _chosen(tN, trial_f, moves, pN, s: PoolState, noise, first_ok):
    """(decrease?, rounding-floor trial?, the move): the first step where it passes
    :func:`_first_step_kept`, else the trial with the lowest value; at the rounding floor of
    Q the full Newton step (see :func:`_step`)."""
    j = jnp.argmin(trial_f)
    best_f = jnp.where(first_ok, tN[0], trial_f[j])
    move = jnp.where(first_ok, moves[0], moves[j])
    # A decrease within the rounding noise of Q is no progress: counted as one, a member at
    # a degenerate point kept μ low on noise and dithered there until maxiter.
    ok = (best_f < s.f - noise) & ~s.fresh
    # At the rounding floor of Q no decrease can be seen: take the full Newton step on
    # trial and keep it only if the scale-free gradient halves (checked in _step).
    floor = ~ok & ~s.fresh & positive_definite(s.ev) & (tN[0] <= s.f + noise)
    return ok, floor, jnp.where(ok, move, pN)


def _classify(opts: SolverOptions, f2, g2, H2, sq2, ev2, V2, sc2, rg, mu2, it2):
    """The member's :class:`Status` after the step."""
    pd_ok, dec = _newton_decrement(ev2, V2, sc2, g2)
    fscale = jnp.maximum(sq2, _TINY)
    # A parameter whose gradient and Hessian row are exactly zero (a term underflowed)
    # can never move again: the member cannot reach a positive definite Hessian.
    flat = jnp.any((g2 == 0.0) & jnp.all(H2 == 0.0, axis=1))
    finite = jnp.isfinite(f2) & jnp.all(jnp.isfinite(g2)) & jnp.all(jnp.isfinite(H2))
    return jnp.where(
        ~finite, NONFINITE,
        jnp.where(
            (rg <= opts.gtol) | (pd_ok & (dec <= opts.ftol * fscale)),
            jnp.where(pd_ok, CONVERGED, SINGULAR),
            jnp.where(
                mu2 > 1e8,
                # No visible decrease left: converged, or stationary to the floor's precision
                # on a singular Hessian (an unidentified direction), or stalled.
                jnp.where(pd_ok & ((rg <= opts.gtol_floor) | (dec <= opts.ftol_floor * fscale)),
                          CONVERGED,
                          jnp.where(~pd_ok & (rg <= opts.gtol_floor), SINGULAR, STALLED)),
                jnp.where(flat, FLAT, jnp.where(it2 >= opts.maxiter, MAXITER, RUNNING)),
            ),
        ),
    )


def _search(obj, s: PoolState, w, pN, noise, steps, gn_steps, use_gn: bool, f_first=None):
    """(decrease?, rounding-floor trial?, the move) of the line search: every trial value
    along the Newton (and IRLS) direction at once, picked by :func:`_chosen`. ``f_first``: Q at
    the full Newton step, already known (the single-start program's first pass) and not
    evaluated again."""
    trial_f, moves = _trial_values(obj, s, w, pN, steps, gn_steps, use_gn, f_first)
    tN = trial_f[: len(steps)]
    first_ok = _first_step_kept(tN[0], s, moves[0], noise)
    return _chosen(tN, trial_f, moves, pN, s, noise, first_ok)


def _advance(opts: SolverOptions, s: PoolState, ok, floor, theta2, at2) -> PoolState:
    """The member after its step to ``theta2`` (``ok``: a decrease; ``floor``: the full Newton
    step tried at the rounding floor of Q, undone unless the scale-free gradient halves), with
    ``at2`` = (Q, ∇Q, ∇²Q, IRLS curvature, S_Q) evaluated there: damping, count and status."""
    active = s.status == RUNNING
    f2, g2, H2, B2, sq2 = at2
    ev2, V2, sc2 = _eig_scaled(H2)
    rg_old = relative_gradient(s.theta, s.sq, s.g)
    rg = relative_gradient(theta2, sq2, g2)
    undo = floor & ~(rg <= 0.5 * rg_old)
    theta2 = jnp.where(undo, s.theta, theta2)
    f2, g2, H2, B2, sq2, ev2, V2, sc2, rg = (
        jnp.where(undo, a, b) for a, b in
        ((s.f, f2), (s.g, g2), (s.H, H2), (s.B, B2), (s.sq, sq2), (s.ev, ev2), (s.V, V2),
         (s.sc, sc2), (rg_old, rg)))
    ok = ok | (floor & ~undo)
    mu2 = jnp.where(s.fresh, s.mu,
                    jnp.where(ok, jnp.maximum(s.mu * 0.3, 1e-12), s.mu * 100.0))
    it2 = jnp.where(s.fresh, s.it, s.it + 1)
    new_status = _classify(opts, f2, g2, H2, sq2, ev2, V2, sc2, rg, mu2, it2)
    moved = PoolState(theta2, f2, g2, H2, B2, sq2, ev2, V2, sc2, mu2, it2, new_status,
                      s.fresh & False)
    # A member that has finished keeps its state (its fresh flag clears all the same).
    kept = PoolState(*(jnp.where(active, new, old) for new, old in zip(moved, s, strict=True)))
    return kept._replace(fresh=moved.fresh)


def _step(obj, s: PoolState, w, opts: SolverOptions, steps, gn_steps, use_gn: bool) -> PoolState:
    """One masked Newton iteration of one member of the pool: line search, the trial full step
    at the rounding floor (undone unless the scale-free gradient halves), damping and status.

    The first step length (the full Newton step) is taken whenever it passes Armijo's test
    (:func:`_first_step_kept`), else the trial with the lowest value. Under ``vmap`` a
    ``lax.cond`` would run both branches for every member, so every trial value is evaluated at
    once and that rule picks among them. The single-start program
    (:func:`estimation.single.fit_one`) takes the same steps by the same rule but evaluates
    Q, ∇Q, ∇²Q at the full step first and the other trial values only where it fails (one pass
    over the data per accepted iteration), from these same pieces (:func:`_search`,
    :func:`_advance`)."""
    noise = NOISE_ULPS * _EPS * (jnp.abs(s.f) + s.sq)
    pN = _direction(s.ev, s.V, s.sc, s.g, s.mu)
    ok, floor, p = _search(obj, s, w, pN, noise, steps, gn_steps, use_gn)
    theta2 = jnp.where(ok | floor, s.theta + p, s.theta)
    return _advance(opts, s, ok, floor, theta2, _value_grad_hess(obj, theta2, w, use_gn))


def _make_round(template, opts: SolverOptions, per_member: bool):
    """A jitted ``run_round(state, w, data) -> state`` running ``opts.round_iters`` masked
    Newton steps (:func:`_step`) on the whole pool.

    The data travel as an argument, so one compilation serves every dataset of the same shape.
    """
    # NumPy constants enter the compiled round as literals (jnp.asarray here would compile a
    # conversion per length on the first fit).
    steps = np.asarray(opts.steps, dtype=np.float64)
    use_gn = template.has_gauss_newton and len(opts.gn_steps) > 0
    gn_steps = np.asarray(opts.gn_steps if use_gn else (), dtype=np.float64)
    w_axis = 0 if per_member else None

    from estimation.compilation import traced_jit

    def run_round(state: PoolState, w, data) -> PoolState:
        obj = template.with_data(data)
        vstep = jax.vmap(lambda s, wm: _step(obj, s, wm, opts, steps, gn_steps, use_gn),
                         in_axes=(0, w_axis))
        return jax.lax.fori_loop(0, opts.round_iters, lambda _, s: vstep(s, w), state)

    # Kept traced on disk (estimation.compilation.traced_jit): a later run does not trace again.
    return traced_jit(run_round, ("solver round", template.static_key, opts, per_member))


@dataclass
class BatchSolution:
    """Per-member outcome of a batched solve (NumPy arrays, first axis = member)."""

    theta: np.ndarray
    fun: np.ndarray
    grad: np.ndarray
    hess: np.ndarray
    iterations: np.ndarray
    status: np.ndarray
    #: Devices the compiled rounds ran on (the pool sharded over them), as XLA reports it.
    devices: int = 1

    @property
    def converged(self) -> np.ndarray:
        return self.status == CONVERGED


_ROUND_CACHE: dict[tuple, Callable] = {}


def _pool_size(m: int, pool: int) -> int:
    """Slots for a batch of ``m``: the smallest of 1, 4, 16, ... reaching min(m, pool), capped at
    ``pool``. Unused slots are padding, so a handful of compiled shapes serve every batch size
    (a warm-up on a small grid no longer leaves the full grid to compile again)."""
    size = 1
    while size < min(m, pool):
        size *= 4
    return min(size, pool)


def solve_batch(
    obj,
    theta0: np.ndarray,
    weights: np.ndarray,
    opts: SolverOptions = SolverOptions(),
    *,
    warm: bool = False,
    progress: Progress | None = None,
    scheduler: Any = None,
    pool_size: int | None = None,
) -> BatchSolution:
    """Minimise Q(θ; w_m) from θ0_m for every member m.

    Parameters
    ----------
    obj : estimation.objective.Objective
        Supplies Q, ∇Q, ∇²Q (and the Gauss–Newton curvature for residual models).
    theta0 : (m, k) array
        Starting points in the unconstrained coordinates.
    weights : (n,) or (m, n) array
        Observation weights shared by all members, or one row per member (bootstrap).
    warm : bool
        The starts are near an optimum (bootstrap replicates begun at the estimate): begin with
        undamped Newton steps (``MU0_WARM``) rather than damped ones (``MU0_COLD``).
    scheduler : str, distributed.Client, or None
        Run the batch in chunks on a Dask cluster (its scheduler's address or a client), one JAX
        process per worker; see :func:`estimation.distributed.solve_on_cluster`. ``None``: here.
    pool_size : int, optional
        Slots of the pool (default: from the batch size, :func:`_pool_size`); a chunk of a
        larger batch keeps the whole batch's, so it runs the same compiled round.

    Every member iterates alone (the pool is a ``vmap``), so its result does not depend on
    which other members share the pool, the chunk or the device. With several local devices
    (``jax.devices()``) the pool is sharded over them along its slot axis and padded with
    parked slots to a multiple of their number.
    """
    theta0 = np.atleast_2d(np.asarray(theta0, dtype=np.float64))
    m, k = theta0.shape
    if m == 0:
        raise SpecificationError("solve_batch needs at least one start (theta0 has no rows)")
    weights = obj.weights(weights)  # zero over the rows that pad the data to its bucket
    if scheduler is not None:
        from estimation.distributed import solve_on_cluster

        return solve_on_cluster(obj, theta0, weights, opts, warm=warm, progress=progress,
                                scheduler=scheduler)
    P = _pool_size(m, opts.pool) if pool_size is None else int(pool_size)
    mesh = batch_mesh()
    if mesh is not None:
        # Each device gets a whole pool of the one-device size: XLA's code for a member then
        # has the same shapes, hence the same rounding, as on one device (a half-size share
        # can sum in another order). Parked slots fill what the batch does not.
        P *= mesh.size
    # The pool always carries one weight row per slot, so a multistart grid and a bootstrap of
    # the same model share one compiled round.
    key = (obj.static_key, replace(opts, threads=None))  # threads do not change the code
    run_round = _ROUND_CACHE.get(key)
    if run_round is None:
        run_round = _ROUND_CACHE[key] = _make_round(obj, opts, True)

    out = BatchSolution(
        theta=theta0.copy(), fun=np.full(m, np.nan), grad=np.full((m, k), np.nan),
        hess=np.full((m, k, k), np.nan), iterations=np.zeros(m, dtype=np.int64),
        status=np.full(m, RUNNING, dtype=np.int64),
    )
    queue = _Queue(m, progress)
    mu0 = MU0_WARM if warm else MU0_COLD
    pools = []
    for _ in range(_threads(m, P, opts)):
        first = queue.take(P)
        if first.size:
            pools.append(_Pool(run_round, obj, theta0, weights, first, P, mu0, queue, out,
                               mesh))
    # One round in this thread first: it compiles the round once, before the others start.
    more = pools[0].run_round_and_refill()
    threads = [threading.Thread(target=pl.run, daemon=True) for pl in pools[1:]]
    for t in threads:
        t.start()
    try:
        if more:
            pools[0].run()
        for t in threads:
            t.join()
    except BaseException:  # Ctrl-C while waiting: stop every pool before leaving
        queue.stopped = True
        for t in threads:
            t.join()
        raise
    for pl in pools:
        if pl.error is not None:
            raise pl.error
    out.devices = pools[0].devices
    return out


def _threads(m: int, pool: int, opts: SolverOptions) -> int:
    """Pools run in this many host threads: XLA's own threading leaves cores idle on the small
    per-round computations, so two pools on two cores finish a grid about 1.45× sooner."""
    n = opts.threads if opts.threads is not None else min(available_cores(), 4)
    return max(1, min(n, -(-m // pool)))


def available_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _Queue:
    """The waiting members, handed out in order to whichever pool has free slots."""

    def __init__(self, m: int, progress: Progress | None):
        self.m, self.next, self.done = m, 0, 0
        self.progress = progress
        self.stopped = False
        self._lock = threading.Lock()

    def take(self, count: int) -> np.ndarray:
        with self._lock:
            stop = min(self.next + count, self.m)
            got = np.arange(self.next, stop, dtype=np.int64)
            self.next = stop
        return got

    def finished(self, count: int) -> None:
        with self._lock:
            self.done += count
            if self.progress is not None:
                self.progress.update(self.done)


class _Pool:
    """P slots iterated together by the compiled round; finished members leave between rounds
    and the queue's next members take their slots."""

    def __init__(self, run_round, obj, theta0, weights, first: np.ndarray, P: int, mu0: float,
                 queue: _Queue, out: BatchSolution, mesh=None):
        self.run_round, self.obj, self.theta0, self.weights = run_round, obj, theta0, weights
        self.mesh, self.devices = mesh, 1
        # Replicated on every device once, not shipped again each round.
        self.data = obj.data if mesh is None else shard_batch(obj.data, mesh, replicate=True)
        self.mu0, self.queue, self.out = mu0, queue, out
        self.error: BaseException | None = None
        self.per_member = weights.ndim == 2
        self.member = np.full(P, -1, dtype=np.int64)  # -1: a parked slot, never counted
        self.member[:first.size] = first
        fill = first[np.minimum(np.arange(P), first.size - 1)]  # parked slots copy a member
        status = np.where(self.member >= 0, RUNNING, CONVERGED).astype(np.int64)
        self.state = initial_state(theta0[fill], mu0, status)
        self.w = weights[fill] if self.per_member else np.tile(weights, (P, 1))

    def run(self) -> None:
        try:
            while not self.queue.stopped and self.run_round_and_refill():
                pass
        except BaseException as e:  # re-raised by solve_batch in the calling thread
            self.error = e
            self.queue.stopped = True  # the other pools stop too (an error, or Ctrl-C)

    def run_round_and_refill(self) -> bool:
        """One compiled round, then refill; False once every slot is parked."""
        if self.mesh is None:
            res = self.run_round(self.state, self.w, self.data)
        else:  # the slot axis split over the devices; the compiled round runs SPMD
            res = self.run_round(shard_batch(self.state, self.mesh),
                                 shard_batch(self.w, self.mesh), self.data)
            self.devices = len(res.theta.sharding.device_set)
        s = PoolState(*(np.array(a) for a in res))
        finished = (s.status != RUNNING) & (self.member >= 0)
        if finished.any():
            out, idx = self.out, self.member[finished]
            out.theta[idx], out.fun[idx] = s.theta[finished], s.f[finished]
            out.grad[idx], out.hess[idx] = s.g[finished], s.H[finished]
            out.iterations[idx], out.status[idx] = s.it[finished], s.status[finished]
            slots = np.flatnonzero(finished)
            new = self.queue.take(len(slots))
            new_slots, dead = slots[:new.size], slots[new.size:]
            if new.size:
                self.member[new_slots] = new
                s.theta[new_slots] = self.theta0[new]
                s.fresh[new_slots] = True
                s.status[new_slots] = RUNNING
                s.it[new_slots] = 0
                s.mu[new_slots] = self.mu0
                if self.per_member:
                    self.w = self.w.copy()
                    self.w[new_slots] = self.weights[new]
            # An empty slot is parked as finished and never counted again.
            self.member[dead] = -1
            self.queue.finished(int(finished.sum()))
        self.state = s
        return bool((self.member >= 0).any())
