"""A pipeline composed of stages, run on one kind of hardware, and its cost for Q queries.

>>> p = Pipeline.from_toml("structural/examples/pipelines/frontier.toml")
>>> p.cost_table(Q=1e10)           # per-stage FLOPs, seconds, dollars and share of the total
               stage       kind  ...  total_dollars     share
0           pretrain      fixed  ...   1.219594e+08  0.831230
1           finetune      fixed  ...   1.042388e+05  0.000710
2               data      fixed  ...   0.000000e+00  0.000000
3            context  per query  ...   1.005187e+07  0.068510
4              input  per query  ...   4.581796e+06  0.031228
5          reasoning  per query  ...   0.000000e+00  0.000000
6             output  per query  ...   1.002437e+07  0.068322
7       fixed cost F      fixed  ...   1.220637e+08  0.831940
8    variable cost v  per query  ...   2.465803e+07  0.168060
9  total for Q=1e+10             ...   1.467217e+08  1.000000
<BLANKLINE>
[10 rows x 8 columns]
>>> round(p.total_cost(1e10), 2)  # F + Q v in dollars
146721713.91

Fixed stages (pretraining, fine-tuning, data) are paid once; per-query stages (context, input,
reasoning, output) are paid Q times. The numbers come from the pure function
:func:`structural.costs.stage_costs` applied to ``p.quantities()`` and ``p.parameters()``, so the
same pipeline can be swept with :func:`jax.vmap` or differentiated with :func:`jax.grad`.

TOML layout (every section optional except ``[pretrain]`` and ``[hardware]``; unknown keys are
errors)::

    name = "frontier"
    [hardware]      name = "H100", precision_train = "bf16", precision_infer = "bf16",
                    price_per_hour = 4.40  (overrides the preset)
    [utilisation]   train, finetune, prefill, decode  (each in (0, 1])
    [serving]       batch, chips (0: chosen for cost), max_chips, bytes_per_param, bytes_kv
    [prices]        data_per_token, finetune_data_per_token, cache_cost_ratio
    [pretrain]      N, D, U, active_fraction
    [architecture]  n_layer, d_model, d_attn, d_ff, n_ctx, n_vocab, kv_fraction
    [finetune]      D_F, method ("full" | "adapter"), N_trainable
    [context]       c, cached_fraction
    [input]         x
    [reasoning]     k, r
    [output]        y
    [quality]       any key of structural.quality.quality_parameters
    [queries]       Q
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from structural import costs, quality
from structural.errors import PipelineError
from structural.hardware import Hardware, get_hardware
from structural.stages import (
    Architecture,
    Context,
    FineTune,
    Input,
    Output,
    Pretrain,
    Reasoning,
    as_quantities,
    positive,
    unit_interval,
)

__all__ = ["Pipeline"]

_DEFAULT_UTILISATION = {"train": 0.40, "finetune": 0.30, "prefill": costs.PREFILL_UTILISATION,
                        "decode": costs.DECODE_UTILISATION}
_DEFAULT_SERVING = {"batch": float("inf"), "chips": 0.0, "max_chips": 8.0, "bytes_per_param": 2.0,
                    "bytes_kv": 2.0}
_DEFAULT_PRICES = {"data_per_token": 0.0, "finetune_data_per_token": 0.0, "cache_cost_ratio": 0.1}


@dataclass(frozen=True)
class Pipeline:
    """An LLM system: its stages, its hardware and the prices it faces.

    Attributes
    ----------
    pretrain, finetune, context, input, reasoning, output
        The stages (:mod:`structural.stages`).
    hardware : Hardware
        One preset or a custom chip.
    precision_train, precision_infer : str
        Which peak FLOP/s applies to training and to inference.
    utilisation : dict
        Per stage: ``train``, ``finetune``, ``prefill``, ``decode``, each in (0, 1].
    serving : dict
        ``batch`` (a cap on the sequences per decode step; by default none: accelerator memory
        and cost per token choose it, :func:`structural.costs.serving`), ``bytes_per_param``,
        ``bytes_kv``.
    prices : dict
        ``data_per_token`` ($ per unique pretraining token), ``finetune_data_per_token``,
        ``cache_cost_ratio`` (cost of a cached context token relative to computing it).
    quality : dict
        Overrides of :func:`structural.quality.quality_parameters`.
    name : str
        A label for tables and reports.

    Examples
    --------
    Build a pipeline from its stages, or read one of the shipped TOML files:

    >>> from importlib.resources import files
    >>> from structural.hardware import get_hardware
    >>> from structural.pipeline import Pipeline
    >>> from structural.stages import Context, Output, Pretrain, Reasoning
    >>> p = Pipeline(Pretrain(N=7e9, D=2e12), get_hardware("H100"), context=Context(c=2000),
    ...              reasoning=Reasoning(k=4, r=1000), output=Output(y=400), name="small reasoner")
    >>> f"${p.total_cost(Q=1e9):.3g} over a billion queries"
    '$7.83e+05 over a billion queries'
    >>> p.cost_table(Q=1e9)[["kind", "dollars"]].round(0)
            kind   dollars
    0      fixed  280849.0
    1      fixed       0.0
    2      fixed       0.0
    3  per query       0.0
    4  per query       0.0
    5  per query       0.0
    6  per query       0.0
    7      fixed  280849.0
    8  per query       0.0
    9                  NaN
    >>> frontier = Pipeline.from_toml(files("structural.examples.pipelines") / "frontier.toml")
    >>> frontier.name, f"{frontier.pretrain.N:.3g}"
    ('frontier', '4.05e+11')
    """

    pretrain: Pretrain
    hardware: Hardware
    finetune: FineTune = field(default_factory=FineTune)
    context: Context = field(default_factory=Context)
    input: Input = field(default_factory=Input)
    reasoning: Reasoning = field(default_factory=Reasoning)
    output: Output = field(default_factory=Output)
    precision_train: str = "bf16"
    precision_infer: str = "bf16"
    utilisation: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_UTILISATION))
    serving: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_SERVING))
    prices: dict[str, float] = field(default_factory=lambda: dict(_DEFAULT_PRICES))
    quality: dict[str, float] = field(default_factory=dict)
    name: str = "pipeline"

    def __post_init__(self) -> None:
        self.hardware.flops(self.precision_train)
        self.hardware.flops(self.precision_infer)
        for key, value in self.utilisation.items():
            if key not in _DEFAULT_UTILISATION:
                known = ", ".join(_DEFAULT_UTILISATION)
                raise PipelineError(f"utilisation.{key}", f"unknown stage; expected one of {known}")
            unit_interval(f"utilisation.{key}", value)
        for key, value in self.serving.items():
            if key not in _DEFAULT_SERVING:
                raise PipelineError(f"serving.{key}",
                                    f"unknown key; expected one of {', '.join(_DEFAULT_SERVING)}")
            if key == "chips" and value == 0:     # 0: chosen for cost (the default)
                continue
            if not (key == "batch" and value == float("inf")):   # inf: no cap (the default)
                positive(f"serving.{key}", value)
        for key, value in self.prices.items():
            if key not in _DEFAULT_PRICES:
                raise PipelineError(f"prices.{key}",
                                    f"unknown key; expected one of {', '.join(_DEFAULT_PRICES)}")
            v = float(value)
            if not v >= 0:
                raise PipelineError(f"prices.{key}",
                                    f"expected a non-negative price, got {value!r}")
        unit_interval("prices.cache_cost_ratio", self.prices.get("cache_cost_ratio", 0.1),
                      open_low=False)
        unknown = set(self.quality) - set(quality.QUALITY_KEYS)
        if unknown:
            known = ", ".join(quality.QUALITY_KEYS)
            raise PipelineError(f"quality.{sorted(unknown)[0]}",
                                f"unknown parameter; expected one of {known}")

    # ------------------------------------------------------------------ numbers
    def quantities(self) -> dict[str, float]:
        """The quantities dict ``z`` (:data:`structural.costs.Z_KEYS`)."""
        return as_quantities(self.pretrain, self.finetune, self.context, self.input,
                             self.reasoning, self.output)

    def parameters(self) -> dict[str, float]:
        """The technology-and-prices dict ``theta`` (cost and quality keys)."""
        u = {**_DEFAULT_UTILISATION, **self.utilisation}
        s = {**_DEFAULT_SERVING, **self.serving}
        pr = {**_DEFAULT_PRICES, **self.prices}
        arch = self.pretrain.architecture
        overrides: dict[str, float] = {
            "u_train": u["train"], "u_finetune": u["finetune"], "u_prefill": u["prefill"],
            "u_decode": u["decode"], "batch": s["batch"], "chips": s["chips"],
            "max_chips": s["max_chips"], "bytes_per_param": s["bytes_per_param"],
            "bytes_kv": s["bytes_kv"], "data_price": pr["data_per_token"],
            "finetune_data_price": pr["finetune_data_per_token"],
            "cache_cost_ratio": pr["cache_cost_ratio"],
            "active_fraction": self.pretrain.active_fraction,
        }
        if arch is not None:
            overrides.update({"n_layer_d_attn": arch.n_layer * arch.attn,
                              "N_ref": float(self.pretrain.N), "n_ctx_train": arch.n_ctx,
                              "kv_fraction": arch.kv_fraction})
        theta = costs.cost_parameters(self.hardware, self.precision_train, self.precision_infer,
                                      **overrides)
        theta.update(quality.quality_parameters(**self.quality))
        return theta

    def accounts(self, Q: float = 1.0) -> dict[str, Any]:
        """Everything the pipeline's numbers come from, at Q queries, as NumPy floats: ``stages``
        (:func:`structural.costs.stage_costs`), ``serving`` (:func:`structural.costs.serving`),
        ``quality`` (:func:`structural.quality.evaluate`), ``total`` (F + Q v) and
        ``per_solved`` ((F/Q + v) / P(solved)).

        They are computed by one compiled program (:func:`_accounts`), kept between runs by the
        compilation cache, not operation by operation: evaluated eagerly, JAX compiles each of
        the ~70 distinct operations of the accounting separately, which cost a fresh process
        over a second even with every one of them in the cache.
        """
        return _accounts_program(_jax(self.quantities()), _jax(self.parameters()),
                                 jnp.asarray(Q, jnp.float64))

    def stage_costs(self) -> dict[str, dict[str, Any]]:
        """FLOPs, seconds and dollars per stage (fixed stages once, query stages per query)."""
        return self.accounts()["stages"]

    def serving_plan(self) -> dict[str, Any]:
        """The serving replica: chips, batch and why (``batch_limit``: memory, cost or lever)."""
        out = self.accounts()["serving"]
        return {"chips": float(out["chips"]), "batch": float(out["batch"]),
                "batch_limit": costs.BATCH_LIMITS[int(out["limit"])],
                "batch_memory": float(out["batch_memory"]),
                "batch_cost": float(out["batch_cost"])}

    def total_cost(self, Q: float) -> float:
        """F + Q v in dollars."""
        return float(self.accounts(Q)["total"])

    def quality_measures(self) -> dict[str, float]:
        """Model loss, task loss, per-attempt success and coverage (:mod:`structural.quality`)."""
        q = self.accounts()["quality"]
        return {k: float(q[k]) for k in quality.MEASURES}

    def cost_per_solved(self, Q: float) -> float:
        """(F/Q + v) / P(solved), with P(solved) the pipeline's coverage."""
        return float(self.accounts(Q)["per_solved"])

    def cost_table(self, Q: float = 1.0) -> pd.DataFrame:
        """One row per stage: kind (fixed / per query), FLOPs, chip-seconds and dollars per unit
        (once, or per query), dollars over Q queries and share of the total; then totals."""
        Q = positive("queries.Q", Q)
        sc = self.stage_costs()
        rows = []
        for stage in costs.STAGES:
            per_query = stage in costs.QUERY_STAGES
            mult = Q if per_query else 1.0
            d = {k: float(v) for k, v in sc[stage].items()}
            rows.append({"stage": stage, "kind": "per query" if per_query else "fixed",
                         "flops": d["flops"], "seconds": d["seconds"], "dollars": d["dollars"],
                         "total_flops": d["flops"] * mult, "total_dollars": d["dollars"] * mult})
        frame = pd.DataFrame(rows)
        total = frame["total_dollars"].sum()
        frame["share"] = frame["total_dollars"] / total if total > 0 else 0.0
        fixed = frame[frame.kind == "fixed"]
        var = frame[frame.kind == "per query"]
        summary = pd.DataFrame([
            {"stage": "fixed cost F", "kind": "fixed", "flops": fixed.flops.sum(),
             "seconds": fixed.seconds.sum(), "dollars": fixed.dollars.sum(),
             "total_flops": fixed.total_flops.sum(), "total_dollars": fixed.total_dollars.sum(),
             "share": fixed.share.sum()},
            {"stage": "variable cost v", "kind": "per query", "flops": var.flops.sum(),
             "seconds": var.seconds.sum(), "dollars": var.dollars.sum(),
             "total_flops": var.total_flops.sum(), "total_dollars": var.total_dollars.sum(),
             "share": var.share.sum()},
            {"stage": f"total for Q={Q:g}", "kind": "", "flops": float("nan"),
             "seconds": float("nan"), "dollars": float("nan"),
             "total_flops": frame.total_flops.sum(), "total_dollars": total, "share": 1.0},
        ])
        return pd.concat([frame, summary], ignore_index=True)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Pipeline:
        """Build from the TOML layout (a dict); every error names its field."""
        spec = dict(spec)
        known = {"name", "hardware", "utilisation", "serving", "prices", "pretrain",
                 "architecture", "finetune", "context", "input", "reasoning", "output", "quality",
                 "queries"}
        for key in spec:
            if key not in known:
                names = ", ".join(sorted(known))
                raise PipelineError(key, f"unknown section; expected one of {names}")
        hw_spec = _section(spec, "hardware", required=True)
        if "name" not in hw_spec:
            raise PipelineError("hardware.name", "required (e.g. \"H100\")")
        hw = get_hardware(hw_spec.pop("name"))
        prec_train = str(hw_spec.pop("precision_train", "bf16"))
        prec_infer = str(hw_spec.pop("precision_infer", "bf16"))
        if "price_per_hour" in hw_spec:
            hw = hw.replace(price_per_hour=positive("hardware.price_per_hour",
                                                    hw_spec.pop("price_per_hour")))
        _no_extra("hardware", hw_spec)
        arch = None
        if "architecture" in spec:
            arch = _build(Architecture, "architecture", _section(spec, "architecture"))
        pre = _section(spec, "pretrain", required=True)
        pretrain = _build(Pretrain, "pretrain", {**pre, "architecture": arch})
        return cls(
            pretrain=pretrain, hardware=hw,
            finetune=_build(FineTune, "finetune", _section(spec, "finetune")),
            context=_build(Context, "context", _section(spec, "context")),
            input=_build(Input, "input", _section(spec, "input")),
            reasoning=_build(Reasoning, "reasoning", _section(spec, "reasoning")),
            output=_build(Output, "output", _section(spec, "output")),
            precision_train=prec_train, precision_infer=prec_infer,
            utilisation={**_DEFAULT_UTILISATION, **_section(spec, "utilisation")},
            serving={**_DEFAULT_SERVING, **_section(spec, "serving")},
            prices={**_DEFAULT_PRICES, **_section(spec, "prices")},
            quality=_section(spec, "quality"),
            name=str(spec.get("name", "pipeline")),
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> Pipeline:
        """Read a pipeline TOML file (layout in the module docstring)."""
        path = Path(path)
        try:
            with path.open("rb") as fh:
                spec = tomllib.load(fh)
        except FileNotFoundError:
            raise PipelineError("path", f"no such pipeline file: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise PipelineError("path", f"{path} is not valid TOML: {exc}") from None
        spec.setdefault("name", path.stem)
        return cls.from_dict(spec)


def queries_from_spec(spec: dict[str, Any]) -> float | None:
    """The ``[queries] Q`` of a pipeline spec, validated, or None."""
    q = spec.get("queries", {})
    if not isinstance(q, dict):
        raise PipelineError("queries", "expected a table with Q")
    if "Q" not in q:
        return None
    return positive("queries.Q", q["Q"])


def _section(spec: dict[str, Any], name: str, required: bool = False) -> dict[str, Any]:
    if name not in spec:
        if required:
            raise PipelineError(name, "required section is missing")
        return {}
    value = spec[name]
    if not isinstance(value, dict):
        raise PipelineError(name, f"expected a table, got {value!r}")
    return dict(value)


def _no_extra(section: str, rest: dict[str, Any]) -> None:
    if rest:
        key = sorted(rest)[0]
        raise PipelineError(f"{section}.{key}", "unknown key")


def _build(kind: type, section: str, values: dict[str, Any]) -> Any:
    import dataclasses

    names = {f.name for f in dataclasses.fields(kind)}
    for key in values:
        if key not in names:
            raise PipelineError(f"{section}.{key}",
                                f"unknown key; expected one of {', '.join(sorted(names))}")
    return kind(**values)


def _jax(d: dict[str, float]) -> dict[str, Any]:
    return {k: jnp.asarray(v, jnp.float64) for k, v in d.items()}


def _accounts(z: dict[str, Any], theta: dict[str, Any], Q: Any) -> dict[str, Any]:
    """Stage costs, serving plan, quality, F + Q v and cost per solved problem of one pipeline
    (:meth:`Pipeline.accounts`), as one program."""
    return {"stages": costs.stage_costs(z, theta), "serving": costs.serving(z, theta),
            "quality": quality.evaluate(z, theta), "total": costs.total_cost(z, theta, Q),
            "per_solved": costs.cost_per_solved(z, theta, Q, quality.coverage(z, theta))}


_PROGRAM: list[Any] = []


def _accounts_program(z: dict[str, Any], theta: dict[str, Any], Q: Any) -> dict[str, Any]:
    """:func:`_accounts` compiled once per process and traced once per machine
    (:func:`estimation.compilation.traced_jit`), its outputs on the host."""
    if not _PROGRAM:
        from estimation.compilation import traced_jit

        _PROGRAM.append(traced_jit(_accounts, ("pipeline accounts", _accounts)))
    return jax.tree.map(np.asarray, _PROGRAM[0](z, theta, Q))
