"""The demand estimator's compiled programs (GMM objective with its gradient, the residual
Jacobian of the standard errors) and post-estimation's (price derivatives, markups, a
counterfactual and its parametric draws) are kept between runs: a second process with the same
problem reads them back, compiles nothing and gives the same numbers to the last bit; the key
does not depend on where the process put its objects; OpenBLAS runs on one thread unless the
user says otherwise (its spinning threads made the small solves of the objective 70 times dearer
on a busy two-core machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from estimation.compilation import fingerprint

HERE = Path(__file__).parent

FIT = f"""
import json, sys, warnings
sys.path.insert(0, {str(HERE)!r})
from test_market import simulate
from structural.market import DemandSpec, build_agents, build_products, estimate_demand, post
from estimation.compilation import compile_stats, traced_programs
df, ag = simulate(T=20, J=5, I=50)
df["market_ids"] = "m" + df["market_ids"].astype(str)  # object ids: keyed by their items
ag["market_ids"] = "m" + ag["market_ids"].astype(str)
p = build_products(df, DemandSpec("1 + prices + x", random="0 + prices"))
a = build_agents(p, ag.drop(columns="nodes0").rename(columns={{"nodes1": "nodes0"}}))
r = estimate_demand(p, a, sigma=[[0.5]], method="1s")
cf = post.counterfactual(r, cost_shock=0.1, draws=4)
after = [float(post.elasticities(r).sum()), float(post.markups(r).sum()), cf.draws,
         cf.table[["new_prices", "new_prices_low", "new_prices_high"]].to_numpy().sum()]
s = compile_stats()
print(json.dumps({{"params": r.params.tolist(), "bse": r.bse.tolist(), "q": r.objective,
                  "post": after,
                  "traced": traced_programs(), "compiled": s.compiled}}))
"""


def _run(env) -> dict:
    out = subprocess.run([sys.executable, "-c", FIT], env=env, capture_output=True, text=True,
                         timeout=900, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_reads_the_demand_programs_back_with_the_same_numbers(tmp_path):
    env = {**os.environ, "LLMECON_CACHE_DIR": str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}
    first, second = _run(env), _run(env)
    # the objective (value and gradient), the residual Jacobian of the SEs, and post-estimation's
    # price derivatives, markups, counterfactual and draws
    assert first["traced"]["written"] >= 6 and first["traced"]["loaded"] == 0
    assert second["traced"] == {"loaded": first["traced"]["written"], "written": 0, "unkept": 0}
    assert second["compiled"] == 0
    assert first["post"][2] > 0
    for key in ("params", "bse", "q", "post"):
        assert second[key] == first[key]


def test_object_arrays_are_keyed_by_their_items_not_their_addresses():
    a = np.array(["".join(["mar", "ket"]), "b"], dtype=object)
    b = np.array(["".join(["m", "arket"]), "b"], dtype=object)
    assert a[0] is not b[0]
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(np.array(["market", "c"], dtype=object))


def test_openblas_runs_on_one_thread_unless_the_user_sets_it():
    code = "import os, estimation; print(os.environ['OPENBLAS_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert run.stdout.strip() == "1"
    run = subprocess.run([sys.executable, "-c", code], env={**env, "OPENBLAS_NUM_THREADS": "2"},
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "2"
