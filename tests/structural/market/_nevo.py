"""Nevo's cereal specification and starting values (Nevo 2000; PyBLP's tutorial), shared by the
market tests and their session fixture (``conftest.py``)."""

from __future__ import annotations

import numpy as np

from structural.market import DemandSpec

NEVO_SIGMA = np.diag([0.3302, 2.4526, 0.0163, 0.2441])
NEVO_PI = np.array([[5.4819, 0, 0.2037, 0], [15.8935, -1.2000, 0, 2.6342],
                    [-0.2506, 0, 0.0511, 0], [1.2650, 0, -0.8091, 0]])
NEVO_SPEC = DemandSpec("0 + prices", random="1 + prices + sugar + mushy",
                       demographics="0 + income + income_squared + age + child",
                       absorb="product_ids")
AT_START = {"method": "1s", "optimizer": "bfgs", "optimizer_options": {"maxiter": 0}}


def pyblp_nevo(pyblp, df, ag):
    """PyBLP's Problem with the specification of ``NEVO_SPEC``."""
    return pyblp.Problem((pyblp.Formulation("0 + prices", absorb="C(product_ids)"),
                          pyblp.Formulation("1 + prices + sugar + mushy")), df,
                         pyblp.Formulation("0 + income + income_squared + age + child"), ag)
