"""Benchmark: counterfactual sweeps of any size against a Python loop over the same points.

Two hypotheses of the LLM pipeline (Sardana & Frankle's problem in dollars, data priced, a
500-token prompt whose context term (α_c/(c + x))^β_c enters the task loss):

* **single-lever** ``heavy_training``: N optimised, D binding the target, no added context —
  Newton continuation along the Q grid;
* **three-lever** ``balanced``: N, D and the added context c free (D binding, N and c
  optimised) — three Newton steps per Q from the optimum's cubic prediction along the Q grid
  (its uncertified points, where c reaches its bound, re-solved after the path; their number is
  printed), timed
  beside the nested bisection it replaced (``--nested-points`` points, same process), with the
  number of points that failed Newton's KKT test and went to that solver.

For each, at ``--points`` (draws × ``--prices`` × ``--queries``; ``--points 1e8`` is the issue's
size) the sweep is streamed by :func:`structural.counterfactual.stream.sweep` into a chunk store
(chunks sized from available memory, at most 2¹⁸ points; ``total`` and ``status`` kept), and its
throughput is printed beside the in-memory :func:`~structural.counterfactual.engine.solve_grid`
figure at 10⁵ points keeping the same fields (the same work: the sweep's own first draws, prices
and Q, the mean of three calls after the first, as the streamed figure is a mean), with their
ratio per point (throughput and CPU).
The baseline is a Python loop calling SciPy per point (``minimize_scalar`` in log N; for three
levers nested, log c outside and log N inside), timed on ``--sample`` random points of the sweep,
scaled to it
and checked against the engine's answers there; ratios are printed with the engine's compilation
counted and without. Costs per point are also printed in CPU seconds (every thread's) per point,
which a shared machine's load inflates far less than wall time, and the three-lever hypothesis's
against the single-lever one's of the same run. Peak RSS is the process's own (``getrusage``),
for the whole run.

The bundled scenario ``heavy_training_vs_long_context`` (attention on, H100 serving) adds what
the FLOP-priced sweep lacks: a kinked cost. Its serving batch is min(memory cap, compute-bound
batch), so decode's cost is the larger of two smooth pieces, and 8–14% of its "balanced"
optima lie on the ridge where they meet, where Newton's KKT test fails. On ``--kink-draws`` draws
of its grid the benchmark times, in the same process, the single-lever hypothesis, the three-lever
one with those points solved along the ridge, and as before the ridge solve (40 Newton
iterations, then the nested bisection), with the number of points each leaves to the nested
solver.

Run: ``python benchmarks/counterfactual.py [--points 1e8] [--three-points 1e6] [--sample 300]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/estimation.py would shadow the estimation package: drop this folder from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import minimize_scalar  # noqa: E402

import structural  # noqa: E402, F401  (float64)
from estimation.progress import Progress  # noqa: E402
from structural.counterfactual import engine, load_scenario  # noqa: E402
from structural.counterfactual.engine import (  # noqa: E402
    Hypothesis,
    _flat_batch,
    _in_blocks,
    batched_nested_solver,
    solve_grid,
    with_target,
)
from structural.counterfactual.model import (  # noqa: E402
    PIPELINE_DEFAULTS,
    PipelineTechnology,
    Target,
)
from structural.counterfactual.report import _draws  # noqa: E402
from structural.counterfactual.stream import sweep  # noqa: E402

TARGET = 2.15
TOKENS_IN, TOKENS_OUT = 500.0, 300.0
CTX_ALPHA, CTX_BETA = 5.0, 0.5
C_MAX = 2.0**20
FIXED = {"D_F": 0.0, "k": 1.0, "U": 1e20}
SINGLE = Hypothesis("heavy_training", ("N", "D"), {**FIXED, "c": 0.0})
THREE = Hypothesis("balanced", ("N", "D", "c"), FIXED, bounds={"c": (1.0, C_MAX)})
TECH = PipelineTechnology(Target("loss", TARGET), attention=False)
GiB = 2**30
SCENARIO = Path(__file__).resolve().parents[1] / "structural" / "examples" / "scenarios" / \
    "heavy_training_vs_long_context.toml"


def inputs(n_draws: int, n_prices: int, n_q: int, seed: int = 0):
    """Draws of (A, B, α, β), price points (train $/FLOP, serve $/FLOP, data $/token), Q grid.

    FLOPs are priced through the one cost accounting at peak 1 FLOP/s, utilisation 1 and no
    memory traffic, so $/chip-hour / 3600 is the price per FLOP."""
    rng = np.random.default_rng(seed)
    theta = {k: np.full(n_draws, v) for k, v in PIPELINE_DEFAULTS.items()}
    for k, sd in (("A", 10.0), ("B", 10.0), ("alpha", 0.003), ("beta", 0.003)):
        theta[k] = rng.normal(PIPELINE_DEFAULTS[k], sd, n_draws)
    theta.update(tokens_in=np.full(n_draws, TOKENS_IN), tokens_out=np.full(n_draws, TOKENS_OUT),
                 ctx_alpha=np.full(n_draws, CTX_ALPHA), ctx_beta=np.full(n_draws, CTX_BETA),
                 bandwidth=np.full(n_draws, 1e30))
    for k in ("peak_train", "peak_infer", "u_train", "u_prefill", "u_decode"):
        theta[k] = np.ones(n_draws)
    prices = {"train_chip_hour": 3600 * 10 ** rng.uniform(-18.5, -17.5, n_prices),
              "serve_chip_hour": 3600 * 10 ** rng.uniform(-18, -16.5, n_prices),
              "data_token": 10 ** rng.uniform(-10, -8, n_prices),
              "ft_data_token": np.zeros(n_prices), "cache_hit": np.zeros(n_prices),
              "cache_discount": np.zeros(n_prices)}
    return theta, prices, np.geomspace(1e6, 1e13, n_q)


def scipy_point(three: bool, A, B, E, a, b, pt, pd_, pdata, Q) -> float:
    """One point by SciPy: min 6ND·pt + D·pdata + Q·2N(x + c + y)·pd on L(N, D) + (α_c/(c +
    x))^β_c = L̄ (the law written out here on purpose: an independent check of the engine)."""
    def D_of(N, c):
        law = E + A * N ** (-a)  # independent check: the law written out on purpose
        gap = TARGET - law - (CTX_ALPHA / (c + TOKENS_IN)) ** CTX_BETA
        return (B / gap) ** (1 / b) if gap > 0 else np.inf

    def cost(logN, c):
        N = np.exp(logN)
        D = D_of(N, c)
        return 6 * N * D * pt + D * pdata + Q * 2 * N * (TOKENS_IN + c + TOKENS_OUT) * pd_

    def lo_N(c):   # the smallest N that can meet the target with this context
        return np.log((A / (TARGET - E - (CTX_ALPHA / (c + TOKENS_IN)) ** CTX_BETA)) ** (1 / a))

    def best_N(c):
        return minimize_scalar(lambda x: cost(x, c), bounds=(lo_N(c) + 1e-9, np.log(1e14)),
                               method="bounded", options={"xatol": 1e-10})

    if not three:
        return best_N(0.0).fun
    # Nested bounded scalar searches: the context outside, N inside.
    return minimize_scalar(lambda y: best_N(np.exp(y)).fun, bounds=(0.0, np.log(C_MAX)),
                           method="bounded", options={"xatol": 1e-10}).fun


#: The output fields a sweep keeps, in memory and streamed alike (the same work for both figures).
FIELDS = ("total", "status")


def kernel_seconds() -> float:
    """CPU seconds this process has spent in the kernel (every thread's): mostly clearing pages
    it touches for the first time, the cost of fresh memory."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


#: Timed calls of the in-memory figure: their mean, as the streamed figure is its whole run's
#: mean (the best of two short calls, as before, set a minimum against a mean).
IN_MEMORY_CALLS = 3


def in_memory(hyp: Hypothesis, theta: dict, prices: dict, Q: np.ndarray,
              points: int) -> tuple[float, float, float, float, int]:
    """(first call incl. compilation; then per call, the mean of :data:`IN_MEMORY_CALLS` later
    calls: wall seconds, CPU seconds of every thread, so that a loaded machine does not inflate
    it, and of those the kernel's; the points solved: whole draws, about ``points``) of
    solve_grid on the first ``points`` of the streamed sweep's own inputs (its first draws, the
    same prices and Q: the same kind of points), keeping the streamed sweep's :data:`FIELDS`."""
    n_draws = max(points // (len(Q) * len(next(iter(prices.values())))), 1)
    if n_draws > len(theta["A"]):   # a sweep smaller than the in-memory figure's points
        theta, prices, Q = inputs(n_draws, len(next(iter(prices.values()))), len(Q))
    theta = {k: v[:n_draws] for k, v in theta.items()}
    t0 = time.perf_counter()
    solve_grid(TECH, [hyp], theta, prices, Q, fields=FIELDS)
    first = time.perf_counter() - t0
    t0, c0, k0 = time.perf_counter(), time.process_time(), kernel_seconds()
    for _ in range(IN_MEMORY_CALLS):
        solve_grid(TECH, [hyp], theta, prices, Q, fields=FIELDS)
    wall, cpu, kernel = (time.perf_counter() - t0, time.process_time() - c0,
                         kernel_seconds() - k0)
    m = n_draws * len(Q) * len(next(iter(prices.values())))
    return first, wall / IN_MEMORY_CALLS, cpu / IN_MEMORY_CALLS, kernel / IN_MEMORY_CALLS, m


def nested(hyp: Hypothesis, n_prices: int, n_q: int, points: int) -> tuple[float, float]:
    """(first call incl. compilation, later call) of the nested-bisection solver that two
    optimised levers used before projected Newton (now the fallback of points failing its KKT
    test), on ``points`` points of the same kind, in the same process."""
    theta, prices, Q = inputs(max(points // (n_prices * n_q), 1), n_prices, n_q)
    th, pr, q, _ = _flat_batch(with_target(TECH, theta), prices, Q)
    fn = batched_nested_solver(TECH, hyp)
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        _in_blocks(fn, [th, pr, q], (), len(q))
        times.append(time.perf_counter() - t0)
    return times[0], times[1] / len(q)


def streamed(hyp: Hypothesis, theta: dict, prices: dict, Q: np.ndarray, store: Path,
             sample: int) -> dict:
    """Stream the sweep of :func:`inputs` through a chunk store; time it; check SciPy on
    sampled points."""
    n = len(theta["A"]) * len(prices["train_chip_hour"]) * len(Q)
    refined = engine.REFINED.get(hyp.name, 0)
    with Progress(n, f"{hyp.name} sweep") as bar:
        t0, c0, k0 = time.perf_counter(), time.process_time(), kernel_seconds()
        res = sweep(TECH, [hyp], theta, prices, Q, store, fields=FIELDS,
                    progress=bar)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        kernel = kernel_seconds() - k0
    total = res.array(hyp.name, "total")
    status = res.array(hyp.name, "status")
    rng = np.random.default_rng(1)
    idx = [tuple(int(rng.integers(s)) for s in total.shape) for _ in range(sample)]
    three = len(hyp.free) == 3
    t0 = time.perf_counter()
    ref = [scipy_point(three, theta["A"][i], theta["B"][i], theta["E"][i], theta["alpha"][i],
                       theta["beta"][i], prices["train_chip_hour"][p] / 3600,
                       prices["serve_chip_hour"][p] / 3600, prices["data_token"][p], Q[q])
           for i, p, q in idx]
    scipy_s = (time.perf_counter() - t0) / sample * n
    ok = [j for j, (i, p, q) in enumerate(idx) if status[i, p, q] == 0 and np.isfinite(ref[j])]
    rel = np.array([ref[j] / total[idx[j]] - 1 for j in ok])
    return {"n": n, "wall": wall, "cpu": cpu, "kernel": kernel, "chunks": res.n_chunks,
            "chunk": res.chunk,
            "fallbacks": res.fallbacks.get(hyp.name),
            "refined": engine.REFINED.get(hyp.name, 0) - refined,
            "reached": float(np.mean(np.asarray(status) == 0)), "scipy": scipy_s,
            "err": float(np.max(np.abs(rel))) if len(rel) else np.nan,
            "worse": float(-np.min(rel)) if len(rel) else np.nan}


def kinked(n_draws: int) -> None:
    """The bundled scenario's single- and three-lever hypotheses on ``n_draws`` draws of its grid
    (module docstring): µs per point of solve_grid after compilation, the three-lever one with
    Newton's failures solved along the serving ridge and, as before, by nested bisection."""
    sc = load_scenario(SCENARIO)
    hyps = {h.name: h for h in sc.hypotheses}
    d = _draws(sc, types.SimpleNamespace(tables={}), n_draws, 0)
    theta = with_target(sc.technology, d.theta)
    n = len(theta["target"]) * len(sc.prices["train_chip_hour"]) * len(sc.queries)

    def timed(hyp):
        solve_grid(sc.technology, [hyp], theta, sc.prices, sc.queries)   # compiles
        t0 = time.perf_counter()
        sol = solve_grid(sc.technology, [hyp], theta, sc.prices, sc.queries)
        return (time.perf_counter() - t0) / n * 1e6, sol

    print(f"\nbundled scenario {SCENARIO.stem} (attention on, H100 serving), {n:,} points "
          f"({len(theta['target'])} draws × {len(sc.prices['train_chip_hour'])} prices × "
          f"{len(sc.queries)} Q), solve_grid after compilation:")
    single, _ = timed(hyps["heavy_training"])
    print(f"  heavy_training (N, D free):   {single:8.2f} µs/point")
    three = hyps["balanced"]
    # Before: Newton's failures to the nested bisection, and 40 Newton iterations before a point
    # is declared non-converged (the cap the ridge solve allowed lowering); the path solver is
    # recompiled for each setting.
    cap = engine.NEWTON2_ITERATIONS

    def forget():   # the solvers that read the cap when they are traced
        for k in [k for k in engine._COMPILED if k[0] in ("path", "refine")]:
            engine._COMPILED.pop(k)
    try:
        engine.RIDGE, engine.NEWTON2_ITERATIONS = False, 40
        forget()
        before, old = timed(three)
    finally:
        engine.RIDGE, engine.NEWTON2_ITERATIONS = True, cap
        forget()
    after, new = timed(three)
    cheaper = (new.total(three.name) < old.total(three.name) * (1 - 1e-12)).sum()
    dearer = (new.total(three.name) > old.total(three.name) * (1 + 1e-13)).sum()
    print(f"  balanced (N, D, c free), Newton's failures along the ridge: {after:8.2f} µs/point, "
          f"{new.fallbacks[three.name]:,} of {n:,} points left to nested bisection")
    print(f"  balanced, before (40 iterations, then nested bisection):    {before:8.2f} µs/point, "
          f"{old.fallbacks[three.name]:,} of {n:,} points ({old.fallbacks[three.name] / n:.1%})")
    print(f"  ridge vs nested fallback: {before / after:.1f}× faster; cheaper at {cheaper:,} "
          f"points (the nested bisection stops short on the ridge), dearer at {dearer:,}; "
          f"three-lever / single-lever cost per point {after / single:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=float, default=1e5,
                    help="points of the single-lever sweep (default 1e5; the issue's 1e8)")
    ap.add_argument("--three-points", type=float, default=None,
                    help="points of the three-lever sweep (default: --points)")
    ap.add_argument("--prices", type=int, default=20)
    ap.add_argument("--queries", type=int, default=25)
    ap.add_argument("--sample", type=int, default=300, help="points timed in the SciPy loops")
    ap.add_argument("--nested-points", type=int, default=2000,
                    help="points timed with the nested-bisection solver (three-lever baseline)")
    ap.add_argument("--kink-draws", type=int, default=100,
                    help="draws of the bundled scenario's grid for the kinked three-lever timing "
                         "(0: skip)")
    ap.add_argument("--store", type=Path, default=None,
                    help="folder for the chunk stores (default a temporary one, removed)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmecon-sweep-")) if args.store is None else args.store
    sizes = {SINGLE.name: int(args.points),
             THREE.name: int(args.points if args.three_points is None else args.three_points)}
    print(f"sweeps of draws × {args.prices} price points × {args.queries} Q; stores in {tmp}")
    rows = []
    try:
        for hyp in (SINGLE, THREE):
            sweep_in = inputs(max(sizes[hyp.name] // (args.prices * args.queries), 1),
                              args.prices, args.queries)
            first, small, small_cpu, small_kernel, m = in_memory(hyp, *sweep_in, 100_000)
            r = streamed(hyp, *sweep_in, tmp / hyp.name, args.sample)
            n = r["n"]
            rows.append((hyp, first, small / m * 1e5, r, small_cpu / m * 1e5))
            print(f"\n{hyp.name} ({', '.join(hyp.free)} free): {n:.3g} points in {r['chunks']} "
                  f"chunks of {r['chunk']} draws; {r['reached']:.1%} reach the target")
            print(f"  {m:.3g} points in memory: {m / small:12,.0f} points/s "
                  f"(first call {first:.1f} s with compilation; "
                  f"{small_cpu / m * 1e6:.2f} CPU-µs/point, "
                  f"{small_kernel / m * 1e6:.2f} of them in the kernel)")
            print(f"  {n:.0e} points streamed: {n / r['wall']:11,.0f} points/s "
                  f"({r['wall']:.1f} s, {r['wall'] / n * 1e6:.2f} µs/point; "
                  f"{r['cpu'] / n * 1e6:.2f} CPU-µs/point, "
                  f"{r['kernel'] / n * 1e6:.2f} of them in the kernel)")
            # A sweep smaller than the in-memory figure solves other blocks (and compiles them).
            unlike = " (not comparable: the sweep is smaller)" if n < m else ""
            print(f"  streamed / in memory, per point: {(n / r['wall']) / (m / small):.3f}× "
                  f"the throughput, {(r['cpu'] / n) / (small_cpu / m):.3f}× the CPU{unlike}")
            print(f"  SciPy loop (scaled from {args.sample} points): {r['scipy']:.4g} s; max rel. "
                  f"diff {r['err']:.1e}; SciPy never cheaper by more than {r['worse']:.1e}")
            comp = first - small
            print(f"  ratio vs SciPy loop: {r['scipy'] / r['wall']:8.1f}× without compilation, "
                  f"{r['scipy'] / (r['wall'] + comp):8.1f}× with it ({comp:.1f} s)")
            if r["fallbacks"] is not None:
                print(f"  points the path's fixed Newton steps did not certify, re-solved after "
                      f"it: {r['refined']:,} of {n:,} ({r['refined'] / n:.1%})")
                print(f"  points failing Newton's KKT test, re-solved by nested bisection: "
                      f"{r['fallbacks']:,} of {n:,}")
                first_b, per = nested(hyp, args.prices, args.queries, args.nested_points)
                comp_b = first_b - per * args.nested_points
                comp_b = f"{comp_b:.1f} s compilation" if comp_b > 0 else "compiled by the sweep"
                print(f"  nested bisection (the solver before Newton) on {args.nested_points:,}"
                      f" points: {per * 1e6:.1f} µs/point ({comp_b}); Newton path "
                      f"{per * n / r['wall']:.1f}× faster")
    finally:
        if args.store is None:
            shutil.rmtree(tmp, ignore_errors=True)
    if len(rows) == 2:
        (_, _, _, r1, c1), (_, _, _, r3, c3) = rows
        print(f"\nthree-lever / single-lever, same run: {c3 / c1:.2f}× the CPU per point at 10^5 "
              f"in memory ({c3 / 1e5 * 1e6:.2f} vs {c1 / 1e5 * 1e6:.2f} CPU-µs/point), "
              f"{(r3['cpu'] / r3['n']) / (r1['cpu'] / r1['n']):.2f}× streamed "
              f"({r3['cpu'] / r3['n'] * 1e6:.2f} vs {r1['cpu'] / r1['n'] * 1e6:.2f})")
    if args.kink_draws:
        kinked(args.kink_draws)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"\npeak RSS of this process: {peak / GiB:.2f} GiB "
          f"({'under' if peak < 4 * GiB else 'OVER'} the 4 GiB bound)")


if __name__ == "__main__":
    main()
