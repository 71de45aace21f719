"""A reproduced table: each row a quantity, the reproduced value, the published value with its
source, the tolerance and whether it holds. Renders as text, Markdown, LaTeX and CSV."""

from __future__ import annotations

import functools
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from estimation.tables import MAX_WIDTH as CONSOLE_WIDTH

__all__ = ["Check", "Reproduction", "pipeline_flops", "pyblp_data", "write_tables"]


@dataclass(frozen=True)
class Check:
    r"""One published number against its reproduction.

    ``kind`` is ``"abs"`` (:math:`|x - p| \le \mathrm{tol}`) or ``"rel"``
    (:math:`|x - p| \le \mathrm{tol} \cdot |p|`), x reproduced and p published.

    Examples
    --------
    >>> from papers.reproduction import Check
    >>> c = Check("alpha", reproduced=0.3481, published=0.3478, tol=0.002, source="Table 1")
    >>> c.passed, c.tolerance_text
    (True, '±0.002')
    >>> Check("A", 530.0, 482.01, 0.05, "rel").passed
    False
    """

    quantity: str
    reproduced: float
    published: float
    tol: float
    kind: str = "abs"
    source: str = ""

    @property
    def passed(self) -> bool:
        if not (math.isfinite(self.reproduced) and math.isfinite(self.published)):
            return False
        bound = self.tol if self.kind == "abs" else self.tol * abs(self.published)
        return abs(self.reproduced - self.published) <= bound

    @property
    def tolerance_text(self) -> str:
        return f"±{self.tol:g}" if self.kind == "abs" else f"±{100 * self.tol:g}%"


@dataclass
class Reproduction:
    """What ``papers.NAME.reproduce`` returns.

    ``table`` is the regenerated table (a DataFrame in the paper's layout); ``checks`` pairs each
    published number with its reproduction; ``notes`` says what the table uses and what differs.

    Examples
    --------
    >>> import pandas as pd
    >>> from papers.reproduction import Check, Reproduction
    >>> rep = Reproduction("toy", "A toy table", pd.DataFrame({"x": [1.0]}),
    ...                    [Check("x", 1.0, 1.0004, 1e-3)])
    >>> rep.passed
    True
    >>> print(rep.render())
    toy: A toy table
    <BLANKLINE>
         x
    0  1.0
    <BLANKLINE>
    reproduced vs published
    yes  x: 1 vs 1.0004 (±0.001)
    result: PASS (1/1 within tolerance)
    """

    paper: str
    title: str
    table: pd.DataFrame
    checks: list[Check]
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    #: The table as shown on the console when ``table`` is too wide for a terminal (the files
    #: keep every column); None shows ``table`` itself.
    console: str | None = None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def checks_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "quantity": [c.quantity for c in self.checks],
                "reproduced": [c.reproduced for c in self.checks],
                "published": [c.published for c in self.checks],
                "tolerance": [c.tolerance_text for c in self.checks],
                "source": [c.source for c in self.checks],
                "ok": ["yes" if c.passed else "NO" for c in self.checks],
            }
        )

    def render(self) -> str:
        """Plain-text report in :data:`CONSOLE_WIDTH` columns (the files keep every column): the
        table (split into blocks of columns that repeat its index where wider), then each
        published number beside its reproduction, one check a line with its source below."""
        table = (self.table.to_string(line_width=CONSOLE_WIDTH) if self.console is None
                 else self.console)
        lines = [textwrap.fill(f"{self.paper}: {self.title}", CONSOLE_WIDTH), "", table, ""]
        lines.append("reproduced vs published")
        for _, c in self.checks_frame().iterrows():
            lines += textwrap.wrap(f"{c['ok']:>3}  {c['quantity']}: {_fmt(c['reproduced'])} "
                                   f"vs {_fmt(c['published'])} ({c['tolerance']})",
                                   CONSOLE_WIDTH, subsequent_indent=" " * 5)
            if c["source"]:
                lines += textwrap.wrap(f"source: {c['source']}", CONSOLE_WIDTH,
                                       initial_indent=" " * 5, subsequent_indent=" " * 5)
        for note in self.notes:
            lines += textwrap.wrap(f"note: {note}", CONSOLE_WIDTH, subsequent_indent="  ")
        lines.append(f"result: {'PASS' if self.passed else 'FAIL'} "
                     f"({sum(c.passed for c in self.checks)}/{len(self.checks)} within tolerance)")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def write_tables(table: pd.DataFrame, out: Path, stem: str, title: str | None = None,
                 notes: list[str] | None = None) -> list[Path]:
    """Write ``table`` as ``stem.csv``, ``.md`` and ``.tex`` under ``out``; return the paths.

    A named index becomes the first column. ``title`` heads the Markdown and captions the LaTeX;
    ``notes`` follow both. No dependency beyond pandas (``DataFrame.to_latex`` needs jinja2).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from papers.reproduction import write_tables
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     paths = write_tables(pd.DataFrame({"x": [1.5]}), Path(tmp), "toy", title="Toy")
    ...     print(paths[1].read_text())
    # Toy
    <BLANKLINE>
    | x |
    |---|
    | 1.5 |
    """
    notes = notes or []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frame = table.reset_index() if table.index.name else table
    cols = [str(c) for c in frame.columns]
    rows = [[_cell(v) for v in r] for r in frame.itertuples(index=False)]
    md = [f"# {title}", ""] if title else []
    md += ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    md += ([""] + [f"- {n}" for n in notes]) if notes else []
    tex = [r"\begin{table}[ht]", r"\centering", f"\\caption{{{_tex(title)}}}"] if title else []
    tex += ["\\begin{tabular}{" + "l" * len(cols) + "}", "\\hline",
            " & ".join(_tex(c) for c in cols) + " \\\\", "\\hline"]
    tex += [" & ".join(_tex(v) for v in r) + " \\\\" for r in rows]
    tex += ["\\hline", "\\end{tabular}"]
    tex += [f"\\par\\footnotesize {_tex(n)}" for n in notes]
    tex += [r"\end{table}"] if title else []
    paths = [out / f"{stem}.csv", out / f"{stem}.md", out / f"{stem}.tex"]
    frame.to_csv(paths[0], index=False)  # full precision (shortest round trip); md/tex round
    paths[1].write_text("\n".join(md) + "\n")
    paths[2].write_text("\n".join(tex) + "\n")
    return paths


def pyblp_data(name: str, what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The product and agent data ``{name}_products.csv`` and ``{name}_agents.csv`` that ship in
    the installed ``pyblp`` package's ``data`` folder (the ``market`` extra), read without
    importing ``pyblp`` (whose import, with SciPy's statistics and SymPy, is seconds of a
    reproduction that needs only the two files): the folder is found from the package's import
    spec, where ``pyblp.data.NEVO_PRODUCTS_LOCATION`` and its siblings point.

    Raises
    ------
    llmecon.errors.MissingExtraError
        ``pyblp`` is not installed, or its ``data`` folder lacks the files; the message names
        ``what`` and the ``pip install`` line.

    Examples
    --------
    >>> from papers.reproduction import pyblp_data
    >>> products, agents = pyblp_data("nevo", "the Nevo data")
    >>> products.shape, agents.shape
    ((2256, 30), (1880, 12))
    """
    import importlib.util

    from llmecon.errors import MissingExtraError

    missing = f"{what} ship with pyblp: pip install 'llmecon[market]'"
    try:
        spec = importlib.util.find_spec("pyblp")
    except (ImportError, ValueError):  # a broken or half-imported pyblp
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(missing)
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    paths = [folder / f"{name}_{kind}.csv" for kind in ("products", "agents")]
    for path in paths:
        if not path.is_file():
            raise MissingExtraError(f"{missing} (the installed pyblp has no {path.name})")
    return pd.read_csv(paths[0]), pd.read_csv(paths[1])


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _tex(v: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("_", "\\_"),
                 ("#", "\\#"), ("$", "\\$")):
        v = v.replace(a, b)
    return v


def pipeline_flops(z: dict[str, float], theta: dict[str, float]
                   ) -> tuple[dict[str, float], float, float]:
    """FLOPs of each stage of a pipeline (:func:`structural.costs.stage_costs` at the levers
    ``z`` and cost parameters ``theta``), with the fixed total F and the per-query total v
    (:func:`structural.costs.fixed_cost`, :func:`structural.costs.variable_cost`), as floats.

    One compiled program whose trace is kept between runs
    (:func:`estimation.compilation.traced_jit`), where evaluating the stages operation by
    operation compiled some sixty small programs: the short reproductions that cost a pipeline
    run in well under a second warm.

    Examples
    --------
    >>> from papers.reproduction import pipeline_flops
    >>> from structural import costs
    >>> theta = costs.cost_parameters("H100", n_layer_d_attn=0.0, N_ref=1.0)
    >>> z = {"N": 1e9, "D": 1e12, "U": 1e12, "D_F": 0.0, "trainable_fraction": 1.0, "c": 0.0,
    ...      "cached_fraction": 0.0, "x": 0.0, "k": 1.0, "r": 0.0, "y": 1.0}
    >>> stages, F, v = pipeline_flops(z, theta)
    >>> stages["pretrain"] == 6 * 1e9 * 1e12, F == stages["pretrain"], v
    (True, True, 2000000000.0)
    """
    import numpy as np

    # float64 scalars (not Python floats, which JAX would weakly type), as jnp.asarray gave.
    stages, F, v = _stage_flops()({k: np.float64(x) for k, x in z.items()},
                                  {k: np.float64(x) for k, x in theta.items()})
    return {k: float(x) for k, x in stages.items()}, float(F), float(v)


@functools.cache
def _stage_flops():
    from estimation.compilation import traced_jit
    from structural import costs

    def flops(z, theta):
        sc = costs.stage_costs(z, theta)
        return ({name: stage["flops"] for name, stage in sc.items()},
                costs.fixed_cost(sc, "flops"), costs.variable_cost(sc, "flops"))

    return traced_jit(flops, ("papers: pipeline FLOPs", flops))
