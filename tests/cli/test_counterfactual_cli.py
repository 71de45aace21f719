"""``llmecon counterfactual``: every option checked before any work, outputs staged so Ctrl-C
leaves nothing, existing files kept unless ``--force``, ``--quiet`` and a progress line.

The solver itself is replaced by a stub that writes files (the solver's own tests live under
``tests/structural/counterfactual``), so these run in a second.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import structural.counterfactual as cf
from llmecon.cli import main


def _fails(capsys, argv, *needles: str, status: int = 2) -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == status, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


class _Result:
    def render(self, console: bool = False) -> str:
        return "report"


@pytest.fixture
def stub_run(monkeypatch):
    """Replace the solver by one that writes two files into its ``out`` folder; record calls."""
    calls = []

    def run(scenario, draws, seed, out, **kw):
        calls.append((draws, seed, out))
        (Path(out) / "costs.csv").write_text("new\n")
        (Path(out) / "summary.json").write_text("{}\n")
        return _Result()

    monkeypatch.setattr(cf, "run", run)
    return calls


@pytest.mark.parametrize("opts, needle", [
    (["--seed", "-1"], "--seed"),
    (["--seed", "99999999999999999999"], "--seed"),
    (["--seed", str(2**32)], "--seed"),
    (["--draws", "0"], "--draws"),
    (["--draws", "-5"], "--draws"),
    (["--draws", "1000000000"], "--draws: 1000000000 parameter draws needs about"),
])
def test_bad_options_exit_2_before_any_work(tmp_path, capsys, stub_run, opts, needle):
    out = tmp_path / "out"
    _fails(capsys, ["counterfactual", "guardrails", "--out", out, *opts], needle)
    assert stub_run == [] and list(tmp_path.iterdir()) == []


def test_unwritable_out_is_refused_before_any_work(capsys, stub_run):
    _fails(capsys, ["counterfactual", "guardrails", "--out", "/proc/x"], "--out /proc/x",
           "cannot create or write")
    assert stub_run == []


def test_existing_files_need_force_and_are_kept(tmp_path, capsys, stub_run):
    out = tmp_path / "out"
    out.mkdir()
    (out / "costs.csv").write_text("mine\n")
    _fails(capsys, ["counterfactual", "guardrails", "--out", out], "costs.csv", "--force")
    assert stub_run == [] and (out / "costs.csv").read_text() == "mine\n"
    assert main(["counterfactual", "guardrails", "--out", str(out), "--force"]) == 0
    assert (out / "costs.csv").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_outputs_are_staged_and_moved_into_place(tmp_path, capsys, stub_run):
    out = tmp_path / "out"
    assert main(["counterfactual", "guardrails", "--out", str(out), "--draws", "3",
                 "--seed", "7"]) == 0
    draws, seed, written_to = stub_run[0]
    assert (draws, seed) == (3, 7)
    assert Path(written_to) != out.absolute()  # the solver wrote into a temporary folder
    assert sorted(p.name for p in out.iterdir()) == ["costs.csv", "summary.json"]


def test_ctrl_c_exits_130_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    def interrupted(scenario, draws, seed, out, **kw):
        (Path(out) / "costs.csv").write_text("half\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(cf, "run", interrupted)
    _fails(capsys, ["counterfactual", "guardrails", "--out", tmp_path / "out"], "interrupted",
           status=130)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_line_on_a_terminal_unless_quiet(tmp_path, capsys, monkeypatch, stub_run,
                                                  quiet):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    argv = ["counterfactual", "guardrails", "--out", str(tmp_path / "out")]
    assert main(argv + (["--quiet"] if quiet else [])) == 0
    err = capsys.readouterr().err
    assert ("llmecon counterfactual: solving" in err) is not quiet


def test_interrupted_run_resumes_from_its_chunks(tmp_path, capsys, monkeypatch):
    """Ctrl-C after the first of two chunks keeps it beside --out; the same command then solves
    only the second, removes the chunks, and writes the tables of an uninterrupted run."""
    from structural.counterfactual import stream

    monkeypatch.setattr(stream, "MAX_CHUNK_POINTS", 1)      # one quantum (256 draws) a chunk
    calls = []

    def interrupted_after_one(*args):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return stream.solve_chunk(*args)

    src = Path("structural/examples/scenarios/sardana_frankle_13b.toml").read_text()
    scenario = tmp_path / "drawn.toml"   # the known answer with assumed uncertainty: 301 draws
    scenario.write_text(src.replace("fit = []", 'fit = []\nuncertainty = { kind = "normal", '
                                    'sd = { A = 10.0, alpha = 0.003 } }'))
    argv = ["counterfactual", scenario, "--draws", "300", "--quiet", "--out"]
    monkeypatch.setattr(stream, "_solve_chunk", interrupted_after_one)
    line = _fails(capsys, [*argv, tmp_path / "out"], "1 finished chunk(s) kept", "resume",
                  status=130)
    store = tmp_path / ".out.chunks"
    assert str(store) in line and not (tmp_path / "out").exists()
    calls.clear()
    monkeypatch.setattr(stream, "_solve_chunk", lambda *a: calls.append(1) or
                        stream.solve_chunk(*a))
    assert main([str(a) for a in argv] + [str(tmp_path / "out")]) == 0
    assert len(calls) == 1 and not store.exists()
    ref = cf.run(scenario, draws=300, seed=0, out=tmp_path / "ref")
    assert ref is not None
    for name in ("costs.csv", "breakeven.csv"):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
