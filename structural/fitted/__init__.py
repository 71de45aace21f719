r"""Fitted cost functions: structural cost models estimated on the curated datasets.

Each module states one cost function as a pure JAX per-observation log-likelihood, prepares its
data from :mod:`data` tables, simulates from known parameters (for recovery tests) and fits with
:func:`estimation.fit`:

``training_cost``
    training cost = FLOPs × $/FLOP at the training date / utilisation, and the annual growth of
    frontier training cost (Cottier et al. 2024).
``inference_price``
    third-party prices of open-weights models against active parameters, context window and date,
    log-linear and in the roofline form; implied markups.
``price_trend``
    the cheapest price at or above a capability threshold over time.
``usage``
    request-level context and output tokens, prefix-cache reuse and reasoning tokens; the implied
    per-request cost distribution.
``serving``
    the prefill and decode utilisations of the serving rooflines, fitted to published serving
    throughput (TensorRT-LLM's benchmark tables).
``task_success``
    the loss-to-success link :math:`\sigma(\kappa(\ell_b - L^*(C)))` with the between-model and
    question-difficulty spreads, on Epoch's benchmark runs.

:data:`REGISTRY` finds them: a module of this package is a fitted model when it declares

``COMMAND``
    a dict of literals (read from the file without importing it, so ``llmecon --help`` starts
    without JAX): ``order`` (its place in listings), ``summary`` (one line), ``section`` (its
    heading in the ``llm_costs`` reproduction) and ``arguments``, a list of
    ``[flag, {argparse keywords}]`` where ``type`` names ``"int"`` or ``"float"`` and ``group``
    puts options in one mutually exclusive group;
``command(args, cli) -> int``
    the body of ``llmecon fit NAME``: ``args`` holds the options above, ``cli`` (a
    :class:`CommandLine`) reads the user's CSVs, prints and writes the tables;
``llm_costs(c, quick) -> None``
    its section of :func:`papers.llm_costs.reproduce`: ``c`` (a :class:`Collector`) takes its
    parameter rows, derived quantities, notes and the numbers the checks compare.

The command line (``llmecon fit NAME``) and the ``llm_costs`` reproduction iterate over the
registry, so a new fitted model is one new module here and nothing else.

Examples
--------
>>> from structural.fitted import REGISTRY
>>> list(REGISTRY)
['training_cost', 'inference_price', 'price_trend', 'usage', 'task_success', 'serving']
>>> REGISTRY["usage"].summary
'tokens per request: lognormal mixtures chosen by AIC/BIC'
>>> REGISTRY["price_trend"].arguments[0]
('--observations', {'help': 'CSV: date or t, price_usd_per_mtok, eci'})
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

__all__ = ["REGISTRY", "Collector", "CommandLine", "FittedModel", "discover"]

#: The keys of a module's ``COMMAND`` declaration.
DECLARATION_KEYS = frozenset({"order", "summary", "section", "arguments"})


class CommandLine(Protocol):
    """What ``llmecon fit NAME`` lends a model's ``command``: the user's files and the terminal.

    ``csv`` reads a CSV given by ``flag`` (None when ``path`` is None: use the bundled data),
    checks ``columns`` and a date are present and adds ``t`` in years since ``origin``;
    ``enough`` stops unless ``min_rows`` complete rows at two or more dates; ``write`` writes
    the fits and extra tables to ``--out`` once every fit has converged (exit status 0).

    Examples
    --------
    >>> from structural.fitted import CommandLine
    >>> sorted(n for n in vars(CommandLine) if not n.startswith("_"))
    ['check_bootstrap_memory', 'csv', 'enough', 'read', 'show', 'show_fit', 'show_table', 'write']
    """

    def read(self, path: str, what: str, flag: str) -> Any: ...

    def csv(self, path: str | None, what: str, origin: str, flag: str,
            columns: tuple[str, ...] = ()) -> Any: ...

    def enough(self, df: Any, source: str, columns: tuple[str, ...], min_rows: int) -> None: ...

    def check_bootstrap_memory(self, replicates: int, rows: int) -> None: ...

    def show(self, text: str) -> None: ...

    def show_fit(self, res: Any) -> None: ...

    def show_table(self, df: Any) -> None: ...

    def write(self, stem: str, fits: list[tuple[str, Any]], extra: dict[str, Any],
              ok: bool = True) -> int: ...


class Collector(Protocol):
    """What a model's ``llm_costs`` section adds to: ``add_fit`` appends a fit's parameter rows
    (estimate, SE, 95% CI, N, fit statistics), ``add_derived`` a table of derived quantities
    (columns estimate, std_err, ci_low, ci_high); ``rows``, ``notes``, ``converged`` and
    ``found`` (numbers the checks compare) are appended to directly.

    Examples
    --------
    >>> from structural.fitted import Collector
    >>> sorted(n for n in vars(Collector) if n.startswith("add_"))
    ['add_derived', 'add_fit']
    """

    rows: list[dict]
    notes: list[str]
    converged: list[bool]
    found: dict[str, Any]

    def add_fit(self, model: str, res: Any, n: int | None = None) -> None: ...

    def add_derived(self, model: str, df: Any, res: Any, n: int | None = None) -> None: ...


@dataclass(frozen=True)
class FittedModel:
    """One fitted cost model, as its module declares it: its name (= module name and
    ``llmecon fit`` subcommand), what it estimates in one line, its heading in ``llm_costs``,
    its command-line options and where its module lives.

    Examples
    --------
    >>> from structural.fitted import REGISTRY
    >>> model = REGISTRY["training_cost"]
    >>> model.module().__name__
    'structural.fitted.training_cost'
    >>> model.section
    'training cost'
    """

    name: str
    summary: str
    section: str
    order: float
    arguments: tuple[tuple[str, dict[str, Any]], ...]
    package: str = "structural.fitted"

    def module(self) -> ModuleType:
        """The model's module, imported on first use (it compiles JAX code)."""
        return importlib.import_module(f"{self.package}.{self.name}")

    def command(self, args: Any, cli: CommandLine) -> int:
        """Run ``llmecon fit NAME`` (the module's ``command``)."""
        return self.module().command(args, cli)

    def llm_costs(self, c: Collector, quick: bool) -> None:
        """Fit the model's section of the ``llm_costs`` reproduction (the module's
        ``llm_costs``)."""
        self.module().llm_costs(c, quick)


def _command_statement(text: str) -> ast.Module | None:
    """The ``COMMAND = {...}`` statement alone, parsed: from its first line to the next line that
    starts a new top-level statement. ``llmecon --help`` reads every fitted model's declaration,
    and parsing only it takes a fraction of the time of parsing the whole module. None where
    it cannot be cut out (the caller then parses the whole module)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines)
                  if ln.startswith("COMMAND") and ln[7:].lstrip()[:1] in ("=", ":")), None)
    if start is None:
        return None
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t)]}#"):
        end += 1
    try:
        return ast.parse("\n".join(lines[start:end]))
    except SyntaxError:
        return None


def _declaration(path: Path) -> dict[str, Any] | None:
    """The module's ``COMMAND`` literal, read without running the module; None when it has
    none (a helper module such as :mod:`structural.fitted.inputs`)."""
    text = path.read_text(encoding="utf-8")
    tree = _command_statement(text) or ast.parse(text, filename=str(path))
    for node in tree.body:
        target = (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
                  else node.target if isinstance(node, ast.AnnAssign) else None)
        if isinstance(target, ast.Name) and target.id == "COMMAND" and node.value is not None:
            try:
                decl = ast.literal_eval(node.value)
            except ValueError:
                raise TypeError(f"{path}: COMMAND must be a dict of literals "
                                 "(it is read without importing the module)") from None
            if not isinstance(decl, dict) or set(decl) != DECLARATION_KEYS:
                raise TypeError(f"{path}: COMMAND must be a dict with exactly the keys "
                                 f"{', '.join(sorted(DECLARATION_KEYS))}")
            return decl
    return None


def discover(paths: Iterable[str] | None = None,
             package: str = "structural.fitted") -> dict[str, FittedModel]:
    """Every module in ``paths`` (default: this package's ``__path__``) that declares
    ``COMMAND``, in the order the declarations give.

    Examples
    --------
    >>> import structural.fitted
    >>> from structural.fitted import discover
    >>> list(discover(structural.fitted.__path__)) == list(structural.fitted.REGISTRY)
    True
    """
    found = []
    for directory in (__path__ if paths is None else paths):
        for path in sorted(Path(directory).glob("*.py")):
            decl = _declaration(path)
            if decl is None:
                continue
            arguments = tuple((str(flag), dict(kw)) for flag, kw in decl["arguments"])
            found.append(FittedModel(path.stem, decl["summary"], decl["section"],
                                     decl["order"], arguments, package))
    return {m.name: m for m in sorted(found, key=lambda m: (m.order, m.name))}


REGISTRY: dict[str, FittedModel] = discover()
