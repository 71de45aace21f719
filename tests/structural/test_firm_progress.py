"""The first call of the firm's solver says on a terminal that it is compiling (it takes 15–40 s
on a CPU), once per kind of call, and says nothing when quiet or off a terminal.

The default tests replace the compiled solver by a slow stand-in (a real first compile would cost
every test run half a minute); the slow test compiles for real in a fresh process on a
pseudo-terminal.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import pytest

from estimation import progress
from structural import firm

THETA = firm.default_parameters()
Z = firm.default_levers()
NOTICE = "compiling the firm's problem"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def slow_solve(*args):
    time.sleep(0.3)  # stands for the first compilation
    return args[7]  # Q


@pytest.fixture
def stub(monkeypatch):
    monkeypatch.setattr(firm, "_solve", slow_solve)
    monkeypatch.setattr(firm, "COMPILE_NOTICE_DELAY", 0.05)
    monkeypatch.setattr(firm, "_CALLS_SEEN", set())
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)


def _terminal(monkeypatch) -> Terminal:
    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    return term


def test_first_call_of_each_kind_says_it_is_compiling(stub, monkeypatch):
    term = _terminal(monkeypatch)
    firm.solve(("N", "D"), Z, THETA, 1e9, 0.6)
    assert term.getvalue().count(NOTICE) == 1
    assert term.getvalue().endswith(" s)\n")
    firm.solve(("N", "D"), Z, THETA, 2e9, 0.6)  # same kind: compiled already
    firm.solve(("k",), Z, THETA, 2e9, 0.6)      # the free set is data: same program
    assert term.getvalue().count(NOTICE) == 1
    jax.vmap(lambda q: firm.solve(("N", "D"), Z, THETA, q, 0.6))(jnp.array([1e8, 1e9]))
    assert term.getvalue().count(NOTICE) == 2  # vmap compiles a batched program
    firm.solve(("N", "D"), Z, THETA, 1e9, 2.0, quality="task_loss")
    assert term.getvalue().count(NOTICE) == 3
    assert "task_loss" in term.getvalue().splitlines()[-1]


def test_silent_when_quiet_or_not_on_a_terminal(stub, monkeypatch):
    monkeypatch.setenv(progress.QUIET_ENV, "1")
    term = _terminal(monkeypatch)
    firm.solve(("N", "D"), Z, THETA, 1e9, 0.6)
    assert term.getvalue() == ""
    monkeypatch.delenv(progress.QUIET_ENV)
    plain = io.StringIO()
    monkeypatch.setattr("sys.stderr", plain)
    firm.solve(("N", "D"), Z, THETA, 1e9, 0.6, quality="model_loss")
    assert plain.getvalue() == ""


PTY_SCRIPT = """
import os, pty, sys
status = pty.spawn([sys.executable, "-c", sys.argv[1]])
sys.exit(os.waitstatus_to_exitcode(status))
"""
SOLVE = ("from structural import firm; "
         "firm.solve(('N', 'D'), firm.default_levers(), firm.default_parameters(), 1e9, 0.6)")


@pytest.mark.slow
def test_real_first_compile_on_a_terminal():
    env = {**os.environ, "LLMECON_CACHE_DIR": "off"}
    env.pop(progress.QUIET_ENV, None)
    out = subprocess.run([sys.executable, "-c", PTY_SCRIPT, SOLVE], capture_output=True,
                         text=True, env=env, timeout=600, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{NOTICE} (coverage quality; once per process) ... done (" in out.stdout
