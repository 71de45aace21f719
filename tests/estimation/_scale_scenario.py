"""A small fit with a multistart grid and a bootstrap, run the same way on one device, on
several forced host devices and on a Dask cluster by the scaling tests (also runnable as a
script: ``python _scale_scenario.py OUT.npz`` writes its arrays there)."""

from __future__ import annotations

import sys

import numpy as np


def decay_model():
    """Huber M-estimation of y = a·exp(−b·x) + c (defined in a factory, so that Dask workers
    receive the function by value and need not import the tests)."""
    import jax.numpy as jnp

    def residuals(p, d):
        return d["y"] - (p["a"] * jnp.exp(-p["b"] * d["x"]) + p["c"])

    return residuals


def run(scheduler=None, draws: int = 40, n: int = 60) -> dict[str, np.ndarray]:
    """Every number the fit reports that the batched solves produce, as arrays."""
    import pandas as pd

    import estimation
    from estimation import Param, ParamSpec
    from estimation.losses import Huber

    rng = np.random.default_rng(7)
    x = rng.uniform(0.0, 4.0, n)
    y = 2.0 * np.exp(-0.8 * x) + 0.5 + 0.05 * rng.standard_t(3, n)
    spec = ParamSpec([Param("a"), Param("b", transform="log"), Param("c")])
    starts = pd.DataFrame([{"a": a, "b": b, "c": c} for a in (0.5, 3.0) for b in (0.1, 2.0)
                           for c in (-1.0, 0.0, 1.0)])
    res = estimation.fit(residuals=decay_model(), loss=Huber(0.1), data={"x": x, "y": y},
                         params=spec, kind="m", start=starts, progress=False,
                         bootstrap=estimation.Bootstrap(draws=draws, seed=3),
                         scheduler=scheduler)
    return {"params": res.params.to_numpy(), "starts": res.starts.select_dtypes("number")
            .to_numpy(), "draws": res.bootstrap.draws.to_numpy(),
            "iterations": res.bootstrap.iterations.to_numpy(),
            "converged": res.bootstrap.converged.to_numpy()}


if __name__ == "__main__":
    import importlib

    import jax

    fit_module = importlib.import_module("estimation.fit")
    used: list[int] = []  # devices each batched solve actually ran on, as XLA reports them
    solve = fit_module.solve_batch

    def recording(*args, **kwargs):
        sol = solve(*args, **kwargs)
        used.append(sol.devices)
        return sol

    fit_module.solve_batch = recording
    out = run()
    np.savez(sys.argv[1], local_devices=len(jax.devices()), used=np.array(used), **out)
