"""The variance decomposition recovers known first-order Sobol indices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from structural.counterfactual import sensitivity


def test_first_order_indices_of_an_additive_model():
    """Y = X1 + 2 X2² + 0·X3 with independent standard normals: Var = 1 + 8 = 9, so
    S1 = 1/9, S2 = 8/9, S3 = 0."""
    rng = np.random.default_rng(0)
    K = 4000
    X = rng.standard_normal((K, 3))
    y = X[:, 0] + 2 * X[:, 1] ** 2
    s = sensitivity.first_order(y, {"x1": X[:, :1], "x2": X[:, 1:2], "x3": X[:, 2:]})
    assert s["x1"] == pytest.approx(1 / 9, abs=0.02)
    assert s["x2"] == pytest.approx(8 / 9, abs=0.02)
    assert s["x3"] == pytest.approx(0.0, abs=0.01)


def test_a_correlated_group_counts_together_and_undefined_draws_are_left_out():
    rng = np.random.default_rng(1)
    K = 3000
    a = rng.standard_normal(K)
    group = np.column_stack([a, a + 0.1 * rng.standard_normal(K)])   # corr ≈ 0.995
    other = rng.standard_normal((K, 1))
    y = group[:, 0] + group[:, 1] + 0.5 * other[:, 0]
    y[:100] = np.nan                                   # e.g. no break-even in the Q grid
    theta = {"g1": np.r_[0.0, group[:, 0]], "g2": np.r_[0.0, group[:, 1]],
             "o": np.r_[0.0, other[:, 0]]}
    table = sensitivity.decomposition({"y": y}, theta, {"G": ("g1", "g2"), "O": ("o",)})
    assert isinstance(table, pd.DataFrame)
    shares = table.set_index("group")["first_order_share"]
    var_g = np.var(group[:, 0] + group[:, 1])
    assert shares["G"] == pytest.approx(var_g / (var_g + 0.25), abs=0.02)
    assert (table["draws_used"] == K - 100).all()


def test_too_few_draws_give_nan_not_a_number():
    s = sensitivity.first_order(np.arange(5.0), {"x": np.arange(5.0)[:, None]})
    assert np.isnan(s["x"])
