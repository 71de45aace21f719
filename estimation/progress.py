"""What the terminal shows during long work: one mechanism for every command and library call.

- :class:`Progress`, a progress bar for batched work with a known size (grids, bootstraps,
  sweeps);
- :class:`StatusLine`, one status line for a step of unknown length ("compiling the firm's
  problem ... done (17.2 s)"), optionally shown only once the step has run ``delay`` seconds;
- :func:`status`, a one-off status line ("llm_costs: [2/5] fitting inference prices ...").

Each is shown only when enabled, stderr is a terminal (so logs, pipes and tests stay clean) and
the process is not quiet: ``LLMECON_QUIET`` set to anything but ``""`` or ``"0"`` silences them
everywhere, which is what the command line's ``--quiet`` does while a command runs.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

#: Environment variable that silences every progress display of the process.
QUIET_ENV = "LLMECON_QUIET"


def quiet() -> bool:
    """Whether progress display is off for the whole process (:data:`QUIET_ENV`)."""
    return os.environ.get(QUIET_ENV, "").strip() not in ("", "0")


def showing(enabled: bool = True, stream: TextIO | None = None) -> bool:
    """Whether a display asked for with ``enabled`` appears: not quiet, and an explicit
    ``stream`` or a terminal on stderr."""
    if not enabled or quiet():
        return False
    return stream is not None or sys.stderr.isatty()


class Progress:
    """``with Progress(total, "bootstrap") as bar: bar.update(done)``."""

    def __init__(self, total: int, desc: str, enabled: bool = True, stream: TextIO | None = None):
        self.total = max(int(total), 1)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = showing(enabled, stream)
        self.done = 0
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._first = 0

    def start(self, done: int = 0, total: int | None = None) -> None:
        """Restart the clock with ``done`` units (of ``total``, if given) already finished (a
        resumed run): the rate, and so the ETA, count only the work done from now on."""
        if total is not None:
            self.total = max(int(total), 1)
        self.done = self._first = int(done)
        self._t0 = time.perf_counter()

    def update(self, done: int, extra: str = "") -> None:
        self.done = int(done)
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        _end_open_line(self.stream)
        frac = self.done / self.total
        bar = "#" * int(24 * frac)
        elapsed = now - self._t0
        self.stream.write(
            f"\r{self.desc}: [{bar:<24}] {self.done}/{self.total} "
            f"{elapsed:5.1f}s{self.eta(elapsed)} {extra}".rstrip()
        )
        self.stream.flush()

    def eta(self, elapsed: float) -> str:
        """The ETA suffix (``ETA 12s``) at the rate since :meth:`start`; blank before any work."""
        new = self.done - self._first
        if new <= 0 or self.done >= self.total:
            return ""
        left = elapsed * (self.total - self.done) / new
        return f" ETA {left:.0f}s" if left < 120 else f" ETA {left / 60:.1f}min"

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.update(self.done)
            self.stream.write("\n")
            self.stream.flush()


def status(message: str, enabled: bool = True, stream: TextIO | None = None) -> None:
    """Write ``message`` as one line on stderr (or ``stream``) when :func:`showing`."""
    if showing(enabled, stream):
        out = stream if stream is not None else sys.stderr
        _end_open_line(out)
        out.write(message + "\n")
        out.flush()


#: The :class:`StatusLine` whose line is on screen without its end yet (a nested display first
#: moves to a new line).
_open: StatusLine | None = None


def _end_open_line(stream: TextIO) -> None:
    global _open
    if _open is not None and _open.stream is stream:
        stream.write("\n")
        _open.broken = True
        _open = None


class StatusLine:
    """``with StatusLine("compiling the firm's problem", delay=1.0): ...`` writes
    ``compiling the firm's problem ...`` once the block has run ``delay`` seconds (at once for
    0) and ends the line with ``done (17.2 s)`` when it finishes; a block quicker than ``delay``
    shows nothing. The delayed line is written from a timer thread, so it appears while the main
    thread is inside a long compiled call."""

    def __init__(self, message: str, enabled: bool = True, delay: float = 0.0,
                 stream: TextIO | None = None):
        self.message = message
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = showing(enabled, stream)
        self.delay = float(delay)
        self.shown = False
        self.broken = False
        self._finished = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._t0 = time.perf_counter()

    def _show(self) -> None:
        global _open
        with self._lock:
            if self._finished:
                return
            _end_open_line(self.stream)
            self.stream.write(f"{self.message} ...")
            self.stream.flush()
            self.shown = True
            _open = self

    def __enter__(self) -> StatusLine:
        self._t0 = time.perf_counter()
        if self.enabled:
            if self.delay > 0:
                self._timer = threading.Timer(self.delay, self._show)
                self._timer.daemon = True
                self._timer.start()
            else:
                self._show()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        global _open
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._finished = True
            if not self.shown:
                return
            word = "done" if exc_type is None else "stopped"
            lead = f"{self.message} " if self.broken or _open is not self else " "
            self.stream.write(f"{lead}{word} ({time.perf_counter() - self._t0:.1f} s)\n")
            self.stream.flush()
            if _open is self:
                _open = None
