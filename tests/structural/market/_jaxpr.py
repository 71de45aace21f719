"""What a traced computation factorises, shared by the market tests that check that no LU or
Cholesky is batched over markets (jaxlib's batched LAPACK kernels can deadlock XLA's worker
pool; see ``structural.market.demand.solve_by_market``)."""

from __future__ import annotations


def lu_operand_shapes(jaxpr) -> list[tuple[int, ...]]:
    """Shapes of every matrix factorised (``lu``, ``cholesky``) in ``jaxpr`` and the jaxprs nested
    in it."""
    shapes = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("lu", "cholesky"):
            shapes.append(tuple(eqn.invars[0].aval.shape))
        for v in eqn.params.values():
            for j in (v if isinstance(v, tuple | list) else (v,)):
                inner = getattr(j, "jaxpr", j)
                if hasattr(inner, "eqns"):
                    shapes += lu_operand_shapes(inner)
    return shapes
