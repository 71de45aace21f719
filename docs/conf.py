"""Sphinx configuration of the llmecon documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html``.
Nothing here reads the network: no intersphinx, notebooks executed locally on every build.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

project = "llmecon"
author = "llmecon developers"
copyright = "llmecon developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
    "reproductions_page",
    "datasets_page",
    "api_pages",
    "plain_docstrings",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_ext", "Thumbs.db", ".DS_Store"]

templates_path = ["_templates"]
html_theme = "pydata_sphinx_theme"
html_title = "llmecon"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

# MyST: dollar maths and definition lists in pages and notebooks.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Every notebook is executed on every build (nothing cached, nothing committed), each cell bounded.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True

# API reference: one page per public name, from the packages' __all__.
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"       # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()

# Datasheets are written as standalone documents (their headings start at H1 inside a page).
suppress_warnings = ["myst.header"]
