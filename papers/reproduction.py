"""A reproduced table: each row a quantity, the reproduced value, the published value with its
source, the tolerance and whether it holds. Renders as text, Markdown, LaTeX and CSV."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Check:
    """One published number against its reproduction.

    ``kind`` is ``"abs"`` (|x − p| ≤ tol) or ``"rel"`` (|x − p| ≤ tol·|p|).
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
    """

    paper: str
    title: str
    table: pd.DataFrame
    checks: list[Check]
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

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
        """Plain-text report: the table, then each published number beside its reproduction."""
        lines = [f"{self.paper}: {self.title}", "", self.table.to_string(), ""]
        lines.append("reproduced vs published")
        lines.append(self.checks_frame().to_string(index=False, float_format=_fmt))
        for note in self.notes:
            lines.append(f"note: {note}")
        lines.append(f"result: {'PASS' if self.passed else 'FAIL'} "
                     f"({sum(c.passed for c in self.checks)}/{len(self.checks)} within tolerance)")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def write_table(table: pd.DataFrame, out: Path, stem: str, title: str,
                notes: list[str] | None = None, float_format: str = "%.10g") -> list[Path]:
    """Write ``table`` as ``stem.csv``, ``stem.md`` and ``stem.tex`` in ``out`` (no extra deps)."""
    notes = notes or []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv, md, tex = out / f"{stem}.csv", out / f"{stem}.md", out / f"{stem}.tex"
    table.to_csv(csv, float_format=float_format)
    cells = table.map(lambda v: f"{v:.6g}" if isinstance(v, int | float) else str(v))
    index_name = table.index.name or ""
    lines = [f"# {title}", "", f"| {index_name} | " + " | ".join(map(str, cells.columns)) + " |",
             "|---" * (len(cells.columns) + 1) + "|"]
    lines += [f"| {i} | " + " | ".join(r) + " |" for i, r in cells.iterrows()]
    md.write_text("\n".join(lines + [""] + [f"- {n}" for n in notes]) + "\n")

    def esc(s: object) -> str:
        return (str(s).replace("\\", r"\textbackslash{}").replace("_", r"\_")
                .replace("%", r"\%").replace("&", r"\&").replace("#", r"\#"))

    tl = [r"\begin{table}[ht]", r"\centering", f"\\caption{{{esc(title)}}}",
          f"\\begin{{tabular}}{{l{'r' * len(cells.columns)}}}", r"\hline",
          esc(index_name) + " & " + " & ".join(esc(c) for c in cells.columns) + r" \\", r"\hline"]
    tl += [esc(i) + " & " + " & ".join(esc(v) for v in r) + r" \\" for i, r in cells.iterrows()]
    tl += [r"\hline", r"\end{tabular}"] + [f"\\par\\footnotesize {esc(n)}" for n in notes]
    tl += [r"\end{table}"]
    tex.write_text("\n".join(tl) + "\n")
    return [csv, md, tex]
