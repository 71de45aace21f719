"""Benchmark: a logit fit by llmecon against statsmodels on the same data, 10⁴ to 10⁷ rows.

Both sides run as whole processes, as a user runs them (Python start-up, imports, reading the
data, the fit with standard errors, printing the estimates), on one simulated logit with an
intercept and four regressors, stored once as ``.npy`` files: statsmodels' ``Logit`` with its
default method (Newton) and tolerance, llmecon's :func:`estimation.fit` from the same zero start
with its defaults (Hessian standard errors for a likelihood, as statsmodels reports). The model
is a script's own function, as a user writes it. Each line gives both wall times, both peak
resident memories (each process reports its own ``ru_maxrss``) and the ratios
llmecon/statsmodels (below 1: llmecon is faster or leaner). llmecon first runs once against a
fresh compilation cache: cold (it traces and compiles the model for this row count's bucket),
printed alone. Then ``--repeats`` pairs of warm llmecon (the traced program and compiled code
read back from the cache, as every later run on this machine) and statsmodels runs, the order
alternating from pair to pair; the times and memories are the medians, the ratios the medians
of the ratios within each pair (two runs one after the other share the load of the machine,
which may be shared: each line ends with the one-minute load average when it finished).
From one start llmecon runs the whole fit (start checks, Newton iterations, final steps) as one
compiled program (:mod:`estimation.single`) on one copy of the data; beyond 2^18 rows it sums
the likelihood, gradient and Hessian over chunks of rows
(:data:`estimation.objective.CHUNK_ROWS`). At the largest sizes statsmodels may be skipped
(``--sm-max``).

Then ``llmecon fit chinchilla`` (the default 4,500-start grid) on ``--chinchilla-runs`` simulated
training runs (the Besiroglu et al. law with 2% multiplicative noise), whole process: with that
many rows its grid is screened on a subsample and the best converged optima refined on all
rows.

    python benchmarks/estimation.py [--rows 1e4 1e5 1e6 1e7] [--sm-max 1e7] [--repeats 3]
                                    [--chinchilla-runs 1e5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BETA = np.array([-0.5, 0.8, -1.2, 0.3, 0.05])

LLMECON = """
import json, resource, sys, time
t0 = time.perf_counter()
import jax.numpy as jnp
import numpy as np
import estimation
X, y = np.load(sys.argv[1]), np.load(sys.argv[2])
def loglik(p, d):
    eta = d["X"] @ jnp.stack([p[f"b{j}"] for j in range(5)])
    return d["y"] * eta - jnp.logaddexp(0.0, eta)
res = estimation.fit(loglik, {"X": X, "y": y}, [f"b{j}" for j in range(5)],
                     start={f"b{j}": 0.0 for j in range(5)}, progress=False)
print(res.params.to_numpy().tolist(), res.bse.to_numpy().tolist(), res.converged)
print(json.dumps({"wall": time.perf_counter() - t0, "params": res.params.tolist(),
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

STATSMODELS = """
import json, resource, sys, time
t0 = time.perf_counter()
import numpy as np
import statsmodels.api as sm
X, y = np.load(sys.argv[1]), np.load(sys.argv[2])
res = sm.Logit(y, X).fit(disp=0, method="newton")
print(res.params.tolist(), res.bse.tolist(), res.mle_retvals["converged"])
print(json.dumps({"wall": time.perf_counter() - t0, "params": res.params.tolist(),
                  "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def simulate(n: int, folder: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 4))])
    y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-X @ BETA))).astype(np.float64)
    px, py = folder / f"X{n}.npy", folder / f"y{n}.npy"
    np.save(px, X)
    np.save(py, y)
    return px, py


def run(script: str, px: Path, py: Path) -> dict:
    p = subprocess.run([sys.executable, "-c", script, str(px), str(py)], capture_output=True,
                       text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def chinchilla_runs(n: int, folder: Path) -> Path:
    """``n`` training runs (params, tokens, loss) from L = E + A/N^α + B/D^β, noise 2%."""
    rng = np.random.default_rng(1)
    N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n))
    D = np.exp(rng.uniform(np.log(5e9), np.log(5e11), n))
    L = (1.8172 + 482.01 / N**0.3478 + 2085.43 / D**0.3658) * np.exp(0.02 * rng.normal(size=n))
    path = folder / "runs.csv"
    path.write_text("params,tokens,loss\n" + "\n".join(
        f"{a:.6g},{b:.6g},{c:.6g}" for a, b, c in zip(N, D, L, strict=True)) + "\n")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="*", type=float, default=[1e4, 1e5, 1e6, 1e7])
    ap.add_argument("--sm-max", type=float, default=1e7,
                    help="largest row count statsmodels is run at")
    ap.add_argument("--repeats", type=int, default=3,
                    help="warm llmecon / statsmodels pairs per row count (alternating order)")
    ap.add_argument("--chinchilla-runs", type=float, default=1e5,
                    help="simulated runs for `llmecon fit chinchilla` (0: skip)")
    args = ap.parse_args()
    print(f"{'rows':>10} {'cold s':>8} {'llmecon s':>10} {'statsm. s':>10} {'time ratio':>10} "
          f"{'llmecon MB':>11} {'statsm. MB':>11} {'mem ratio':>10} {'max |Δβ|':>10} "
          f"{'load':>5}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LLMECON_CACHE_DIR"] = str(Path(tmp) / "cache")
        for n in (int(r) for r in args.rows):
            px, py = simulate(n, Path(tmp))
            cold = run(LLMECON, px, py)["wall"]
            ours, theirs = [], []
            for r in range(max(args.repeats, 1)):
                # Alternate which side runs first, so a change of load on the shared machine
                # falls on both alike; each ratio compares the two runs of one pair.
                if n > args.sm_max:
                    ours.append(run(LLMECON, px, py))
                elif r % 2 == 0:
                    ours.append(run(LLMECON, px, py))
                    theirs.append(run(STATSMODELS, px, py))
                else:
                    theirs.append(run(STATSMODELS, px, py))
                    ours.append(run(LLMECON, px, py))
            wall = float(np.median([o["wall"] for o in ours]))
            mb = float(np.median([o["rss"] for o in ours])) / 1024
            if not theirs:
                print(f"{n:>10,} {cold:>8.2f} {wall:>10.2f} {'-':>10} {'-':>10} "
                      f"{mb:>11.0f} {'-':>11} {'-':>10} {'-':>10} {os.getloadavg()[0]:>5.1f}",
                      flush=True)
                continue
            swall = float(np.median([t["wall"] for t in theirs]))
            smb = float(np.median([t["rss"] for t in theirs])) / 1024
            t_ratio = float(np.median([o["wall"] / t["wall"]
                                       for o, t in zip(ours, theirs, strict=True)]))
            m_ratio = float(np.median([o["rss"] / t["rss"]
                                       for o, t in zip(ours, theirs, strict=True)]))
            diff = float(np.max(np.abs(np.subtract(ours[0]["params"], theirs[0]["params"]))))
            print(f"{n:>10,} {cold:>8.2f} {wall:>10.2f} {swall:>10.2f} {t_ratio:>10.2f} "
                  f"{mb:>11.0f} {smb:>11.0f} {m_ratio:>10.2f} {diff:>10.1e} "
                  f"{os.getloadavg()[0]:>5.1f}", flush=True)
            px.unlink()
            py.unlink()
        if args.chinchilla_runs:
            n = int(args.chinchilla_runs)
            csv = chinchilla_runs(n, Path(tmp))
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-m", "llmecon", "fit", "chinchilla", "--data",
                                str(csv), "--quiet", "--verbose"], capture_output=True, text=True,
                               check=False)
            wall = time.perf_counter() - t0
            print(f"\nllmecon fit chinchilla on {n:,} simulated runs (4,500 starts): {wall:.1f} s, "
                  f"exit {p.returncode} (target 60 s; load {os.getloadavg()[0]:.1f})")
            print("\n".join(ln for ln in p.stdout.splitlines()
                            if ln.strip().startswith(("A ", "B ", "E ", "alpha", "beta",
                                                      "Starts:", "Note: multistart"))))
            print("\n".join(ln for ln in p.stderr.splitlines() if ln.startswith("llmecon:")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
