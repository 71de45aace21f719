"""Nevo (2000), "A Practitioner's Guide to Estimation of Random-Coefficients Logit Models of
Demand" (J. Econ. Manag. Strategy 9(4)), on its "fake cereal" data as bundled with PyBLP, against
the values of PyBLP 1.3.0's own tutorials (Conlon and Gortmaker 2020, RAND J. Econ. 51(4),
"Best practices for differentiated products demand estimation with PyBLP"):

- plain logit with product fixed effects, two-step GMM: price −30.0471 (SE 1.0086);
- nested logit, all products in one nest, no fixed effects, two-step GMM from ρ = 0.7:
  ρ = 0.9826 (SE 0.0136);
- random-coefficients logit with demographics (income, income², age, child), product fixed
  effects, one-step GMM by BFGS (gtol 1e-5) from the tutorial's starting Σ and Π: price
  −62.7299 (SE 14.8032), GMM objective 4.5615 (PyBLP's scaling N ḡ'Wḡ).

Tolerances: the published values are rounded to four decimals, so each check allows that
rounding (±5e-5) or 1e-4 relative, whichever is larger. The data are read from the installed
``pyblp`` package (the ``market`` extra); nothing is copied into llmecon.

Examples
--------
>>> from papers import nevo2000
>>> nevo2000.TITLE
'Nevo (2000) fake cereal: logit, nested logit and random-coefficients demand'
>>> nevo2000.SOURCE
'PyBLP 1.3.0 tutorials (Conlon and Gortmaker 2020)'
>>> nevo2000.SIGMA0.diagonal(), nevo2000.PI0.shape
(array([0.3302, 2.4526, 0.0163, 0.2441]), (4, 4))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from papers.reproduction import Check, Reproduction, write_tables

__all__ = ["PI0", "SIGMA0", "SOURCE", "TITLE", "load", "reproduce"]

TITLE = "Nevo (2000) fake cereal: logit, nested logit and random-coefficients demand"
SOURCE = "PyBLP 1.3.0 tutorials (Conlon and Gortmaker 2020)"

SIGMA0 = np.diag([0.3302, 2.4526, 0.0163, 0.2441])
PI0 = np.array([[5.4819, 0, 0.2037, 0], [15.8935, -1.2000, 0, 2.6342],
                [-0.2506, 0, 0.0511, 0], [1.2650, 0, -0.8091, 0]])


def load() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nevo's product and agent data from the installed ``pyblp`` package.

    Examples
    --------
    >>> from papers.nevo2000 import load
    >>> products, agents = load()
    >>> products.shape, agents.shape
    ((2256, 30), (1880, 12))
    """
    try:
        import pyblp.data
    except ImportError as exc:
        raise ImportError("the Nevo data ship with pyblp: pip install 'llmecon[market]'") from exc
    return (pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION),
            pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION))


def _tol(published: float) -> float:
    return max(5e-5 / abs(published), 1e-4)


def reproduce(out: Path | None = None, quick: bool = False, progress: bool = True) -> Reproduction:
    """Estimate the three tutorial models, check them, and write estimates, elasticities,
    markups and a merger simulation (firm 2 joins firm 1) with draw-based intervals.

    Examples
    --------
    The full reproduction estimates the random-coefficients model (about a minute); its published
    values are PyBLP's tutorial numbers:

    >>> from papers import nevo2000
    >>> nevo2000.TITLE
    'Nevo (2000) fake cereal: logit, nested logit and random-coefficients demand'
    >>> rep = nevo2000.reproduce(quick=True, progress=False)  # doctest: +SKIP
    >>> rep.checks_frame()[["quantity", "published"]]  # doctest: +SKIP
    """
    from structural.market import DemandSpec, build_agents, build_products, estimate_demand, post

    products, agents = load()
    logit = estimate_demand(build_products(products, DemandSpec("prices", absorb="product_ids")))
    nl_data = products.assign(nesting_ids=1)
    nl_data["demand_instruments20"] = nl_data.groupby(["market_ids", "nesting_ids"])[
        "shares"].transform("size")
    nested = estimate_demand(build_products(nl_data, DemandSpec("0 + prices",
                                                                nesting="nesting_ids")), rho=0.7)
    spec = DemandSpec("0 + prices", random="1 + prices + sugar + mushy",
                      demographics="0 + income + income_squared + age + child",
                      absorb="product_ids")
    p = build_products(products, spec)
    rc = estimate_demand(p, build_agents(p, agents), sigma=SIGMA0, pi=PI0, method="1s",
                         optimizer="bfgs")
    pub = [("logit price coefficient", logit.params["prices"], -30.0471),
           ("logit price SE", logit.bse["prices"], 1.0086),
           ("nested logit rho", nested.params["rho"], 0.9826),
           ("nested logit rho SE", nested.bse["rho"], 0.0136),
           ("RC price coefficient", rc.params["prices"], -62.7299),
           ("RC price SE", rc.bse["prices"], 14.8032),
           ("RC GMM objective", rc.objective, 4.5615)]
    checks = [Check(q, float(x), v, _tol(v), "rel", SOURCE) for q, x, v in pub]

    estimates = pd.concat({"logit": pd.DataFrame({"estimate": logit.params, "std_err": logit.bse}),
                           "nested_logit": pd.DataFrame({"estimate": nested.params,
                                                         "std_err": nested.bse}),
                           "random_coefficients": pd.DataFrame({"estimate": rc.params,
                                                                "std_err": rc.bse})})
    estimates.index.names = ["model", "parameter"]
    table = estimates.reset_index().set_index("parameter")
    el = post.elasticities(rc)
    own = np.diagonal(el, axis1=1, axis2=2)[p.layout.t, p.layout.j]
    eta = post.markups(rc)
    per_product = pd.DataFrame({"product_ids": p.product_ids, "own_elasticity": own,
                                "markup": eta, "lerner": eta / p.prices})
    summary = per_product.groupby("product_ids").mean()
    summary.index.name = "product_ids"
    merger_ids = products["firm_ids"].replace(2, 1).to_numpy()
    cf = post.counterfactual(rc, firm_ids=merger_ids, draws=20 if quick else 200)
    change = cf.table.assign(firm_ids=products["firm_ids"].to_numpy())
    change["price_change"] = change["new_prices"] / change["prices"] - 1
    for b in ("low", "high"):
        change[f"price_change_{b}"] = change[f"new_prices_{b}"] / change["prices"] - 1
    merger = change.groupby("firm_ids")[["price_change", "price_change_low",
                                         "price_change_high"]].mean()
    merger.index.name = "firm_ids"
    notes = [f"RC estimated in {rc.seconds:.1f} s ({rc.optimizer_iterations} BFGS iterations); "
             f"share inversion converged in {int(rc.inversion['converged'].sum())}/"
             f"{len(rc.inversion)} markets",
             f"merger: firm 2 joins firm 1; ζ-markup equilibrium converged: {cf.converged}; "
             f"intervals from {cf.draws} parametric draws (2.5%–97.5%)"]
    files: list[Path] = []
    if out is not None:
        files += write_tables(table, out, "estimates", "Nevo (2000): estimates", notes[:1])
        files += write_tables(summary, out, "elasticities_markups",
                              "Nevo (2000) RC: mean own-price elasticity and markup by product")
        files += write_tables(merger, out, "merger", "Nevo (2000) RC: merger of firms 1 and 2, "
                              "mean relative price change by firm", notes[1:])
    rep = Reproduction("nevo2000", TITLE, table, checks, notes, files)
    rep.table = table
    return rep
