"""Differentiated-products markets: demand (logit, nested logit, random-coefficients logit),
Bertrand–Nash supply, and what follows from them (elasticities, diversion, markups, consumer
surplus, equilibrium counterfactuals).

Modules are named for the economics: :mod:`~structural.market.products` (data and formulas),
:mod:`~structural.market.demand` (share functions), :mod:`~structural.market.inversion` (δ(θ)),
:mod:`~structural.market.estimate` (GMM), :mod:`~structural.market.supply` (markups and
equilibrium prices), :mod:`~structural.market.post` (post-estimation and counterfactuals),
:mod:`~structural.market.instruments` (differentiation instruments) and
:mod:`~structural.market.optimal` (feasible optimal instruments).
"""

import jax

# Synchronous CPU dispatch: every evaluation is read back at once, so it costs nothing here. It was
# set against a hang on the automobile problem whose cause turned out to be two batched LAPACK
# solves waiting on each other in XLA's intra-op pool (see demand.solve_by_market).
jax.config.update("jax_cpu_enable_async_dispatch", False)

from structural.market.estimate import DemandResults, Problem, estimate_demand  # noqa: E402
from structural.market.instruments import differentiation_instruments  # noqa: E402
from structural.market.optimal import OptimalInstruments, optimal_instruments  # noqa: E402
from structural.market.products import (  # noqa: E402
    Agents,
    DemandSpec,
    Products,
    build_agents,
    build_products,
)

__all__ = ["Agents", "DemandResults", "DemandSpec", "OptimalInstruments", "Problem", "Products",
           "build_agents", "build_products", "differentiation_instruments", "estimate_demand",
           "optimal_instruments"]
