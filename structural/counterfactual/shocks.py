"""Shocks: how a change in the environment moves the optimal pipeline and the winner.

* Compute price × f (all $/FLOP): pass-through to the cost per query, and the change in the optimal
  N*, D* (with data free, a uniform compute-price change rescales training and inference alike, so
  N*, D* move only through the data price and the prices that do not scale).
* Data price → p′ (or × f): effect on N*, D* (dearer unique tokens push toward more parameters and
  fewer tokens) and on which hypothesis is cheapest.
* Model life × f: Q → f·Q, the break-even logic itself (more queries favour paying fixed cost).

All shocked problems are solved in the same batch as the base case, for every draw. Pass-through
is reported as the arc elasticity log(v′/v) / log(f) of the cost per query.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from structural.counterfactual.engine import solve_flat, with_target

# The public API is the package's: run() tabulates the shocks.
__all__: list[str] = []


def shock_table(sc, theta: dict[str, np.ndarray], with_draws: bool) -> pd.DataFrame:
    """One row per (shock, hypothesis, quantity): base value, shocked value, change, and the
    draws' 95% interval of the relative change. Uses price point 0 and the reference Q."""
    if not sc.shocks:
        return pd.DataFrame()
    variants = _variants(sc)
    Qref = sc.reference_queries
    sol = _solve_variants(sc, theta, variants)
    names = [h.name for h in sc.hypotheses]

    def at(h: str, field: str, vi: int) -> np.ndarray:
        return sol[h][field][:, vi]

    def per_query(h: str, vi: int) -> np.ndarray:
        q = Qref * variants[vi][2]
        return at(h, "total", vi) / q if q > 0 else at(h, "variable", vi)

    def winner(vi: int) -> np.ndarray:
        tot = np.stack([at(h, "total", vi) for h in names])
        return np.array(names, dtype=object)[np.argmin(tot, axis=0)]

    rows = []
    for vi, (label, _, _) in enumerate(variants[1:], start=1):
        shock = sc.shocks[vi - 1]
        w0, w1 = winner(0), winner(vi)
        rows.append({"shock": label, "hypothesis": "(all)", "quantity": "cheapest hypothesis",
                     "base": w0[0], "shocked": w1[0], "change": "",
                     "draws_switching": float(np.mean(w0[1:] != w1[1:])) if with_draws else ""})
        for h in names:
            qty = [("cost per query", per_query(h, 0), per_query(h, vi))]
            free = next(x.free for x in sc.hypotheses if x.name == h)
            for lv in free:
                key = f"lever_{lv}"
                if key in sol[h]:
                    qty.append((f"{lv}*", at(h, key, 0), at(h, key, vi)))
            for name, b, s in qty:
                with np.errstate(divide="ignore", invalid="ignore"):
                    rel = s / b - 1.0
                row = {"shock": label, "hypothesis": h, "quantity": name, "base": float(b[0]),
                       "shocked": float(s[0]), "change": float(rel[0])}
                if shock.factor is not None and shock.factor != 1.0:
                    # arc elasticity: log change of the quantity per log change of the shock
                    with np.errstate(divide="ignore", invalid="ignore"):
                        row["elasticity"] = float(np.log(s[0] / b[0]) / np.log(shock.factor))
                if with_draws:
                    r = rel[1:][np.isfinite(rel[1:])]
                    row["change_lo"] = float(np.percentile(r, 2.5)) if len(r) else np.inf
                    row["change_hi"] = float(np.percentile(r, 97.5)) if len(r) else np.inf
                rows.append(row)
    df = pd.DataFrame(rows)
    return df.astype(object).where(df.notna(), "")


def _variants(sc) -> list[tuple[str, dict[str, np.ndarray], float]]:
    """The base case and each shock as (label, prices at price point 0, factor on Q)."""
    base_pr = {k: np.asarray(v[:1], float) for k, v in sc.prices.items()}
    variants = [("base", dict(base_pr), 1.0)]
    for s in sc.shocks:
        pr = {k: v.copy() for k, v in base_pr.items()}
        qf = 1.0
        if s.kind == "compute_price":
            for k in sc.technology.compute_price_fields:
                pr[k] = pr[k] * s.factor
        elif s.kind == "data_price":
            for k in sc.technology.data_price_fields:
                pr[k] = pr[k] * s.factor if s.factor is not None else np.full(1, s.to)
        else:
            qf = s.factor
        variants.append((s.label(), pr, qf))
    return variants


def _solve_variants(sc, theta: dict[str, np.ndarray],
                    variants: list[tuple[str, dict[str, np.ndarray], float]]
                    ) -> dict[str, dict[str, np.ndarray]]:
    """Every hypothesis solved at the (draw, variant) points the table reads: variant v's prices
    at Q = reference Q × its factor, arrays of shape (K draws, V variants) per output field.

    Only these K·V points are solved, not the variants × distinct-Q grid of which the table
    reads the diagonal (half of it wasted with a ``model_life`` shock). Each point is the
    engine's point solve (:func:`~.engine.solve_flat`, as :func:`~.engine.solve_grid` solves a
    grid of fewer than :data:`~.engine.PATH_MIN_Q` Q), and a point's result does not depend on
    the other points of its batch, so the values are those of the full grid's points."""
    tech = sc.technology
    th = with_target(tech, theta)
    K, V = len(next(iter(th.values()))), len(variants)
    flat_th = {k: np.broadcast_to(np.asarray(v, np.float64)[:, None], (K, V)).ravel()
               for k, v in th.items()}
    flat_pr = {k: np.broadcast_to(np.concatenate([v[1][k] for v in variants])[None, :],
                                  (K, V)).ravel() for k in variants[0][1]}
    q = np.broadcast_to(np.array([sc.reference_queries * v[2] for v in variants],
                                 np.float64)[None, :], (K, V)).ravel()
    return {h.name: {f: a.reshape(K, V) for f, a in
                     solve_flat(tech, h, flat_th, flat_pr, q).items()}
            for h in sc.hypotheses}
