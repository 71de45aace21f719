r"""Serving utilisation: the prefill and decode utilisations of :mod:`structural.costs`, fitted to
published serving throughput.

The model is the project's one serving model. For a benchmark row i (a Llama model, static batch
b_i on t_i tensor-parallel GPUs, x_i input and y_i output tokens per sequence) the predicted output
tokens per second per GPU is

.. math::

    \widehat{\mathrm{tps}}_i(\theta) = y_i \,/\, \bigl(s^{\mathrm{input}}_i(\theta)
        + s^{\mathrm{output}}_i(\theta)\bigr),

with s the chip-seconds per sequence of :func:`structural.costs.stage_costs` (prefill and decode
rooflines with weight and KV-cache reads, plus tensor parallelism's all-reduces), the published
batch and TP degree as the levers. θ = (u_prefill, u_decode, g_fp8): the utilisations of the
FP16/BF16 peak in prefill and in decode (compute side of the roofline), and the speed-up g_fp8
that FP8 compute realises over the FP16 peak (the FP8 rows' effective peak is g_fp8 × FP16 peak;
the datasheet's is 2×). They are estimated by nonlinear least squares on log throughput,

.. math::

    \hat\theta = \arg\min_\theta \sum_i \bigl(\ln \mathrm{tps}_i
        - \ln \widehat{\mathrm{tps}}_i(\theta)\bigr)^2,

on the logit (utilisations) and log (g_fp8) scale, with :func:`estimation.fit` (M-estimation,
squared loss) and HC1 sandwich standard errors (HC0 × n/(n − k)); HC3 is not used because the
few compute-bound rows that identify the utilisations have leverage near one, where HC3's
1/(1 − h)² blows their residuals up. Data: ``serving_throughput``
(TensorRT-LLM v0.5.0 and v0.6.1 ``performance.md``, Apache-2.0).

The counterfactual scenarios draw (u_prefill, u_decode) jointly from the fit's asymptotic normal
on the estimation scale (``serving_utilisation`` in :mod:`structural.counterfactual.fits`).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

import estimation
from structural import costs
from structural.fitted import Collector, CommandLine
from structural.fitted.inputs import FitInputError

__all__ = ["fit", "fitted_rows", "predicted_log_throughput", "published_fit", "residuals",
           "serving_data", "simulate"]

#: ``llmecon fit serving`` and this model's place in the registry (literals: read without
#: importing this module).
COMMAND = {
    "order": 6,
    "summary": "prefill and decode utilisation from published serving throughput (NLS)",
    "section": "serving utilisation",
    "arguments": [],
}

PARAMS = estimation.ParamSpec([
    estimation.Param("u_prefill", start=0.5, transform="logit"),
    estimation.Param("u_decode", start=0.25, transform="logit"),
    estimation.Param("fp8_gain", start=1.0, transform="log"),
])

#: Bytes per weight and per KV-cache element by precision.
BYTES = {"fp16": 2.0, "bf16": 2.0, "fp8": 1.0}


def serving_data(table: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """The estimation sample: one row per benchmark, with the hardware preset's peak FP16
    FLOP/s, memory bandwidth, HBM and NVLink bandwidth (default table: ``serving_throughput``).

    Examples
    --------
    >>> from structural.fitted.serving import serving_data
    >>> d = serving_data()
    >>> len(d["tps"]), int(d["fp8"].sum())
    (18, 11)
    """
    import data
    from structural.hardware import get_hardware

    t = data.load("serving_throughput") if table is None else table
    for col, known in (("precision", BYTES), ("kv_precision", BYTES)):
        bad = ~t[col].isin(list(known))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise FitInputError(f"serving throughput: column {col!r} row {i}: "
                                f"{t[col].iloc[i]!r}; expected one of {', '.join(known)}")
    hw = [get_hardware(h) for h in t["hardware"]]

    def f(col: str) -> np.ndarray:
        return t[col].to_numpy(np.float64)

    return {
        "peak": np.array([h.flops("fp16") for h in hw]),
        "bandwidth": np.array([h.memory_bandwidth for h in hw]),
        "memory": np.array([h.memory_bytes for h in hw]),
        "link": np.array([h.interconnect_bandwidth for h in hw]),
        "fp8": (t["precision"] == "fp8").to_numpy(np.float64),
        "bytes_w": t["precision"].map(BYTES).to_numpy(np.float64),
        "bytes_kv": t["kv_precision"].map(BYTES).to_numpy(np.float64),
        "N": f("params"), "nd": f("n_layer") * f("d_model"), "kv_fraction": f("kv_fraction"),
        "batch": f("batch"), "chips": f("tensor_parallel"), "x": f("input_len"),
        "y": f("output_len"), "tps": f("tokens_per_s_per_gpu"),
    }


def predicted_log_throughput(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """ln of the output tokens/s per GPU that :func:`structural.costs.stage_costs` predicts for
    each row (module docstring): y / (prefill + decode chip-seconds per sequence).

    Examples
    --------
    >>> import numpy as np
    >>> from structural.fitted.serving import predicted_log_throughput, serving_data
    >>> d = serving_data()
    >>> tps = np.exp(predicted_log_throughput({"u_prefill": 0.84, "u_decode": 0.30,
    ...                                        "fp8_gain": 0.9}, d))
    >>> int(round(float(tps[8])))    # A100, Llama 2 70B, TP 4, batch 240, 128 → 2048 (525)
    633
    """
    peak = d["peak"] * jnp.where(d["fp8"] > 0, p["fp8_gain"], 1.0)
    theta = {**costs.cost_parameters("H100"),
             "peak_infer": peak, "bandwidth": d["bandwidth"], "memory_bytes": d["memory"],
             "interconnect_bandwidth": d["link"], "u_prefill": p["u_prefill"],
             "u_decode": p["u_decode"], "batch": d["batch"], "chips": d["chips"],
             "bytes_per_param": d["bytes_w"], "bytes_kv": d["bytes_kv"],
             "n_layer_d_attn": d["nd"], "N_ref": d["N"], "kv_fraction": d["kv_fraction"]}
    zero = jnp.zeros_like(d["N"])
    z = {"N": d["N"], "D": zero + 1e12, "U": zero + 1e13, "D_F": zero,
         "trainable_fraction": zero + 1.0, "c": zero, "cached_fraction": zero, "x": d["x"],
         "k": zero + 1.0, "r": zero, "y": d["y"]}
    s = costs.stage_costs(z, theta)
    return jnp.log(d["y"]) - jnp.log(s["input"]["seconds"] + s["output"]["seconds"])


def residuals(p: dict[str, Any], d: dict[str, Any]) -> Any:
    """ln published − ln predicted throughput, per row.

    Examples
    --------
    >>> from structural.fitted.serving import residuals, serving_data
    >>> r = residuals({"u_prefill": 0.84, "u_decode": 0.30, "fp8_gain": 0.9}, serving_data())
    >>> r.shape
    (18,)
    """
    return jnp.log(d["tps"]) - predicted_log_throughput(p, d)


def simulate(params: dict[str, float], d: dict[str, np.ndarray], sigma: float = 0.1,
             replicates: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """The design of ``d`` repeated ``replicates`` times with throughputs drawn from the model at
    ``params`` times lognormal noise of log-sd ``sigma``.

    Examples
    --------
    >>> from structural.fitted.serving import serving_data, simulate
    >>> sim = simulate({"u_prefill": 0.6, "u_decode": 0.2, "fp8_gain": 1.5}, serving_data(),
    ...                replicates=2)
    >>> sim["tps"].shape
    (36,)
    """
    rep = {k: np.tile(np.asarray(v), replicates) for k, v in d.items()}
    mean = np.asarray(predicted_log_throughput({k: jnp.float64(v) for k, v in params.items()},
                                               rep))
    rng = np.random.default_rng(seed)
    rep["tps"] = np.exp(mean + sigma * rng.standard_normal(mean.shape))
    return rep


def fit(d: dict[str, np.ndarray] | None = None, progress: bool = False, **kwargs: Any) -> Any:
    """Nonlinear least squares on log throughput (module docstring), HC1 standard errors.

    Examples
    --------
    >>> from structural.fitted import serving
    >>> res = serving.fit()
    >>> res.converged
    True
    >>> res.params.round(3)
    u_prefill    0.837
    u_decode     0.302
    fp8_gain     0.896
    Name: estimate, dtype: float64
    """
    d = serving_data() if d is None else d
    kwargs.setdefault("name", "serving utilisation")
    kwargs.setdefault("cov_type", "hc1")
    return estimation.fit(None, d, PARAMS, residuals=residuals, loss=estimation.Squared(),
                          kind="m", start={q.name: q.start for q in PARAMS.params},
                          progress=progress, **kwargs)


_PUBLISHED: dict[str, Any] = {}


def published_fit() -> Any:
    """:func:`fit` on the bundled table, computed once per process (the counterfactuals' source
    and the tests' reference).

    Examples
    --------
    >>> from structural.fitted.serving import published_fit
    >>> round(float(published_fit().bse["u_decode"]), 3)
    0.046
    """
    if "fit" not in _PUBLISHED:
        _PUBLISHED["fit"] = fit()
    return _PUBLISHED["fit"]


def fitted_rows(res: Any, d: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Each benchmark with its published and fitted throughput and their ratio.

    Examples
    --------
    >>> from structural.fitted import serving
    >>> rows = serving.fitted_rows(serving.fit())
    >>> list(rows.columns)[-3:]
    ['published', 'fitted', 'ratio']
    """
    import data

    d = serving_data() if d is None else d
    t = data.load("serving_throughput")[["release", "hardware", "precision", "model", "batch",
                                          "tensor_parallel", "input_len", "output_len"]]
    p = {k: jnp.float64(v) for k, v in res.params.items()}
    t["published"] = d["tps"]
    t["fitted"] = np.exp(np.asarray(predicted_log_throughput(p, d)))
    t["ratio"] = t["fitted"] / t["published"]
    return t


def command(args: Any, cli: CommandLine) -> int:
    """``llmecon fit serving``: the fit on the bundled ``serving_throughput`` table and each
    row's fitted/published ratio."""
    res = published_fit()
    rows = fitted_rows(res)
    cli.show_fit(res)
    cli.show_table(rows)
    return cli.write("serving", [("params", res)], {"rows": rows})


def llm_costs(c: Collector, quick: bool) -> None:
    """The ``llm_costs`` section: the fitted utilisations and the FP8 speed-up."""
    res = published_fit()
    c.add_fit("serving", res)
    c.converged.append(res.converged)
    c.notes.append("serving: u_prefill, u_decode (of the FP16 peak) and the realised FP8 speed-up "
                   "by NLS on log throughput of TensorRT-LLM's published benchmarks "
                   "(serving_throughput), structural.costs' rooflines with tensor-parallel "
                   "all-reduces, HC1 SEs")
