"""Nevo (2000): the reproduction's independent steps run on two threads give what they give one
after another, to the last bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from papers import nevo2000

pytest.importorskip("pyblp")


def test_estimates_on_two_threads_are_the_estimates_one_after_another():
    """The logit and nested logit on a second thread while the RC model is estimated: the same
    estimates, standard errors and objectives as the three estimated one after another."""
    products, agents = nevo2000.load()
    alone = nevo2000._estimate_three(products, agents)
    both = nevo2000._estimate_three(products, agents, background=True)
    for a, b in zip(alone[:3], both[:3], strict=True):
        pd.testing.assert_series_equal(b.params, a.params, check_exact=True)
        pd.testing.assert_series_equal(b.bse, a.bse, check_exact=True)
        assert b.objective == a.objective
        np.testing.assert_array_equal(b.delta, a.delta)
