"""A small sweep for the streaming tests: two hypotheses (Newton continuation in N with D binding,
and D alone binding at a fixed N) over 700 draws × 2 prices × 4 Q, run as a script in a fresh
process (``python _sweep_scenario.py OUT.npz [single|chunked]``) so that XLA can be given two host
devices."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import structural  # noqa: F401  (float64)
from structural.counterfactual.engine import Hypothesis, solve_grid
from structural.counterfactual.model import PIPELINE_DEFAULTS, PipelineTechnology, Target

TECH = PipelineTechnology(Target("loss", 2.05), attention=False)
HYPS = [Hypothesis("heavy", ("N", "D"), {"D_F": 0.0, "c": 0.0, "k": 1.0, "U": 1e20}),
        Hypothesis("fixed_N", ("D",), {"N": 3e10, "D_F": 0.0, "c": 0.0, "k": 1.0, "U": 1e20})]
DRAWS, PRICES = 700, 2
Q = np.geomspace(1e6, 1e13, 4)


def inputs(draws: int = DRAWS, seed: int = 0):
    """Draws of (A, B, α, β) around the defaults, random FLOP and data prices."""
    rng = np.random.default_rng(seed)
    theta = {k: np.full(draws, v) for k, v in PIPELINE_DEFAULTS.items()}
    for k, sd in (("A", 10.0), ("B", 10.0), ("alpha", 0.003), ("beta", 0.003)):
        theta[k] = rng.normal(PIPELINE_DEFAULTS[k], sd, draws)
    theta.update(tokens_in=np.zeros(draws), tokens_out=np.full(draws, 800.0),
                 bandwidth=np.full(draws, 1e30))
    for k in ("peak_train", "peak_infer", "u_train", "u_prefill", "u_decode"):
        theta[k] = np.ones(draws)
    prices = {"train_chip_hour": 3600 * 10 ** rng.uniform(-18.5, -17.5, PRICES),
              "serve_chip_hour": 3600 * 10 ** rng.uniform(-18, -16.5, PRICES),
              "data_token": 10 ** rng.uniform(-10, -8, PRICES),
              "ft_data_token": np.zeros(PRICES), "cache_hit": np.zeros(PRICES),
              "cache_discount": np.zeros(PRICES)}
    return theta, prices, Q


def single() -> dict[str, np.ndarray]:
    """The whole grid in one solve_grid call, flattened to ``"hypothesis:field"`` arrays."""
    theta, prices, q = inputs()
    sol = solve_grid(TECH, HYPS, theta, prices, q)
    return {f"{h}:{k}": v for h in sol.hypotheses for k, v in sol.values[h].items()}


def chunked(store: Path, scheduler=None, chunk: int = 128) -> dict[str, np.ndarray]:
    """The same grid streamed through a chunk store, read back whole."""
    from structural.counterfactual.stream import sweep

    theta, prices, q = inputs()
    res = sweep(TECH, HYPS, theta, prices, q, store, chunk=chunk, scheduler=scheduler)
    sol = res.solution()
    return {f"{h}:{k}": np.asarray(v) for h in sol.hypotheses for k, v in sol.values[h].items()}


if __name__ == "__main__":
    import jax

    out = Path(sys.argv[1])
    got = single() if sys.argv[2] == "single" else chunked(out.with_suffix(".store"))
    np.savez(out, local_devices=len(jax.devices()), **got)
