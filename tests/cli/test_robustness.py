"""Command-line robustness: bad paths, bad files and closed pipes end in one line, not a traceback.

Each bad input exits 2 with exactly one line on stderr naming the culprit. Bundled example
pipelines and scenarios are found by name from any working directory (as after ``pip install .``).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import data
from llmecon.cli import main

PIPELINES = ["frontier", "reasoning", "small_long_context"]


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *needles: str) -> str:
    """Run ``llmecon argv``; assert exit 2 and one stderr line holding every needle."""
    rc = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without the repository's files, as after a normal install."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def not_utf8(tmp_path: Path) -> Path:
    f = tmp_path / "bad.txt"
    f.write_bytes(b"\xff\xfe")
    return f


# --- 1. bundled examples --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["reasoning", "reasoning.toml", "structural/examples/pipelines/reasoning.toml"]
)
def test_cost_finds_bundled_example_from_any_directory(elsewhere, capsys, name):
    assert main(["cost", name, "--queries", "1e9", "--format", "md"]) == 0
    assert capsys.readouterr().out.startswith("**reasoning: ")


def test_cost_unknown_example_lists_bundled_names(elsewhere, capsys):
    line = _fails(capsys, ["cost", "nosuch.toml"], "nosuch.toml", ", ".join(PIPELINES))
    assert "--list-examples" in line


def test_cost_missing_user_file_is_not_replaced_by_example(elsewhere, capsys):
    _fails(capsys, ["cost", "myproject/reasoning.toml"], "myproject/reasoning.toml",
           "no pipeline file at path")


def test_list_examples(capsys):
    assert main(["cost", "--list-examples"]) == 0
    assert capsys.readouterr().out.split() == PIPELINES
    assert main(["counterfactual", "--list-examples"]) == 0
    assert "guardrails" in capsys.readouterr().out.split()


def test_counterfactual_finds_bundled_example(elsewhere, capsys):
    rc = main(["counterfactual", "structural/examples/scenarios/guardrails.toml",
               "--out", "out", "--draws", "2"])
    assert rc == 0
    assert (elsewhere / "out" / "summary.json").is_file()


def test_counterfactual_unknown_example_and_missing_out(elsewhere, capsys):
    _fails(capsys, ["counterfactual", "nosuch", "--out", "o"], "nosuch", "guardrails")
    _fails(capsys, ["counterfactual", "guardrails"], "--out")


# --- 2. a bad --out -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["reproduce", "kaplan2020", "--quick", "--quiet"],
        ["fit", "training_cost"],
        ["fit", "price_trend"],
        ["counterfactual", "guardrails", "--draws", "2"],
    ],
)
def test_out_is_an_existing_file(tmp_path, capsys, argv):
    f = tmp_path / "afile"
    f.write_text("x")
    _fails(capsys, [*argv, "--out", str(f)], str(f), "not a directory")


def test_fit_chinchilla_out_is_an_existing_file(tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    runs.write_text("params,tokens,loss\n1e9,2e10,2.5\n")
    f = tmp_path / "afile"
    f.write_text("x")
    _fails(capsys, ["fit", "chinchilla", "--data", str(runs), "--out", str(f), "--quiet"],
           str(f), "not a directory")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_unwritable_out_is_one_line(capsys):
    _fails(capsys, ["reproduce", "kaplan2020", "--quick", "--quiet", "--out", "/proc/nope"],
           "llmecon reproduce: error: --out /proc/nope: cannot create or write a folder there")


def test_oserror_is_reported_centrally(monkeypatch, capsys):
    from llmecon.commands import cost

    def boom(args):
        raise PermissionError(13, "Permission denied", "/some/file")

    monkeypatch.setattr(cost, "run", boom)
    line = _fails(capsys, ["cost", "x"])
    assert line == "llmecon: error: /some/file: Permission denied"


# --- 3. a directory given as an input file --------------------------------------------------


@pytest.mark.parametrize(
    "argv, kind",
    [
        (["cost", "{d}"], ".toml"),
        (["counterfactual", "{d}", "--out", "{d}/x"], ".toml"),
        (["data", "validate", "chinchilla", "{d}"], ".csv"),
        (["fit", "chinchilla", "--data", "{d}"], ".csv"),
        (["fit", "training_cost", "--runs", "{d}"], ".csv"),
    ],
)
def test_directory_as_input_file(tmp_path, capsys, argv, kind):
    argv = [a.format(d=tmp_path) for a in argv]
    _fails(capsys, argv, f"{tmp_path} is a directory; expected a {kind} file")


# --- 4. price_trend threshold and estimation errors -----------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_price_trend_threshold_not_finite(capsys, value):
    _fails(capsys, ["fit", "price_trend", f"--threshold={value}"], "--threshold", "finite")


def test_price_trend_threshold_above_every_model(capsys):
    _fails(capsys, ["fit", "price_trend", "--threshold", "1e9"], "need 3 for a trend")


def test_estimation_error_is_reported_centrally(monkeypatch, capsys):
    import estimation
    from llmecon.commands import cost

    def boom(args):
        raise estimation.SpecificationError("the engine refuses\nover two lines")

    monkeypatch.setattr(cost, "run", boom)
    _fails(capsys, ["cost", "x"], "llmecon cost: error: the engine refuses over two lines")


# --- 5. fit chinchilla writes only with --out -----------------------------------------------


def test_fit_chinchilla_without_out_writes_nothing(elsewhere, capsys):
    df = data.load("chinchilla")
    f = elsewhere / "runs.csv"
    df[~df["outlier"]][["params", "tokens", "loss"]].to_csv(f, index=False)
    assert main(["fit", "chinchilla", "--data", str(f), "--quick", "--quiet"]) == 0
    assert "wrote" not in capsys.readouterr().out
    assert sorted(p.name for p in elsewhere.iterdir()) == ["runs.csv"]


# --- 6. a closed pipe -----------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["cost", "reasoning", "--format", "json"], ["data", "list"]])
def test_closed_stdout_is_silent(tmp_path, argv):
    proc = subprocess.Popen([sys.executable, "-m", "llmecon", *argv], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away before the first line (like `| head -0`)
    err = proc.stderr.read().decode()
    rc = proc.wait(timeout=120)
    assert err == ""
    assert rc == 141


# --- 7. files that are not UTF-8 ------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["cost", "{f}"],
        ["counterfactual", "{f}", "--out", "x"],
        ["data", "validate", "chinchilla", "{f}"],
        ["fit", "chinchilla", "--data", "{f}"],
        ["fit", "training_cost", "--runs", "{f}"],
    ],
)
def test_not_utf8_names_the_file(not_utf8, capsys, argv):
    argv = [a.format(f=not_utf8) for a in argv]
    _fails(capsys, argv, str(not_utf8), "byte 0xff at offset 0", "must be UTF-8 text")


# --- 8. fit training_cost checks columns and rows before fitting -----------------------------


@pytest.mark.parametrize(
    "flag, content, needles",
    [
        ("--runs", "t,training_compute_flop\n1,1e24\n2,1e25\n3,1e26\n", ["'cost_usd'"]),
        ("--runs", "training_compute_flop,cost_usd\n1e24,1e6\n", ["'date (or t)'"]),
        ("--runs", "t,training_compute_flop,cost_usd\n1,1e24,1e6\n",
         ["1 row(s)", "need at least 3"]),
        ("--runs", "t,training_compute_flop,cost_usd\n1,1e24,1e6\n2,1e25,\n3,1e26,\n",
         ["1 row(s)", "need at least 3"]),
        ("--runs", "t,training_compute_flop,cost_usd\n1,1e24,1e6\n1,1e24,1e6\n1,1e25,2e6\n",
         ["same date", "at least 2 dates"]),
        ("--prices", "t,usd_per_chip_hour\n1,2\n", ["'usd_per_flop'"]),
        ("--prices", "t,usd_per_flop\n1,1e-18\n2,1e-18\n", ["2 row(s)", "need at least 3"]),
    ],
)
def test_training_cost_input_checked_before_fit(tmp_path, capsys, flag, content, needles):
    f = tmp_path / "in.csv"
    f.write_text(content)
    _fails(capsys, ["fit", "training_cost", flag, str(f)], f"{flag} {f}", *needles)


@pytest.mark.parametrize("quiet", [False, True])
def test_fit_announces_itself_on_a_terminal_unless_quiet(tmp_path, capsys, monkeypatch, quiet):
    monkeypatch.delenv("LLMECON_QUIET", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    argv = ["fit", "training_cost", "--runs", str(tmp_path / "missing.csv")]
    assert main(argv + (["--quiet"] if quiet else [])) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("llmecon fit: error:") and "missing.csv" in lines[-1]
    announced = "llmecon fit training_cost: compiling and fitting ..."
    assert lines[:-1] == ([] if quiet else [announced])
