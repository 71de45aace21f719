"""The program's fast exit (:func:`llmecon.cli.console_main`): it keeps every exit status, loses
nothing being written (a non-daemon thread's file, an ``atexit`` handler's, the compilation cache's
entries), and is never taken by :func:`llmecon.cli.main` called in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmecon.cli import main


def _llmecon(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmecon", *argv], capture_output=True,
                          text=True, check=False, timeout=300, env=env)


@pytest.mark.parametrize("argv, status", [
    (["data", "list"], 0),
    (["data", "show", "no-such-dataset"], 2),
    (["--version"], 0),       # SystemExit from argparse: the usual exit
    (["no-such-command"], 2),
])
def test_exit_status_is_kept(argv, status):
    out = _llmecon(*argv)
    assert out.returncode == status, out.stderr


def test_output_is_complete():
    """Everything printed reaches the reader: the same lines as ``main`` in-process."""
    out = _llmecon("data", "list")
    assert out.returncode == 0
    names = out.stdout.split()
    assert "chinchilla" in names and "request_traces" in names


SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from llmecon.cli import console_main

out = Path(sys.argv[1])

def slow_writer():          # a write still in progress when the command has returned
    while threading.main_thread().is_alive():   # the main thread is done once it exits
        time.sleep(0.01)
    time.sleep(0.2)
    (out / "thread.txt").write_text("done")

threading.Thread(target=slow_writer).start()
atexit.register(lambda: (out / "atexit.txt").write_text(
    "after thread" if (out / "thread.txt").exists() else "before thread"))
sys.argv = ["llmecon", *sys.argv[2:]]
console_main()
raise AssertionError("console_main returned")
"""


@pytest.mark.parametrize("argv, status", [(["data", "list"], 0),
                                          (["data", "show", "nope"], 2)])
def test_threads_and_atexit_handlers_finish_first(tmp_path: Path, argv, status):
    """Non-daemon threads are waited for, then the ``atexit`` handlers run (the interpreter's
    order), before the process ends; the status is the command's."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), *argv],
                         capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == status, out.stderr
    assert "console_main returned" not in out.stderr
    assert (tmp_path / "thread.txt").read_text() == "done"
    assert (tmp_path / "atexit.txt").read_text() == "after thread"


def test_cache_entries_are_complete(tmp_path: Path):
    """A cold run leaves whole cache entries (no temporary file, nothing half-written): the
    next run compiles nothing and reads its kept program back."""
    env = {k: v for k, v in os.environ.items() if k != "LLMECON_CACHE_DIR"}
    cache = tmp_path / "cache"
    argv = ["cost", "reasoning", "--verbose", "--cache-dir", str(cache)]
    cold = _llmecon(*argv, env=env)
    assert cold.returncode == 0, cold.stderr
    assert "(0 compiled" not in cold.stderr, cold.stderr
    assert not list(cache.rglob("*.tmp"))
    warm = _llmecon(*argv, env=env)
    assert warm.returncode == 0, warm.stderr
    assert "(0 compiled" in warm.stderr and "0 compiled programs read back" not in warm.stderr, \
        warm.stderr
    assert warm.stdout == cold.stdout


def test_main_in_process_returns():
    """``main`` returns its status to a Python caller and leaves its garbage collector's
    thresholds alone (the fast exit and the thresholds are the program's only)."""
    import gc

    before = gc.get_threshold()
    assert main(["data", "show", "no-such-dataset"]) == 2
    assert main(["data", "list"]) == 0
    assert gc.get_threshold() == before


def test_program_sets_the_collector_thresholds(tmp_path: Path):
    from llmecon import cli

    script = ("import atexit, gc, sys\n"
              "from llmecon.cli import console_main\n"
              "atexit.register(lambda: print('GC', gc.get_threshold()))\n"
              "sys.argv = ['llmecon', 'data', 'list']\n"
              "console_main()\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=False, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"GC {cli._GC_THRESHOLDS}" in out.stdout


def test_program_switches_off_glibc_fastbins():
    # mallopt answers 1 where it took the setting (glibc); elsewhere nothing changes
    import platform

    from llmecon import cli

    assert cli._no_fastbins() == (platform.libc_ver()[0] == "glibc")


FAST = """
import sys
from llmecon.cli import console_main

class Teardown:             # freed by the interpreter's teardown, which the fast exit skips
    def __del__(self):
        print("torn down", flush=True)

kept = Teardown()
sys.argv = ["llmecon", "data", "list"]
console_main()
"""


def test_the_fast_exit_skips_the_teardown():
    """The program ends without the interpreter's teardown (freeing every object): a module
    global's finaliser never runs; the same script exiting the usual way runs it."""
    fast = subprocess.run([sys.executable, "-c", FAST], capture_output=True, text=True,
                          check=False, timeout=120)
    assert fast.returncode == 0, fast.stderr
    assert "chinchilla" in fast.stdout and "torn down" not in fast.stdout
    usual = FAST.replace("console_main()", "sys.exit(__import__('llmecon.cli').cli.main())")
    slow = subprocess.run([sys.executable, "-c", usual], capture_output=True, text=True,
                          check=False, timeout=120)
    assert slow.returncode == 0 and "torn down" in slow.stdout, slow.stderr


def test_a_profiled_run_keeps_its_statistics(tmp_path: Path):
    """Under ``python -m cProfile`` the program exits the usual way, so the profiler's
    statistics are written after the command."""
    stats = tmp_path / "run.prof"
    out = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "llmecon",
                          "data", "list"], capture_output=True, text=True, check=False,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "chinchilla" in out.stdout
    assert stats.stat().st_size > 0
