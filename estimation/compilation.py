"""Compile once per machine: JAX's persistent compilation cache, and a count of what compiles.

The cache is on by default in the platform's user cache directory
(``platformdirs.user_cache_path("llmecon") / "jax"``, e.g. ``~/.cache/llmecon/jax`` on Linux).
``LLMECON_CACHE_DIR=PATH`` moves it, ``LLMECON_CACHE_DIR=off`` switches it off, and
``LLMECON_CACHE_MAX_MB`` bounds its size (default 1024): past the bound JAX evicts the least
recently used entries. Without ``LLMECON_CACHE_DIR``, a ``JAX_COMPILATION_CACHE_DIR`` the user set
for JAX itself is used.

Two processes may share the cache. JAX writes an entry with a plain ``write_bytes`` (not an atomic
rename), so an unbounded cache could let one process read another's half-written entry; with a
size bound JAX takes a file lock (the ``filelock`` package) around every read and write, which is
why the bound is always set here.

:func:`compile_stats` counts the XLA compilations of this process and their time, through JAX's
monitoring events, so a command can report compilation apart from computation.
"""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import jax

from estimation.errors import SpecificationError

CACHE_ENV = "LLMECON_CACHE_DIR"
MAX_MB_ENV = "LLMECON_CACHE_MAX_MB"
DEFAULT_MAX_MB = 1024
_OFF = {"off", "none", "0", "false", "no"}

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_CACHE_HIT = "/jax/compilation_cache/cache_hits"


def user_cache_root() -> Path:
    """llmecon's directory in the platform's user cache (e.g. ``~/.cache/llmecon`` on Linux):
    compiled code lives in ``jax/`` below it, cached fits in ``fits/``."""
    import platformdirs

    return Path(platformdirs.user_cache_path("llmecon", appauthor=False))


def default_cache_dir() -> Path:
    """The platform's user cache directory for llmecon's compiled code."""
    return user_cache_root() / "jax"


def cache_dir_from_env() -> Path | None:
    """The cache directory the environment asks for, or None when it says ``off``:
    ``LLMECON_CACHE_DIR`` if set, else a ``JAX_COMPILATION_CACHE_DIR`` the user set for JAX
    itself, else :func:`default_cache_dir`."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value:
        return None if value.lower() in _OFF else Path(value).expanduser()
    jax_dir = os.environ.get("JAX_COMPILATION_CACHE_DIR", "").strip()
    return Path(jax_dir).expanduser() if jax_dir else default_cache_dir()


def _max_bytes() -> int:
    value = os.environ.get(MAX_MB_ENV, "").strip()
    try:
        mb = float(value) if value else DEFAULT_MAX_MB
    except ValueError:
        raise SpecificationError(f"{MAX_MB_ENV}={value!r}: expected a size in megabytes"
                                 ) from None
    if not mb > 0:
        raise SpecificationError(f"{MAX_MB_ENV}={value!r}: expected a positive size in megabytes "
                         f"(switch the cache off with {CACHE_ENV}=off)")
    return int(mb * 2**20)


_configured: Path | bool | None = False


def configure_cache(path: str | os.PathLike | bool | None = True) -> Path | None:
    """Switch the persistent compilation cache on at ``path`` (True: from the environment, see
    the module docstring) or off (None or False). Returns the directory in use, or None.

    Every compilation is cached however short (JAX's default keeps only those over 1 s, which
    leaves out nearly all of ours: many compile in 0.1–0.5 s and add up to most of a command's
    time). Safe to call again, e.g. when the command line moves the cache.
    """
    global _configured
    from jax._src import compilation_cache

    if path is True:
        target = cache_dir_from_env()
    elif path is None or path is False:
        target = None
    else:
        target = Path(path).expanduser()
    if target == _configured:
        return target
    if target is None:
        jax.config.update("jax_enable_compilation_cache", False)
        jax.config.update("jax_compilation_cache_dir", None)
    else:
        max_bytes = _max_bytes()
        target.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_enable_compilation_cache", True)
        jax.config.update("jax_compilation_cache_dir", str(target))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        jax.config.update("jax_compilation_cache_max_size", max_bytes)
    if compilation_cache.is_initialized():
        compilation_cache.reset_cache()  # re-read the settings at the next compilation
    _configured = target
    return target


def enable_default_cache() -> Path | None:
    """:func:`configure_cache` from the environment, once per process, as ``import estimation``
    does. A cache directory that cannot be created (a read-only home) leaves the cache off with a
    warning rather than stopping the program."""
    if _configured is not False:
        return cache_in_use()
    try:
        return configure_cache(True)
    except OSError as exc:
        warnings.warn(f"llmecon: the compilation cache is off ({exc}); set {CACHE_ENV} to a "
                      "writable directory to keep compiled code between runs", stacklevel=2)
        return configure_cache(None)


def cache_in_use() -> Path | None:
    """The directory of the persistent cache as configured, or None when it is off."""
    return _configured if isinstance(_configured, Path) else None


@dataclass(frozen=True)
class CompileStats:
    """Compilations of this process so far (or between two snapshots: ``b - a``).

    ``compiled``: programs XLA compiled; ``loaded``: programs read from the persistent cache
    instead; ``seconds``: time in XLA compilation and cache reads plus tracing and lowering.
    """

    compiled: int = 0
    loaded: int = 0
    compile_seconds: float = 0.0
    trace_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.compile_seconds + self.trace_seconds

    def __sub__(self, other: CompileStats) -> CompileStats:
        return CompileStats(self.compiled - other.compiled, self.loaded - other.loaded,
                            self.compile_seconds - other.compile_seconds,
                            self.trace_seconds - other.trace_seconds)

    def line(self) -> str:
        """One line for ``--verbose`` output."""
        return (f"compilation: {self.seconds:.2f} s ({self.compiled} compiled, {self.loaded} "
                f"loaded from the cache; {self.trace_seconds:.2f} s of it tracing and lowering)")


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.backend = 0
        self.hits = 0
        self.compile_s = 0.0
        self.trace_s = 0.0

    def on_duration(self, event: str, duration_secs: float, **_: str | int) -> None:
        duration = duration_secs
        if event == _BACKEND_COMPILE:
            with self.lock:
                self.backend += 1
                self.compile_s += duration
        elif event in (_TRACE, _LOWER):
            with self.lock:
                self.trace_s += duration

    def on_event(self, event: str, **_: object) -> None:
        if event == _CACHE_HIT:
            with self.lock:
                self.hits += 1


_COUNTER = _Counter()
jax.monitoring.register_event_duration_secs_listener(_COUNTER.on_duration)
jax.monitoring.register_event_listener(_COUNTER.on_event)


def compile_stats() -> CompileStats:
    """A snapshot of this process's compilations (a backend compile that was a cache hit counts
    as loaded, not compiled)."""
    with _COUNTER.lock:
        return CompileStats(_COUNTER.backend - _COUNTER.hits, _COUNTER.hits,
                            _COUNTER.compile_s, _COUNTER.trace_s)
