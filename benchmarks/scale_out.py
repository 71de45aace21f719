"""One process, two forced host devices, and a two-worker Dask ``LocalCluster`` on the same
bootstrap: wall time of each (the second of two runs in its process, so compilation is left
out where it can be) and a hash of the replicate draws, which must agree.

    python benchmarks/scale_out.py [--draws 400] [--rows 2000]

Each variant runs in its own process (XLA reads its device count once, when JAX is imported).
Two host devices and two workers share the same cores as one process, so on a small machine
they show the overhead of the machinery, not a speed-up; on several GPUs or machines the work
divides among them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# This folder holds a benchmarks/estimation.py, which would shadow the package of that name.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]


def _fit(draws: int, rows: int, scheduler=None):
    import jax.numpy as jnp
    import numpy as np

    import estimation
    from estimation import Param, ParamSpec
    from estimation.losses import Huber

    def residuals(p, d):
        return d["y"] - (p["a"] * jnp.exp(-p["b"] * d["x"]) + p["c"])

    rng = np.random.default_rng(7)
    x = rng.uniform(0.0, 4.0, rows)
    y = 2.0 * np.exp(-0.8 * x) + 0.5 + 0.05 * rng.standard_t(3, rows)
    spec = ParamSpec([Param("a"), Param("b", transform="log"), Param("c")])
    return estimation.fit(residuals=residuals, loss=Huber(0.1), data={"x": x, "y": y},
                          params=spec, kind="m", start={"a": 1.0, "b": 1.0, "c": 0.0},
                          progress=False, bootstrap=estimation.Bootstrap(draws=draws, seed=3),
                          scheduler=scheduler)


def child(mode: str, draws: int, rows: int) -> None:
    import jax

    cluster = client = None
    scheduler = None
    t_cluster = 0.0
    if mode == "dask":
        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                               dashboard_address=None, silence_logs=40)
        client = scheduler = Client(cluster)
        t_cluster = time.perf_counter() - t0
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        res = _fit(draws, rows, scheduler)
        times.append(time.perf_counter() - t0)
    draws_bytes = res.bootstrap.draws.to_numpy().tobytes()
    print(json.dumps({"mode": mode, "devices": len(jax.devices()), "first_s": times[0],
                      "second_s": times[1], "cluster_start_s": t_cluster,
                      "converged": int(res.bootstrap.converged.sum()),
                      "sha256": hashlib.sha256(draws_bytes).hexdigest()[:16]}))
    if client is not None:
        client.close()
        cluster.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.draws, args.rows)
        return
    rows = []
    for mode, devices in (("one", 1), ("two-devices", 2), ("dask", 1)):
        env = dict(os.environ)
        flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
        if devices > 1:
            flags.append(f"--xla_force_host_platform_device_count={devices}")
        env["XLA_FLAGS"] = " ".join(flags)
        out = subprocess.run([sys.executable, __file__, "--child", mode, "--draws",
                              str(args.draws), "--rows", str(args.rows)], env=env, check=True,
                             capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    base = rows[0]["second_s"]
    print(f"bootstrap of {args.draws} replicates on {args.rows} rows "
          f"({os.cpu_count()} cores)")
    print(f"{'variant':<12} {'devices':>7} {'1st run s':>9} {'2nd run s':>9} {'vs one':>7} "
          f"{'converged':>9}  sha256(draws)")
    for r in rows:
        print(f"{r['mode']:<12} {r['devices']:>7} {r['first_s']:>9.2f} {r['second_s']:>9.2f} "
              f"{base / r['second_s']:>6.2f}x {r['converged']:>9}  {r['sha256']}")
    same = len({r["sha256"] for r in rows}) == 1
    print("draws byte-identical across variants:", same)
    if rows[2]["cluster_start_s"]:
        print(f"(LocalCluster start: {rows[2]['cluster_start_s']:.1f} s, not in the times)")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
