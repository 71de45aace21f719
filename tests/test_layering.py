"""The layering a maintainer can see: the engine's own tests exercise it without the structural
model, and the packages' imports run one way (the import contracts of pyproject.toml, checked by
``lint-imports`` in CI, are re-checked here so a plain ``pytest`` run catches a violation too)."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("data", "estimation", "structural", "papers", "llmecon")


def _imports(path: Path) -> set[str]:
    """Top-level project modules imported anywhere in ``path`` (dotted, e.g. llmecon.errors)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return {m for m in out if m.split(".")[0] in OURS}


def _violations(package: str, allowed: tuple[str, ...], base: Path = ROOT) -> list[str]:
    bad = []
    for f in sorted((base / package).rglob("*.py")):
        for m in _imports(f):
            if not any(m == a or m.startswith(a + ".") for a in allowed):
                bad.append(f"{f.relative_to(ROOT)} imports {m}")
    return bad


@pytest.mark.parametrize("package, allowed", [
    ("estimation", ("estimation", "llmecon.errors")),
    ("data", ("data", "llmecon.errors")),
    ("structural", ("structural", "estimation", "data", "llmecon.errors")),
    ("papers", ("papers", "structural", "estimation", "data", "llmecon.errors")),
])
def test_packages_import_only_what_lies_below_them(package, allowed):
    assert _violations(package, allowed) == []


def test_the_error_base_imports_nothing_of_ours():
    assert _imports(ROOT / "llmecon" / "errors.py") == set()
    assert _imports(ROOT / "llmecon" / "__init__.py") == set()


def test_the_engines_tests_do_not_import_the_structural_model():
    assert _violations("estimation", ("estimation", "llmecon.errors"), ROOT / "tests") == []


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_import_linter_contracts_are_kept():
    run = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:]
