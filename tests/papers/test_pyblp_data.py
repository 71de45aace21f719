"""The Nevo and BLP data read from pyblp's data folder without importing pyblp."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from llmecon.errors import MissingExtraError
from papers import blp1995, nevo2000
from papers.reproduction import pyblp_data


@pytest.mark.parametrize(("paper", "products", "agents"), [
    (nevo2000, "NEVO_PRODUCTS_LOCATION", "NEVO_AGENTS_LOCATION"),
    (blp1995, "BLP_PRODUCTS_LOCATION", "BLP_AGENTS_LOCATION")])
def test_the_files_are_the_ones_pyblp_points_to(paper, products, agents):
    pyblp_data_module = pytest.importorskip("pyblp.data")
    got = paper.load()
    pd.testing.assert_frame_equal(got[0], pd.read_csv(getattr(pyblp_data_module, products)))
    pd.testing.assert_frame_equal(got[1], pd.read_csv(getattr(pyblp_data_module, agents)))


def test_loading_does_not_import_pyblp():
    pytest.importorskip("pyblp")
    code = ("import sys; from papers import blp1995, nevo2000; nevo2000.load(); blp1995.load(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyblp', 'sympy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("paper", [nevo2000, blp1995])
def test_without_pyblp_the_error_names_the_extra(paper, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyblp", None)  # what find_spec reads as "not installed"
    with pytest.raises(MissingExtraError, match=r"pip install 'llmecon\[market\]'"):
        paper.load()


def test_a_pyblp_without_the_file_is_the_same_error():
    pytest.importorskip("pyblp")
    with pytest.raises(MissingExtraError, match=r"no nowhere_products\.csv"):
        pyblp_data("nowhere", "the test data")
