"""Guardrails as cost shifting: what it costs an adversary to obtain one disallowed output.

Safety here is economics: a guardrail does not make a bad output impossible, it makes it dear. An
adversary has two routes (and takes the cheaper):

1. **Repeated attempts against a guarded API.** Each attempt succeeds with probability p, costs c
   (API price × tokens per attempt + the adversary's own effort per attempt); a failed attempt is
   detected and the account banned with probability b, and a new account costs a. The number of
   attempts is geometric, so with (1 − p)/p expected failures

       E[cost_API] = c / p + b · a · (1 − p) / p.

2. **Fine-tuning open weights to remove the guardrail.** Fine-tune the N-parameter model on
   D_attack tokens ((4N + 2N_trainable) FLOPs per token, Kaplan et al. 2020, see
   :mod:`structural.flops`; 6N for full fine-tuning), buy those tokens, stand up serving (a fixed
   setup cost), then sample until success with per-attempt probability p_ft at 2N FLOPs per token:

       E[cost_open] = p_train (4N + 2N_tr) D_attack + p_data D_attack + setup
                      + p_decode · 2N · tokens / p_ft.

How each guardrail parameter moves the cost is reported as the elasticity ∂log E/∂log θ
(``jax.grad``); a guardrail whose API cost exceeds the open-weights cost shifts no cost at all once
weights are open: the adversary's cost is min(E[cost_API], E[cost_open]).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import structural  # noqa: F401  (float64)
from llmecon.errors import InputError
from structural import flops

__all__ = ["GuardrailScenario", "api_attack_cost", "open_weights_attack_cost"]

Array = Any


class GuardrailError(InputError):
    """A guardrail specification error naming the field."""


def api_attack_cost(p_success: Array, attempt_cost: Array, ban_probability: Array = 0.0,
                    account_cost: Array = 0.0) -> Array:
    """Expected cost of one success by repeated attempts: c/p + b·a·(1 − p)/p.

    Examples
    --------
    Attempts at $0.01 each that succeed 1% of the time, with a 5% chance of a $20 ban per failure:

    >>> from structural.guardrails import api_attack_cost
    >>> round(float(api_attack_cost(0.01, 0.01)), 2)
    1.0
    >>> round(float(api_attack_cost(0.01, 0.01, ban_probability=0.05, account_cost=20.0)), 2)
    100.0
    """
    p = jnp.asarray(p_success, jnp.float64)
    return attempt_cost / p + ban_probability * account_cost * (1.0 - p) / p


def open_weights_attack_cost(N: Array, attack_tokens: Array, trainable_share: Array,
                             train_flop_price: Array, attack_data_price: Array,
                             setup_cost: Array, decode_flop_price: Array, attempt_tokens: Array,
                             p_success_after: Array) -> Array:
    """Expected cost of one success by fine-tuning open weights (module docstring, route 2).

    Examples
    --------
    Fine-tuning a 7B model on 10M attack tokens at $2e-18 per training FLOP, then sampling:

    >>> from structural.guardrails import open_weights_attack_cost
    >>> cost = open_weights_attack_cost(7e9, 1e7, 1.0, 2e-18, 0.0, 100.0, 1e-17, 1000, 0.9)
    >>> round(float(cost), 2)
    100.84
    """
    ft = train_flop_price * flops.finetune_flops(N, attack_tokens, trainable_share * N)
    serve = decode_flop_price * 2.0 * N * attempt_tokens / p_success_after
    return ft + attack_data_price * attack_tokens + setup_cost + serve


@dataclass(frozen=True)
class GuardrailScenario:
    """The guardrail question of a scenario (``[guardrails]`` in TOML; every field a number).

    API route: ``p_success``, ``attempt_tokens``, ``api_price_per_token``, ``attempt_overhead``
    ($ of adversary effort per attempt), ``ban_probability``, ``account_cost``.
    Open-weights route (``open_weights = true``): ``N``, ``attack_tokens``,
    ``attack_data_per_token``, ``trainable_share`` (1 = full fine-tuning), ``chip_hour``,
    ``peak_flops``, ``utilisation_training``, ``utilisation_decode``, ``setup_cost``,
    ``p_success_after_finetune``. ``sweep_min``/``sweep_max``/``sweep_points``: the grid of p for
    the plot.

    Examples
    --------
    >>> from structural.guardrails import GuardrailScenario
    >>> g = GuardrailScenario.from_dict({"p_success": 0.01, "attempt_tokens": 2000,
    ...                                  "api_price_per_token": 1e-5})
    >>> sorted(g.analyse())
    ['guardrail_elasticities', 'guardrail_summary', 'guardrail_sweep']
    """

    p_success: float
    attempt_tokens: float
    api_price_per_token: float
    attempt_overhead: float = 0.0
    ban_probability: float = 0.0
    account_cost: float = 0.0
    open_weights: bool = True
    N: float = 7e9
    attack_tokens: float = 1e7
    attack_data_per_token: float = 0.0
    trainable_share: float = 1.0
    chip_hour: float = 4.40
    peak_flops: float = 989.4e12
    utilisation_training: float = 0.4
    utilisation_decode: float = 0.1
    setup_cost: float = 0.0
    p_success_after_finetune: float = 0.9
    sweep_min: float = 1e-6
    sweep_max: float = 0.5
    sweep_points: int = 41

    REQUIRED = ("p_success", "attempt_tokens", "api_price_per_token")
    SHARES = ("p_success", "ban_probability", "trainable_share", "utilisation_training",
              "utilisation_decode", "p_success_after_finetune", "sweep_min", "sweep_max")

    @classmethod
    def from_dict(cls, d: dict) -> GuardrailScenario:
        names = {f.name for f in fields(cls)}
        for k in d:
            if k not in names:
                raise GuardrailError(f"unknown key {k!r} in [guardrails] (expected one of: "
                                     f"{', '.join(sorted(names))})")
        for k in cls.REQUIRED:
            if k not in d:
                raise GuardrailError(f"missing field {k!r} in [guardrails]")
        kw = {}
        for k, v in d.items():
            if k == "open_weights":
                if not isinstance(v, bool):
                    raise GuardrailError("guardrails.open_weights: expected true or false")
                kw[k] = v
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) \
                    or v < 0:
                raise GuardrailError(f"guardrails.{k}: expected a non-negative number, got {v!r}")
            if k in cls.SHARES and not 0 < v <= 1:
                raise GuardrailError(f"guardrails.{k}: expected a probability in (0, 1], got {v!r}")
            kw[k] = int(v) if k == "sweep_points" else float(v)
        return cls(**kw)

    # -- the two routes as functions of named parameters -----------------------------------
    def parameters(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)
                if f.name not in ("open_weights", "sweep_min", "sweep_max", "sweep_points")}

    @staticmethod
    def _api(p: dict) -> Array:
        c = p["attempt_tokens"] * p["api_price_per_token"] + p["attempt_overhead"]
        return api_attack_cost(p["p_success"], c, p["ban_probability"], p["account_cost"])

    @staticmethod
    def _open(p: dict) -> Array:
        train = p["chip_hour"] / 3600.0 / (p["peak_flops"] * p["utilisation_training"])
        decode = p["chip_hour"] / 3600.0 / (p["peak_flops"] * p["utilisation_decode"])
        return open_weights_attack_cost(p["N"], p["attack_tokens"], p["trainable_share"], train,
                                        p["attack_data_per_token"], p["setup_cost"], decode,
                                        p["attempt_tokens"], p["p_success_after_finetune"])

    def analyse(self) -> dict[str, pd.DataFrame]:
        """Tables: ``guardrail_summary`` (both routes, the cheaper one, the cost shift),
        ``guardrail_elasticities`` (∂log cost/∂log θ per parameter and route) and
        ``guardrail_sweep`` (costs over a grid of per-attempt success p, one batched call)."""
        p = {k: jnp.asarray(v) for k, v in self.parameters().items()}
        api = float(self._api(p))
        opn = float(self._open(p)) if self.open_weights else float("inf")
        summary = pd.DataFrame([
            {"route": "guarded API (repeated attempts)", "expected_cost": api,
             "expected_attempts": 1.0 / self.p_success},
            {"route": "open weights (fine-tune the guardrail away)", "expected_cost": opn,
             "expected_attempts": 1.0 / self.p_success_after_finetune if self.open_weights
             else float("inf")},
            {"route": "adversary's cheapest", "expected_cost": min(api, opn),
             "expected_attempts": float("nan")},
        ])
        summary["binding"] = ["", "", "API" if api <= opn else "open weights"]
        rows = []
        for route, fn in (("guarded API", self._api), ("open weights", self._open)):
            if route == "open weights" and not self.open_weights:
                continue
            g = jax.grad(lambda q, fn=fn: jnp.log(fn(q)))(p)
            for k, v in g.items():
                if float(v) != 0.0:
                    rows.append({"route": route, "parameter": k, "value": float(p[k]),
                                 "elasticity": float(v) * float(p[k]),
                                 "d_cost_d_parameter": float(v) * (api if route == "guarded API"
                                                                   else opn)})
        elast = pd.DataFrame(rows)
        grid = np.geomspace(self.sweep_min, self.sweep_max, self.sweep_points)
        batch = {k: jnp.full(len(grid), v) for k, v in p.items()}
        batch["p_success"] = jnp.asarray(grid)
        api_s = np.asarray(jax.vmap(self._api)(batch))
        open_s = (np.asarray(jax.vmap(self._open)(batch)) if self.open_weights
                  else np.full(len(grid), np.inf))
        sweep = pd.DataFrame({"p_success": grid, "api_cost": api_s, "open_weights_cost": open_s,
                              "adversary_cost": np.minimum(api_s, open_s)})
        # Below this per-attempt success the API route is dearer than open weights, so making
        # the guardrail stronger shifts no more cost: (c + b·a)/p − b·a = E[cost_open].
        c = self.attempt_tokens * self.api_price_per_token + self.attempt_overhead
        ba = self.ban_probability * self.account_cost
        summary.attrs["p_threshold"] = (c + ba) / (opn + ba) if np.isfinite(opn) else 0.0
        return {"guardrail_summary": summary, "guardrail_elasticities": elast,
                "guardrail_sweep": sweep}
