"""The latency benchmark's bookkeeping (``benchmarks/latency.py``): a run past its time limit is
reported as such, not a crash; each command's row reaches the results files as soon as it is
measured and ``--resume`` skips what they hold; ``--only``/``--skip`` select; each command's
target comes from the issue. The full benchmark itself is too long for the test suite."""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("latency", ROOT / "benchmarks" / "latency.py")
latency = importlib.util.module_from_spec(_spec)
sys.modules["latency"] = latency
_spec.loader.exec_module(latency)


def test_a_run_past_its_time_limit_is_reported_not_raised():
    env = {**os.environ, "LLMECON_CACHE_DIR": "off"}
    t = latency.run(["reproduce", "kaplan2020"], env, timeout=0.01)
    assert t.timed_out and t.rc is None and t.compiled is None
    assert "TIME" in latency._cell(t) and latency._status(t) == "timeout"
    missed = latency.target_of(["reproduce", "kaplan2020"]).missed("k", t, None)
    assert missed == ["k: cold run stopped at the time limit (0 s)"]


def test_targets_follow_the_issue():
    assert latency.target_of(["--help"]).warm == latency.HELP_LIMIT
    full = latency.target_of(["reproduce", "llm_costs"])
    assert (full.warm, full.cold, full.cold_compiles) == (10.0, 30.0, 40)
    assert latency.target_of(["reproduce", "llm_costs", "--quick"]).warm == 3.0
    assert latency.target_of(["reproduce", "besiroglu2024", "--out", "d"]).warm is None
    ok = latency.Timing(2.9, 2.0, 0, 0, 1.0)
    slow = latency.Timing(3.1, 2.0, 0, 0, 1.0)
    assert latency.target_of(["fit", "usage"]).missed("u", ok, ok) == []
    assert latency.target_of(["fit", "usage"]).missed("u", ok, slow) == [
        "u: warm 3.10 s, cpu 2.00 s (target warm <= 3 s)"]


def test_selection_by_substring():
    cmds = [["--help"], ["fit", "usage"], ["reproduce", "nevo2000"], ["reproduce", "blp1995"]]
    assert latency.select(cmds, ["reproduce"], ["nevo"]) == [["reproduce", "blp1995"]]
    assert latency.select(cmds, None, ["reproduce"]) == cmds[:2]
    assert latency.select(cmds, None, None) == cmds


def test_rows_are_written_as_measured_and_resume_skips_them(tmp_path):
    res = latency.Results(tmp_path, resume=False)
    t = latency.Timing(1.5, 1.2, 3, 0, 0.5)
    res.add("llmecon fit usage", t, t, latency.target_of(["fit", "usage"]), True)
    stop = latency.Timing(60.0, 55.0, None, None, 0.5)
    res.add("llmecon reproduce nevo2000", stop, None,
            latency.target_of(["reproduce", "nevo2000"]), False)
    with (tmp_path / "latency.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["cold_status"] for r in rows] == ["ok", "timeout"]
    assert rows[1]["warm_status"] == "not run" and rows[0]["warm_compiled"] == "3"
    md = (tmp_path / "latency.md").read_text()
    assert "> 60.00 (timeout)" in md and md.count("\n") == 4
    again = latency.Results(tmp_path, resume=True)
    assert again.done == {"llmecon fit usage", "llmecon reproduce nevo2000"}
    assert (tmp_path / "latency.md").read_text() == md  # resuming keeps what was written
