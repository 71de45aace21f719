"""A small terminal progress line for long batched work (grids, bootstraps, sweeps).

Shown only when enabled and stderr is a terminal, so logs and tests stay clean; ``enabled=False``
silences it everywhere.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``with Progress(total, "bootstrap") as bar: bar.update(done)``."""

    def __init__(self, total: int, desc: str, enabled: bool = True, stream: TextIO | None = None):
        self.total = max(int(total), 1)
        self.desc = desc
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(enabled) and (stream is not None or self.stream.isatty())
        self.done = 0
        self._t0 = time.perf_counter()
        self._last = 0.0

    def update(self, done: int, extra: str = "") -> None:
        self.done = int(done)
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        frac = self.done / self.total
        bar = "#" * int(24 * frac)
        self.stream.write(
            f"\r{self.desc}: [{bar:<24}] {self.done}/{self.total} "
            f"{now - self._t0:5.1f}s {extra}".rstrip()
        )
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.update(self.done)
            self.stream.write("\n")
            self.stream.flush()
