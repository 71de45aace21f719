"""Reproduction: BLP (1995) automobiles with supply, against the PyBLP tutorial and its own run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from papers import blp1995
from papers.reproduction import Reproduction


def _at(reference):
    """Params, SEs, objective and post summary as if llmecon had returned ``reference``."""
    names = [k for k in reference if k != "objective" and not k.startswith(("mean", "merger"))]
    params = pd.Series({k: reference[k][0] for k in names})
    bse = pd.Series({k: reference[k][1] for k in names})
    post = {k: v[0] for k, v in reference.items() if k.startswith(("mean", "merger"))}
    return params, bse, reference["objective"][0], post


def test_rounding_is_half_a_unit_in_the_second_digit():
    assert blp1995.rounding(5.0e2) == pytest.approx(5.0)
    assert blp1995.rounding(-45.0) == pytest.approx(0.5)
    assert blp1995.rounding(0.027) == pytest.approx(5e-4)
    assert blp1995.rounding(0.0031) == pytest.approx(5e-5)


def test_pyblp_run_agrees_with_the_tutorial_printout():
    """The recorded PyBLP 1.3.0 values round to what the tutorial prints: every check passes."""
    checks = blp1995.checks(*_at(blp1995.PYBLP))
    assert len(checks) == 24 + 39
    assert all(c.passed for c in checks), [c for c in checks if not c.passed]


@pytest.mark.parametrize("name", ["pi[prices,I(1 / income)]", "gamma[trend]", "mean Lerner index"])
def test_a_miss_of_two_per_mille_fails_the_reproduction(name):
    ref = dict(blp1995.PYBLP)
    est, se = ref[name]
    ref[name] = (est * (1 + 2e-3), se)
    checks = blp1995.checks(*_at(ref))
    failed = [c for c in checks if not c.passed]
    assert [(c.quantity, c.source) for c in failed] == [(name, blp1995.RUN)]
    assert not Reproduction("blp1995", "", pd.DataFrame(), checks).passed


def test_merger_relabels_only_the_merging_firm():
    ids = np.array([18, 19, 3, 18])
    assert blp1995.merger_ids(ids).tolist() == [19, 19, 3, 19]


@pytest.mark.slow
def test_reproduction_matches_pyblp_run_beside(tmp_path):
    """PyBLP solves the same problem from the same starts (minutes): the recorded values are
    its values, and llmecon's reproduction is within 1e-3 of them and of the tutorial."""
    pytest.importorskip("pyblp")
    fresh = blp1995.pyblp_reference()
    for k, (est, se) in blp1995.PYBLP.items():
        assert fresh[k][0] == pytest.approx(est, rel=1e-6), k
        if se is not None:
            assert fresh[k][1] == pytest.approx(se, rel=1e-6), k
    rep = blp1995.reproduce(out=tmp_path, quick=True, progress=False)
    assert rep.passed, rep.render()
    assert {p.suffix for p in rep.files} == {".csv", ".md", ".tex"}
