"""Generate the API reference pages at build time: every name in ``estimation.__all__`` and
``data.__all__``, every module of ``structural`` and ``papers``, and the command line's Python
interface (autosummary writes one page per name from its docstring; a ``structural`` or ``papers``
module's page documents the names of its ``__all__``, which tests/docs/test_model_docstrings.py
requires of every module there)."""

from __future__ import annotations

import pkgutil
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "generated" / "api"

INTRO = {
    "estimation": "The generic JAX estimation engine: MLE and M-estimation, IV and GMM, "
                  "formulas, the covariance menu, bootstrap, the delta method and tests.",
    "data": "Curated datasets: loaders, datasheets and validation against a schema.",
    "structural": "The economic model: stages, cost and production functions, published "
                  "constants, the firm's problem, fitted cost models and counterfactuals.",
    "papers": "Reproduced papers: published numbers and the code that regenerates them.",
    "llmecon": "The command line called from Python (``main`` takes the arguments of "
               "``llmecon ...``) and the error classes every package raises.",
}

# The command line's modules a user calls from Python; llmecon.commands is its internals.
LLMECON_MODULES = ["llmecon.cli", "llmecon.errors"]


def _names(package: str) -> list[str]:
    mod = __import__(package)
    return sorted(mod.__all__)


def _modules(package: str) -> list[str]:
    mod = __import__(package)
    out = []
    for info in pkgutil.walk_packages(mod.__path__, prefix=f"{package}."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        out.append(info.name)
    return sorted(out)


def _generate(app, config=None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for pkg in ("estimation", "data"):
        title = f"``{pkg}``"
        body = [title, "=" * len(title), "", f".. currentmodule:: {pkg}", "", INTRO[pkg], "",
                ".. autosummary::", "   :toctree: .", ""]
        body += [f"   {name}" for name in _names(pkg)]
        (OUT / f"{pkg}.rst").write_text("\n".join(body) + "\n")
    for pkg in ("structural", "papers"):
        title = f"``{pkg}``"
        body = [title, "=" * len(title), "", INTRO[pkg], "", ".. autosummary::",
                "   :toctree: .", ""]
        body += [f"   {name}" for name in _modules(pkg)]
        (OUT / f"{pkg}.rst").write_text("\n".join(body) + "\n")
    title = "``llmecon``"
    body = [title, "=" * len(title), "", INTRO["llmecon"], "", ".. autosummary::",
            "   :toctree: .", ""]
    body += [f"   {name}" for name in LLMECON_MODULES]
    (OUT / "llmecon.rst").write_text("\n".join(body) + "\n")
    index = ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 1", "",
             "   estimation", "   structural", "   data", "   papers", "   llmecon", ""]
    (OUT / "index.rst").write_text("\n".join(index))


def setup(app):
    app.connect("config-inited", _generate)
    return {"version": "1", "parallel_read_safe": True}
