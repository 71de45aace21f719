"""estimation.background.Background: a step on a thread of its own whose result or exception the
caller gets, and which never holds up a Ctrl-C (nevo2000's steps, the counterfactual draws)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from estimation.background import Background

#: A slow step (a minute) in the background; Ctrl-C (SIGINT) while the main thread waits for it.
INTERRUPTED = """
import os, signal, sys, threading, time
from estimation.background import Background

# Ctrl-C at a terminal reaches a process with SIGINT's default disposition; a test runner's
# worker may hand its child SIGINT ignored or blocked (both survive exec): restore the default.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
signal.signal(signal.SIGINT, signal.default_int_handler)
step = Background(time.sleep, 60)
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
try:
    step.result()
except KeyboardInterrupt:
    print("interrupted; step done:", step.done(), flush=True)
    sys.exit(130)
"""


def test_a_result_and_an_exception_reach_the_caller():
    assert Background(sum, [1, 2, 3]).result() == 6
    with pytest.raises(ZeroDivisionError):
        Background(divmod, 1, 0).result()


def test_one_ctrl_c_exits_at_once_while_a_step_runs():
    """SIGINT while the caller waits on a minute-long step: KeyboardInterrupt at once in the
    caller, and the process exits 130 without joining the step (the timeout, far below the
    step's minute, fails a run that waits for it)."""
    out = subprocess.run([sys.executable, "-c", INTERRUPTED], capture_output=True, text=True,
                         timeout=30, check=False)
    assert out.returncode == 130, out.stderr
    assert "interrupted; step done: False" in out.stdout
