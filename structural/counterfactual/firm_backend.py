"""The project's firm's problem (:mod:`structural.firm`) as a counterfactual technology.

:class:`FirmTechnology` hands each (draw × price × Q) point to :func:`structural.firm.solve_masked`
(an SQP-Newton solve with the full cost accounting of :mod:`structural.costs`: decode as a
roofline, KV cache, cached context, reasoning tokens, repeated data) and maps its
:class:`~structural.firm.FirmSolution` onto the engine's fields. Use it with
``[technology] name = "firm"`` in a scenario; the quality targets are the firm's modes
``success`` (under the answer-selection rule ``selection``: the priced verifier, as in the
pipeline technology, or the oracle), ``coverage`` (the oracle), ``task_loss`` and
``model_loss``.

Differences from :class:`~structural.counterfactual.model.PipelineTechnology` (this adapter does
not paper over them; scenarios state them):

* data cost in :mod:`structural.costs` is charged on the *unique* tokens U, a fixed quantity, not
  on the lever D; so a data-price change moves no lever of this technology, and a D above U is
  repeated data (Muennighoff et al. 2023) rather than fresh tokens;
* one price per chip-hour serves every stage (no separate training and serving hardware);
* the firm's solver runs at most a fixed number of iterations without lever bounds: a target
  out of reach shows as an unconverged point (status 3 here), never as a silent number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp

from estimation.compilation import traced_jit
from structural import costs, firm
from structural.counterfactual.model import Target

__all__ = ["FirmTechnology"]

Array = Any

#: The firm's prices: what a price grid and the shocks may vary.
FIRM_PRICE_FIELDS = ("price_per_hour", "price_per_hour_train", "data_price",
                     "finetune_data_price", "cache_cost_ratio")
#: Everything else in the firm's theta is a technology parameter (drawable).
FIRM_POSITIVE = ("A", "B", "E", "alpha", "beta", "kappa", "phi", "R_D_star", "R_N_star",
                 "peak_train", "peak_infer", "bandwidth", "u_train", "u_finetune", "u_prefill",
                 "u_decode", "batch")

MODES = {"coverage": "coverage", "success": "success", "task_loss": "task_loss",
         "model_loss": "model_loss"}


def firm_parameters(hardware: str = "H100") -> dict[str, float]:
    """The firm's default theta without its prices (those form the price grid)."""
    th = firm.default_parameters(hardware)
    return {k: v for k, v in th.items() if k not in FIRM_PRICE_FIELDS}


@dataclass(frozen=True)
class FirmTechnology:
    """:mod:`structural.firm` as a technology of the counterfactual engine (module docstring).

    Examples
    --------
    >>> from structural.counterfactual import FirmTechnology, Target
    >>> tech = FirmTechnology(Target("success", 0.6))
    >>> tech.levers
    ('N', 'D', 'D_F', 'c', 'k', 'r')
    """

    target: Target
    iterations: int = 60
    #: Answer selection of a ``success`` target (:data:`structural.firm.FIRM_SELECTION`).
    selection: str = "verifier"
    name: str = "firm"
    levers: tuple[str, ...] = firm.LEVERS
    fixed_stages: tuple[str, ...] = costs.FIXED_STAGES
    compute_price_fields: tuple[str, ...] = ("price_per_hour", "price_per_hour_train")
    data_price_fields: tuple[str, ...] = ("data_price", "finetune_data_price")
    positive: tuple[str, ...] = FIRM_POSITIVE
    bounds: dict[str, tuple[float, float]] = field(default_factory=lambda: {
        "N": (1e6, 1e14), "D": (1e6, 1e17), "D_F": (1.0, 1e14), "c": (1.0, 1e7),
        "k": (1.0, 1e5), "r": (1.0, 1e6)})
    #: The SQP of structural.firm chooses every free lever together: nothing binds apart.
    lever_defaults: dict[str, float] = field(default_factory=dict)
    bind_priority: tuple[str, ...] = ()

    def mode(self) -> str:
        """The firm solver's mode (:func:`structural.firm.quality_mode`)."""
        return firm.quality_mode(MODES[self.target.kind], self.selection)

    def quality(self, z: dict, th: dict) -> Array:
        return firm.quality_value(z, th, self.mode())

    def _data(self, hyp) -> tuple[Array, dict, Array]:
        """The hypothesis as data: free-lever mask, pipeline quantities (free levers start at
        :data:`structural.firm.START`), and whether the base model's pretraining is charged."""
        mask = jnp.asarray(firm.free_mask(hyp.free))
        z = {**{lv: float(v) for lv, v in firm.START.items()},
             **{k: float(v) for k, v in hyp.fixed.items()}}
        z = {k: jnp.asarray(v, jnp.float64) for k, v in z.items()}
        return mask, z, jnp.asarray(1.0 if hyp.charge_pretraining else 0.0)

    def own_solver(self, hyp) -> Any:
        """``solve(theta, prices, Q) -> dict`` for one point, in the engine's field names."""
        mask, z, charge = self._data(hyp)
        mode, its = (MODES[self.target.kind], self.selection), self.iterations

        def solve(th: dict, pr: dict, Q: Array) -> dict:
            return _solve_point(mode, its, mask, z, charge, th, pr, Q)

        solve.warm_start = False
        return solve

    def own_batched_solver(self, hyp) -> Any:
        """One compiled batch solver shared by every hypothesis (the free set, the fixed levers
        and the charge flag travel as data, as :func:`structural.firm.solve_masked` allows)."""
        mask, z, charge = self._data(hyp)
        mode, its = (MODES[self.target.kind], self.selection), self.iterations

        def run(th: dict, pr: dict, q: Array) -> dict:
            return _batched(mode, its, mask, z, charge, th, pr, q)

        return run


def _solve_point(mode: tuple[str, str], its: int, mask: Array, z: dict, charge: Array, th: dict,
                 pr: dict, Q: Array) -> dict:
    theta = {k: v for k, v in th.items() if k != "target"}
    theta.update(pr)
    s = firm.solve_masked(mask, z, theta, Q, th["target"], quality=mode[0], selection=mode[1],
                          iterations=its)
    stages = firm.stage_costs(s.levers, theta, firm.quality_mode(*mode))
    parts = {name: stage["dollars"] for name, stage in stages.items()}
    # A bought-in or open base model: its pretraining and unique data are sunk.
    parts["pretrain"] = charge * parts["pretrain"]
    parts["data"] = charge * theta["data_price"] * s.levers["U"] \
        + theta["finetune_data_price"] * s.levers["D_F"]
    F = sum(parts[k] for k in costs.FIXED_STAGES)
    v = sum(parts[k] for k in firm.query_stages(firm.quality_mode(*mode)))
    ok = s.converged
    out = {f"lever_{k}": jnp.broadcast_to(s.levers[k], ()) for k in firm.LEVERS}
    out.update({f"cost_{k}": v_ for k, v_ in parts.items()})
    out.update(fixed=F, variable=v, status=jnp.where(ok, 0, 3),
               total=jnp.where(ok, F + Q * v, jnp.inf), quality=s.quality,
               iterations=jnp.asarray(its), u_opt=jnp.asarray(0.0),
               shadow_price=s.shadow_price)
    return out


_BATCHED: dict[tuple, Any] = {}


def _batched(mode: tuple[str, str], its: int, mask: Array, z: dict, charge: Array, th: dict,
             pr: dict, q: Array) -> dict:
    """:func:`_solve_point` vmapped over the batch, one compiled program per (mode, iterations)
    whose traced program is kept between runs (:func:`estimation.compilation.traced_jit`)."""
    fn = _BATCHED.get((mode, its))
    if fn is None:
        def run(mask: Array, z: dict, charge: Array, th: dict, pr: dict, q: Array) -> dict:
            return jax.vmap(lambda t, p, Q: _solve_point(mode, its, mask, z, charge, t, p, Q))(
                th, pr, q)

        fn = _BATCHED[(mode, its)] = traced_jit(run, ("firm batch", run))
    return fn(mask, z, charge, th, pr, q)
