"""Benchmark: the counterfactual engine's batched solve against a Python loop over the same points.

A sweep of (parameter draws × price points × lifetime queries) ≥ 10^5 points of the heavy-training
hypothesis (N, D free; Sardana & Frankle's problem in dollars with data priced) is solved by
``solve_grid``: jit + vmap over 64-lane blocks of (draw × price) lanes, each lane following the Q
grid by Newton continuation. Baselines, on a random sample of the same points, timed and scaled to
the full sweep:

1. a Python loop calling scipy's bounded scalar minimiser per point (the hand-written approach);
2. a Python loop calling the engine's own single-point solver (jit-compiled, no continuation).

Both baselines are checked against the batched answers on the sampled points. Prints both times
and the ratios (compile time reported apart). Run:
``python benchmarks/counterfactual.py [--draws 200] [--prices 20] [--queries 25] [--sample 300]``.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from scipy.optimize import minimize_scalar

import structural  # noqa: F401  (float64)
from structural.counterfactual.engine import Hypothesis, make_solver, solve_grid
from structural.counterfactual.model import PIPELINE_DEFAULTS, PipelineTechnology, Target

TARGET = 2.05
TOKENS = 800.0
HYP = Hypothesis("heavy_training", ("N", "D"), {"D_F": 0.0, "c": 0.0, "k": 1.0, "U": 1e20})


def sweep(n_draws: int, n_prices: int, n_q: int, seed: int = 0):
    """Draws of (A, B, α, β), price points (train $/FLOP, decode $/FLOP, data $/token), Q grid.

    FLOPs are priced through the one cost accounting at peak 1 FLOP/s, utilisation 1 and no
    memory traffic, so $/chip-hour / 3600 is the price per FLOP."""
    rng = np.random.default_rng(seed)
    theta = {k: np.full(n_draws, v) for k, v in PIPELINE_DEFAULTS.items()}
    for k, sd in (("A", 10.0), ("B", 10.0), ("alpha", 0.003), ("beta", 0.003)):
        theta[k] = rng.normal(PIPELINE_DEFAULTS[k], sd, n_draws)
    theta["tokens_in"] = np.zeros(n_draws)
    theta["tokens_out"] = np.full(n_draws, TOKENS)
    for k in ("peak_train", "peak_infer", "u_train", "u_prefill", "u_decode"):
        theta[k] = np.ones(n_draws)
    theta["bandwidth"] = np.full(n_draws, 1e30)
    prices = {"train_chip_hour": 3600 * 10 ** rng.uniform(-18.5, -17.5, n_prices),
              "serve_chip_hour": 3600 * 10 ** rng.uniform(-18, -16.5, n_prices),
              "data_token": 10 ** rng.uniform(-10, -8, n_prices),
              "ft_data_token": np.zeros(n_prices), "cache_hit": np.zeros(n_prices),
              "cache_discount": np.zeros(n_prices)}
    Q = np.geomspace(1e6, 1e13, n_q)
    return theta, prices, Q


def scipy_point(A, B, E, a, b, pt, pd_, pdata, Q):
    """One point by scipy: min over log N of 6ND·pt + D·pdata + Q·2N·tokens·pd on L(N, D) = L̄
    (the law written out here on purpose: an independent check of the engine)."""
    def cost(x):
        N = np.exp(x)
        D = (B / (TARGET - E - A * N ** (-a))) ** (1 / b)  # independent check
        return 6 * N * D * pt + D * pdata + Q * 2 * N * TOKENS * pd_

    lo = np.log((A / (TARGET - E)) ** (1 / a)) + 1e-9
    return minimize_scalar(cost, bounds=(lo, np.log(1e14)), method="bounded",
                           options={"xatol": 1e-9}).fun


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--prices", type=int, default=20)
    ap.add_argument("--queries", type=int, default=25)
    ap.add_argument("--sample", type=int, default=300, help="points timed in each Python loop")
    args = ap.parse_args()
    tech = PipelineTechnology(Target("loss", TARGET), attention=False)
    theta, prices, Q = sweep(args.draws, args.prices, args.queries)
    n = args.draws * args.prices * args.queries
    print(f"sweep: {args.draws} draws × {args.prices} price points × {args.queries} Q = {n:,} "
          f"points, heavy-training hypothesis (N, D free)")

    t0 = time.perf_counter()
    solve_grid(tech, [HYP], theta, prices, Q)               # compiles for this shape
    first = time.perf_counter() - t0
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        sol = solve_grid(tech, [HYP], theta, prices, Q)
        runs.append(time.perf_counter() - t0)
    batched = min(runs)
    compile_s = first - batched
    total = sol.values["heavy_training"]["total"]
    assert np.all(sol.values["heavy_training"]["status"] == 0)

    rng = np.random.default_rng(1)
    idx = [tuple(rng.integers(s) for s in total.shape) for _ in range(args.sample)]

    t0 = time.perf_counter()
    ref = [scipy_point(theta["A"][i], theta["B"][i], theta["E"][i], theta["alpha"][i],
                       theta["beta"][i], prices["train_chip_hour"][p] / 3600,
                       prices["serve_chip_hour"][p] / 3600,
                       prices["data_token"][p], Q[q]) for i, p, q in idx]
    scipy_s = (time.perf_counter() - t0) / args.sample * n
    err = max(abs(r / total[i, p, q] - 1) for r, (i, p, q) in zip(ref, idx, strict=True))
    worse = min(r / total[i, p, q] - 1 for r, (i, p, q) in zip(ref, idx, strict=True))

    point = jax.jit(make_solver(tech, HYP))

    def args_of(i, p, q):
        return ({k: v[i] for k, v in theta.items()}, {k: v[p] for k, v in prices.items()}, Q[q])

    point(*args_of(*idx[0]))["total"].block_until_ready()
    t0 = time.perf_counter()
    loop = [float(point(*args_of(i, p, q))["total"]) for i, p, q in idx]
    loop_s = (time.perf_counter() - t0) / args.sample * n
    loop_err = max(abs(r / total[i, p, q] - 1) for r, (i, p, q) in zip(loop, idx, strict=True))

    print(f"batched engine (jit + vmap):        {batched:9.2f} s  "
          f"({batched / n * 1e6:.2f} µs/point; compile {compile_s:.1f} s, excluded)")
    print(f"Python loop, scipy per point:       {scipy_s:9.2f} s  (scaled from {args.sample} "
          f"points; max rel. diff {err:.1e}, scipy never cheaper by more than {-worse:.1e})")
    print(f"Python loop, jitted point solver:   {loop_s:9.2f} s  (scaled from {args.sample} "
          f"points; max rel. diff {loop_err:.1e})")
    print(f"ratio vs scipy loop:  {scipy_s / batched:8.1f}×")
    print(f"ratio vs jitted loop: {loop_s / batched:8.1f}×   (target ≥ 100×)")


if __name__ == "__main__":
    main()
