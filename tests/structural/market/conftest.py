"""Nevo's cereal problem at his starting values, ours and PyBLP's, built once per session:
the post-estimation and optimal-instrument tests compare at this same point; and a simulated
plain-logit market the counterfactual and equilibrium-solver tests share."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from structural.market import DemandSpec, build_agents, build_products, estimate_demand

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


@pytest.fixture(scope="session")
def simulated_logit():
    """``(products, estimates)``: 12 markets of 6 products (3 two-product firms) drawn from a
    logit with α = −2 and an instrument for price, estimated by 2SLS-GMM."""
    rng = np.random.default_rng(3)
    T, J = 12, 6
    N = T * J
    x = rng.uniform(0, 2, N)
    w = rng.uniform(0, 1, N)
    xi = rng.normal(0, 0.3, N)
    price = 1 + 0.5 * x + w + 0.5 * xi
    delta = 1.0 + x - 2.0 * price + xi
    e = np.exp(delta).reshape(T, J)
    s = (e / (1 + e.sum(axis=1, keepdims=True))).ravel()
    df = pd.DataFrame({"market_ids": np.repeat(np.arange(T), J),
                       "product_ids": np.tile(np.arange(J), T),
                       "firm_ids": np.tile(np.arange(J) // 2, T), "shares": s, "prices": price,
                       "x": x, "demand_instruments0": w, "demand_instruments1": w ** 2})
    return df, estimate_demand(build_products(df, DemandSpec("1 + prices + x")))
