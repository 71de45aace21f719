"""A step run on a thread of its own beside the caller's work (:class:`Background`): a
compiled program runs outside the GIL, so two threads use two cores, and a Ctrl-C is never held
up by the step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Background"]


class Background:
    """``fn(*args)`` run on a daemon thread of its own (a compiled program runs outside the
    GIL, so two threads use two cores), its result or exception given by :meth:`result` in
    the calling thread.

    A daemon thread, not an executor's worker: Ctrl-C while the caller waits (or works) raises
    KeyboardInterrupt at once, and the process exits without joining the thread (an executor
    joins its worker on the way out, and the interpreter's exit joins every non-daemon thread:
    a whole estimation before one Ctrl-C takes effect).

    Examples
    --------
    >>> from estimation.background import Background
    >>> Background(sum, [1, 2, 3]).result()
    6
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "background") -> None:
        self._box: dict[str, Any] = {}
        self._done = threading.Event()

        def run() -> None:
            try:
                self._box["value"] = fn(*args)
            except BaseException as exc:  # re-raised in the caller by result()
                self._box["error"] = exc
            finally:
                self._done.set()

        threading.Thread(target=run, name=name, daemon=True).start()

    def done(self) -> bool:
        """Whether ``fn`` has returned or raised."""
        return self._done.is_set()

    def result(self) -> Any:
        """``fn(*args)``'s value once it returns (the waiting is interruptible by Ctrl-C), or
        the exception it raised."""
        # In short waits: a Ctrl-C the kernel hands to another thread does not wake a wait on
        # a lock; the main thread runs Python's signal handler only between waits.
        while not self._done.wait(0.05):
            pass
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]
