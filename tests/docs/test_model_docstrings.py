"""The API reference of ``structural`` and ``papers`` as the documentation shows it: every module
declares its public names in ``__all__``; every public function and class has a numpydoc Examples
section with a ``>>>`` line (a public constant is shown in its module's Examples); those examples
run as doctests and print what they say; and no docstring is one that reStructuredText would
misread (the docs extension ``plain_docstrings`` would otherwise show it verbatim)."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import pytest

EXT = Path(__file__).resolve().parents[2] / "docs" / "_ext" / "plain_docstrings.py"
PACKAGES = ("structural", "papers")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
_EXAMPLES = re.compile(r"^\s*Examples\n\s*-{8,}\n(?:.*\n)*?\s*>>> ", re.MULTILINE)


def _module_names() -> list[str]:
    out = []
    for package in PACKAGES:
        mod = importlib.import_module(package)
        out.append(package)
        for info in pkgutil.walk_packages(mod.__path__, prefix=f"{package}."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                out.append(info.name)
    return sorted(out)


MODULES = _module_names()


def _misread():
    spec = importlib.util.spec_from_file_location("plain_docstrings", EXT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._misread


_STARRED = re.compile(r"^(\s*)(\*\*?)(\w+)", re.MULTILINE)


def _as_numpydoc_passes_it(doc: str) -> str:
    """numpydoc escapes the stars of ``*args``/``**kwargs`` parameter names before reST sees them
    (the docs extension runs after numpydoc)."""
    return _STARRED.sub(lambda m: m.group(1) + "\\*" * len(m.group(2)) + m.group(3), doc)


def _public(mod: ModuleType) -> list[tuple[str, object]]:
    return [(name, getattr(mod, name)) for name in mod.__all__]


def _has_examples(doc: str | None) -> bool:
    return bool(doc) and _EXAMPLES.search(inspect.cleandoc(doc) + "\n") is not None


@pytest.mark.parametrize("name", MODULES)
def test_module_declares_its_public_names(name):
    mod = importlib.import_module(name)
    assert isinstance(getattr(mod, "__all__", None), list), f"{name} has no __all__ list"
    missing = [n for n in mod.__all__ if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ names what the module lacks: {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_has_examples(name):
    mod = importlib.import_module(name)
    lacking = []
    shown = "\n".join(line for line in (mod.__doc__ or "").splitlines()
                      if line.lstrip().startswith((">>>", "...")))
    for public, obj in _public(mod):
        if inspect.isfunction(obj) or inspect.isclass(obj):
            if not obj.__module__.startswith(PACKAGES):
                continue  # re-exported from the engine: checked where it is defined
            if not _has_examples(obj.__doc__):
                lacking.append(public)
        elif not (_has_examples(mod.__doc__) and re.search(rf"\b{public}\b", shown)):
            lacking.append(f"{public} (a constant: shown in the module's Examples)")
    assert not lacking, f"{name}: no Examples section with a >>> line for {lacking}"


@pytest.mark.parametrize("name", MODULES)
def test_docstrings_read_as_restructuredtext(name):
    misread = _misread()
    mod = importlib.import_module(name)
    docs = {name: mod.__doc__}
    for public, obj in _public(mod):
        if not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        docs[f"{name}.{public}"] = obj.__doc__
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_"):
                    docs[f"{name}.{public}.{attr}"] = getattr(member, "__doc__", None) if (
                        inspect.isfunction(member) or isinstance(member, property)) else None
    bad = [key for key, doc in docs.items()
           if doc and misread(_as_numpydoc_passes_it(inspect.cleandoc(doc)))]
    assert not bad, f"reStructuredText misreads the docstrings of {bad}"


@pytest.mark.parametrize("name", MODULES)
def test_examples_run(name):
    mod = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in finder.find(mod, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
