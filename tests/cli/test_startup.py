"""Start-up cost: building the command line and printing any help imports neither JAX nor pandas
nor SciPy's statistics (each command imports what it needs when it runs), and ``--verbose`` and
the cache flags are accepted before or after a command's name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("jax", "jaxlib", "pandas", "scipy", "scipy.stats", "numpy", "matplotlib")

PROBE = """
import sys
from llmecon.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = {heavy!r}
print("IMPORTED:" + ",".join(m for m in heavy if m in sys.modules))
"""


@pytest.mark.parametrize("argv", [
    ["--help"], ["reproduce", "--help"], ["fit", "--help"], ["fit", "chinchilla", "--help"],
    ["fit", "usage", "--help"], ["counterfactual", "--help"], ["cost", "--help"],
    ["data", "--help"], ["--version"],
])
def test_help_imports_no_heavy_module(argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv],
                         capture_output=True, text=True, check=False, timeout=120)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("IMPORTED:")]
    assert line, out.stderr
    assert line[-1] == "IMPORTED:", f"{' '.join(argv)} imported {line[-1][9:]}"


def test_run_options_before_or_after_the_command(tmp_path: Path):
    """``--verbose`` reports wall and compilation time on stderr; ``--cache-dir`` moves the cache
    (the command here compiles JAX code), wherever the flags stand."""
    env = {k: v for k, v in os.environ.items() if k != "LLMECON_CACHE_DIR"}
    for argv in (["--verbose", "--cache-dir", str(tmp_path / "a"), "cost", "reasoning"],
                 ["cost", "reasoning", "--verbose", "--cache-dir", str(tmp_path / "b")]):
        out = subprocess.run([sys.executable, "-m", "llmecon", *argv], capture_output=True,
                             text=True, check=False, timeout=300, env=env)
        assert out.returncode == 0, out.stderr
        where = Path(argv[argv.index("--cache-dir") + 1])
        assert "compilation:" in out.stderr and f"cache {where}" in out.stderr, out.stderr
        assert list(where.glob("*-cache")), "nothing was written to the cache"


def test_no_cache_flag(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "LLMECON_CACHE_DIR"}
    out = subprocess.run([sys.executable, "-m", "llmecon", "cost", "reasoning", "--no-cache",
                          "--verbose"], capture_output=True, text=True, check=False, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr
    assert "0 loaded from the cache" in out.stderr and "cache off" in out.stderr


def test_fit_usage_help_lists_the_bundled_traces():
    """``--trace`` lists every bundled trace (read with pandas here as the reference), while the
    help itself imports no heavy module (test above, ``fit usage --help``)."""
    import data

    names = data.load("request_traces")["trace"].unique()
    assert len(names) >= 3
    out = subprocess.run([sys.executable, "-m", "llmecon", "fit", "usage", "--help"],
                         capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    trace_help = text[text.rindex("--trace TRACE"):text.rindex("--column")]
    for name in names:
        assert name in trace_help, f"{name} missing from --trace help: {trace_help}"
    assert "<bundled" not in text


def test_quiet_sets_the_variable_the_progress_displays_read():
    """``--quiet`` silences library displays (``estimation.progress``) through the environment,
    so the command line names the variable without importing the engine."""
    from estimation import progress
    from llmecon import cli

    assert cli.QUIET_ENV == progress.QUIET_ENV


def test_reproduce_names_its_run_before_the_library_imports(monkeypatch):
    """``reproduce NAME`` names the paper's run (the name its ``reproduce`` keeps its programs
    under) in the variable the library's import reads, before that import, so the programs are
    read back from the import on; ``--all`` names none (one name a run), and neither does a
    command run after the library was imported (a Python caller: its import read nothing)."""
    import argparse

    import papers
    from estimation.compilation import PREFETCH_ENV
    from llmecon.commands import reproduce

    monkeypatch.setenv(PREFETCH_ENV, "set by this test")  # teardown then restores the original
    monkeypatch.delenv(PREFETCH_ENV)
    one = argparse.Namespace(name="blp1995", all=False, quick=True)
    reproduce.read_back_early(one)
    assert PREFETCH_ENV not in os.environ  # the library is imported here already
    monkeypatch.delitem(sys.modules, "estimation")
    reproduce.read_back_early(argparse.Namespace(name=None, all=True, quick=False))
    assert PREFETCH_ENV not in os.environ
    reproduce.read_back_early(one)
    assert os.environ.pop(PREFETCH_ENV) == f"{os.getpid()}:{papers.run_name('blp1995', True)}"


def test_the_command_line_names_runs_in_the_variable_the_library_reads():
    """The command line spells the read-ahead variable itself (importing the library's module
    imports JAX): the two spellings must agree, or no command's programs are read ahead."""
    from estimation import compilation
    from llmecon.commands import _early

    assert _early.PREFETCH_ENV == compilation.PREFETCH_ENV
