"""Named parameters and their transforms to an unconstrained internal vector θ.

A user parameter x is reached from the optimiser's unconstrained coordinate θ by

    identity:  x = θ
    log:       x = exp(θ)                         (x > 0)
    logit:     x = lo + (hi − lo) · σ(θ)          (lo < x < hi; default (0, 1))

Covariances are computed for θ and reported for x by the delta method, V_x = J V_θ Jᵀ with
J = diag(dx/dθ) (Greene, *Econometric Analysis*, 8th ed., Theorem D.22).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from estimation.errors import SpecificationError

_TRANSFORMS = ("identity", "log", "logit")


@dataclass(frozen=True)
class Param:
    r"""One named parameter.

    Parameters
    ----------
    name : str
        Name used in results and in the model function's parameter dict.
    start : float, optional
        Default starting value on the user's scale.
    transform : {"identity", "log", "logit"}
        Map from the unconstrained optimiser coordinate θ to the user's scale x:
        :math:`x = \theta`, :math:`x = e^\theta` (x > 0) or
        :math:`x = l + (u - l)/(1 + e^{-\theta})` (l < x < u).
    lower, upper : float
        Bounds of the ``logit`` transform (default 0 and 1).

    Examples
    --------
    A rate in (0, 1), a positive scale and an unrestricted location:

    >>> from estimation import Param, ParamSpec
    >>> spec = ParamSpec([Param("mu"), Param("sigma", start=1.0, transform="log"),
    ...                   Param("rho", transform="logit", lower=-1.0, upper=1.0)])
    >>> spec
    ParamSpec(mu:identity, sigma:log, rho:logit)
    >>> spec.params[1].start
    1.0
    """

    name: str
    start: float | None = None
    transform: str = "identity"
    lower: float = 0.0
    upper: float = 1.0

    def __post_init__(self) -> None:
        if self.transform not in _TRANSFORMS:
            raise SpecificationError(
                f"parameter {self.name!r}: transform {self.transform!r} is not one of {_TRANSFORMS}"
            )
        if self.transform == "logit" and not self.lower < self.upper:
            raise SpecificationError(
                f"parameter {self.name!r}: logit bounds need lower < upper, got "
                f"({self.lower}, {self.upper})"
            )


class ParamSpec:
    r"""An ordered set of named parameters with their transforms.

    Accepts ``Param`` objects, or a mapping ``{name: transform}``, or names (identity).

    Examples
    --------
    >>> from estimation import ParamSpec
    >>> spec = ParamSpec({"mu": "identity", "sigma": "log"})
    >>> spec.names, len(spec)
    (['mu', 'sigma'], 2)
    >>> ParamSpec(["a", "b"])
    ParamSpec(a:identity, b:identity)

    The optimiser works on unconstrained coordinates θ; ``to_user`` maps them to the user's
    scale (here :math:`\sigma = e^{\theta}`):

    >>> spec.to_user([0.5, 0.0]).tolist()
    [0.5, 1.0]
    """

    def __init__(self, params: Iterable[Param | str] | Mapping[str, str]):
        if isinstance(params, Mapping):
            items = [Param(name, transform=t) for name, t in params.items()]
        else:
            items = [p if isinstance(p, Param) else Param(str(p)) for p in params]
        names = [p.name for p in items]
        if not names:
            raise SpecificationError("a model needs at least one parameter")
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise SpecificationError(f"duplicate parameter names: {sorted(dup)}")
        self.params: tuple[Param, ...] = tuple(items)
        self.names: list[str] = names
        kinds = np.array([_TRANSFORMS.index(p.transform) for p in items])
        # NumPy constants: they enter compiled code as literals (jnp.asarray here would compile a
        # copy for every parameter count).
        self._kind = kinds
        self._lo = np.asarray([p.lower for p in items], dtype=np.float64)
        self._hi = np.asarray([p.upper for p in items], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        inner = ", ".join(f"{p.name}:{p.transform}" for p in self.params)
        return f"ParamSpec({inner})"

    # --- maps between the user's scale x and the internal θ --------------------------------
    def to_user(self, theta: Any) -> jax.Array:
        """x(θ), elementwise; works on (..., k) arrays and under jit/vmap."""
        theta = jnp.asarray(theta)
        # Transform only the entries that use it: exp(θ) of an identity parameter that ran off to
        # θ ≈ 1000 is inf, and the discarded branch would still put 0·inf = NaN into gradients.
        pos = jnp.exp(jnp.where(self._kind == 1, theta, 0.0))
        sig = jax.nn.sigmoid(jnp.where(self._kind == 2, theta, 0.0))
        box = self._lo + (self._hi - self._lo) * sig
        return jnp.where(self._kind == 0, theta, jnp.where(self._kind == 1, pos, box))

    def to_user_np(self, theta: Any) -> np.ndarray:
        """x(θ) in NumPy, for host-side tables (no JAX dispatch or compilation)."""
        theta = np.asarray(theta, dtype=np.float64)
        kind = np.asarray(self._kind)
        lo, hi = np.asarray(self._lo), np.asarray(self._hi)
        with np.errstate(over="ignore"):
            pos = np.exp(np.where(kind == 1, theta, 0.0))
            box = lo + (hi - lo) / (1.0 + np.exp(-np.where(kind == 2, theta, 0.0)))
        return np.where(kind == 0, theta, np.where(kind == 1, pos, box))

    def jacobian_diag_np(self, theta: Any) -> np.ndarray:
        """dx/dθ in NumPy (host side)."""
        theta = np.asarray(theta, dtype=np.float64)
        kind = np.asarray(self._kind)
        lo, hi = np.asarray(self._lo), np.asarray(self._hi)
        with np.errstate(over="ignore"):
            sig = 1.0 / (1.0 + np.exp(-np.where(kind == 2, theta, 0.0)))
            pos = np.exp(np.where(kind == 1, theta, 0.0))
        return np.where(kind == 0, 1.0, np.where(kind == 1, pos, (hi - lo) * sig * (1 - sig)))

    def jacobian_diag(self, theta: Any) -> jax.Array:
        """dx/dθ for each parameter (the transforms are elementwise, so J is diagonal)."""
        theta = jnp.asarray(theta)
        sig = jax.nn.sigmoid(theta)
        return jnp.where(
            self._kind == 0,
            jnp.ones_like(theta),
            jnp.where(self._kind == 1, jnp.exp(theta), (self._hi - self._lo) * sig * (1 - sig)),
        )

    def to_internal(self, x: Any, *, what: str = "start") -> np.ndarray:
        """θ(x); a value outside a transform's domain raises an error naming the parameter."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != len(self):
            raise SpecificationError(
                f"{what}: expected {len(self)} values for {self.names}, got shape {x.shape}"
            )
        out = np.empty_like(x)
        for j, p in enumerate(self.params):
            v = x[..., j]
            bad = ~np.isfinite(v)
            if p.transform == "log":
                bad |= v <= 0
            elif p.transform == "logit":
                bad |= (v <= p.lower) | (v >= p.upper)
            if np.any(bad):
                idx = np.argwhere(np.atleast_1d(bad))[0]
                val = np.atleast_1d(v)[tuple(idx)]
                dom = {"identity": "a finite number", "log": "> 0",
                       "logit": f"in ({p.lower}, {p.upper})"}[p.transform]
                where = f" (row {int(idx[0])})" if x.ndim > 1 else ""
                raise SpecificationError(
                    f"{what}: parameter {p.name!r}{where} = {val!r}, expected {dom}"
                )
            if p.transform == "identity":
                out[..., j] = v
            elif p.transform == "log":
                out[..., j] = np.log(v)
            else:
                u = (v - p.lower) / (p.upper - p.lower)
                out[..., j] = np.log(u) - np.log1p(-u)
        return out

    def as_dict(self, x: Any) -> dict[str, jax.Array]:
        """The parameter dict ``{name: x[..., j]}`` on the user's scale."""
        return {n: x[..., j] for j, n in enumerate(self.names)}

    def model_dict(self, theta: Any) -> dict[str, jax.Array]:
        """The parameter dict a model function receives at optimiser coordinates θ.

        Besides ``{name: x}``, every log-transformed parameter also arrives as ``log_<name>`` = θ
        itself, exact and free of overflow: a model that needs log x (a scale in a log-sum-exp,
        say) should use it rather than ``log(x)``, which fails once exp(θ) overflows.
        """
        theta = jnp.asarray(theta)
        out = self.as_dict(self.to_user(theta))
        for j, p in enumerate(self.params):
            key = f"log_{p.name}"
            if p.transform == "log" and key not in out:
                out[key] = theta[..., j]
        return out

    # --- starting values ---------------------------------------------------------------------
    def _no_unknown(self, keys: Any) -> None:
        """Refuse start keys that name no parameter (a typo would otherwise be ignored)."""
        unknown = [str(k) for k in keys if k not in self.names]
        if unknown:
            raise SpecificationError(
                f"start: unknown parameter(s) {unknown}; the parameters are {self.names}")

    def starts_array(self, starts: Any) -> np.ndarray:
        """Starting values on the user's scale as a (m, k) array.

        ``starts`` may be a mapping ``{name: value}``, a Series, a DataFrame with one column per
        parameter (one row per start), a list of mappings (one per start), or an array of shape
        (k,) or (m, k) in ``names`` order. ``None`` uses each parameter's default ``start``.
        """
        if isinstance(starts, list | tuple) and starts and all(
                isinstance(s, Mapping | pd.Series) for s in starts):
            starts = pd.DataFrame([dict(s) for s in starts])
        if starts is None:
            missing = [p.name for p in self.params if p.start is None]
            if missing:
                raise SpecificationError(f"no start given for parameters {missing}")
            return np.array([[p.start for p in self.params]], dtype=np.float64)
        if isinstance(starts, pd.DataFrame):
            missing = [n for n in self.names if n not in starts.columns]
            if missing:
                raise SpecificationError(f"starts: missing column(s) {missing}")
            self._no_unknown(starts.columns)
            return starts[self.names].to_numpy(dtype=np.float64)
        if isinstance(starts, Mapping | pd.Series):
            missing = [n for n in self.names if n not in starts]
            if missing:
                raise SpecificationError(f"starts: missing value(s) for {missing}")
            self._no_unknown(starts.keys())
            values = []
            for n in self.names:
                v = np.asarray(starts[n], dtype=np.float64)
                if v.ndim != 0:
                    raise SpecificationError(
                        f"start: {n!r} has shape {v.shape}; expected one number (give a "
                        "DataFrame, one row per start, for a multistart)")
                values.append(float(v))
            return np.array([values], dtype=np.float64)
        arr = np.atleast_2d(np.asarray(starts, dtype=np.float64))
        if arr.shape[1] != len(self):
            raise SpecificationError(
                f"starts: expected {len(self)} columns for {self.names}, got shape {arr.shape}"
            )
        return arr


def as_spec(params: ParamSpec | Sequence[Param | str] | Mapping[str, str]) -> ParamSpec:
    """Coerce any accepted parameter description to a :class:`ParamSpec`."""
    return params if isinstance(params, ParamSpec) else ParamSpec(params)
