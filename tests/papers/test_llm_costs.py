"""The project's results table: every fitted parameter with SE, CI, N and fit statistics."""

from __future__ import annotations

import numpy as np
import pytest

import papers


@pytest.fixture(scope="module")
def rep(tmp_path_factory):
    return papers.get("llm_costs").reproduce(out=tmp_path_factory.mktemp("llm_costs"),
                                             quick=True, progress=False)


def test_passes_and_writes_three_formats(rep):
    assert rep.passed, rep.render()
    names = {p.name for p in rep.files}
    assert {"llm_costs.csv", "llm_costs.md", "llm_costs.tex"} <= names


def test_every_parameter_has_se_ci_and_fit_statistics(rep):
    t = rep.table
    params = t[t["llf"].notna() | t["quantity"].eq("reuse_rate")]
    assert {"training_cost", "inference_price (loglinear)", "long-context tier premium"} <= set(
        t["model"])
    assert (params["std_err"] > 0).all()
    assert (params["ci_low"] <= params["estimate"]).all()
    assert (params["estimate"] <= params["ci_high"]).all()
    assert (t["N"] > 0).all() and t["converged"].all()
    u = t.set_index(["model", "quantity"]).loc[("training_cost", "utilisation"), "estimate"]
    assert 0 < u < 1
    el = t[t["quantity"] == "price elasticity in active parameters (output)"]["estimate"]
    assert np.all((el > 0.3) & (el < 1.2))


def test_console_report_fits_100_columns_and_the_files_keep_every_column(rep):
    import pandas as pd

    lines = rep.render().splitlines()
    assert max(len(x) for x in lines) <= 100, max(lines, key=len)
    for model in rep.table["model"].unique():  # every model has its heading on the console
        assert any(x.startswith(model[:60]) for x in lines), model
    csv = pd.read_csv(next(p for p in rep.files if p.name == "llm_costs.csv"))
    assert {"llf", "aic", "bic", "ci_low", "ci_high", "N"} <= set(csv.columns)
    assert len(csv) == len(rep.table)


def _stub_sections(monkeypatch, last=None):
    """Replace the fits of the reproduction by instant stand-ins; the last one raises ``last``."""
    from papers import llm_costs

    def section(c, quick):
        return None

    def failing(c, quick):
        raise last

    # the failing one is started last however many threads run them: not one of LONGEST_FIRST
    sections = (("training cost", section), ("inference prices", section),
                ("price trends", failing if last is not None else section))
    monkeypatch.setattr(llm_costs, "SECTIONS", sections)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("progress", [True, False])
def test_progress_line_names_each_section_on_a_terminal(monkeypatch, capsys, progress):
    monkeypatch.delenv("LLMECON_QUIET", raising=False)
    _stub_sections(monkeypatch, last=_Stop())
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    with pytest.raises(_Stop):
        papers.get("llm_costs").reproduce(quick=True, progress=progress)
    err = capsys.readouterr().err
    # in the order the sections start: the longest (LONGEST_FIRST) first, then the registry's
    expected = ["llm_costs: [2/3] fitting inference prices ...",
                "llm_costs: [1/3] fitting training cost ...",
                "llm_costs: [3/3] fitting price trends ..."]
    assert err.splitlines() == (expected if progress else [])


def test_progress_line_absent_off_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("LLMECON_QUIET", raising=False)
    _stub_sections(monkeypatch, last=_Stop())
    with pytest.raises(_Stop):
        papers.get("llm_costs").reproduce(quick=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("quiet", [False, True])
def test_reproduce_command_shows_it_unless_quiet(monkeypatch, capsys, tmp_path, quiet):
    """``llmecon reproduce llm_costs`` on a terminal: the section lines (none with --quiet);
    here the third section is interrupted, so the command also exits 130 writing nothing."""
    import sys

    from llmecon.cli import main

    monkeypatch.delenv("LLMECON_QUIET", raising=False)
    _stub_sections(monkeypatch, last=KeyboardInterrupt())
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    argv = ["reproduce", "llm_costs", "--quick", "--out", str(tmp_path / "out")]
    assert main(argv + (["--quiet"] if quiet else [])) == 130
    err = capsys.readouterr().err
    assert ("llm_costs: [2/3] fitting inference prices ..." in err) is not quiet
    assert ("llmecon reproduce: llm_costs ..." in err) is not quiet
    assert err.strip().splitlines()[-1] == "llmecon: interrupted; no output was written"
    assert list(tmp_path.iterdir()) == []
    import os

    assert "LLMECON_QUIET" not in os.environ  # --quiet is undone when the command ends


def test_sections_run_at_once_and_merge_in_the_registry_order(monkeypatch):
    """With two threads the sections overlap (each waits at a barrier only the other can pass)
    and the merged rows, notes and flags are in the registry's order whichever finished first:
    the same as one thread running them in turn."""
    import threading
    import time

    from papers import llm_costs

    barrier = threading.Barrier(2, timeout=60)

    def make(name, delay, meet):
        def section(c, quick):
            if meet:
                barrier.wait()  # raises BrokenBarrierError if the other never comes
            time.sleep(delay)
            c.rows.append({"model": name})
            c.notes.append(name)
            c.converged.append(True)
            c.found[name] = delay
        return section

    sections = (("training cost", make("a", 0.3, False)),
                ("inference prices", make("b", 0.2, True)),
                ("task success", make("c", 0.0, True)))
    monkeypatch.setattr(llm_costs, "SECTIONS", sections)
    monkeypatch.setattr(llm_costs, "_threads", lambda n: 2)
    both = llm_costs._fit_sections(quick=True, progress=False)
    assert [r["model"] for r in both.rows] == ["a", "b", "c"]
    assert both.notes == ["a", "b", "c"] and both.found == {"a": 0.3, "b": 0.2, "c": 0.0}
    sections = tuple((w, make(n, d, False)) for (w, _), n, d in
                     zip(sections, "abc", (0.3, 0.2, 0.0), strict=True))
    monkeypatch.setattr(llm_costs, "SECTIONS", sections)
    monkeypatch.setattr(llm_costs, "_threads", lambda n: 1)
    one = llm_costs._fit_sections(quick=True, progress=False)
    assert (one.rows, one.notes, one.converged, one.found) == (
        both.rows, both.notes, both.converged, both.found)
