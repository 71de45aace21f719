"""The merger counterfactual's parametric draws: SQUAREM against the simple ζ iteration, same run.

Nevo's random-coefficients estimates (:mod:`papers.nevo2000`), the merger of firms 1 and 2 with
``--draws`` parametric draws (default 200, as the reproduction). The baseline is the ζ-markup
iteration p ← c + ζ(p) that the equilibrium used before (one ζ step per iteration, at most
``post.DRAW_ITERATIONS`` = 1,000 steps per market, no stall test); the solver under test is
SQUAREM with the stall test, as :func:`structural.market.supply.equilibrium_prices` (the point
counterfactual) and :func:`structural.market.supply.queued_equilibria` (the draws) run it.
Each is run twice and the second (compiled) run is timed in CPU seconds; the script prints
both, their ratio, the draws each keeps and the largest difference of the interval columns
(the point counterfactual's program is the baseline's in both runs). The kept-program cache is
off here, so that the baseline's programs are never kept under the solver's name.

    python benchmarks/merger_draws.py [--draws 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ["LLMECON_CACHE_DIR"] = "off"
# Run as a script, this folder comes first on sys.path and its estimation.py would shadow the
# estimation package that papers and structural import.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def _simple_iterate(zeta_map, p0, mask, atol, max_iterations, patience):
    """The baseline: p ← zeta_map(p) until ‖Δp‖∞ < atol (patience unused)."""
    import jax
    import jax.numpy as jnp

    def cond(state):
        return (state[2] >= atol) & (state[1] < max_iterations)

    def body(state):
        p, it, _ = state
        pn = zeta_map(p)
        return pn, it + 1, jnp.max(jnp.abs(jnp.where(mask, pn - p, 0.0)))

    p, it, err = jax.lax.while_loop(cond, body, (p0, 0, jnp.inf))
    return p, it, (err < atol) & jnp.all(jnp.isfinite(p))


def _simple_step(F, state, atol):
    """The baseline as one step of the draws' queue (:func:`structural.market.supply.
    queued_equilibria`): p ← F(p), the residual ‖F(p) − p‖∞ measured at the old p. The queue
    decides whether a lane goes on by SQUAREM's test (``_squarem_running``), which also stops
    at a non-finite iterate: unlike :func:`_simple_iterate` (the old simple iteration, which ran
    on to ``max_iterations``), such a market stops at once, not converged either way."""
    import jax.numpy as jnp

    x, it, _, bound, mark, since = state
    x1 = F(x)
    return x1, it + 1, jnp.max(jnp.abs(x1 - x)), bound, mark, since


def _timed(rc, firm_ids, draws):
    from structural.market import post

    post.counterfactual(rc, firm_ids=firm_ids, draws=draws)  # compiles
    t = time.process_time()
    cf = post.counterfactual(rc, firm_ids=firm_ids, draws=draws)
    return cf, time.process_time() - t


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=200)
    args = ap.parse_args(argv)

    from papers.nevo2000 import PI0, SIGMA0, load, spec
    from structural.market import (
        build_agents,
        build_products,
        estimate_demand,
        post,
        supply,
    )

    products, agents = load()
    p = build_products(products, spec())
    rc = estimate_demand(p, build_agents(p, agents), sigma=SIGMA0, pi=PI0, method="1s",
                         optimizer="bfgs")
    merger = products["firm_ids"].replace(2, 1).to_numpy()

    solver, step, patience = supply._iterate, supply._squarem_step, post.DRAW_PATIENCE
    # the point counterfactual's iteration and the draws' step; its own program name
    supply._iterate, supply._squarem_step, post.DRAW_PATIENCE = _simple_iterate, _simple_step, None
    try:
        base, base_cpu = _timed(rc, merger, args.draws)
    finally:
        supply._iterate, supply._squarem_step, post.DRAW_PATIENCE = solver, step, patience
    rc.problem._programs.clear()  # the point counterfactual's program too
    new, new_cpu = _timed(rc, merger, args.draws)

    cols = ["new_prices", "new_prices_low", "new_prices_high"]
    diff = (new.table[cols] - base.table[cols]).abs().max()
    cs = ["change_in_cs", "change_in_cs_low", "change_in_cs_high"]
    diff_cs = (new.surplus[cs] - base.surplus[cs]).abs().max()
    print(f"Nevo merger, {args.draws} parametric draws (compiled; CPU seconds)")
    print(f"  simple ζ iteration : {base_cpu:7.2f} s, {base.draws} draws kept")
    print(f"  SQUAREM, stall test: {new_cpu:7.2f} s, {new.draws} draws kept")
    print(f"  ratio (simple / SQUAREM): {base_cpu / new_cpu:.1f}x")
    print("  largest difference: " + ", ".join(f"{k} {v:.1e}" for k, v in
                                               {**diff, **diff_cs}.items()))


if __name__ == "__main__":
    main()
