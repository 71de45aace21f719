"""Contracts a maintainer can see beyond the import layering (``test_layering.py``): float64 is
switched on in one place, the removed dead code stays removed, and no comment cites a design
document that is not in the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("data", "estimation", "structural", "papers", "llmecon", "benchmarks")


def _sources() -> list[Path]:
    return [f for p in PACKAGES for f in sorted((ROOT / p).rglob("*.py"))]


def test_float64_is_switched_on_in_one_place():
    where = [str(f.relative_to(ROOT)) for f in _sources()
             if "jax_enable_x64" in f.read_text(encoding="utf-8")]
    assert where == ["estimation/__init__.py"]


@pytest.mark.parametrize("module", ["structural.market.demand", "structural.firm",
                                    "papers.llm_costs"])
def test_every_entry_point_computes_in_float64(module):
    """Modules that used to switch float64 on themselves get it through the engine's package."""
    code = (f"import {module}, jax, jax.numpy as jnp; "
            "assert jax.config.jax_enable_x64 and jnp.ones(1).dtype == jnp.float64")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]


#: Names the trust review listed as dead code; they were removed and must not come back unused.
DEAD = ("success_logit", "digamma_series", "load_and_run", "LAW_PARAMS", "EPOCH_RANGE",
        "VARIABLE_STAGES", "FIRM_QUANTITIES", "LOSSES")


def test_removed_dead_code_stays_removed():
    found = [f"{f.relative_to(ROOT)}: {name}" for f in _sources()
             for name in DEAD if re.search(rf"\b{name}\b", f.read_text(encoding="utf-8"))]
    assert found == []
    from papers import kaplan2020

    assert not hasattr(kaplan2020, "SOURCE")


def test_no_comment_cites_a_design_document_outside_the_repository():
    pattern = re.compile(r"design (notes?|doc(ument)?)\b|DESIGN\.md|of the design\b", re.I)
    found = [f"{f.relative_to(ROOT)}:{i}" for f in _sources()
             for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line)]
    assert found == []


def test_the_fitted_model_registry_drives_the_command_line_and_llm_costs():
    """``llmecon fit`` offers every registered cost model, and the llm_costs reproduction fits
    each of them, in the registry's order."""
    import argparse

    from llmecon.cli import build_parser
    from papers import llm_costs
    from structural.fitted import REGISTRY

    fit = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    fit_models = next(a for a in fit.choices["fit"]._actions
                      if isinstance(a, argparse._SubParsersAction)).choices
    assert set(REGISTRY) <= set(fit_models)
    assert [f.__name__.lstrip("_") for _, f in llm_costs.SECTIONS] == list(REGISTRY)


def test_ci_runs_the_linter_the_import_contracts_and_the_type_checker():
    steps = [line.split("#")[0].strip() for line in
             (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert {"ruff check .", "lint-imports", "mypy"} <= set(steps)


@pytest.mark.skipif(subprocess.run([sys.executable, "-m", "mypy", "--version"],
                                   capture_output=True, check=False).returncode != 0,
                    reason="mypy not installed")
def test_the_engine_type_checks():
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
