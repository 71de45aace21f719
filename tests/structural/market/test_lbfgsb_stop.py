"""L-BFGS-B's ftol stop in the GMM steps: accepted only where its own model promises no more."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import rosen, rosen_der

from structural.market.estimate import LBFGSB_FTOL, _stopped_early

OPTS = {"ftol": LBFGSB_FTOL, "gtol": 1e-8}


def _shifted_rosenbrock(n: int, ftol: float = LBFGSB_FTOL):
    """Rosenbrock + 497 (BLP 1995's q at its minimum) from x = −1.2, L-BFGS-B unbounded."""
    res = scipy.optimize.minimize(lambda x: (rosen(x) + 497.0, rosen_der(x)), np.full(n, -1.2),
                                  jac=True, method="L-BFGS-B",
                                  options={**OPTS, "ftol": ftol, "maxiter": 10000})
    assert res.success and "REDUCTION OF F" in str(res.message).replace("_", " ")
    return res


def test_a_premature_ftol_stop_is_continued_to_pyblps_stop():
    res = _shifted_rosenbrock(10)
    assert np.abs(res.jac).max() > 1e-4  # success=True with this gradient
    bounds = [(None, None)] * 10
    assert _stopped_early(res, bounds, OPTS)
    on = scipy.optimize.minimize(lambda x: (rosen(x) + 497.0, rosen_der(x)), res.x, jac=True,
                                 method="L-BFGS-B", options={**OPTS, "ftol": 0.0})
    assert on.success and np.abs(on.jac).max() < 1e-5


def test_an_ftol_stop_with_nothing_left_to_gain_is_accepted():
    res = _shifted_rosenbrock(2)
    assert not _stopped_early(res, [(None, None)] * 2, OPTS)


def test_a_callers_own_ftol_is_obeyed():
    res = _shifted_rosenbrock(10, ftol=1e-11)
    assert not _stopped_early(res, [(None, None)] * 10, {**OPTS, "ftol": 1e-11})


def test_a_bound_that_holds_theta_does_not_count_as_progress_left():
    """At θ₁ = 0 against its lower bound the gradient pushes outwards: nothing to gain there."""
    f = lambda x: (float((x[0] + 1) ** 2 + 1e-3 * (x[1] - 2) ** 2) + 497.0,  # noqa: E731
                   np.array([2 * (x[0] + 1), 2e-3 * (x[1] - 2)]))
    res = scipy.optimize.minimize(f, np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                                  bounds=[(0.0, None), (None, None)], options=OPTS)
    assert res.x[0] == 0.0 and res.jac[0] == pytest.approx(2.0)
    res.message = "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH"  # as if ftol had ended it
    assert _stopped_early(res, [(None, None)] * 2, OPTS)  # unbounded, θ₁ would move
    assert not _stopped_early(res, [(0.0, None), (None, None)], OPTS)
