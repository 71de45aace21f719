"""Reproduced papers: one module per paper, each with its published numbers, their source
(section, table), a tolerance and why, and a ``reproduce(...)`` function that regenerates the table
with :mod:`structural`, :mod:`estimation` and :mod:`data`.

Every module here that defines ``reproduce`` is a reproduction target of ``llmecon reproduce NAME``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from llmecon.errors import InputError

__all__ = ["available", "get", "run_name"]

_NOT_PAPERS = {"reproduction"}


def available() -> list[str]:
    """Names of every paper module that can be reproduced, sorted.

    Examples
    --------
    >>> import papers
    >>> papers.available()
    ['besiroglu2024', 'blp1995', 'cottier2024', 'demirer2025', 'hoffmann2022', 'kaplan2020',
    'llm_costs', 'muennighoff2023', 'nevo2000', 'sardana2023', 'snell2024']
    """
    names = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _NOT_PAPERS:
            continue
        names.append(info.name)
    return sorted(names)


def get(name: str) -> ModuleType:
    """Import the paper module ``name``; raise :class:`~llmecon.errors.InputError` naming the
    known papers otherwise.

    Examples
    --------
    >>> import papers
    >>> papers.get("kaplan2020").TITLE
    'Table 1: parameters and forward FLOPs per token by operation'
    >>> papers.get("smith1776")
    Traceback (most recent call last):
    ...
    llmecon.errors.InputError: unknown paper 'smith1776'; known: besiroglu2024, blp1995, ...
    """
    if name not in available():
        raise InputError(f"unknown paper {name!r}; known: {', '.join(available())}")
    return importlib.import_module(f"papers.{name}")


def run_name(name: str, quick: bool) -> str:
    """The name under which ``reproduce`` of paper ``name`` keeps the list of compiled programs
    it used (:func:`estimation.compilation.prefetch_programs`), so that the next such run reads
    them back ahead: the paper's ``reproduce`` and the command line, which names the run before
    importing the library so that the reading starts with the import, use this one spelling.

    Examples
    --------
    >>> import papers
    >>> papers.run_name("blp1995", quick=False)
    'reproduce blp1995|quick=False'
    """
    return f"reproduce {name}|quick={quick}"
