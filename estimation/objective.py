"""The estimation objective built from per-observation contributions.

A model is a pure JAX function ``contributions(p, data) -> (n,)`` of a parameter dict ``p`` (the
user's scale) and a dict of data arrays. The engine minimises

    MLE:            Q(θ; w) = − Σ_i w_i ℓ_i(x(θ))      (ℓ_i: log-likelihood contributions)
    M-estimation:   Q(θ; w) =   Σ_i w_i ρ_i(x(θ))      (ρ_i: losses, e.g. Huber)

with observation weights w (all ones for a fit; multinomial counts for a bootstrap replicate, so
one compiled solver serves the fit, the multistart grid and the bootstrap).

A fit pads its data to a few row counts (:func:`padded_rows`): the extra rows repeat the last
observation and carry weight zero, so Q and its derivatives are unchanged while a dataset of a new
length reuses the code compiled for the last one of its bucket instead of compiling again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.errors import ModelFunctionError, SpecificationError
from estimation.parameters import ParamSpec

Contributions = Callable[[dict[str, jax.Array], dict[str, jax.Array]], jax.Array]
KINDS = ("mle", "m")


def objective_scale(q, w, xp=jnp):
    r"""The scale of :math:`Q = \sum_i w_i q_i` that convergence is judged against: the spread of
    the contributions about their weighted mean, :math:`S_Q = \sum_i w_i |q_i - \bar q|`.

    Unlike :math:`|Q|` it does not move when a constant is added to every contribution (a
    likelihood's normalising constant, an offset in a loss), yet it scales with Q, so tolerances
    mean the same for a summed or an averaged objective in any units. Where every contribution is
    equal (one observation, an exact fit) it falls back to :math:`|Q|`. ``xp`` is ``jax.numpy``
    inside compiled code or ``numpy`` on the host.
    """
    q = xp.reshape(q, (-1,))
    w = xp.broadcast_to(w, q.shape)
    qbar = xp.sum(w * q) / xp.maximum(xp.sum(w), 1e-300)
    spread = xp.sum(w * xp.abs(q - qbar))
    return xp.where(spread > 0, spread, xp.abs(xp.sum(w * q)))


#: Row counts up to this are padded to a power of two; beyond it to a multiple of an eighth of
#: the next power of two, so padding never adds more than 25% of rows where it costs time.
_POW2_ROWS = 4096
_MIN_ROWS = 16


def padded_rows(n: int) -> int:
    """The row count a dataset of ``n`` rows is padded to: 16, 32, ..., 4096, then steps of an
    eighth of the enclosing power of two (5120, 6144, ..., 8192, 10240, ...). A handful of
    buckets cover every length a command meets, so each model compiles once per bucket rather
    than once per length.
    """
    if n <= _MIN_ROWS:
        return _MIN_ROWS
    top = 1 << (int(n) - 1).bit_length()  # the smallest power of two ≥ n
    if top <= _POW2_ROWS:
        return top
    step = top // 8
    return -(-int(n) // step) * step


#: The most rows whose derivatives are formed at once: beyond it Q, ∇Q and ∇²Q are summed over
#: chunks of rows in a compiled loop (``lax.map``), so the memory a fit needs beyond its data
#: stays that of one chunk (about 2^18 rows × parameters × a few arrays) however many rows.
CHUNK_ROWS = 1 << 18
_MIN_CHUNK = 1 << 12


def chunk_rows(rows: int) -> int:
    """Rows per chunk for data of ``rows`` rows: all of them up to :data:`CHUNK_ROWS`, beyond it
    the largest power of two up to it that divides ``rows`` (padded row counts have one)."""
    if rows <= CHUNK_ROWS:
        return rows
    c = CHUNK_ROWS
    while rows % c and c > _MIN_CHUNK:
        c //= 2
    return c if rows % c == 0 else rows


def as_data(data: Mapping[str, Any] | pd.DataFrame) -> tuple[dict[str, jax.Array], int]:
    """Data as a dict of float64 (or integer) JAX arrays sharing a leading dimension n."""
    arrays, n = host_columns(data)
    # jnp.asarray would compile a copy per shape.
    return {k: jax.device_put(v) for k, v in arrays.items()}, n


def host_columns(data: Mapping[str, Any] | pd.DataFrame) -> tuple[dict[str, np.ndarray], int]:
    """The data's columns checked (numbers, one value per row, one row count) as NumPy float64
    (or integer, boolean) arrays, without a copy where a column already is one: a fit makes its
    one copy when it pads the rows (:meth:`Objective.padded`)."""
    if isinstance(data, pd.DataFrame):
        data = {c: data[c].to_numpy() for c in data.columns}
    out: dict[str, np.ndarray] = {}
    n = None
    for key, value in data.items():
        arr = np.asarray(value)
        if arr.dtype.kind in "biu":
            arr = arr.astype(np.int64, copy=False)
        elif arr.dtype.kind == "f":
            arr = arr.astype(np.float64, copy=False)
        elif arr.dtype.kind != "b":
            raise SpecificationError(
                f"data column {key!r} has dtype {arr.dtype}; expected numbers (encode categories "
                "as integer codes)"
            )
        if arr.ndim == 0:
            raise SpecificationError(f"data column {key!r} is a scalar; expected one value per row")
        if n is None:
            n = arr.shape[0]
        elif arr.shape[0] != n:
            raise SpecificationError(
                f"data column {key!r} has {arr.shape[0]} rows; the others have {n}"
            )
        out[str(key)] = arr
    if not n:
        raise SpecificationError("data has no rows")
    return out, int(n)


def jacobian_columns(fun: Callable, theta: jax.Array) -> tuple[Any, Any, Any]:
    """(``fun(θ)``'s outputs, their Jacobian in θ, aux) of ``fun(θ) -> (outputs, aux)``: the same
    numbers as ``jax.jacfwd(fun, has_aux=True)`` but with the Jacobian laid out column-first
    (leading axis: the parameter), from one linearisation at θ whose tangent map runs once per
    parameter in a compiled loop (``lax.map`` over the unit vectors).

    ``jacfwd`` pushes all k tangents at once, so XLA compiles the model's tangent code batched k
    wide: the Hessian program of the loss-to-success link compiled in 3.5 CPU s this way against
    2.6 s with one tangent in a loop, at the same Hessian to 1e-17 relative. The primal and its
    residuals are computed once either way, so a pass over the data costs the same work.
    Returns (outputs at θ, Jacobian with shape ``(k, *output_shape)`` per output, aux).
    """
    out, lin, aux = jax.linearize(fun, theta, has_aux=True)
    cols = jax.lax.map(lin, jnp.eye(theta.shape[0], dtype=theta.dtype))
    return out, cols, aux


#: XLA on the CPU reads a host array in place (no copy) when it starts on this boundary.
_ALIGN = 64


def _padded_column(arr: np.ndarray, rows: int) -> jax.Array:
    """``arr`` followed by copies of its last row up to ``rows`` rows, as a JAX array: one aligned
    host buffer that the CPU device then uses in place, so a fit holds one copy of its data (not
    the three a conversion, a concatenation and a transfer would make)."""
    n = arr.shape[0]
    nbytes = rows * int(np.prod(arr.shape[1:], dtype=np.int64)) * arr.dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    off = (-raw.ctypes.data) % _ALIGN
    out = raw[off:off + nbytes].view(arr.dtype).reshape((rows, *arr.shape[1:]))
    out[:n] = arr
    out[n:] = arr[n - 1]
    return jax.device_put(out)


@dataclass(frozen=True, eq=False)
class Objective:
    """A model's contributions bound to its data, parameters and estimator kind.

    For M-estimation on residuals (``residuals`` and ``loss`` given), the contributions are
    ρ(r_i(θ)) and :meth:`gauss_newton` supplies the IRLS curvature Σ w_i (ψ_i/r_i) J_i J_iᵀ.
    ``derivatives`` (optional, :class:`~estimation.derivatives.ResidualDerivatives`) gives the
    residuals' Jacobian and curvature in closed form for the solver's inner loop.
    """

    contributions: Contributions
    data: dict[str, Any]  # JAX arrays (NumPy ones until :meth:`padded` places them)
    spec: ParamSpec
    kind: str
    nobs: int
    residuals: Contributions | None = None
    loss: Any = None
    derivatives: Any = None
    rows: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SpecificationError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.rows == 0:  # the data arrays hold the observations and nothing else
            object.__setattr__(self, "rows", self.nobs)

    def padded(self, at_least: int | None = None) -> Objective:
        """The same objective on data padded to :func:`padded_rows` rows (of ``at_least`` rows
        where that is more: fits of one model on datasets of several lengths then share one
        bucket, hence one compilation), the extra rows copies of the last observation that
        :meth:`weights` gives weight zero."""
        rows = padded_rows(max(self.nobs, int(at_least or 0)))
        if rows == self.rows and all(isinstance(v, jax.Array) for v in self.data.values()):
            return self
        data = {key: _padded_column(np.asarray(value)[: self.nobs], rows)
                for key, value in self.data.items()}
        return replace(self, data=data, rows=rows)

    def weights(self, w: Any = None) -> np.ndarray:
        """Observation weights (default: ones) extended by zeros over the padding rows, so that
        padding changes nothing. ``w`` has the observations along its last axis."""
        w = np.ones(self.nobs) if w is None else np.asarray(w, dtype=np.float64)
        if w.shape[-1] == self.rows:
            return w
        if w.shape[-1] != self.nobs:
            raise SpecificationError(
                f"weights have {w.shape[-1]} entries per row; expected one per observation "
                f"({self.nobs})")
        return np.concatenate([w, np.zeros((*w.shape[:-1], self.rows - self.nobs))], axis=-1)

    @property
    def static_key(self) -> tuple:
        """What identifies the compiled code: the functions, parameters and kind (not the data),
        so refits of the same model on new data or new weights reuse the compiled solver."""
        return (self.contributions, self.residuals, self.loss, self.derivatives,
                self.spec.params, self.kind)

    def with_data(self, data: dict[str, jax.Array]) -> Objective:
        """The same objective on other (possibly traced) data arrays."""
        return replace(self, data=data)

    @property
    def sign(self) -> float:
        return -1.0 if self.kind == "mle" else 1.0

    def per_obs(self, theta: jax.Array) -> jax.Array:
        """Signed contributions q_i(θ) with Q = Σ w_i q_i (negated log-likelihood for MLE)."""
        c = self.contributions(self.spec.model_dict(theta), self.data)
        return self.sign * jnp.reshape(c, (-1,))

    def value(self, theta: jax.Array, w: jax.Array) -> jax.Array:
        return self._over_chunks(w, lambda o, wc: jnp.sum(wc * o.per_obs(theta)))

    def value_grad(self, theta: jax.Array, w: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(Q, ∇Q) by one reverse pass: what a quasi-Newton search needs at each trial point,
        at a fraction of :meth:`evaluate`'s cost (no Hessian, no per-row scores)."""
        return jax.value_and_grad(self.value)(theta, w)

    def _over_chunks(self, w: jax.Array, part: Callable) -> Any:
        """Σ over chunks of rows of ``part(objective on the chunk, the chunk's weights)`` (a
        pytree of sums); one call on all rows where they fit in one chunk."""
        rows = next(iter(self.data.values())).shape[0]
        c = chunk_rows(rows)
        if c == rows:
            return part(self, w)
        nc = rows // c
        data = {k: jnp.reshape(v, (nc, c, *v.shape[1:])) for k, v in self.data.items()}
        sums = jax.lax.map(lambda a: part(self.with_data(a[0]), a[1]),
                           (data, jnp.reshape(w, (nc, c))))
        return jax.tree.map(lambda x: jnp.sum(x, axis=0), sums)

    def _chunked_scale(self, theta: jax.Array, w: jax.Array, f: jax.Array, rho=None):
        """:func:`objective_scale` over chunks: a second pass for the spread about the mean
        (``rho``: the contributions are ρ(residuals))."""
        qbar = f / jnp.maximum(jnp.sum(w), 1e-300)

        def spread(o, wc):
            q = o.per_obs(theta) if rho is None else rho(o._residuals_of(theta))
            return jnp.sum(wc * jnp.abs(q - qbar))

        s = self._over_chunks(w, spread)
        return jnp.where(s > 0, s, jnp.abs(f))

    def _is_chunked(self) -> bool:
        rows = next(iter(self.data.values())).shape[0]
        return chunk_rows(rows) != rows

    def value_grad_hess(self, theta: jax.Array, w: jax.Array):
        """(Q, ∇Q, ∇²Q) in one pass: forward-over-reverse on the value-and-gradient."""
        return self.value_grad_hess_scale(theta, w)[:3]

    def value_grad_hess_scale(self, theta: jax.Array, w: jax.Array):
        """(Q, ∇Q, ∇²Q, scale of Q): the scale is :func:`objective_scale` of the contributions."""

        def part(o, wc):
            def value_aux(u):
                q = o.per_obs(u)
                return jnp.sum(wc * q), q

            def grad_aux(t):
                (f, q), g = jax.value_and_grad(value_aux, has_aux=True)(t)
                return g, (f, q)

            g, H, (f, q) = jacobian_columns(grad_aux, theta)
            return f, g, H, q

        if not self._is_chunked():
            f, g, H, q = part(self, w)
            return f, g, 0.5 * (H + H.T), objective_scale(q, w)
        f, g, H = self._over_chunks(w, lambda o, wc: part(o, wc)[:3])
        return f, g, 0.5 * (H + H.T), self._chunked_scale(theta, w, f)

    @property
    def has_gauss_newton(self) -> bool:
        return self.residuals is not None and self.loss is not None

    def gauss_newton(self, theta: jax.Array, w: jax.Array) -> jax.Array:
        """IRLS/Gauss–Newton curvature Σ_i w_i (ψ(r_i)/r_i) J_i J_iᵀ, J_i = ∂r_i/∂θ."""

        r, J = self._residuals_of(theta), jax.jacfwd(self._residuals_of)(theta)
        c = w * self.loss.irls_weight(r)
        return (J * c[:, None]).T @ J

    def _residuals_of(self, t: jax.Array) -> jax.Array:
        if self.residuals is None:
            raise SpecificationError("this objective has no residuals (give residuals=)")
        r = self.residuals(self.spec.model_dict(t), self.data)
        return jnp.reshape(r, (-1,))

    def value_grad_hess_gn(self, theta: jax.Array, w: jax.Array):
        """(Q, ∇Q, ∇²Q, IRLS matrix); see :meth:`value_grad_hess_gn_scale`."""
        return self.value_grad_hess_gn_scale(theta, w)[:4]

    def value_grad_hess_gn_scale(self, theta: jax.Array, w: jax.Array):
        """(Q, ∇Q, ∇²Q, IRLS matrix, scale of Q) for M-estimation on residuals, from one forward
        Jacobian J:

            ∇Q = Jᵀ(w ψ),   ∇²Q = Jᵀ diag(w ρ″) J + ∇²(Σ_i c_i r_i),   c = w ψ held fixed,

        the second term by forward-over-reverse on the weighted sum of residuals. Sharing J with
        the IRLS matrix costs about a fifth less than ``value_grad_hess`` plus ``gauss_newton``.
        With closed-form ``derivatives``, J and the second term come from them instead.
        """
        rho = self.loss.rho

        def part(o, w):
            if o.derivatives is not None:
                r, J = o.derivatives.jacobian(theta, o.data)
            else:
                r, J = o._residuals_of(theta), jax.jacfwd(o._residuals_of)(theta)
            psi = jax.vmap(jax.grad(rho))(r)
            d2 = jax.vmap(jax.grad(jax.grad(rho)))(r)
            c = jax.lax.stop_gradient(w * psi)
            if o.derivatives is not None:
                H2 = o.derivatives.curvature(theta, o.data, c)
            else:
                H2 = jacobian_columns(lambda u: (jax.grad(
                    lambda v: jnp.sum(c * o._residuals_of(v)))(u), None), theta)[1]
            H = (J * (w * d2)[:, None]).T @ J + H2
            B = (J * (w * o.loss.irls_weight(r))[:, None]).T @ J
            q = rho(r)
            return jnp.sum(w * q), J.T @ (w * psi), H, B, q

        if not self._is_chunked():
            f, g, H, B, q = part(self, w)
            return f, g, 0.5 * (H + H.T), B, objective_scale(q, w)
        f, g, H, B = self._over_chunks(w, lambda o, wc: part(o, wc)[:4])
        return f, g, 0.5 * (H + H.T), B, self._chunked_scale(theta, w, f, rho)

    def evaluate(self, theta: jax.Array, w: jax.Array):
        """(Q, ∇Q, ∇²Q, S_Q, q, S): the value, gradient, Hessian and scale of Q with the signed
        contributions q_i and their scores S_i = ∂q_i/∂θ, from one set of k forward passes
        over the reverse-mode gradient (the forward tangents of q are those the gradient's own
        forward pass carries, so the scores cost little beside the Hessian).

        This is the one function the host compiles per model and row bucket besides the
        solver's round: the start checks, the final Newton steps, a SciPy fit and the
        diagnosis at the estimate all read from it, so a fit compiles two programs, not three.
        Beyond :data:`CHUNK_ROWS` rows Q, ∇Q and ∇²Q are summed over chunks and q, S put back
        together from them.
        """

        def part(o, wc):
            def value_aux(u):
                q = o.per_obs(u)
                return jnp.sum(wc * q), q

            def grad_aux(t):
                (f, q), g = jax.value_and_grad(value_aux, has_aux=True)(t)
                return (g, q), f

            (g, q), (H, S), f = jacobian_columns(grad_aux, theta)
            return f, g, H, q, S.T

        if not self._is_chunked():
            f, g, H, q, S = part(self, w)
        else:
            rows = next(iter(self.data.values())).shape[0]
            c = chunk_rows(rows)
            nc = rows // c
            data = {k: jnp.reshape(v, (nc, c, *v.shape[1:])) for k, v in self.data.items()}
            f, g, H, q, S = jax.lax.map(lambda a: part(self.with_data(a[0]), a[1]),
                                        (data, jnp.reshape(w, (nc, c))))
            f, g, H = jnp.sum(f, axis=0), jnp.sum(g, axis=0), jnp.sum(H, axis=0)
            q, S = jnp.reshape(q, (rows,)), jnp.reshape(S, (rows, -1))
        return f, g, 0.5 * (H + H.T), objective_scale(q, w), q, S

    def score_outer(self, theta: jax.Array, w: jax.Array) -> jax.Array:
        r""":math:`\sum_i w_i s_i s_i^\top` with the scores :math:`s_i = \nabla q_i(\theta)`: the
        outer-product (OPG) matrix and the sandwich's meat (:mod:`estimation.covariance`),
        summed chunk by chunk without forming the (n, k) scores on the host."""

        def part(o, wc):
            S = jax.jacfwd(o.per_obs)(theta)
            return (S * wc[:, None]).T @ S

        return self._over_chunks(w, part)

    def scores(self, theta: jax.Array) -> jax.Array:
        """Per-observation gradients ∂q_i/∂θ, shape (n, k): k forward passes, not n reverse."""
        return jax.jacfwd(self.per_obs)(theta)

    def _where(self, theta: np.ndarray) -> str:
        """The model function's name and the parameter values at ``theta``, for messages."""
        fn = getattr(self.residuals if self.residuals is not None else self.contributions,
                     "__qualname__", "the model function")
        x0 = np.asarray(self.spec.to_user_np(theta), dtype=float)
        values = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.spec.names, x0, strict=True))
        return f"{fn}({values})"

    def per_obs_scores(self, theta: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(q_i, ∂q_i/∂θ) together: one compiled function serves the checks at the start and
        the contributions and scores at the estimate."""
        S, q = jax.jacfwd(lambda t: (self.per_obs(t),) * 2, has_aux=True)(theta)
        return q, S

    def obs_hessians(self, theta: jax.Array) -> jax.Array:
        """Per-observation Hessians ∇²q_i(θ), shape (n, k, k) (for the HC2/HC3 leverages)."""
        return jax.jacfwd(jax.jacrev(self.per_obs))(theta)

    def check_start(self, theta: np.ndarray) -> None:
        """Check the model at the start: it runs, returns one finite contribution per row, and
        every parameter affects it. Each failure names the function, the parameter values and
        what was expected (:class:`~estimation.errors.ModelFunctionError`)."""
        where = self.check_shape(theta)
        q = np.asarray(self.at(theta)[4])[: self.nobs]  # the rows after it only pad the data
        bad = np.flatnonzero(~np.isfinite(q))
        if bad.size:
            raise ModelFunctionError(
                f"the model's contribution is {q[bad[0]]} at row {int(bad[0])} at the start "
                f"{where}; {bad.size} row(s) non-finite"
            )
        self._check_used(np.asarray(theta, dtype=np.float64), where)

    def check_shape(self, theta: np.ndarray) -> str:
        """The part of :meth:`check_start` that needs no data, only their shapes (a trace, not a
        compilation): the model runs and returns one value per row. Returns the description of
        the model at ``theta`` that messages quote."""
        where = self._where(theta)
        what = "residuals" if self.residuals is not None else "contributions"
        user_fn = self.residuals if self.residuals is not None else self.contributions
        # The shapes of the observations alone (not the rows that pad them), so a wrong
        # shape is reported in the user's row count.
        rows = {k: jax.ShapeDtypeStruct((self.nobs, *v.shape[1:]), v.dtype)
                for k, v in self.data.items()}
        # One trace per model and shapes in a process: a command refits a model many times
        # (starts, traces, splits), and tracing it is most of a warm fit's host time.
        shape_key = (self.static_key, np.shape(theta),
                     tuple(sorted((k, v.shape, str(v.dtype)) for k, v in rows.items())))
        shape = _CHECKED_SHAPES.get(shape_key)
        try:
            if shape is None:
                # A shape, not an array: jnp.asarray would compile a copy per parameter count.
                # Kept on disk with the traced programs: a warm run does not trace the model
                # just to learn its shape again.
                from estimation.compilation import kept_value

                shape = kept_value(("model output shape", shape_key), lambda: tuple(
                    jax.eval_shape(lambda t, d: user_fn(self.spec.model_dict(t), d),
                                   jax.ShapeDtypeStruct(np.shape(theta), jnp.float64),
                                   rows).shape))
        except KeyError as exc:
            key = exc.args[0] if exc.args else "?"
            if key in self.data or key in self.spec.model_dict(jnp.asarray(theta)):
                raise ModelFunctionError(
                    f"{where} raised KeyError {key!r}: {exc}") from exc
            raise ModelFunctionError(
                f"{where} reads {key!r}, which is neither a parameter ({self.spec.names}) nor a "
                f"data column ({sorted(self.data)}): add Param({key!r}) to the parameters or "
                "the column to the data") from exc
        except Exception as exc:
            raise ModelFunctionError(
                f"{where} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:400]}; "
                f"expected a pure JAX function returning {what}, shape ({self.nobs},)") from exc
        if tuple(shape) != (self.nobs,):
            raise ModelFunctionError(
                f"{where} returned {what} of shape {tuple(shape)}; expected one per row, shape "
                f"({self.nobs},)")
        _CHECKED_SHAPES[shape_key] = shape
        return where

    def at(self, theta: Any, w: Any = None) -> tuple[np.ndarray, ...]:
        """:meth:`evaluate` at ``theta`` on the host (compiled once per model and row bucket),
        with weights ``w`` (default: ones), as NumPy arrays over every padded row."""
        out = compiled(self, "evaluate")(np.asarray(theta, dtype=np.float64), self.weights(w),
                                         self.data)
        return tuple(np.asarray(a) for a in out)

    def _check_used(self, theta: np.ndarray, where: str) -> None:
        """Refuse a parameter that never moves the objective: its score is zero for every row
        at the start and at a nearby point (one point alone could be a saddle by chance)."""
        unused = np.ones(theta.size, dtype=bool)
        for t in (theta, nearby(theta, np)):
            S = np.asarray(self.at(t)[5])[: self.nobs]
            unused &= np.all(S == 0.0, axis=0)
        if unused.any():
            names = [n for n, u in zip(self.spec.names, unused, strict=True) if u]
            raise SpecificationError(
                f"parameter(s) {names} never affect the objective of {where}: the model does "
                "not use them, so they cannot be estimated; remove them from the parameters")


#: Output shapes of model functions already traced by :meth:`Objective.check_shape`, by the
#: model's static key and the shapes of the parameters and data.
_CHECKED_SHAPES: dict[tuple, tuple] = {}


def nearby(theta, xp=jnp):
    """A point near ``theta``, a different relative distance along each parameter, where a
    parameter's scores are looked at a second time (one point alone could be a saddle)."""
    return theta + 1e-3 * xp.maximum(xp.abs(theta), 1.0) * (1.0 + 0.1 * xp.arange(theta.size))


_COMPILED: dict[tuple, Callable] = {}


def compiled(obj: Objective, method: str) -> Callable:
    """``method`` of ``obj`` ("evaluate", "value", "value_grad", "value_grad_hess",
    "value_grad_hess_scale", "scores", "per_obs", "per_obs_scores", "obs_hessians") jitted with
    the data as an argument
    and cached by the model's static key: ``f(theta, w, data)``. The engine itself uses one per
    model and shape on the host (``evaluate``, through :meth:`Objective.at`) besides the
    solver's round, so a fit costs two compilations."""
    from estimation.compilation import compiler_options

    options = compiler_options(obj.rows)  # compiled quickly on a few thousand rows
    key = (obj.static_key, method, options is not None)
    fn = _COMPILED.get(key)
    if fn is None:
        from estimation.compilation import traced_jit

        if method in ("scores", "per_obs", "per_obs_scores", "obs_hessians"):
            def fn(t, w, d):
                return getattr(obj.with_data(d), method)(t)
        else:
            def fn(t, w, d):
                return getattr(obj.with_data(d), method)(t, w)
        # Kept traced on disk under the model's static key: a later run does not trace again.
        fn = _COMPILED[key] = traced_jit(fn, ("objective", key), options)
    return fn
