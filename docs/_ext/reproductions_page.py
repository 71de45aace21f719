"""Generate the Reproductions page at build time from the ``papers`` modules.

Every ``llmecon reproduce`` target (:func:`papers.available`) is run with ``quick=True`` and its
checks are written as a table of published against reproduced values, formatted exactly as
``llmecon reproduce`` prints them (:func:`papers.reproduction.Reproduction.render`). Nothing on the
page is typed by hand; ``tests/docs/test_reproductions_page.py`` checks its numbers against the
reproduction functions.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import papers
from papers.reproduction import Reproduction, _fmt

PAGE = Path(__file__).resolve().parents[1] / "generated" / "reproductions.md"


def run(names: list[str] | None = None) -> list[tuple[Reproduction, float]]:
    """Run each paper's quick reproduction; return it with its wall time in seconds."""
    out = []
    for name in names or papers.available():
        t0 = time.perf_counter()
        rep = papers.get(name).reproduce(out=None, quick=True, progress=False)
        out.append((rep, time.perf_counter() - t0))
    return out


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(reps: list[tuple[Reproduction, float]]) -> str:
    """The page as MyST Markdown: one section per paper, its checks as a table."""
    lines = [
        "# Reproductions",
        "",
        "Every target of `llmecon reproduce` (`papers.available()`), regenerated when this page "
        "was built with `quick=True` (the `--quick` flag: fewer starts and bootstrap draws than "
        "the papers' full methods; `llmecon reproduce NAME` without it runs the full method). "
        "The numbers below are written by `docs/_ext/reproductions_page.py` from the objects the "
        "reproduction functions return, in the format `llmecon reproduce --all --quick` prints.",
        "",
        "| paper | title | checks within tolerance | result |",
        "|---|---|---|---|",
    ]
    for rep, _ in reps:
        ok = sum(c.passed for c in rep.checks)
        lines.append(f"| {rep.paper} | {_cell(rep.title)} | "
                     f"{ok}/{len(rep.checks)} | {'PASS' if rep.passed else 'FAIL'} |")
    for rep, seconds in reps:
        lines += ["", f"## {rep.paper}", "", f"*{_cell(rep.title)}*",
                  "", f"`llmecon reproduce {rep.paper} --quick` — reproduced in {seconds:.1f} s "
                  "when this page was built.", "",
                  "| quantity | reproduced | published | tolerance | source | ok |",
                  "|---|---|---|---|---|---|"]
        for c in rep.checks:
            lines.append(f"| {_cell(c.quantity)} | {_fmt(c.reproduced)} | {_fmt(c.published)} | "
                         f"{_cell(c.tolerance_text)} | {_cell(c.source)} | "
                         f"{'yes' if c.passed else 'NO'} |")
        if rep.notes:
            lines += ["", "Notes:", ""] + [f"- {_cell(n)}" for n in rep.notes]
        lines += ["", f"Result: **{'PASS' if rep.passed else 'FAIL'}** "
                  f"({sum(c.passed for c in rep.checks)}/{len(rep.checks)} within tolerance)"]
    return "\n".join(lines) + "\n"


def parse(page: str) -> dict[str, list[tuple[str, str, str]]]:
    """Read back each paper's (quantity, reproduced, published) cells from a rendered page."""
    found: dict[str, list[tuple[str, str, str]]] = {}
    paper = None
    for line in page.splitlines():
        if line.startswith("## "):
            paper = line[3:].strip()
            found[paper] = []
        elif paper and line.startswith("| ") and not line.startswith("| quantity "):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            found[paper].append((cells[0].replace("\\|", "|"), cells[1], cells[2]))
    return found


def _generate(app, config=None) -> None:
    # A local preview may name a few papers (LLMECON_DOCS_PAPERS=kaplan2020,cottier2024); the
    # page then says it is partial. CI and releases build every target.
    only = [n for n in os.environ.get("LLMECON_DOCS_PAPERS", "").split(",") if n]
    text = render(run(only or None))
    if only:
        text = text.replace("# Reproductions\n", "# Reproductions\n\n**Partial preview: "
                            + ", ".join(only) + " only.**\n", 1)
    PAGE.parent.mkdir(parents=True, exist_ok=True)
    PAGE.write_text(text)


def setup(app):
    app.connect("config-inited", _generate)
    return {"version": "1", "parallel_read_safe": True}
