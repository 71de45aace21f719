"""The objective-value screen of a start grid (``fit_chinchilla(screen=K)``, the default of
``llmecon fit chinchilla``): which starts it keeps, and that the screened fit reaches the
optimum of the whole grid."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import data
import estimation
from estimation.losses import Huber
from structural.chinchilla_fit import (
    QUICK_GRID,
    fit_chinchilla,
    grid_to_starts,
    screen_starts,
)
from structural.pretraining import chinchilla_loss


def _runs(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    N, D = 10 ** rng.uniform(7, 10, n), 10 ** rng.uniform(9, 12, n)
    loss = np.asarray(chinchilla_loss(N, D, 400.0, 400.0, 1.7, 0.33, 0.29))
    return pd.DataFrame({"params": N, "tokens": D, "loss": loss * np.exp(rng.normal(0, .01, n))})


def test_screen_keeps_the_starts_with_the_lowest_summed_huber_loss():
    runs, starts = _runs(), grid_to_starts(QUICK_GRID)
    kept = screen_starts(runs, starts, keep=10)
    # the loss at every start, computed here on the user's scale with NumPy
    N, D, L = (runs[c].to_numpy()[:, None] for c in ("params", "tokens", "loss"))
    with np.errstate(all="ignore"):
        pred = (starts["E"].to_numpy() + starts["A"].to_numpy() / N ** starts["alpha"].to_numpy()
                + starts["B"].to_numpy() / D ** starts["beta"].to_numpy())
        q = np.asarray(Huber(1e-3).rho(np.log(pred) - np.log(L))).sum(axis=0)
    q = np.where(np.isfinite(q), q, np.inf)
    assert len(kept) == 10 and kept.index.is_monotonic_increasing
    assert set(kept.index) == set(np.argsort(q, kind="stable")[:10])
    assert q[kept.index].max() <= np.delete(q, kept.index).min()
    assert len(screen_starts(runs, starts.iloc[:5], keep=10)) == 5  # nothing to screen
    with pytest.raises(estimation.SpecificationError, match="at least one start"):
        screen_starts(runs, starts, keep=0)


def test_screened_fit_reaches_the_whole_grids_optimum_and_says_so():
    df = data.load("chinchilla")[["params", "tokens", "loss"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", estimation.NotConvergedWarning)
        full = fit_chinchilla(df, starts=QUICK_GRID, progress=False)
        screened = fit_chinchilla(df, starts=QUICK_GRID, progress=False, screen=16)
    assert len(full.starts) == 243 and len(screened.starts) == 16
    assert screened.converged
    np.testing.assert_allclose(screened.params, full.params, rtol=1e-7)
    assert screened.fun == pytest.approx(full.fun, rel=1e-12)
    assert any("screened by objective value: the 16 of the 243 starts" in n
               for n in screened.notes)
    assert not any("screened by objective value" in n for n in full.notes)
