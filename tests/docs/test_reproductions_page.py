"""The documentation's Reproductions page is generated from the reproduction functions: its numbers
are exactly what ``llmecon reproduce`` prints for the same runs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

import papers

EXT = Path(__file__).resolve().parents[2] / "docs" / "_ext" / "reproductions_page.py"


def _page_module():
    spec = importlib.util.spec_from_file_location("reproductions_page", EXT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _printed_rows(text: str) -> list[str]:
    """The 'reproduced vs published' rows of ``Reproduction.render`` (what the CLI prints): one
    check a line after its ok flag ("yes"/" NO"), wrapped lines joined, sources left out."""
    block = text.split("reproduced vs published\n", 1)[1].split("\nnote:")[0].split("\nresult:")[0]
    rows: list[str] = []
    in_source = False
    for line in block.splitlines():
        if line.startswith(("yes  ", " NO  ")):
            rows.append(line[5:])
            in_source = False
        elif line.strip().startswith("source:"):
            in_source = True
        elif rows and not in_source:
            rows[-1] += " " + line.strip()
    return rows


def _check_page(names: list[str]) -> None:
    page_module = _page_module()
    reps = page_module.run(names)
    page = page_module.render(reps)
    parsed = page_module.parse(page)
    assert sorted(parsed) == sorted(names)
    for rep, _ in reps:
        rows = parsed[rep.paper]
        assert len(rows) == len(rep.checks) > 0
        printed = rep.render()
        for (quantity, reproduced, published), check in zip(rows, rep.checks, strict=True):
            assert quantity == check.quantity
            # the page's cells are the reproduction's numbers in the CLI's own format ...
            assert reproduced == page_module._fmt(check.reproduced)
            assert published == page_module._fmt(check.published)
            assert float(reproduced) == pytest.approx(check.reproduced, rel=1e-5, abs=1e-300)
        # ... and each appears on the line the CLI prints for that quantity
        for (quantity, reproduced, published), line in zip(rows, _printed_rows(printed),
                                                           strict=True):
            assert line.startswith(quantity), (quantity, line)
            assert re.search(rf"\s{re.escape(reproduced)}\s", line), (reproduced, line)
            assert re.search(rf"\s{re.escape(published)}\s", line), (published, line)
        assert (f"{sum(c.passed for c in rep.checks)}/{len(rep.checks)}" in page)


def test_page_numbers_equal_the_reproductions_cheap_papers():
    _check_page(["kaplan2020", "cottier2024", "muennighoff2023"])


@pytest.mark.slow
def test_page_numbers_equal_the_reproductions_all_papers():
    _check_page(papers.available())
