"""Multistart on many rows: the starts are screened on a subsample of rows and only the best
distinct optima are refined on all rows. On a likelihood with many local optima (the frequency
of a sine) the screened grid must find the optimum the full grid finds, and say it screened."""

from __future__ import annotations

import importlib
import warnings

import jax.numpy as jnp
import numpy as np

import estimation

fit_module = importlib.import_module("estimation.fit")  # the module, not the function


def sine_loglik(p, d):
    r = (d["y"] - p["a"] * jnp.sin(p["b"] * d["x"])) / p["s"]
    return -0.5 * r * r - jnp.log(p["s"])


def _fit(d, starts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", estimation.NotConvergedWarning)
        return estimation.fit(sine_loglik, d, ["a", "b", estimation.Param("s", transform="log")],
                              start=starts, progress=False)


def test_screened_grid_finds_the_full_grids_optimum(monkeypatch):
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 10, 1200)
    d = {"x": x, "y": 1.5 * np.sin(3.1 * x) + 0.5 * rng.normal(size=x.size)}
    starts = estimation.grid_starts({"a": [0.5, 2.0], "b": np.linspace(0.2, 6.0, 15),
                                     "s": [1.0]})
    full = _fit(d, starts)
    assert not any("screened" in n for n in full.notes)
    monkeypatch.setattr(fit_module, "SCREEN_CELLS", 1000)
    monkeypatch.setattr(fit_module, "SCREEN_ROWS", 200)
    monkeypatch.setattr(fit_module, "SCREEN_KEEP", 4)
    screened = _fit(d, starts)
    assert any("screened: all 30 starts" in n for n in screened.notes)
    assert "screened" in screened.summary()
    assert full.converged and screened.converged
    assert len(screened.starts) <= 4
    np.testing.assert_allclose(screened.params.to_numpy(), full.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(screened.llf, full.llf, rtol=1e-10)
    assert abs(full.params["b"] - 3.1) < 0.01  # the global optimum, not a neighbouring one
