"""Benchmark: the full Besiroglu et al. (2024) method through llmecon vs a plain SciPy loop.

Both minimise the summed Huber loss (δ = 1e-3) of log residuals on the 240 runs: Hoffmann's
4,500-start grid, then 4,000 bootstrap replicates (the paper's resamples). The baseline is what a
careful notebook does: SciPy L-BFGS-B per start and BFGS per replicate (replicates warm-started from
the estimate), with analytic NumPy gradients. Prints both times (llmecon after compilation, and
compilation separately), their ratio, and whether both reach the same minimum. llmecon runs its
batched solver in one host thread per core (up to 4); the SciPy loop is single-threaded, as a
plain notebook loop is.

    python benchmarks/chinchilla.py [--starts-sample K] [--draws-sample K] [--tight] [--breakdown]

The sample options time the SciPy loop on K starts/draws and scale it up (a sampled baseline).
SciPy runs with its default tolerances unless ``--tight`` (ftol 1e-14, gtol 1e-10), which is what
a notebook needs after Besiroglu et al. showed the defaults stop early. Both report how many fits
end at a stationary point (scale-free gradient ≤ 1e-6, the engine's floor test), since a loop
that stops early is faster for the wrong reason. ``--breakdown`` adds the wall time of one
member-iteration of the compiled solver round (its pools run at once, as the solver runs them),
split into the trial step values and the rest, beside the time per member-iteration that a 50×
speed-up over this run's SciPy loop would leave.
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/estimation.py would shadow the estimation package: drop this folder from the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

import data  # noqa: E402
import estimation  # noqa: E402
from estimation import solver  # noqa: E402
from estimation.fit import _residual_model  # noqa: E402
from estimation.objective import Objective, as_data  # noqa: E402
from papers.besiroglu2024 import paper_resamples  # noqa: E402
from structural.chinchilla_fit import (  # noqa: E402
    HOFFMANN_GRID,
    LAW_DERIVATIVES,
    _huber_residual_model,
    as_fit_data,
    fit_chinchilla,
    grid_to_starts,
    law_spec,
)

DELTA = 1e-3
TIGHT = {"L-BFGS-B": {"ftol": 1e-14, "gtol": 1e-10}, "BFGS": {"gtol": 1e-10}}


def stationary(x, f, g, tol=1e-6):
    """Scale-free stationarity: max_j |g_j| max(|x_j|, 1) / |f| <= tol."""
    return np.max(np.abs(g) * np.maximum(np.abs(x), 1.0)) / abs(f) <= tol


def numpy_objective(theta, lN, lD, lL, w):
    """Summed Huber of LSE residuals and its analytic gradient in (a, b, e, α, β)."""
    a, b, e, al, be = theta
    u = np.stack([a - al * lN, b - be * lD, np.full_like(lN, e)])
    m = u.max(axis=0)
    ex = np.exp(u - m)
    s = ex.sum(axis=0)
    r = m + np.log(s) - lL
    p = ex / s
    ar = np.abs(r)
    rho = np.where(ar <= DELTA, 0.5 * r * r, DELTA * (ar - 0.5 * DELTA))
    psi = np.clip(r, -DELTA, DELTA) * w
    grad = np.array([psi @ p[0], psi @ p[1], psi @ p[2], -(psi * lN) @ p[0], -(psi * lD) @ p[1]])
    return float(w @ rho), grad


def round_wall(obj, theta, opts: estimation.SolverOptions, threads: int, calls: int = 40) -> float:
    """Wall seconds per member-iteration of the solver's compiled round, with ``threads`` pools
    of ``theta`` iterated at once as the solver runs them (best of three)."""
    P = theta.shape[0]
    run_round = solver._make_round(obj, opts, True)
    W = np.ones((P, obj.nobs))
    state = solver.initial_state(theta, solver.MU0_COLD)
    state = run_round(state, W, obj.data)  # past "fresh"

    def work():
        for _ in range(calls):
            np.asarray(run_round(state, W, obj.data).theta)

    work()  # compiled and warm
    best = np.inf
    for _ in range(3):
        pool = [threading.Thread(target=work) for _ in range(threads)]
        t = time.perf_counter()
        for th in pool:
            th.start()
        for th in pool:
            th.join()
        best = min(best, time.perf_counter() - t)
    return best / (threads * calls * P * opts.round_iters)


def breakdown(df, theta0: np.ndarray, its: int, t_scipy: float, target: float = 50.0) -> None:
    """Print what one member-iteration costs against what a ``target``× speed-up allows, on
    members that started from the grid ``theta0`` (internal coordinates)."""
    dd, n = as_data(as_fit_data(df))
    resid, loss, _ = _huber_residual_model(DELTA)  # the fit's own objects: its compiled round
    obj = Objective(_residual_model(resid, loss), dd, law_spec(), "m", n, residuals=resid,
                    loss=loss, derivatives=LAW_DERIVATIVES)
    pick = np.random.default_rng(2).choice(len(theta0), solver.SolverOptions().pool, replace=False)
    # Members part-way along their paths (8 iterations in), where most of the work is done.
    mid = solver.solve_batch(obj, theta0[pick], np.ones(n), solver.SolverOptions(maxiter=8))
    theta = np.where(np.isfinite(mid.theta), mid.theta, theta0[pick])
    full = solver.SolverOptions()
    lean = solver.SolverOptions(steps=(1.0,), gn_steps=(1.0,))
    threads = solver._threads(len(theta0), full.pool, full)
    c_full, c_lean = np.inf, np.inf
    for _ in range(2):  # alternated, so drift in the machine's speed hits both alike
        c_full = min(c_full, round_wall(obj, theta, full, threads))
        c_lean = min(c_lean, round_wall(obj, theta, lean, threads))
    trials = len(full.steps) + len(full.gn_steps)
    per_trial = (c_full - c_lean) / (trials - 2)
    budget = t_scipy / target / its
    print(f"breakdown: wall time per member-iteration of the compiled round ({threads} pools of "
          f"{theta.shape[0]} members at once, as the solver runs them):")
    print(f"  whole round            {1e6 * c_full:6.2f} us")
    print(f"  {trials} trial values         {1e6 * trials * per_trial:6.2f} us "
          f"({1e6 * per_trial:.2f} us each; the round with 2 trial values takes "
          f"{1e6 * c_lean:.2f} us)")
    print(f"  the rest               {1e6 * (c_full - trials * per_trial):6.2f} us "
          "(value, gradient, Hessian, IRLS matrix, eigendecomposition, bookkeeping)")
    print(f"  {target:.0f}x over SciPy's {t_scipy:.1f} s for these {its} member-iterations "
          f"leaves {1e6 * budget:.2f} us each")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--starts-sample", type=int, default=0, help="time SciPy on K starts, scale")
    ap.add_argument("--draws-sample", type=int, default=0, help="time SciPy on K draws, scale")
    ap.add_argument("--tight", action="store_true", help="SciPy with tight tolerances")
    ap.add_argument("--breakdown", action="store_true",
                    help="solver time per member-iteration, by part, against the 50x budget")
    args = ap.parse_args()
    df = data.load("chinchilla")
    df = df[~df["outlier"]].reset_index(drop=True)
    d = as_fit_data(df)
    lN, lD, lL = d["log_N"], d["log_D"], d["log_L"]
    boot = estimation.Bootstrap(indices=paper_resamples(len(df)))
    W = boot.weights(len(df))

    warnings.simplefilter("ignore", estimation.NotConvergedWarning)
    small = {k: v[:2] for k, v in HOFFMANN_GRID.items()}
    t = time.perf_counter()
    fit_chinchilla(df, starts=small, bootstrap=estimation.Bootstrap(indices=boot.indices[:8]),
                   progress=False)
    t_compile = time.perf_counter() - t
    t = time.perf_counter()
    res = fit_chinchilla(df, bootstrap=boot, progress=False)
    t_llmecon = time.perf_counter() - t

    starts = grid_to_starts(HOFFMANN_GRID)
    theta0 = np.column_stack([np.log(starts["A"]), np.log(starts["B"]), np.log(starts["E"]),
                              starts["alpha"], starts["beta"]])
    ones = np.ones(len(df))
    sel_s = np.arange(len(theta0))
    if args.starts_sample:
        sel_s = np.random.default_rng(0).choice(len(theta0), args.starts_sample, replace=False)
    opt_s, opt_b = (TIGHT["L-BFGS-B"], TIGHT["BFGS"]) if args.tight else ({}, {})
    t = time.perf_counter()
    best_f, best_x = np.inf, None
    stat_s = 0
    for i in sel_s:
        r = minimize(numpy_objective, theta0[i], args=(lN, lD, lL, ones), jac=True,
                     method="L-BFGS-B", options=opt_s)
        stat_s += stationary(r.x, r.fun, r.jac)
        if r.fun < best_f:
            best_f, best_x = r.fun, r.x
    t_starts = (time.perf_counter() - t) * len(theta0) / len(sel_s)
    sel_b = np.arange(len(W))
    if args.draws_sample:
        sel_b = np.random.default_rng(1).choice(len(W), args.draws_sample, replace=False)
    t = time.perf_counter()
    stat_b = 0
    for bi in sel_b:
        r = minimize(numpy_objective, best_x, args=(lN, lD, lL, W[bi]), jac=True, method="BFGS",
                     options=opt_b)
        stat_b += stationary(r.x, r.fun, r.jac)
    t_boot = (time.perf_counter() - t) * len(W) / len(sel_b)
    t_scipy = t_starts + t_boot

    f_ll = res.fun
    rel = abs(f_ll - best_f) / abs(best_f)
    sampled = " (sampled, scaled)" if (args.starts_sample or args.draws_sample) else ""
    threads = solver._threads(len(theta0), estimation.SolverOptions().pool,
                              estimation.SolverOptions())
    print(f"llmecon  : {t_llmecon:7.2f} s after compilation ({t_compile:.1f} s to compile; "
          f"{threads} solver thread(s) on {solver.available_cores()} cores, SciPy uses one); "
          f"{res.bootstrap.n_converged}/{res.bootstrap.n_draws} replicates converged; "
          f"grid: {int(res.starts['converged'].sum())}/{len(res.starts)} starts converged")
    tol = "tight tolerances" if args.tight else "default tolerances"
    print(f"scipy    : {t_scipy:7.2f} s{sampled} (grid {t_starts:.1f} s, bootstrap {t_boot:.1f} s; "
          f"{tol}); stationary: grid {stat_s}/{len(sel_s)}, replicates {stat_b}/{len(sel_b)}")
    its = int(res.starts["iterations"].sum()) + int(res.bootstrap.iterations.sum())
    print(f"work     : {int(res.starts['iterations'].sum())} grid + "
          f"{int(res.bootstrap.iterations.sum())} bootstrap Newton member-iterations; "
          f"{1e6 * t_llmecon / its:.1f} us of wall time each")
    print(f"ratio    : {t_scipy / t_llmecon:7.1f}x (scipy / llmecon)")
    print(f"minimum  : llmecon {f_ll:.12g}, scipy {best_f:.12g}, relative difference {rel:.2e} "
          f"({'same' if rel <= 1e-9 else 'DIFFERENT'} within 1e-9)")
    if args.breakdown:
        breakdown(df, theta0, its, t_scipy)


if __name__ == "__main__":
    main()
