"""``papers.reproduction.pipeline_flops``: the pipeline's FLOPs as one compiled program (kept
between runs) give the numbers of ``structural.costs.stage_costs`` evaluated operation by
operation, to the last bit, for the configurations the reproductions cost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import pytest

from papers.reproduction import pipeline_flops
from structural import costs

Z = {"N": 1e9, "D": 1e12, "U": 1e12, "D_F": 0.0, "trainable_fraction": 1.0, "c": 0.0,
     "cached_fraction": 0.0, "x": 0.0, "k": 1.0, "r": 0.0, "y": 1.0}
CASES = [
    # snell2024: no attention term, one output token per query
    (costs.cost_parameters("H100", n_layer_d_attn=0.0, N_ref=1.0), Z),
    (costs.cost_parameters("H100", n_layer_d_attn=0.0, N_ref=1.0), Z | {"N": 14e9, "U": 2.2e13}),
    # kaplan2020: GPT-2 XL's attention width and context, one training token
    (costs.cost_parameters("A100", n_layer_d_attn=48 * 1600, N_ref=1474560000.0,
                           n_ctx_train=1024), Z | {"N": 1474560000.0, "D": 1.0, "U": 1.0,
                                                   "y": 0.0}),
]


@pytest.mark.parametrize(("theta", "z"), CASES)
def test_equals_stage_costs_op_by_op(theta, z):
    stages, F, v = pipeline_flops(z, theta)
    sc = costs.stage_costs({k: jnp.asarray(x, jnp.float64) for k, x in z.items()}, theta)
    assert stages == {name: float(s["flops"]) for name, s in sc.items()}
    assert F == float(costs.fixed_cost(sc, "flops"))
    assert v == float(costs.variable_cost(sc, "flops"))


PROBE = """
from estimation.compilation import compile_stats
from structural import costs
from papers.reproduction import pipeline_flops
z = {z!r}
for hw, width, N in (("H100", 0.0, 1e9), ("H100", 0.0, 14e9), ("A100", 76800.0, 1.47e9)):
    pipeline_flops(z | {{"N": N}}, costs.cost_parameters(hw, n_layer_d_attn=width, N_ref=1.0))
print(compile_stats().compiled)
"""


def test_one_program_for_every_configuration():
    """A fresh process without the persistent cache compiles one program for all three
    configurations (operation by operation, the stages compiled some sixty)."""
    env = {**os.environ, "LLMECON_CACHE_DIR": "off", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(z=Z)], env=env, text=True,
                         capture_output=True, timeout=300, check=False,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == 1, out.stdout
