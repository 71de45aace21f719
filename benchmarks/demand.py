"""llmecon vs PyBLP on the same demand problems, in the same run.

Nevo's random-coefficients problem (one-step GMM, BFGS, PyBLP's tutorial starting values) and
BLP (1995) automobiles with supply (two-step clustered GMM, log costs, L-BFGS-B). Each is solved
by PyBLP and by llmecon; the script prints both objectives (they must agree to 1e-6 relative),
llmecon's time end to end (including JAX compilation) and after compilation (a second solve
reusing the compiled objective), the ratios against PyBLP's time, and both solvers' objective
evaluations summed over the GMM steps.

The full BLP problem (PyBLP's tutorial specification, :mod:`papers.blp1995`) takes PyBLP a few
minutes on two free cores; ``--reduced`` solves it on the first ``--markets`` markets (default 8,
the fewest with full-rank supply instruments) instead, and says so. ``--only nevo|blp`` runs one
problem.

    python benchmarks/demand.py [--reduced] [--markets 5] [--only nevo|blp]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

# Run as a script, this folder comes first on sys.path and its estimation.py would shadow the
# estimation package that papers and structural import.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def nevo(pyblp):
    from papers.nevo2000 import PI0, SIGMA0
    from structural.market import DemandSpec, Problem, build_agents, build_products
    from structural.market import estimate_demand as est

    df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    ag = pd.read_csv(pyblp.data.NEVO_AGENTS_LOCATION)
    t = time.perf_counter()
    prob = pyblp.Problem((pyblp.Formulation("0 + prices", absorb="C(product_ids)"),
                          pyblp.Formulation("1 + prices + sugar + mushy")), df,
                         pyblp.Formulation("0 + income + income_squared + age + child"), ag)
    ref = prob.solve(SIGMA0, PI0, optimization=pyblp.Optimization("bfgs", {"gtol": 1e-5}),
                     method="1s")
    t_ref = time.perf_counter() - t
    spec = DemandSpec("0 + prices", random="1 + prices + sugar + mushy",
                      demographics="0 + income + income_squared + age + child",
                      absorb="product_ids")
    opts = {"method": "1s", "optimizer": "bfgs"}

    def build():
        p = build_products(df, spec)
        a = build_agents(p, ag)
        return p, a, Problem(p, a, sigma=SIGMA0, pi=PI0)

    return _compare("Nevo RC (demographics)", ref, t_ref, build, est, opts)


def blp(pyblp, reduced: bool, markets: int):
    from papers import blp1995
    from structural.market import Problem, build_agents, build_products
    from structural.market import estimate_demand as est

    df, ag = blp1995.load()
    if reduced:
        keep = sorted(df.market_ids.unique())[:markets]
        df = df[df.market_ids.isin(keep)].reset_index(drop=True)
        ag = ag[ag.market_ids.isin(keep)].reset_index(drop=True)
    t = time.perf_counter()
    prob = pyblp.Problem((pyblp.Formulation(blp1995.LINEAR), pyblp.Formulation(blp1995.RANDOM),
                          pyblp.Formulation(blp1995.COST)), df,
                         pyblp.Formulation(blp1995.DEMOGRAPHICS), ag, costs_type="log")
    ref = prob.solve(blp1995.SIGMA0, blp1995.PI0, **blp1995.OPTIONS)
    t_ref = time.perf_counter() - t

    def build():
        p = build_products(df, blp1995.spec())
        a = build_agents(p, ag)
        return p, a, Problem(p, a, sigma=blp1995.SIGMA0, pi=blp1995.PI0,
                             costs_bounds=blp1995.OPTIONS["costs_bounds"])

    name = "BLP with supply" + (f" (reduced: first {markets} markets)" if reduced else "")
    return _compare(name, ref, t_ref, build, est, blp1995.OPTIONS)


def _compare(name, ref, t_ref, build, est, opts):
    q_ref = float(ref.objective)
    t = time.perf_counter()
    p, a, problem = build()
    r1 = est(p, a, problem=problem, **opts)
    t_first = time.perf_counter() - t
    t = time.perf_counter()
    r2 = est(p, a, problem=problem, **opts)
    t_warm = time.perf_counter() - t
    rel = abs(r2.objective - q_ref) / abs(q_ref)
    print(f"{name}")
    print(f"  objective  PyBLP {q_ref:.10g}  llmecon {r2.objective:.10g}  rel. diff {rel:.2e} "
          f"({'ok' if rel <= 1e-6 else 'DIFFERS'} at 1e-6)")
    print(f"  objective evaluations, all GMM steps: PyBLP {ref.cumulative_objective_evaluations} "
          f"| llmecon {r2.evaluations}")
    print(f"  PyBLP {t_ref:.2f} s | llmecon end to end {t_first:.2f} s "
          f"(ratio {t_ref / t_first:.1f}x) | after compilation {t_warm:.2f} s "
          f"(ratio {t_ref / t_warm:.1f}x)")
    del r1
    return rel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true",
                        help="BLP with supply on the first --markets markets only")
    parser.add_argument("--markets", type=int, default=8)
    parser.add_argument("--only", choices=("nevo", "blp"))
    args = parser.parse_args()
    import pyblp

    pyblp.options.verbose = False
    rels = []
    if args.only in (None, "nevo"):
        rels.append(nevo(pyblp))
    if args.only in (None, "blp"):
        rels.append(blp(pyblp, args.reduced, args.markets))
    return 0 if all(r <= 1e-6 for r in rels) else 1


if __name__ == "__main__":
    raise SystemExit(main())
