"""Every benchmark starts as the user runs it, ``python benchmarks/NAME.py``: Python then puts
``benchmarks/`` first on the import path, where ``benchmarks/estimation.py`` would shadow the
``estimation`` package for any script that does not drop that folder first (``--help`` runs each
script's imports, then prints its usage)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py"))


def test_the_benchmarks_are_found():
    assert {"chinchilla.py", "estimation.py", "latency.py", "counterfactual.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_benchmark_runs_as_a_script(script, tmp_path):
    env = {**os.environ, "LLMECON_CACHE_DIR": "off"}
    out = subprocess.run([sys.executable, str(BENCHMARKS / script), "--help"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{script}: {out.stderr[-2000:]}"
    assert "usage:" in out.stdout
