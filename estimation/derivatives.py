"""Closed-form residual derivatives a model may supply, checked against JAX before they are used.

For M-estimation on residuals, Q(θ; w) = Σ_i w_i ρ(r_i(θ)), the batched Newton solver needs

    ∇Q   = Jᵀ (w ψ),                                   J_ij = ∂r_i/∂θ_j,
    ∇²Q  = Jᵀ diag(w ρ″) J + Σ_i c_i ∇²r_i,            c = w ψ,
    B    = Jᵀ diag(w ψ(r)/r) J                          (the IRLS curvature),

at every iteration of every member. JAX derives all of it from ``residuals`` alone
(:meth:`estimation.objective.Objective.value_grad_hess_gn_scale`). A model whose residuals have a
known structure can instead hand the engine ``J`` and the weighted curvature Σ_i c_i ∇²r_i
directly, which for the Chinchilla law costs about a third less per iteration than
forward-over-reverse differentiation (``benchmarks/chinchilla.py``). The loss stays generic: ψ,
ρ″ and the IRLS weight still come from the loss object.

Supplied derivatives are never trusted blindly: :func:`check_residual_derivatives` compares them
with JAX's at the first start of every fit and refuses a mismatch, naming the entry.
"""

from __future__ import annotations

from typing import Protocol

import jax
import numpy as np

from estimation.errors import SpecificationError

#: Largest relative disagreement (to the largest entry of the same array) tolerated between
#: supplied and JAX derivatives: well above rounding, far below any real mistake.
DERIVATIVE_RTOL = 1e-7


class ResidualDerivatives(Protocol):
    """Closed-form derivatives of residuals r(θ), in the optimiser's internal coordinates θ
    (after the parameters' log/logit transforms, in :class:`~estimation.ParamSpec` order)."""

    def jacobian(self, theta: jax.Array, data: dict[str, jax.Array]
                 ) -> tuple[jax.Array, jax.Array]:
        """(r, J): residuals, shape (n,), and J_ij = ∂r_i/∂θ_j, shape (n, k)."""
        ...

    def curvature(self, theta: jax.Array, data: dict[str, jax.Array], c: jax.Array
                  ) -> jax.Array:
        """Σ_i c_i ∇²r_i(θ), shape (k, k), for per-observation weights c, shape (n,)."""
        ...


def check_residual_derivatives(obj, theta: np.ndarray) -> None:
    """Raise :class:`SpecificationError` unless ``obj.derivatives`` agrees with JAX at ``theta``.

    Compares the residuals, the Jacobian and the weighted curvature (with generic weights, so
    that no term can cancel by chance) to forward-mode JAX derivatives of ``obj.residuals``.
    """
    t = np.asarray(theta, dtype=np.float64)
    c = np.linspace(-1.0, 2.0, obj.nobs)
    got = _supplied(obj)(t, c, obj.data)
    want = _autodiff(obj)(t, c, obj.data)
    for name, g, w in zip(("residuals", "Jacobian", "curvature"), got, want, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        if g.shape != w.shape:
            raise SpecificationError(
                f"supplied derivatives: the {name} has shape {g.shape}; expected {w.shape}")
        scale = max(float(np.max(np.abs(w), initial=0.0)), 1e-300)
        err = np.abs(g - w)
        if not np.all(np.isfinite(g)) or float(np.max(err, initial=0.0)) > DERIVATIVE_RTOL * scale:
            bad = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(err), err, np.inf))),
                                   err.shape)
            where = _entry(name, bad, obj.spec.names)
            raise SpecificationError(
                f"supplied derivatives disagree with JAX: {name}{where} is {g[bad]:.10g}, JAX "
                f"gives {w[bad]:.10g} at internal θ = {np.round(t, 6).tolist()}")


def _entry(name: str, idx: tuple, names: tuple) -> str:
    if name == "residuals":
        return f" of row {idx[0]}"
    if name == "Jacobian":
        return f" of row {idx[0]} in {names[idx[1]]!r}"
    return f" ({names[idx[0]]!r}, {names[idx[1]]!r})"


_CACHE: dict[tuple, object] = {}


def _supplied(obj):
    key = ("supplied", obj.static_key)
    if key not in _CACHE:
        d = obj.derivatives

        def f(t, c, data):
            r, J = d.jacobian(t, data)
            return r, J, d.curvature(t, data, c)

        _CACHE[key] = jax.jit(f)
    return _CACHE[key]


def _autodiff(obj):
    key = ("autodiff", obj.static_key)
    if key not in _CACHE:
        def f(t, c, data):
            o = obj.with_data(data)
            r, J = o._residuals_of(t), jax.jacfwd(o._residuals_of)(t)
            H2 = jax.jacfwd(jax.grad(lambda u: (c * o._residuals_of(u)).sum()))(t)
            return r, J, H2

        _CACHE[key] = jax.jit(f)
    return _CACHE[key]
