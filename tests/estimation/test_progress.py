"""The terminal displays of :mod:`estimation.progress`: shown only on a terminal and when not
quiet, a delayed status line only for a block that outlasts its delay, nested lines kept apart."""

from __future__ import annotations

import io
import time

import pytest

from estimation import progress
from estimation.progress import Progress, StatusLine, status


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def on_terminal(monkeypatch) -> Terminal:
    """Point stderr at a fake terminal (inside the test: pytest's capture replaces sys.stderr
    between a fixture's setup and the test)."""
    term = Terminal()
    monkeypatch.setattr("sys.stderr", term)
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    return term


def test_status_line_on_a_terminal_only(monkeypatch):
    terminal = on_terminal(monkeypatch)
    status("fitting a ...")
    assert terminal.getvalue() == "fitting a ...\n"
    status("fitting b ...", enabled=False)
    monkeypatch.setenv(progress.QUIET_ENV, "1")
    status("fitting c ...")
    with StatusLine("compiling"):
        pass
    assert terminal.getvalue() == "fitting a ...\n"
    monkeypatch.setenv(progress.QUIET_ENV, "0")  # "0" and "" mean not quiet
    status("fitting d ...")
    assert terminal.getvalue().endswith("fitting d ...\n")


def test_nothing_when_stderr_is_not_a_terminal(monkeypatch):
    plain = io.StringIO()
    monkeypatch.setattr("sys.stderr", plain)
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    status("fitting a ...")
    with StatusLine("compiling"):
        pass
    with Progress(3, "bootstrap") as bar:
        bar.update(3)
    assert plain.getvalue() == ""


def test_delayed_status_shows_only_for_a_slow_block(monkeypatch):
    terminal = on_terminal(monkeypatch)
    with StatusLine("compiling quick", delay=0.5):
        pass
    assert terminal.getvalue() == ""
    with StatusLine("compiling slow", delay=0.05):
        time.sleep(0.3)  # the line appears from the timer thread while the block runs
        assert terminal.getvalue() == "compiling slow ..."
    line = terminal.getvalue()
    assert line.startswith("compiling slow ... done (") and line.endswith(" s)\n"), line


def test_a_block_that_fails_says_stopped(monkeypatch):
    terminal = on_terminal(monkeypatch)
    with pytest.raises(RuntimeError), StatusLine("compiling"):
        raise RuntimeError
    assert terminal.getvalue().startswith("compiling ... stopped (")


def test_nested_displays_start_a_new_line(monkeypatch):
    terminal = on_terminal(monkeypatch)
    with StatusLine("outer"):
        status("inner")
    assert terminal.getvalue().splitlines()[:2] == ["outer ...", "inner"]
    assert terminal.getvalue().splitlines()[2].startswith("outer done (")
