"""Differentiated-products markets: demand (logit, nested logit, random-coefficients logit),
Bertrand–Nash supply, and what follows from them (elasticities, diversion, markups, consumer
surplus, equilibrium counterfactuals).

Modules are named for the economics: :mod:`~structural.market.products` (data and formulas),
:mod:`~structural.market.demand` (share functions), :mod:`~structural.market.inversion` (δ(θ)),
:mod:`~structural.market.estimate` (GMM), :mod:`~structural.market.supply` (markups and
equilibrium prices), :mod:`~structural.market.post` (post-estimation and counterfactuals).
"""

from structural.market.estimate import DemandResults, Problem, estimate_demand
from structural.market.products import (
    Agents,
    DemandSpec,
    Products,
    build_agents,
    build_products,
)

__all__ = ["Agents", "DemandResults", "DemandSpec", "Problem", "Products", "build_agents",
           "build_products", "estimate_demand"]
