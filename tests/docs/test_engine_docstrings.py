"""Docstrings of the engine (``estimation``), the datasets (``data``) and the command line
(``llmecon``): every public name shows how to call it in an Examples section that runs as a
doctest (``python -m pytest --doctest-modules --import-mode=prepend estimation data llmecon``,
run by ``.ci/run``), and every docstring renders as reStructuredText rather than being misread
(``docs/_ext/plain_docstrings.py`` would show such a docstring verbatim)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from numpydoc.docscrape import NumpyDocString
from numpydoc.docscrape_sphinx import get_doc_object

import data
import estimation
import llmecon.cli
import llmecon.errors

EXT = Path(__file__).resolve().parents[2] / "docs" / "_ext" / "plain_docstrings.py"
PACKAGES = ("estimation", "data", "llmecon")

# The public Python API of the command-line package: what a user calls or catches.
LLMECON_PUBLIC = {
    "llmecon.cli": llmecon.cli.__all__,
    "llmecon.errors": ["InputError", "UsageError", "ComputationError"],
}


def _public_names() -> list[tuple[str, str]]:
    names = [(pkg.__name__, name) for pkg in (estimation, data) for name in pkg.__all__]
    names += [(module, name) for module, listed in LLMECON_PUBLIC.items() for name in listed]
    return names


def _doctests_of(module: ModuleType) -> dict[str, doctest.DocTest]:
    """The doctests ``--doctest-modules`` collects from ``module``, by name."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    return {t.name: t for t in finder.find(module, module.__name__) if t.examples}


@pytest.mark.parametrize(("where", "name"), _public_names(),
                         ids=[f"{m}.{n}" for m, n in _public_names()])
def test_public_name_has_a_runnable_example(where: str, name: str) -> None:
    obj = getattr(importlib.import_module(where), name)
    if not (inspect.isclass(obj) or callable(obj)):
        # A constant carries no docstring of its own: its package's docstring shows it.
        package = importlib.import_module(where)
        lines = [ln for ln in inspect.getdoc(package).splitlines() if ln.lstrip().startswith(">>>")]
        assert any(name in ln for ln in lines), f"{where}'s docstring has no example of {name}"
        return
    doc = inspect.getdoc(obj) or ""
    examples = NumpyDocString(doc)["Examples"]
    assert any(ln.lstrip().startswith(">>> ") for ln in examples), (
        f"{where}.{name}: no Examples section with a >>> line")
    # ... and it is where the doctest run finds it: in the docstring of the defining module.
    home = importlib.import_module(obj.__module__)
    assert getattr(home, obj.__name__) is obj
    found = _doctests_of(home)
    assert f"{home.__name__}.{obj.__qualname__}" in found, (
        f"{where}.{name}: doctest does not collect its examples from {home.__name__}")


# --- no docstring is misread as reStructuredText ---------------------------------------------

def _plain_docstrings() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plain_docstrings", EXT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _modules(package: str) -> Iterator[ModuleType]:
    root = importlib.import_module(package)
    yield root
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if info.name.endswith("__main__"):  # running it is running the command line
            continue
        yield importlib.import_module(info.name)


def _documented(package: str) -> Iterator[tuple[str, str, Any]]:
    """(name, what, object) for every docstring autodoc could render: modules, classes, their
    methods and properties, functions (public and private)."""
    for module in _modules(package):
        yield module.__name__, "module", module
        for attr, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue  # imported: checked where it is defined
            qual = f"{module.__name__}.{attr}"
            if inspect.isclass(obj):
                yield qual, "class", obj
                for member, value in vars(obj).items():
                    if isinstance(value, property):
                        yield f"{qual}.{member}", "attribute", value.fget
                    elif inspect.isfunction(getattr(value, "__func__", value)):
                        yield f"{qual}.{member}", "method", getattr(value, "__func__", value)
            elif inspect.isfunction(obj):
                yield qual, "function", obj


def _rendered(obj: Any, what: str) -> str:
    """The docstring as numpydoc hands it on to reStructuredText in the Sphinx build."""
    doc = inspect.getdoc(obj) if what != "module" else inspect.cleandoc(obj.__doc__ or "")
    config = {"show_class_members": False, "class_members_toctree": False}
    return str(get_doc_object(obj, what, doc, config=config))


def _misread_docstrings(packages: tuple[str, ...]) -> list[str]:
    misread = _plain_docstrings()._misread
    bad = []
    for package in packages:
        for name, what, obj in _documented(package):
            if (obj.__doc__ or "").strip() and misread(_rendered(obj, what)):
                bad.append(name)
    return bad


def test_the_detector_detects() -> None:
    # The check below is only as good as the detector: plain-text maths must trip it.
    misread = _plain_docstrings()._misread
    assert misread("Huber's loss: ρ(r) = r²/2 for |r| ≤ δ, δ(|r| − δ/2) otherwise.")
    assert misread("The square x **2 of x.")
    assert not misread(r"Huber's loss :math:`\rho(r) = r^2/2` for :math:`|r| \le \delta`.")


def test_no_docstring_is_misread() -> None:
    bad = _misread_docstrings(PACKAGES)
    assert not bad, f"docstrings that reStructuredText misreads (write the maths in :math:): {bad}"
