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

``--inversion`` (no PyBLP run) times one step of the share inversion's contraction on both
problems at the tutorials' starting values, in the same process: shares from δ + μ exponentiated
at every step (:func:`structural.market.demand.mixed_logit_shares`, the step before exp(μ) was
reused) against shares from exp(μ) computed once per θ (what
:func:`structural.market.inversion.solve_delta` iterates), their ratio and largest relative
difference, and the whole inversion from the logit δ.

    python benchmarks/demand.py [--reduced] [--markets 5] [--only nevo|blp] [--inversion]
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
    from papers.nevo2000 import PI0, SIGMA0, spec
    from structural.market import Problem, build_agents, build_products
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
    opts = {"method": "1s", "optimizer": "bfgs"}

    def build():
        p = build_products(df, spec())
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


def inversion(only: str | None) -> None:
    """Per-step CPU time of the contraction's shares, direct vs exp(μ) reused (same process)."""
    import jax
    import numpy as np

    from papers import blp1995, nevo2000
    from structural.market import Problem, build_agents, build_products
    from structural.market.demand import mixed_logit_shares
    from structural.market.inversion import _exp_mu, _shares_exp, solve_delta

    cases = {"nevo": (nevo2000.load, nevo2000.spec, nevo2000.SIGMA0, nevo2000.PI0),
             "blp": (blp1995.load, blp1995.spec, blp1995.SIGMA0, blp1995.PI0)}
    direct = jax.jit(jax.vmap(mixed_logit_shares))
    reused = jax.jit(jax.vmap(_shares_exp))
    exp_mu = jax.jit(jax.vmap(_exp_mu))

    def cpu_per_call(f, *args, n=50):
        jax.block_until_ready(f(*args))
        c = time.process_time()
        for _ in range(n):
            jax.block_until_ready(f(*args))
        return (time.process_time() - c) / n

    for name, (load, spec, sigma, pi) in cases.items():
        if only not in (None, name):
            continue
        df, ag = load()
        p = build_products(df, spec())
        prob = Problem(p, build_agents(p, ag), sigma=sigma, pi=pi)
        mu = prob.mu(jax.device_put(np.asarray(prob.theta0, float)))
        d, w, mask = prob.logit_delta, prob.weights, prob.mask
        e, c = exp_mu(mu, mask)
        t_old = cpu_per_call(direct, d, mu, w, mask)
        t_new = cpu_per_call(reused, d, e, c, w, mask)
        s_old, s_new = np.asarray(direct(d, mu, w, mask)), np.asarray(reused(d, e, c, w, mask))
        m = np.asarray(mask)
        rel = float(np.max(np.abs(s_new - s_old)[m] / s_old[m]))
        t_solve = cpu_per_call(solve_delta, d, prob.log_s, mu, w, mask, n=5)
        T, J, I = mu.shape
        print(f"{name} (T={T}, J≤{J}, I={I}): contraction shares {t_old * 1e3:.3f} ms direct, "
              f"{t_new * 1e3:.3f} ms exp(μ) reused (ratio {t_old / t_new:.1f}x, max rel. diff "
              f"{rel:.1e}); whole inversion from the logit δ {t_solve * 1e3:.1f} ms CPU")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reduced", action="store_true",
                        help="BLP with supply on the first --markets markets only")
    parser.add_argument("--markets", type=int, default=8)
    parser.add_argument("--only", choices=("nevo", "blp"))
    parser.add_argument("--inversion", action="store_true",
                        help="time the share inversion's contraction step only (no PyBLP)")
    args = parser.parse_args()
    if args.inversion:
        inversion(args.only)
        return 0
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
