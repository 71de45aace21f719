"""Nevo's cereal problem at his starting values, ours and PyBLP's, built once per session:
the post-estimation and optimal-instrument tests compare at this same point."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from structural.market import build_agents, build_products, estimate_demand

sys.path.insert(0, str(Path(__file__).parent))
from _nevo import AT_START, NEVO_PI, NEVO_SIGMA, NEVO_SPEC, pyblp_nevo


@pytest.fixture(scope="session")
def nevo_data():
    """Nevo's products and agents as PyBLP ships them."""
    pyblp = pytest.importorskip("pyblp")
    return (pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION),
            pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION))


@pytest.fixture(scope="session")
def nevo_start(nevo_data):
    """``(products, ours, PyBLP's)`` at Nevo's starting values (no optimisation): same point."""
    pyblp = pytest.importorskip("pyblp")
    pyblp.options.verbose = False
    df, ag = nevo_data
    p = build_products(df, NEVO_SPEC)
    with warnings.catch_warnings():  # no iterations: nothing converged, said once here
        warnings.simplefilter("ignore")
        r = estimate_demand(p, build_agents(p, ag), sigma=NEVO_SIGMA, pi=NEVO_PI, **AT_START)
    ref = pyblp_nevo(pyblp, df, ag).solve(NEVO_SIGMA, NEVO_PI, method="1s",
                                          optimization=pyblp.Optimization("return"))
    return p, r, ref
