"""Closed-form residual derivatives a model may supply, checked against JAX before they are used.

For M-estimation on residuals, Q(θ; w) = Σ_i w_i ρ(r_i(θ)), the batched Newton solver needs

    ∇Q   = Jᵀ (w ψ),                                   J_ij = ∂r_i/∂θ_j,
    ∇²Q  = Jᵀ diag(w ρ″) J + Σ_i c_i ∇²r_i,            c = w ψ,
    B    = Jᵀ diag(w ψ(r)/r) J                          (the IRLS curvature),

at every iteration of every member. JAX derives all of it from ``residuals`` alone
(:meth:`estimation.objective.Objective.value_grad_hess_gn_scale`). A model whose residuals have a
known structure can instead hand the engine ``J`` and the weighted curvature Σ_i c_i ∇²r_i
directly, which for the Chinchilla law costs about a third less per iteration than
forward-over-reverse differentiation. The loss stays generic: ψ,
ρ″ and the IRLS weight still come from the loss object.

Supplied derivatives are never trusted blindly: :func:`check_residual_derivatives` compares them
with JAX's at the first start of every fit and again at the estimate (whose Hessian feeds the
covariance), and refuses a mismatch, naming the entry.
"""

from __future__ import annotations

from typing import Protocol

import jax
import numpy as np

from estimation.errors import SpecificationError

#: Largest disagreement tolerated between supplied and JAX derivatives, relative to the size of
#: each entry's terms (see :func:`check_residual_derivatives`): well above rounding.
DERIVATIVE_RTOL = 1e-7


class ResidualDerivatives(Protocol):
    r"""Closed-form derivatives of residuals r(θ), in the optimiser's internal coordinates θ
    (after the parameters' log/logit transforms, in :class:`~estimation.ParamSpec` order).

    Any object with these two methods will do (a structural protocol). ``fit(derivatives=...)``
    checks them against JAX at the first start and at the estimate.

    Examples
    --------
    The residuals :math:`r_i = y_i - a e^{b x_i}` of an exponential curve, with
    :math:`\partial r_i/\partial a = -e^{b x_i}`, :math:`\partial r_i/\partial b = -a x_i e^{b x_i}`
    and the weighted curvature :math:`\sum_i c_i \nabla^2 r_i`:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import Squared, fit
    >>> class Exponential:
    ...     def jacobian(self, theta, d):
    ...         a, b = theta
    ...         e = jnp.exp(b * d["x"])
    ...         return d["y"] - a * e, jnp.stack([-e, -a * d["x"] * e], axis=1)
    ...     def curvature(self, theta, d, c):
    ...         a, b = theta
    ...         e = jnp.exp(b * d["x"])
    ...         ab = -jnp.sum(c * d["x"] * e)
    ...         bb = -jnp.sum(c * a * d["x"] ** 2 * e)
    ...         return jnp.array([[0.0, ab], [ab, bb]])
    >>> x = np.linspace(0.0, 1.0, 30)
    >>> y = 2.0 * np.exp(0.5 * x) + np.random.default_rng(0).normal(0.0, 0.01, 30)
    >>> res = fit(residuals=lambda p, d: d["y"] - p["a"] * jnp.exp(p["b"] * d["x"]),
    ...           loss=Squared(), derivatives=Exponential(), data={"x": x, "y": y},
    ...           params=["a", "b"], kind="m", start={"a": 1.0, "b": 0.0}, progress=False)
    >>> res.params.round(2).tolist()
    [2.0, 0.5]
    """

    def jacobian(self, theta: jax.Array, data: dict[str, jax.Array]
                 ) -> tuple[jax.Array, jax.Array]:
        """(r, J): residuals, shape (n,), and J_ij = ∂r_i/∂θ_j, shape (n, k)."""
        ...

    def curvature(self, theta: jax.Array, data: dict[str, jax.Array], c: jax.Array
                  ) -> jax.Array:
        """Σ_i c_i ∇²r_i(θ), shape (k, k), for per-observation weights c, shape (n,)."""
        ...


def check_residual_derivatives(obj, theta: np.ndarray) -> None:
    r"""Raise :class:`SpecificationError` unless ``obj.derivatives`` agrees with JAX at ``theta``.

    Compares the residuals, the Jacobian and the weighted curvature (with weights of both signs
    and unequal sizes) to forward-mode JAX derivatives of ``obj.residuals``, entry by entry:
    a Jacobian entry against its own size (floored at 10⁻⁸ of its column's largest), a
    curvature entry against :math:`\sum_i |c_i|\, |\partial^2 r_i / \partial\theta_j
    \partial\theta_k|`, the size of the terms it sums. An
    entry that is small at ``theta`` (a softmax share of 10⁻¹⁴) is thus checked as strictly
    as a large one. Where JAX's own derivatives are not finite nothing can be checked, and
    that is an error too.
    """
    t = np.asarray(theta, dtype=np.float64)
    c = obj.weights(np.linspace(-1.0, 2.0, obj.nobs))  # zero on rows that pad the data
    got = [np.asarray(a) for a in _supplied(obj)(t, c, obj.data)]
    r, J, H_obs = (np.asarray(a) for a in _autodiff(obj)(t, obj.data))
    at = f"at internal θ = {np.round(t, 6).tolist()}"
    for name, w in (("residuals", r), ("Jacobian", J), ("curvature", H_obs)):
        if not np.all(np.isfinite(w)):
            bad = np.unravel_index(int(np.argmin(np.isfinite(w))), w.shape)
            raise SpecificationError(
                f"cannot check the supplied derivatives {at}: JAX's {name} is not finite "
                f"there (row {bad[0]}); start elsewhere")
    want = (r, J, np.einsum("i,ijk->jk", c, H_obs))
    col = np.max(np.abs(J), axis=0, initial=0.0)
    size = np.einsum("i,ijk->jk", np.abs(c), np.abs(H_obs))
    scales = (np.full(r.shape, np.max(np.abs(r), initial=0.0)),
              np.maximum(np.abs(J), 1e-8 * col),
              size + 1e-12 * np.sqrt(np.outer(np.diag(size), np.diag(size))))
    for name, g, w, scale in zip(("residuals", "Jacobian", "curvature"), got, want, scales,
                                 strict=True):
        if g.shape != w.shape:
            raise SpecificationError(
                f"supplied derivatives: the {name} has shape {g.shape}; expected {w.shape}")
        excess = np.abs(g - w) / (DERIVATIVE_RTOL * np.maximum(scale, 1e-250))
        excess = np.where(np.isfinite(g), excess, np.inf)
        if np.any(excess > 1.0):
            bad = np.unravel_index(int(np.argmax(excess)), excess.shape)
            where = _entry(name, bad, obj.spec.names)
            raise SpecificationError(
                f"supplied derivatives disagree with JAX: {name}{where} is {g[bad]:.10g}, JAX "
                f"gives {w[bad]:.10g} {at}")


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

        _CACHE[key] = _kept(f, key)
    return _CACHE[key]


def _autodiff(obj):
    """(r, J, per-observation Hessians ∂²r_i/∂θ∂θᵀ) by forward mode: k² tangents, cheap for the
    few parameters of a structural model."""
    key = ("autodiff", obj.static_key)
    if key not in _CACHE:
        def f(t, data):
            res = obj.with_data(data)._residuals_of
            return res(t), jax.jacfwd(res)(t), jax.jacfwd(jax.jacfwd(res))(t)

        _CACHE[key] = _kept(f, key)
    return _CACHE[key]


def _kept(f, key: tuple):
    """``jax.jit(f)`` kept traced between runs under the model's static key, as the objective's
    programs are (:func:`estimation.objective.compiled`): the check runs at every fit with
    supplied derivatives, and tracing its nested forward-mode Hessian took longer than the
    rest of a warm ``llmecon fit chinchilla``'s compilation."""
    from estimation.compilation import traced_jit

    return traced_jit(f, ("derivative check", key))
