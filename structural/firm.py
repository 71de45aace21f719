"""The firm's problem: the cheapest pipeline that reaches a quality target.

Generalising Sardana & Frankle (2023, arXiv:2401.00448, §2), the firm chooses the free levers
z_free ⊂ {N, D, D_F, c, k, r} to

    minimise   C(z) = F(z) + Q · v(z)          (fixed + queries × per-query cost, dollars)
    subject to quality(z) ≥ q̄,

with the other quantities held at their given values. F and v come from
:func:`structural.costs.stage_costs`; quality from :mod:`structural.quality` and is one of

``"coverage"``    P(solved) over k attempts, target q̄ ∈ (0, 1);
``"task_loss"``   the task loss L_task (with context), target L̄ (quality means L_task ≤ L̄);
``"model_loss"``  the model loss L(N, D, D_F) without context, target L̄ (Sardana & Frankle's case).

An *investment hypothesis* is this problem with a particular free set: ``("N", "D")`` heavy
training, ``("c",)`` long context, ``("k",)`` or ``("r",)`` inference-time compute, ``("D_F",)``
fine-tuning.

Method. Each free lever is written as z = lower + exp(u) (lower = 1 for k, 0 otherwise), the cost
is divided by its value at the starting point, and the constraint is written in a well-scaled form
g(u) ≥ 0: logit(coverage) − logit(q̄), or log L̄ − log L. The quality constraint binds at the optimum
(costs rise and quality rises in every lever), so the solver is a sequential-quadratic-programming
Newton method on the KKT system of the equality-constrained problem: exact gradients and Hessians
from :func:`jax.grad`/:func:`jax.hessian`, the Lagrangian Hessian's eigenvalues taken in absolute
value and floored (so every step is a descent direction), steps capped at ``max_step`` in log units,
and an ℓ₁-merit backtracking line search over ten fixed step lengths. The iteration count is fixed,
so the solver compiles once and vmaps over scenario grids (Q, prices, parameter draws); every
solution carries its own ``converged`` flag and KKT residuals — a batch never raises halfway.

Shadow price. λ is the multiplier of the normalised problem; the shadow price of quality is
d C* / d q̄ = s λ dg/dq̄ (s the cost scale): for coverage s λ / (q̄ (1 − q̄)); for a loss target it is
reported per nat of loss *reduction*, s λ / L̄ ≥ 0 (= −dC*/dL̄).

Derivatives. The iterations run on stopped gradients; one final Newton step on the KKT system is
taken differentiably from the converged point, which leaves the values unchanged and gives exactly
the implicit-function-theorem derivatives of the optimal levers, cost and multiplier with respect to
every input (Q, prices, technology, targets, fixed levers). So ``jax.grad`` of the optimal cost
obeys the envelope theorem. Levers pinned at a bound (k → 1, D_F → 0, …) are held fixed in that
step.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from structural import costs, quality, reasoning

Array = Any

#: Levers the firm may free, and their lower bounds (z = lower + exp(u)).
LEVERS: tuple[str, ...] = ("N", "D", "D_F", "c", "k", "r")
LOWER: dict[str, float] = {"N": 0.0, "D": 0.0, "D_F": 0.0, "c": 0.0, "k": 1.0, "r": 0.0}
QUALITY_MODES: tuple[str, ...] = ("coverage", "task_loss", "model_loss")

_U_MIN, _U_MAX = -60.0, 80.0   # exp(-60) ≈ 1e-26: a lever this small is "at its bound"
_U_START_MIN = -10.0
_STEPS = 0.5 ** jnp.arange(10.0)


class FirmSolution(NamedTuple):
    """The optimum of the firm's problem (a pytree: fields batch under ``vmap``).

    Attributes
    ----------
    levers : dict[str, Array]
        Every quantity of the pipeline (free levers at their optimum, the rest as given).
    cost : Array
        C* = F + Q v, dollars.
    fixed_cost, variable_cost : Array
        F (dollars) and v (dollars per query, all k attempts).
    stage_dollars : dict[str, Array]
        Dollars by stage over the model's life: fixed stages once, per-query stages × Q.
    quality : Array
        The achieved quality measure (coverage, or the loss in the loss modes).
    shadow_price : Array
        d C* / d q̄ (coverage), or −d C* / d L̄ (loss modes): the marginal cost of quality.
    multiplier : Array
        λ of the normalised problem.
    converged : Array
        bool: stationarity and feasibility within tolerance.
    stationarity, feasibility : Array
        ‖∇f − λ∇g‖∞ (log-lever units, cost normalised) and |g| at the solution.
    """

    levers: dict[str, Array]
    cost: Array
    fixed_cost: Array
    variable_cost: Array
    stage_dollars: dict[str, Array]
    quality: Array
    shadow_price: Array
    multiplier: Array
    converged: Array
    stationarity: Array
    feasibility: Array


def default_parameters(hardware: Any = "H100", **overrides: float) -> dict[str, float]:
    """One ``theta`` with every cost and quality parameter (see :func:`structural.costs.
    cost_parameters` and :func:`structural.quality.quality_parameters` for the defaults)."""
    cost_keys = set(costs.THETA_KEYS)
    theta = costs.cost_parameters(hardware, **{k: v for k, v in overrides.items()
                                               if k in cost_keys})
    theta.update(quality.quality_parameters(**{k: v for k, v in overrides.items()
                                               if k not in cost_keys}))
    return theta


def default_levers(**overrides: float) -> dict[str, float]:
    """A complete set of pipeline quantities (a 70B model on 1.4T unique tokens, no fine-tuning,
    1,000 context tokens, a 500-token input, one attempt, no reasoning, 500 output tokens)."""
    z = {"N": 70e9, "D": 1.4e12, "U": 1.4e12, "D_F": 1.0, "trainable_fraction": 1.0,
         "c": 1000.0, "cached_fraction": 0.0, "x": 500.0, "k": 1.0, "r": 1.0, "y": 500.0}
    unknown = set(overrides) - set(z)
    if unknown:
        raise KeyError(f"unknown lever(s): {', '.join(sorted(unknown))}")
    z.update({k: float(v) for k, v in overrides.items()})
    return z


def quality_value(z: dict[str, Array], theta: dict[str, Array], mode: str) -> Array:
    """The quality measure of ``mode`` at z: coverage, task loss or model loss."""
    if mode == "coverage":
        return quality.coverage(z, theta)
    if mode == "task_loss":
        return quality.task_loss(z, theta)
    if mode == "model_loss":
        return quality.model_loss(z, theta)
    raise ValueError(f"quality: expected one of {QUALITY_MODES}, got {mode!r}")


def _constraint(z: dict[str, Array], theta: dict[str, Array], target: Array, mode: str) -> Array:
    """g(z) ≥ 0 ⇔ quality met, in a scale-free form."""
    if mode == "coverage":
        logit = quality.attempt_logit(z, theta)
        mu = jax.nn.sigmoid(logit)
        # log(cov/(1 − cov)) with 1 − cov = B(a, b+k)/B(a, b) computed in logs for accuracy.
        a, b = mu * theta["phi"], (1.0 - mu) * theta["phi"]
        log_miss = reasoning.log_miss_probability(z["k"], a, b)
        log_cov = jnp.log(-jnp.expm1(log_miss))
        return (log_cov - log_miss) - (jnp.log(target) - jnp.log1p(-target))
    return jnp.log(target) - jnp.log(quality_value(z, theta, mode))


def _unpack(u: Array, free: tuple[str, ...], z: dict[str, Array]) -> dict[str, Array]:
    out = dict(z)
    for i, name in enumerate(free):
        out[name] = LOWER[name] + jnp.exp(u[i])
    return out


def _pack(z: dict[str, Array], free: tuple[str, ...]) -> Array:
    return jnp.stack([jnp.log(jnp.maximum(z[name] - LOWER[name], 1e-300)) for name in free])


def _validate(free: tuple[str, ...], mode: str) -> None:
    if not free:
        raise ValueError("free: at least one lever must be free")
    bad = [f for f in free if f not in LEVERS]
    if bad:
        raise ValueError(f"free: unknown lever(s) {bad}; choose from {LEVERS}")
    if len(set(free)) != len(free):
        raise ValueError(f"free: duplicate levers in {free}")
    if mode not in QUALITY_MODES:
        raise ValueError(f"quality: expected one of {QUALITY_MODES}, got {mode!r}")


def solve(free: tuple[str, ...] | list[str], z: dict[str, Array], theta: dict[str, Array],
          Q: Array, target: Array, *, quality: str = "coverage", iterations: int = 60,
          max_step: float = 2.0, tol: float = 1e-7) -> FirmSolution:
    """Minimise F + Q v over the free levers subject to quality ≥ target.

    Parameters
    ----------
    free : tuple of str
        The free levers, a subset of :data:`LEVERS` (static: changing it recompiles).
    z : dict
        Every pipeline quantity (:data:`structural.costs.Z_KEYS`); the free ones are starting
        points. :func:`default_levers` gives a complete set.
    theta : dict
        Cost and quality parameters (:func:`default_parameters`).
    Q : scalar
        Queries over the model's life.
    target : scalar
        q̄ (coverage mode) or L̄ (loss modes).
    quality : {"coverage", "task_loss", "model_loss"}
        What the target constrains (static).
    iterations, max_step, tol
        Fixed iteration count, step cap in log-lever units, stationarity tolerance (static).

    Returns
    -------
    FirmSolution
        Pure JAX; ``jax.vmap`` over any of z, theta, Q, target gives a batch of solutions and
        ``jax.grad`` of ``.cost`` (or any field) differentiates the optimum.

    Examples
    --------
    >>> theta, z = default_parameters(), default_levers()
    >>> sol = solve(("N", "D"), z, theta, Q=1e9, target=0.6)
    >>> costs_by_Q = jax.vmap(lambda q: solve(("N", "D"), z, theta, q, 0.6).cost)(Qs)
    """
    free = tuple(free)
    _validate(free, quality)
    z = {k: jnp.asarray(v, jnp.float64) for k, v in z.items()}
    theta = {k: jnp.asarray(v, jnp.float64) for k, v in theta.items()}
    return _solve(free, quality, iterations, max_step, tol, z, theta,
                  jnp.asarray(Q, jnp.float64), jnp.asarray(target, jnp.float64))


@partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _solve(free: tuple[str, ...], mode: str, iterations: int, max_step: float, tol: float,
           z: dict[str, Array], theta: dict[str, Array], Q: Array, target: Array) -> FirmSolution:
    n = len(free)
    scale = jax.lax.stop_gradient(costs.total_cost(z, theta, Q))

    sz, st, sQ, sq = (jax.lax.stop_gradient(a) for a in (z, theta, Q, target))

    def fg(u, z_, theta_, Q_, target_):
        z_u = _unpack(u, free, z_)
        return jnp.stack([costs.total_cost(z_u, theta_, Q_) / scale,
                          _constraint(z_u, theta_, target_, mode)])

    def lagrangian(u, lam, z_, theta_, Q_, target_):
        v = fg(u, z_, theta_, Q_, target_)
        return v[0] - lam * v[1]

    jac = jax.jacrev(fg)
    hess = jax.hessian(lagrangian)

    def merit(u, mu):
        v = fg(u, sz, st, sQ, sq)
        return v[0] + mu * jnp.abs(v[1])

    def step(carry, _):
        u, lam, mu = carry
        fv = fg(u, sz, st, sQ, sq)
        J = jac(u, sz, st, sQ, sq)
        gf, gg, gv = J[0], J[1], fv[1]
        H = hess(u, lam, sz, st, sQ, sq)
        w, V = jnp.linalg.eigh(H)
        floor = 1e-8 + 1e-6 * jnp.max(jnp.abs(w))
        Hinv = (V / jnp.maximum(jnp.abs(w), floor)) @ V.T
        a, b = Hinv @ gf, Hinv @ gg
        lam_new = (-gv + gg @ a) / jnp.maximum(gg @ b, 1e-300)
        d = -a + lam_new * b
        d = d * jnp.minimum(1.0, max_step / jnp.maximum(jnp.max(jnp.abs(d)), 1e-300))
        mu = jnp.maximum(mu, 2.0 * jnp.abs(lam_new) + 1e-3)
        m0 = fv[0] + mu * jnp.abs(gv)
        cand = jax.vmap(lambda t: merit(jnp.clip(u + t * d, _U_MIN, _U_MAX), mu))(_STEPS)
        cand = jnp.where(jnp.isfinite(cand), cand, jnp.inf)
        slope = gf @ d - mu * jnp.abs(gv)
        ok = cand <= m0 + 1e-4 * _STEPS * slope
        j = jnp.where(jnp.any(ok), jnp.argmax(ok), jnp.argmin(cand))
        u_new = jnp.clip(u + _STEPS[j] * d, _U_MIN, _U_MAX)
        return (u_new, lam_new, mu), None

    # Start inside the box: a lever given at its bound (k = 1, D_F = 0) starts just above it.
    u0 = jnp.clip(_pack(sz, free), _U_START_MIN, _U_MAX)
    (u, lam, _), _ = jax.lax.scan(step, (u0, jnp.float64(0.0), jnp.float64(1.0)), None,
                                  length=iterations)
    u, lam = jax.lax.stop_gradient(u), jax.lax.stop_gradient(lam)

    # One differentiable Newton step on the KKT system at the converged point: same values,
    # implicit-function derivatives. Levers at their bound are held fixed in it.
    active = (u > _U_MIN + 1.0).astype(jnp.float64)
    fv = fg(u, z, theta, Q, target)
    J = jac(u, z, theta, Q, target)
    gf, gg, gv = J[0], J[1], fv[1]
    H = hess(u, lam, z, theta, Q, target)
    H = H * active[:, None] * active[None, :] + jnp.diag(1.0 - active)
    gf_m, gg_m = gf * active, gg * active
    K = jnp.zeros((n + 1, n + 1)).at[:n, :n].set(H).at[:n, n].set(-gg_m).at[n, :n].set(gg_m)
    rhs = -jnp.concatenate([gf_m - lam * gg_m, gv[None]])
    delta = jnp.linalg.solve(K, rhs)
    u_out = u + delta[:n]
    lam_out = lam + delta[n]

    z_out = _unpack(u_out, free, z)
    sc = costs.stage_costs(z_out, theta)
    F = costs.fixed_cost(sc)
    v = costs.variable_cost(sc)
    stage_dollars = {s: sc[s]["dollars"] * (Q if s in costs.QUERY_STAGES else 1.0)
                     for s in costs.STAGES}
    if mode == "coverage":
        shadow = scale * lam_out / (target * (1.0 - target))
    else:
        shadow = scale * lam_out / target
    stationarity = jnp.max(jnp.abs(gf_m - lam * gg_m))
    feasibility = jnp.abs(gv)
    converged = ((stationarity <= tol * jnp.maximum(jax.lax.stop_gradient(fv[0]), 1e-12))
                 & (feasibility <= 1e-8) & jnp.all(jnp.isfinite(delta)))
    return FirmSolution(
        levers=z_out, cost=F + Q * v, fixed_cost=F, variable_cost=v, stage_dollars=stage_dollars,
        quality=quality_value(z_out, theta, mode), shadow_price=shadow, multiplier=lam_out,
        converged=converged, stationarity=stationarity, feasibility=feasibility,
    )
