"""Starting values for multistart: full grids, Sobol sequences and uniform random draws.

Each returns a DataFrame with one column per parameter (the user's scale) and one row per start,
which :func:`estimation.fit` runs as one batched solve.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from estimation.errors import SpecificationError


def grid_starts(axes: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """The Cartesian product of per-parameter value lists, the first axis varying slowest.

    Example: Hoffmann et al. (2022)'s grid, ``grid_starts({"alpha": np.arange(0, 2.5, .5), ...})``.

    Examples
    --------
    >>> from estimation import grid_starts
    >>> grid_starts({"a": [0.0, 1.0], "b": [5.0, 6.0, 7.0]}).values.tolist()
    [[0.0, 5.0], [0.0, 6.0], [0.0, 7.0], [1.0, 5.0], [1.0, 6.0], [1.0, 7.0]]
    """
    if not axes:
        raise SpecificationError("grid_starts needs at least one parameter axis")
    names = list(axes)
    values = [np.asarray(list(axes[n]), dtype=np.float64) for n in names]
    for n, v in zip(names, values, strict=True):
        if v.size == 0:
            raise SpecificationError(f"grid_starts: axis {n!r} is empty")
    rows = np.array(list(itertools.product(*values)))
    return pd.DataFrame(rows, columns=names)


def _bounds(bounds: Mapping[str, tuple[float, float]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    names = list(bounds)
    lo = np.array([bounds[n][0] for n in names], dtype=np.float64)
    hi = np.array([bounds[n][1] for n in names], dtype=np.float64)
    bad = [n for n, a, b in zip(names, lo, hi, strict=True) if not a < b]
    if bad:
        raise SpecificationError(f"bounds need low < high for {bad}")
    return names, lo, hi


def sobol_starts(bounds: Mapping[str, tuple[float, float]], n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` scrambled Sobol points in the box ``bounds`` (Owen scrambling, seeded).

    A power of two points fills every one-dimensional stratum evenly, unlike
    :func:`random_starts`.

    Examples
    --------
    >>> from estimation import sobol_starts
    >>> starts = sobol_starts({"a": (0.0, 1.0), "b": (-5.0, 5.0)}, 4, seed=0)
    >>> starts.shape, starts.columns.tolist()
    ((4, 2), ['a', 'b'])
    >>> sorted((starts["a"] * 4).astype(int).tolist())    # one point in each quarter
    [0, 1, 2, 3]
    """
    from scipy.stats import qmc  # imported here: a second of start-up otherwise

    names, lo, hi = _bounds(bounds)
    sampler = qmc.Sobol(d=len(names), scramble=True, seed=seed)
    m = int(np.ceil(np.log2(max(n, 1))))
    pts = sampler.random_base2(m)[:n]
    return pd.DataFrame(qmc.scale(pts, lo, hi), columns=names)


def random_starts(bounds: Mapping[str, tuple[float, float]], n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` uniform random points in the box ``bounds`` (NumPy Generator, seeded).

    Examples
    --------
    A 16-start multistart (``fit(start=...)`` takes the DataFrame, one start per row):

    >>> from estimation import random_starts
    >>> starts = random_starts({"mu": (-1.0, 1.0), "sigma": (0.5, 2.0)}, 16, seed=0)
    >>> starts.shape
    (16, 2)
    >>> bool(starts["sigma"].between(0.5, 2.0).all())
    True
    >>> starts.round(3).iloc[0].tolist()
    [0.274, 0.905]
    """
    names, lo, hi = _bounds(bounds)
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.uniform(lo, hi, size=(n, len(names))), columns=names)
