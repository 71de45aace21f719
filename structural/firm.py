"""The firm's problem: the cheapest pipeline that reaches a quality target.

Generalising Sardana & Frankle (2023, arXiv:2401.00448, §2), the firm chooses the free levers
z_free ⊂ {N, D, D_F, c, k, r} to

    minimise   C(z) = F(z) + Q · v(z)          (fixed + queries × per-query cost, dollars)
    subject to quality(z) ≥ q̄,

with the other quantities held at their given values. F and v come from
:func:`structural.costs.stage_costs`; quality from :mod:`structural.quality` and is one of

``"coverage"``    P(solved) over k attempts with a free, perfect verifier (pass@k), q̄ ∈ (0, 1);
``"success"``     P(the chosen answer is correct) under the rule ``selection``, q̄ ∈ (0, 1);
``"task_loss"``   the task loss L_task (with context), target L̄ (quality means L_task ≤ L̄);
``"model_loss"``  the model loss L(N, D, D_F) without context, target L̄ (Sardana & Frankle's case).

Answer selection (``"success"``, :func:`structural.quality.success`): ``selection="verifier"``
checks samples one at a time with error rates ``verifier_fpr``, ``verifier_fnr``; decode is paid
for the expected samples drawn (:func:`structural.quality.attempts`, at most k) and each is checked
at the price of :func:`structural.costs.verify_stage`, as in the counterfactual pipeline;
``"oracle"`` is coverage. Majority vote is a step function of k (⌈k/2⌉ votes decide), which a
Newton solver cannot move along, so it is refused here.

An *investment hypothesis* is this problem with a particular free set: ``("N", "D")`` heavy
training, ``("c",)`` long context, ``("k",)`` or ``("r",)`` inference-time compute, ``("D_F",)``
fine-tuning.

Free levers are given either as names (``free=("N", "D")``) or as a 0/1 mask over :data:`LEVERS`
(:func:`free_mask`); the mask is an ordinary array, so one compiled solver serves every investment
hypothesis and ``jax.vmap`` can run several hypotheses at once (:func:`solve_masked`).

Method. Each free lever is written as z = lower + exp(u) (lower = 1 for k, 0 otherwise), the cost
is divided by its value at the starting point, and the constraint is written in a well-scaled form
g(u) ≥ 0: logit(coverage) − logit(q̄), or log L̄ − log L. The quality constraint binds at the optimum
(costs rise and quality rises in every lever), so the solver is a sequential-quadratic-programming
Newton method on the KKT system of the equality-constrained problem: exact gradients and Hessians
from :func:`jax.grad`/:func:`jax.hessian`, the Lagrangian Hessian's eigenvalues taken in absolute
value and floored (so every step is a descent direction), each lever's step capped at
``max_step`` in log units, and an ℓ₁-merit backtracking line search over ten fixed step lengths.
A lever that slides below one token (k below 1.001) while the Lagrangian still pushes it down is
pinned at its bound (an active set). The problem is not convex in k, r and D_F — a corner and an
interior optimum can both be local minima — so a free lever given at its bound starts inside
(:data:`START`); start elsewhere by passing another value in ``z``. The iteration count is
capped (``iterations``; the loop stops earlier once the KKT test passes and the iterate has
stopped moving, :data:`STILL`), so the solver compiles once and vmaps over scenario grids (Q,
prices, parameter draws); every solution carries its own ``converged`` flag and KKT residuals — a
batch never raises halfway. Each iteration takes the cost's and the constraint's gradients and
the Lagrangian's Hessian from one forward-over-reverse pass (:func:`_derivatives`).

Shadow price. λ is the multiplier of the normalised problem; the shadow price of quality is
d C* / d q̄ = s λ dg/dq̄ (s the cost scale): for coverage s λ / (q̄ (1 − q̄)); for a loss target it is
reported per nat of loss *reduction*, s λ / L̄ ≥ 0 (= −dC*/dL̄).

Derivatives. The optimum (u*, λ*) carries a custom JVP rule: the implicit-function theorem on the
KKT system, K [du; dλ] = −∂r/∂θ · dθ with K the KKT matrix at the optimum. So ``jax.jvp``,
``jax.grad`` and ``jax.jacobian`` of the optimal levers, cost and multiplier with respect to every
input (Q, prices, technology, targets, fixed levers) are exact and cost one linear solve — and the
Hessians needed for them are compiled only when a derivative is taken. ``jax.grad`` of the optimal
cost therefore obeys the envelope theorem. Levers pinned at a bound (k → 1, D_F → 0, …) are held
fixed in that rule.
"""

from __future__ import annotations

from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from estimation.progress import StatusLine
from structural import costs, quality, reasoning
from structural.errors import PipelineError

__all__ = ["FirmSolution", "default_levers", "default_parameters", "solve"]

Array = Any

#: Levers the firm may free, and their lower bounds (z = lower + exp(u)).
LEVERS: tuple[str, ...] = ("N", "D", "D_F", "c", "k", "r")
LOWER: dict[str, float] = {"N": 0.0, "D": 0.0, "D_F": 0.0, "c": 0.0, "k": 1.0, "r": 0.0}
QUALITY_MODES: tuple[str, ...] = ("coverage", "success", "task_loss", "model_loss")
#: Answer-selection rules the firm's solver can use (smooth in k); see the module docstring.
FIRM_SELECTION: tuple[str, ...] = ("verifier", "oracle")

_U_MIN, _U_MAX = -60.0, 80.0   # exp(-60) ≈ 1e-26: a lever this small is "at its bound"
_U_START_MIN = -8.0            # a free lever given at its bound starts just above it
_STEPS = 0.5 ** np.arange(10.0)  # NumPy: jnp at import built three programs every run
#: The solver stops once the KKT test passes and its last step moved no lever by more than
#: this (log units, so a relative change), or after ``iterations`` steps.
STILL = 1e-10
_LOWER_VEC = np.array([LOWER[name] for name in LEVERS])
#: Where a free lever starts when it is given at its bound: the problem is not convex in k, r or
#: D_F (a corner at the bound and an interior optimum can both be local minima), so a free lever
#: starts inside; pass a different value in ``z`` to start elsewhere.
START: dict[str, float] = {"N": 1e9, "D": 1e11, "D_F": 1e9, "c": 1e3, "k": 2.0, "r": 1e3}
_START_VEC = np.array([START[name] for name in LEVERS])
#: Below these (in u = log(z − lower)) a lever pushed further down is pinned at its bound:
#: one token of fine-tuning, context or reasoning; k − 1 < 1e-3; N and D never.
_PIN_BELOW = np.array([-np.inf, -np.inf, 0.0, 0.0, np.log(1e-3), 0.0])


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
        ‖∇f − λ∇g‖∞ over the free levers (log-lever units, cost normalised by its value at the
        starting point) and :math:`|g|` at the solution.

    Examples
    --------
    >>> from structural.firm import default_levers, default_parameters, solve
    >>> sol = solve(("N", "D"), default_levers(), default_parameters(), 1e9, 0.6)
    >>> bool(sol.converged), round(float(sol.quality), 3)
    (True, 0.6)
    >>> sol.stage_table().round(3)
           stage       kind       dollars  share
    0   pretrain      fixed  4.933975e+07  0.977
    1   finetune      fixed  0.000000e+00  0.000
    2       data      fixed  0.000000e+00  0.000
    3    context  per query  4.261302e+05  0.008
    4      input  per query  2.140839e+05  0.004
    5  reasoning  per query  0.000000e+00  0.000
    6     output  per query  5.290853e+05  0.010
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

    def stage_table(self) -> Any:
        """The optimum's cost by stage as a DataFrame (dollars over the model's life and share of
        the total); for one solution, not a batch."""
        import pandas as pd

        names = [n for n in (*costs.STAGES, "verify") if n in self.stage_dollars]
        rows = [{"stage": name,
                 "kind": "fixed" if name in costs.FIXED_STAGES else "per query",
                 "dollars": float(self.stage_dollars[name])} for name in names]
        frame = pd.DataFrame(rows)
        frame["share"] = frame["dollars"] / float(self.cost)
        return frame


def default_parameters(hardware: Any = "H100", **overrides: float) -> dict[str, float]:
    """One ``theta`` with every cost and quality parameter (see :func:`structural.costs.
    cost_parameters` and :func:`structural.quality.quality_parameters` for the defaults).

    Examples
    --------
    >>> from structural.firm import default_parameters
    >>> theta = default_parameters("A100", kappa=5.0)
    >>> theta["kappa"], theta["price_per_hour"] > 0
    (5.0, True)
    """
    cost_keys = set(costs.THETA_KEYS)
    theta = costs.cost_parameters(hardware, **{k: v for k, v in overrides.items()
                                               if k in cost_keys})
    theta.update(quality.quality_parameters(**{k: v for k, v in overrides.items()
                                               if k not in cost_keys}))
    return theta


def default_levers(**overrides: float) -> dict[str, float]:
    """A complete set of pipeline quantities (a 70B model on 1.4T unique tokens, no fine-tuning,
    1,000 context tokens, a 500-token input, one attempt, no reasoning, 500 output tokens).

    Examples
    --------
    >>> from structural.firm import default_levers
    >>> z = default_levers(k=4.0)
    >>> f"N = {z['N']:.3g}, D = {z['D']:.3g}, k = {z['k']}"
    'N = 7e+10, D = 1.4e+12, k = 4.0'
    """
    z = {"N": 70e9, "D": 1.4e12, "U": 1.4e12, "D_F": 0.0, "trainable_fraction": 1.0,
         "c": 1000.0, "cached_fraction": 0.0, "x": 500.0, "k": 1.0, "r": 0.0, "y": 500.0}
    unknown = set(overrides) - set(z)
    if unknown:
        raise PipelineError(", ".join(sorted(unknown)), f"unknown lever; known: {', '.join(z)}")
    z.update({k: float(v) for k, v in overrides.items()})
    return z


def free_mask(free: tuple[str, ...] | list[str]) -> np.ndarray:
    """The 0/1 mask over :data:`LEVERS` of the free levers named in ``free``."""
    free = tuple(free)
    if not free:
        raise PipelineError("free", "at least one lever must be free")
    bad = [f for f in free if f not in LEVERS]
    if bad:
        raise PipelineError("free", f"unknown lever(s) {bad}; choose from {LEVERS}")
    if len(set(free)) != len(free):
        raise PipelineError("free", f"duplicate levers in {free}")
    return np.array([1.0 if name in free else 0.0 for name in LEVERS])


def _rule(mode: str) -> str | None:
    """The answer-selection rule of an internal mode ``"success:<rule>"`` (None otherwise)."""
    return mode.split(":", 1)[1] if mode.startswith("success:") else None


def quality_mode(quality_: str, selection: str = "verifier") -> str:
    """The solver's static mode for a quality measure: ``"success:<rule>"`` for ``"success"``,
    the measure itself otherwise; bad names raise :class:`PipelineError`."""
    if quality_ not in QUALITY_MODES:
        raise PipelineError("quality", f"expected one of {QUALITY_MODES}, got {quality_!r}")
    if quality_ != "success":
        return quality_
    if selection not in FIRM_SELECTION:
        raise PipelineError("selection", f"expected one of {', '.join(FIRM_SELECTION)} (the "
                            "firm's Newton solver needs a quality smooth in k; majority vote "
                            f"is a step function of k), got {selection!r}")
    return f"success:{selection}"


def quality_value(z: dict[str, Array], theta: dict[str, Array], mode: str) -> Array:
    """The quality measure of ``mode`` at z: coverage, success under an answer-selection rule
    (``"success:verifier"``, ``"success:oracle"``; :func:`quality_mode`), task loss or model
    loss."""
    if mode == "coverage":
        return quality.coverage(z, theta)
    if _rule(mode) is not None:
        return quality.success(z, theta, _rule(mode))
    if mode == "task_loss":
        return quality.task_loss(z, theta)
    if mode == "model_loss":
        return quality.model_loss(z, theta)
    raise PipelineError("quality", f"expected one of {QUALITY_MODES}, got {mode!r}")


def stage_costs(z: dict[str, Array], theta: dict[str, Array], mode: str) -> dict[str, dict]:
    """:func:`structural.costs.stage_costs` of the pipeline under ``mode``: with the verifier,
    the samples drawn are :func:`structural.quality.attempts` (≤ k) and a ``verify`` stage
    (:func:`structural.costs.verify_stage`) is added, as in the counterfactual pipeline."""
    if _rule(mode) != "verifier":
        return costs.stage_costs(z, theta)
    drawn = {**z, "k": quality.attempts(z, theta, "verifier")}
    return {**costs.stage_costs(drawn, theta), "verify": costs.verify_stage(drawn, theta)}


def query_stages(mode: str) -> tuple[str, ...]:
    """The per-query stages under ``mode`` (the verifier adds ``verify``)."""
    return costs.QUERY_STAGES + (("verify",) if _rule(mode) == "verifier" else ())


def total_cost(z: dict[str, Array], theta: dict[str, Array], Q: Array, mode: str) -> Array:
    """F + Q v in dollars under ``mode`` (:func:`stage_costs`)."""
    sc = stage_costs(z, theta, mode)
    return costs.fixed_cost(sc) + Q * sum(sc[k]["dollars"] for k in query_stages(mode))


def _constraint(z: dict[str, Array], theta: dict[str, Array], target: Array, mode: str) -> Array:
    """g(z) ≥ 0 ⇔ quality met, in a scale-free form."""
    if _rule(mode) == "verifier":
        p = quality.success(z, theta, "verifier")
        return (jnp.log(p) - jnp.log1p(-p)) - (jnp.log(target) - jnp.log1p(-target))
    if mode in ("coverage", "success:oracle"):
        logit = quality.attempt_logit(z, theta)
        # log(cov/(1 − cov)) with 1 − cov = B(a, b+k)/B(a, b) computed in logs for accuracy.
        a = theta["phi"] * jax.nn.sigmoid(logit)
        b = theta["phi"] * jax.nn.sigmoid(-logit)
        log_miss = reasoning.log_miss_probability(z["k"], a, b)
        log_cov = jnp.log(-jnp.expm1(log_miss))
        return (log_cov - log_miss) - (jnp.log(target) - jnp.log1p(-target))
    return jnp.log(target) - jnp.log(quality_value(z, theta, mode))


def _unpack(u: Array, mask: Array, z: dict[str, Array]) -> dict[str, Array]:
    """z with each free lever (mask = 1) set to lower + exp(u); fixed levers exactly as given."""
    out = dict(z)
    for i, name in enumerate(LEVERS):
        out[name] = jnp.where(mask[i] > 0, LOWER[name] + jnp.exp(u[i]), z[name])
    return out


def _pack(z: dict[str, Array]) -> Array:
    return jnp.stack([jnp.log(jnp.maximum(z[name] - LOWER[name], 1e-300)) for name in LEVERS])


def solve(free: tuple[str, ...] | list[str], z: dict[str, Array], theta: dict[str, Array],
          Q: Array, target: Array, *, quality: str = "coverage", selection: str = "verifier",
          iterations: int = 60, max_step: float = 2.0, tol: float = 1e-7) -> FirmSolution:
    """Minimise F + Q v over the free levers subject to quality ≥ target.

    Parameters
    ----------
    free : tuple of str
        The free levers, a subset of :data:`LEVERS`.
    z : dict
        Every pipeline quantity (:data:`structural.costs.Z_KEYS`); the free ones are starting
        points. :func:`default_levers` gives a complete set.
    theta : dict
        Cost and quality parameters (:func:`default_parameters`).
    Q : scalar
        Queries over the model's life.
    target : scalar
        q̄ (coverage mode) or L̄ (loss modes).
    quality : {"coverage", "success", "task_loss", "model_loss"}
        What the target constrains (static: each mode compiles once).
    selection : {"verifier", "oracle"}
        The answer-selection rule of ``quality="success"`` (static).
    iterations, max_step, tol
        Most iterations, step cap in log-lever units, stationarity tolerance (static).

    Returns
    -------
    FirmSolution
        Pure JAX; ``jax.vmap`` over any of z, theta, Q, target gives a batch of solutions and
        ``jax.grad`` of ``.cost`` (or any field) differentiates the optimum.

    Examples
    --------
    The cheapest model size and data that reach 60% coverage over a billion queries:

    >>> import jax
    >>> import jax.numpy as jnp
    >>> from structural.firm import default_levers, default_parameters, solve
    >>> theta, z = default_parameters(), default_levers()
    >>> sol = solve(("N", "D"), z, theta, Q=1e9, target=0.6)
    >>> f"N = {float(sol.levers['N']):.3g}, D = {float(sol.levers['D']):.3g}"
    'N = 1.17e+11, D = 2.2e+13'
    >>> f"${float(sol.cost):.3g}, {float(sol.shadow_price):.3g} $ per unit of coverage"
    '$5.05e+07, 1.51e+09 $ per unit of coverage'

    Batched over lifetime queries (one compilation for the whole grid):

    >>> costs = jax.vmap(lambda q: solve(("N", "D"), z, theta, q, 0.6).cost)(
    ...     jnp.array([1e8, 1e9, 1e10]))  # doctest: +SKIP
    """
    return solve_masked(free_mask(free), z, theta, Q, target, quality=quality,
                        selection=selection, iterations=iterations, max_step=max_step, tol=tol)


def solve_masked(mask: Array, z: dict[str, Array], theta: dict[str, Array], Q: Array,
                 target: Array, *, quality: str = "coverage", selection: str = "verifier",
                 iterations: int = 60, max_step: float = 2.0, tol: float = 1e-7) -> FirmSolution:
    """:func:`solve` with the free levers as a 0/1 array over :data:`LEVERS` (see
    :func:`free_mask`). The mask is traced, so it can be batched with ``jax.vmap`` to solve several
    investment hypotheses in one call, all sharing one compiled solver."""
    mode = quality_mode(quality, selection)
    mask = jnp.asarray(mask, jnp.float64)
    z = {k: jnp.asarray(v, jnp.float64) for k, v in z.items()}
    theta = {k: jnp.asarray(v, jnp.float64) for k, v in theta.items()}
    args = (mode, int(iterations), float(max_step), float(tol), mask, z, theta,
            jnp.asarray(Q, jnp.float64), jnp.asarray(target, jnp.float64))
    with _compile_notice(args):
        return _solve(*args)


#: Seconds a first call of a kind runs before the terminal says it is compiling.
COMPILE_NOTICE_DELAY = 1.0
_CALLS_SEEN: set[tuple] = set()


def _compile_notice(args: tuple) -> StatusLine:
    """The status line of the first call of each kind (static options, input shapes, plain or
    traced by ``vmap``): JAX compiles the solver there, for tens of seconds on a CPU, which a
    silent terminal makes look hung. Shown on a terminal after :data:`COMPILE_NOTICE_DELAY` s
    (a compiled program read from the persistent cache shows nothing); ``LLMECON_QUIET`` or
    ``--quiet`` silence it (:mod:`estimation.progress`)."""
    static, arrays = args[:4], args[4:]
    kind = static + tuple((type(x).__name__, jnp.shape(x)) for x in jax.tree.leaves(arrays))
    first = kind not in _CALLS_SEEN
    _CALLS_SEEN.add(kind)
    return StatusLine(f"compiling the firm's problem ({args[0]} quality; once per process)",
                      enabled=first, delay=COMPILE_NOTICE_DELAY)


# ---------------------------------------------------------------------------------------------
# The normalised problem: f(u) = C(z(u)) / s, g(u) ≥ 0, over u ∈ R^6 with fixed levers masked.

def _scale(z: dict[str, Array], theta: dict[str, Array], Q: Array, mode: str) -> Array:
    return jax.lax.stop_gradient(total_cost(z, theta, Q, mode))


def _fg(u, mask, z, theta, Q, target, s, mode):
    z_u = _unpack(u, mask, z)
    return jnp.stack([total_cost(z_u, theta, Q, mode) / s, _constraint(z_u, theta, target, mode)])


def _lagrangian(u, lam, mask, z, theta, Q, target, s, mode):
    v = _fg(u, mask, z, theta, Q, target, s, mode)
    return v[0] - lam * v[1]


def _derivatives(u, lam, mask, z, theta, Q, target, s, mode):
    """(f, g), their gradients (2 × 6) and the Lagrangian's Hessian at (u, λ) from one
    forward-over-reverse pass: the Jacobian is the primal of the Hessian's pass, so the reverse
    sweep through the cost and the verifier's quadrature is traced and compiled once, not once
    for the Jacobian and again inside the Hessian."""
    def jac_and_value(u_):
        fv, vjp = jax.vjp(lambda x: _fg(x, mask, z, theta, Q, target, s, mode), u_)
        J = jax.vmap(vjp)(jnp.eye(2))[0]
        return J, fv

    basis = jnp.eye(u.shape[0])
    (J, fv), (dJ, _) = jax.vmap(lambda t: jax.jvp(jac_and_value, (u,), (t,)),
                                out_axes=((None, None), 0))(basis)
    # dJ[i, m, j] = ∂²v_m / ∂u_j ∂u_i: the Hessian of f − λ g (symmetric).
    H = dJ[:, 0, :] - lam * dJ[:, 1, :]
    return fv, J, H


@partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _optimum(mode, iterations, max_step, tol, mask, z, theta, Q, target):
    """(u*, λ*, diagnostics) by SQP-Newton with a merit line search (see the module docstring).

    The loop stops once the KKT test passes and the last step moved no lever by more than
    :data:`STILL` (or after ``iterations``): the steps a fixed count would add move nothing
    beyond that, and a batch under ``vmap`` runs only as long as its slowest member. Where the
    optimum is flat in a lever (k when pretraining dominates the cost) Newton creeps along it
    and the loop runs on, as a fixed count would."""
    s = _scale(z, theta, Q, mode)

    def merit(u, mu):
        v = _fg(u, mask, z, theta, Q, target, s, mode)
        return v[0] + mu * jnp.abs(v[1])

    def step(carry):
        u, lam, mu, free_now, _, i, moved = carry
        eff = mask * free_now
        fv, J, H = _derivatives(u, lam, mask, z, theta, Q, target, s, mode)
        J = J * eff
        gf, gg, gv = J[0], J[1], fv[1]
        # KKT residuals at u with the current multiplier: reported for the final iterate, which
        # the last pass of the loop evaluates without moving.
        stationarity = jnp.max(jnp.abs(gf - lam * gg))
        converged = ((stationarity <= tol * jnp.maximum(fv[0], 1e-12))
                     & (jnp.abs(gv) <= 1e-8) & jnp.isfinite(fv[0]))
        diagnostics = jnp.stack([stationarity, jnp.abs(gv), converged.astype(jnp.float64)])
        last = (i == iterations) | (converged & (moved <= STILL))
        H = H * eff[:, None] * eff[None, :] + jnp.diag(1.0 - eff)
        w, V = jnp.linalg.eigh(H)
        floor = 1e-8 + 1e-4 * jnp.max(jnp.abs(w))
        Hinv = (V / jnp.maximum(jnp.abs(w), floor)) @ V.T
        a, b = Hinv @ gf, Hinv @ gg
        lam_new = (-gv + gg @ a) / jnp.maximum(gg @ b, 1e-300)
        # Cap each lever's step on its own: a flat direction (a lever sliding to its bound) must
        # not shrink the steps of the others.
        d = jnp.clip((-a + lam_new * b) * eff, -max_step, max_step)
        mu = jnp.maximum(mu, 2.0 * jnp.abs(lam_new) + 1e-3)
        m0 = fv[0] + mu * jnp.abs(gv)
        cand = jax.vmap(lambda t: merit(jnp.clip(u + t * d, _U_MIN, _U_MAX), mu))(_STEPS)
        cand = jnp.where(jnp.isfinite(cand), cand, jnp.inf)
        slope = gf @ d - mu * jnp.abs(gv)
        ok = cand <= m0 + 1e-4 * _STEPS * jnp.minimum(slope, 0.0)
        j = jnp.where(jnp.any(ok), jnp.argmax(ok), jnp.argmin(cand))
        u_new = jnp.clip(u + jnp.asarray(_STEPS)[j] * d, _U_MIN, _U_MAX)
        # Active set: a lever that has slid below its floor (less than one token of fine-tuning,
        # context or reasoning; k < 1.001) while the Lagrangian still pushes it down is pinned at
        # its bound for the rest of the solve.
        pin = (eff > 0) & (u_new < _PIN_BELOW) & ((gf - lam_new * gg) >= 0.0) & ~last
        u_new = jnp.where(pin, _U_MIN, u_new)
        u_new = jnp.where(last, u, u_new)
        lam_new = jnp.where(last, lam, lam_new)
        i_new = jnp.where(last, iterations + 1, i + 1)
        moved = jnp.max(jnp.abs(u_new - u))
        return (u_new, lam_new, mu, free_now * (1.0 - pin), diagnostics, i_new, moved)

    # A free lever given at its bound (k = 1, D_F = c = r = 0) starts at an interior default.
    at_lower = jnp.stack([z[name] <= LOWER[name] for name in LEVERS])
    u0 = jnp.where(at_lower, jnp.log(_START_VEC - _LOWER_VEC), _pack(z))
    u0 = jnp.where(mask > 0, jnp.clip(u0, _U_START_MIN, _U_MAX), 0.0)
    carry0 = (u0, jnp.float64(0.0), jnp.float64(1.0), jnp.ones_like(mask), jnp.zeros(3),
              jnp.int32(0), jnp.float64(jnp.inf))
    u, lam, _, free_now, diagnostics, _, _ = jax.lax.while_loop(
        lambda c: c[5] <= iterations, step, carry0)
    return u, lam, diagnostics, mask * free_now


@_optimum.defjvp
def _optimum_jvp(mode, iterations, max_step, tol, primals, tangents):
    """Implicit-function theorem on the KKT system r(u, λ; θ) = [∇_u L; g] = 0 over the active
    levers (free and not pinned at a bound)."""
    mask, z, theta, Q, target = primals
    _, dz, dtheta, dQ, dtarget = tangents
    u, lam, diagnostics, active = _optimum(mode, iterations, max_step, tol, *primals)
    s = _scale(z, theta, Q, mode)
    n = u.shape[0]

    def residual(z_, theta_, Q_, target_):
        grad_L = jax.grad(_lagrangian)(u, lam, mask, z_, theta_, Q_, target_, s, mode)
        g = _fg(u, mask, z_, theta_, Q_, target_, s, mode)[1]
        return jnp.concatenate([grad_L * active, g[None]])

    _, dr = jax.jvp(residual, (z, theta, Q, target), (dz, dtheta, dQ, dtarget))
    H = jax.hessian(_lagrangian)(u, lam, mask, z, theta, Q, target, s, mode)
    H = H * active[:, None] * active[None, :] + jnp.diag(1.0 - active)
    gg = jax.grad(lambda u_: _fg(u_, mask, z, theta, Q, target, s, mode)[1])(u) * active
    K = jnp.zeros((n + 1, n + 1)).at[:n, :n].set(H).at[:n, n].set(-gg).at[n, :n].set(gg)
    delta = jnp.linalg.solve(K, -dr)
    primal_out = (u, lam, diagnostics, active)
    tangent_out = (delta[:n] * active, delta[n], jnp.zeros_like(diagnostics),
                   jnp.zeros_like(active))
    return primal_out, tangent_out


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _solve(mode: str, iterations: int, max_step: float, tol: float, mask: Array,
           z: dict[str, Array], theta: dict[str, Array], Q: Array, target: Array) -> FirmSolution:
    u, lam, diagnostics, _ = _optimum(mode, iterations, max_step, tol, mask, z, theta, Q,
                                      target)
    s = _scale(z, theta, Q, mode)
    z_out = _unpack(u, mask, z)
    sc = stage_costs(z_out, theta, mode)
    F = costs.fixed_cost(sc)
    per_query = query_stages(mode)
    v = sum(sc[name]["dollars"] for name in per_query)
    stage_dollars = {name: sc[name]["dollars"] * (Q if name in per_query else 1.0) for name in sc}
    if mode == "coverage" or _rule(mode) is not None:
        shadow = s * lam / (target * (1.0 - target))
    else:
        shadow = s * lam / target
    return FirmSolution(
        levers=z_out, cost=F + Q * v, fixed_cost=F, variable_cost=v, stage_dollars=stage_dollars,
        quality=quality_value(z_out, theta, mode), shadow_price=shadow, multiplier=lam,
        converged=diagnostics[2] > 0.5, stationarity=diagnostics[0], feasibility=diagnostics[1],
    )
