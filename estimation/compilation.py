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
import pickle
import sys
import threading
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jaxlib.version

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
    #: Compiled programs of :func:`traced_jit` read back from disk instead of traced and
    #: compiled (counted in ``loaded`` too).
    reused: int = 0
    #: Programs that could not be written to disk (traced and compiled again by every run),
    #: and why the first of them could not (e.g. one that calls back into Python).
    unkept: int = 0
    unkept_why: str = ""
    #: Of the ``reused``, those read ahead of their first call on background threads
    #: (:func:`prefetch_programs`): a warm command line reads most of its programs so.
    read_ahead: int = 0

    @property
    def seconds(self) -> float:
        return self.compile_seconds + self.trace_seconds

    def __sub__(self, other: CompileStats) -> CompileStats:
        return CompileStats(self.compiled - other.compiled, self.loaded - other.loaded,
                            self.compile_seconds - other.compile_seconds,
                            self.trace_seconds - other.trace_seconds,
                            self.reused - other.reused, self.unkept - other.unkept,
                            self.unkept_why, self.read_ahead - other.read_ahead)

    def line(self) -> str:
        """One line for ``--verbose`` output."""
        return (f"compilation: {self.seconds:.2f} s ({self.compiled} compiled, {self.loaded} "
                f"loaded from the cache; {self.trace_seconds:.2f} s of it tracing and lowering; "
                f"{self.reused} compiled programs read back, {self.read_ahead} of them ahead)"
                + (f"; {self.unkept} programs could not be kept ({self.unkept_why})"
                   if self.unkept else ""))


class _Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.backend = 0
        self.hits = 0
        self.compile_s = 0.0
        self.trace_s = 0.0
        #: This thread's cache hits (JAX reports them in the thread that compiles).
        self.local = threading.local()

    def thread_hits(self) -> int:
        """How many compilations of the calling thread were hits of the persistent cache."""
        return getattr(self.local, "hits", 0)

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
            self.local.hits = self.thread_hits() + 1


_COUNTER = _Counter()
jax.monitoring.register_event_duration_secs_listener(_COUNTER.on_duration)
jax.monitoring.register_event_listener(_COUNTER.on_event)


def compile_stats() -> CompileStats:
    """A snapshot of this process's compilations (a backend compile that was a cache hit counts
    as loaded, not compiled)."""
    with _COUNTER.lock:
        return CompileStats(_COUNTER.backend - _COUNTER.hits,
                            _COUNTER.hits + _EXECUTABLES_LOADED[0],
                            _COUNTER.compile_s, _COUNTER.trace_s, _TRACED_STATS["loaded"],
                            _TRACED_STATS["unkept"], _UNKEPT_WHY[0] if _UNKEPT_WHY else "",
                            len(_PREFETCHED))


# --- Traced programs kept on disk -------------------------------------------------------------
#
# The persistent cache above saves XLA's compilation, but JAX finds an entry by hashing the
# lowered program, so every run still traces and lowers each program in Python first: most of a
# warm run's time. :func:`traced_jit` keeps the compiled program itself (XLA's serialized
# executable, ``jax.experimental.serialize_executable``) under a key computed without tracing:
# the function's code and the values it closes over, the argument shapes, the versions of the
# code and of JAX, and the machine (XLA compiles for this CPU). A warm run reads it back and
# calls it: nothing is traced, lowered, hashed or looked up in JAX's cache. (Until 2026-12 the
# traced program was kept, StableHLO from ``jax.export``, and lowered again by every run to find
# its compilation in the cache: 0.4-0.5 CPU s of the 19 programs of ``reproduce llm_costs
# --quick``, a tenth of the run.) What remains is XLA building the executable from its bytes,
# in proportion to the program's size (about 0.1 ms per kB). A program that JAX found in its
# own cache instead of compiling (after an edit of the sources changed every key, typically)
# is kept traced instead, as before: XLA:CPU cannot write such an executable back whole.

TRACED_DIR = "traced"
#: Suffixes of a kept program's file in :data:`TRACED_DIR`: compiled (XLA's executable), or
#: traced (``jax.export``'s StableHLO) where JAX read the compiled program from its own cache.
PROGRAM_SUFFIX = ".xla"
TRACED_SUFFIX = ".jaxexport"
#: Packages whose functions may be keyed by their code: their source is hashed into every key,
#: so editing any of them invalidates the traced programs. Library functions are keyed by name
#: (and the library versions).
_OWN_PACKAGES = ("estimation", "structural", "papers", "data", "llmecon")
_LIBRARIES = ("jax", "jaxlib", "numpy", "scipy", "builtins", "math", "operator", "functools")


class _Unkeyable(Exception):
    """A value whose content cannot be keyed without tracing: its program is not kept."""


_SOURCE_DIGEST: str | None = None


def _source_digest() -> str:
    """SHA-256 of the project's Python sources and the versions of JAX and NumPy."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        import hashlib

        import jaxlib
        import numpy as np

        root = Path(__file__).resolve().parents[1]
        h = hashlib.sha256(f"{jax.__version__} {jaxlib.__version__} {np.__version__} "
                           f"float={jax.dtypes.canonicalize_dtype(np.float64)}".encode())
        for pkg in _OWN_PACKAGES:
            for path in sorted((root / pkg).rglob("*.py")):
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def _module_kind(module: str | None) -> str | None:
    top = (module or "").split(".")[0]
    if top in _OWN_PACKAGES:
        return "own"
    if top in _LIBRARIES:
        return "library"
    return None


def fingerprint(x: object, _depth: int = 0) -> str:
    """A text that identifies what ``x`` computes, for the key of a traced program: numbers,
    strings, containers, arrays (by their bytes), dataclasses, enums, and functions of this
    project (code, defaults and closure) or of JAX/NumPy/SciPy (by name), and a user's
    functions (a script's model) by their code, closure and the globals they read. Raises
    :class:`_Unkeyable` for anything else (an object of unknown state, a user's module): its
    program is then traced every run, as before."""
    import dataclasses
    import enum
    import functools
    import types

    import numpy as np

    if _depth > 40:
        raise _Unkeyable("too deep")
    fp = functools.partial(fingerprint, _depth=_depth + 1)
    if x is None or isinstance(x, (bool, int, float, complex, str, bytes)):
        return f"{type(x).__name__}:{x!r}"
    if isinstance(x, (tuple, list)):
        return f"{type(x).__qualname__}({','.join(fp(i) for i in x)})"
    if isinstance(x, dict):
        return "dict{" + ",".join(sorted(f"{fp(k)}:{fp(v)}" for k, v in x.items())) + "}"
    if isinstance(x, (set, frozenset)):
        return "set{" + ",".join(sorted(fp(i) for i in x)) + "}"
    if isinstance(x, (np.ndarray, np.generic)):
        import hashlib

        a = np.asarray(x)
        # an object array's bytes are pointers, different in every process: key its items
        blob = fp(a.tolist()).encode() if a.dtype == object else a.tobytes()
        return f"nd:{a.dtype}:{a.shape}:{hashlib.sha256(blob).hexdigest()}"
    if isinstance(x, jax.Array):
        if isinstance(x, jax.core.Tracer):
            raise _Unkeyable("a traced value")
        return fp(np.asarray(x)) + f":{getattr(x, 'weak_type', False)}"
    if isinstance(x, enum.Enum):
        return f"enum:{fp(type(x))}.{x.name}"
    if isinstance(x, type):
        if _module_kind(x.__module__) is None:
            raise _Unkeyable(f"class {x.__qualname__} of {x.__module__}")
        return f"type:{x.__module__}.{x.__qualname__}"
    if isinstance(x, types.ModuleType):
        if _module_kind(x.__name__) is None:
            raise _Unkeyable(f"module {x.__name__}")
        return f"module:{x.__name__}"
    if isinstance(x, types.MethodType):
        return f"method({fp(x.__func__)},{fp(x.__self__)})"
    if isinstance(x, functools.partial):
        return f"partial({fp(x.func)},{fp(x.args)},{fp(x.keywords)})"
    if isinstance(x, types.FunctionType):
        kind = _module_kind(x.__module__)
        name = f"fn:{x.__module__}.{x.__qualname__}"
        if kind == "library":
            return name
        code = x.__code__
        cells = tuple(c.cell_contents for c in (x.__closure__ or ()))
        text = (f"{name}@{code.co_firstlineno}:{code.co_code.hex()}:{fp(_consts(code))}:"
                f"{fp(x.__defaults__)}:{fp(x.__kwdefaults__)}:{fp(cells)}")
        if kind is None:
            # A user's function (a script's model): its source is not hashed with the
            # project's, so the names it reads (globals, attributes) and the value of each
            # global among them are keyed too; one of unknown content makes it unkeyable.
            names = _names(code)
            g = x.__globals__
            text += f":{fp(names)}:{fp({n: g[n] for n in names if n in g})}"
        return text
    if isinstance(x, (types.BuiltinFunctionType, np.ufunc)):
        return f"builtin:{getattr(x, '__module__', None)}.{getattr(x, '__qualname__', x)}"
    if dataclasses.is_dataclass(x):
        return f"dc:{fp(type(x))}" + fp({f.name: getattr(x, f.name)
                                         for f in dataclasses.fields(x)})
    if isinstance(x, jax.custom_jvp | jax.custom_vjp):
        return f"custom:{fp(x.fun)}:{fp(getattr(x, 'jvp', None))}:" \
               f"{fp(getattr(x, 'fwd', None))}:{fp(getattr(x, 'bwd', None))}:" \
               f"{fp(tuple(x.nondiff_argnums))}"
    wrapped = getattr(x, "__wrapped__", None)
    if wrapped is not None and type(x).__module__.split(".")[0] in ("jax", "jaxlib"):
        raise _Unkeyable("a jitted function (its static arguments are not visible)")
    if _module_kind(type(x).__module__) == "own" and hasattr(x, "__dict__"):
        return f"obj:{fp(type(x))}{fp(vars(x))}"
    raise _Unkeyable(f"a {type(x).__qualname__}")


def _names(code) -> tuple[str, ...]:
    """The global and attribute names a code object and its nested code objects read."""
    import types

    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out.update(_names(c))
    return tuple(sorted(out))


def _consts(code):
    """A code object's constants with nested code objects (lambdas, comprehensions) expanded."""
    import types

    return tuple((c.co_code.hex(), _consts(c)) if isinstance(c, types.CodeType) else c
                 for c in code.co_consts)


#: Traced programs already wrapped in this process, by key: equal models share one.
_TRACED: dict[str, Callable] = {}
_TRACED_STATS = {"loaded": 0, "written": 0, "unkept": 0}
#: Of the programs read back, those read as compiled code (the others, traced, are then read
#: from JAX's cache and counted there).
_EXECUTABLES_LOADED = [0]
#: Why the first program that could not be kept was not (one entry at most).
_UNKEPT_WHY: list[str] = []


_MACHINE: list[str] = []


def _machine() -> str:
    """What kept machine code was compiled for: XLA's platform and version, and this CPU's
    model and features (XLA compiles for the host CPU: a cache directory shared by machines of
    different CPUs must not hand one the other's code), as a digest; computed once."""
    if not _MACHINE:
        import hashlib
        import platform

        client = jax.devices()[0].client
        text = f"{client.platform} {client.platform_version} {platform.machine()}"
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                for line in f:  # the first processor's model and flags
                    if not line.strip():
                        break
                    if line.startswith(("model name", "flags", "Features", "CPU part")):
                        text += line
        except OSError:  # not Linux
            text += platform.processor()
        _MACHINE.append(hashlib.sha256(text.encode()).hexdigest())
    return _MACHINE[0]


#: Programs this process compiled itself (not read from JAX's cache), for :func:`_fresh_twin`:
#: (signature, SHA-256 of the module text, executable), held as long as the kept programs are
#: (:func:`release_programs` lets go of both).
_FRESH: list[tuple[str, str, Any]] = []


def _program_signature(lowered: Any, options: dict[str, Any] | None) -> str:
    """What two programs with the same module must share to be the same executable: argument
    and output types, compiler options, and the device (and so platform) compiled for."""
    device = jax.devices()[0]
    return (f"{lowered.in_avals}|{lowered.out_info}|{sorted((options or {}).items())}|"
            f"{device.platform}:{device.id}")


def _module_digest(lowered: Any) -> str:
    """SHA-256 of ``lowered``'s module text, every constant in full (no elision), source
    locations aside."""
    import hashlib

    from jax._src.interpreters.mlir import module_to_string

    text = module_to_string(lowered.compiler_ir(), enable_debug_info=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _remember_fresh(lowered: Any, compiled: Any, options: dict[str, Any] | None) -> None:
    entry = (_program_signature(lowered, options), _module_digest(lowered), compiled)
    with _COUNTER.lock:
        _FRESH.append(entry)


def _fresh_twin(lowered: Any, options: dict[str, Any] | None) -> Any | None:
    """A program this process compiled itself whose module is ``lowered``'s (its full text,
    constants and all, source locations aside), with the same options and device: its
    executable is whole, where the one JAX read from its cache is not
    (:meth:`_TracedJit._compile`), so it can be kept in place of it. Two problems of one run
    often compile the same program (a re-estimate on new instruments: its residuals'
    Jacobian), and the second would otherwise be kept traced only, lowered again (and MLIR
    imported: 0.3 s) at every later run. None where there is none."""
    sig = _program_signature(lowered, options)
    with _COUNTER.lock:
        candidates = [f for f in _FRESH if f[0] == sig]
    if not candidates:
        return None
    mine = _module_digest(lowered)
    return next((compiled for _, code, compiled in candidates if code == mine), None)


def _serialize_program(compiled: Any, tree: Any) -> bytes:
    """The bytes of a compiled program (XLA's executable) and of ``tree``, the structure of
    its outputs before they were flattened."""

    from jax.experimental.serialize_executable import serialize

    return pickle.dumps((*serialize(compiled), tree))


_LAPACK_READY: list[bool] = []


def _lapack_for(executable: bytes) -> None:
    """Make JAX's CPU LAPACK kernels ready where ``executable`` calls one (``lapack_*`` custom
    calls: solves, factorisations, eigenvalues). They find SciPy's BLAS and LAPACK when a
    program calling them is lowered; a program read back is never lowered, and its first call
    would otherwise jump through a null pointer. A program without them does not import SciPy
    for it (0.2-0.3 s of start-up)."""
    if _LAPACK_READY or b"lapack_" not in executable:
        return
    try:
        from jax._src.lax.linalg import initialize_lapack
    except ImportError:  # moved in a later JAX: lowering a LAPACK call initializes them
        import jax.numpy as jnp
        import numpy as np

        jax.jit(jnp.linalg.eigvalsh).lower(np.eye(2))
    else:
        initialize_lapack()
    _LAPACK_READY.append(True)


class _NotImportedYet(Exception):
    """A kept program names a class of a module not imported yet (see :class:`_Imported`)."""


class _Imported(pickle.Unpickler):
    """An unpickler that finds classes only in modules already imported, for a thread reading
    programs back beside a main thread that is still importing: an import from this thread
    could meet a package the main thread is half-way through (``cannot import name ... from
    partially initialized module``). A program whose output structure names such a class
    (a named tuple of the library, say) is left to its first call, in the thread that calls it."""

    def find_class(self, module: str, name: str) -> Any:
        loaded = sys.modules.get(module)
        if loaded is None or getattr(getattr(loaded, "__spec__", None), "_initializing", False):
            raise _NotImportedYet(module)
        return super().find_class(module, name)


def _read_program(path: Path, background: bool = False) -> tuple[Callable, Any] | None:
    """The compiled program kept at ``path`` and its output structure, or None where there is
    none, or it is stale or damaged (then compiled again and replaced). ``background``: read
    on a thread of :func:`prefetch_programs` (:class:`_Imported`; None where it names a module
    not imported yet)."""
    import io
    import time

    try:
        blob = path.read_bytes()
    except OSError:
        return None
    t0 = time.perf_counter()
    try:
        from jax.experimental.serialize_executable import deserialize_and_load

        executable, in_tree, out_tree, tree = (_Imported(io.BytesIO(blob)).load() if background
                                               else pickle.loads(blob))
        _lapack_for(executable)
        compiled = deserialize_and_load(executable, in_tree, out_tree)
    except Exception:
        return None
    with _COUNTER.lock:  # read back instead of compiled: counted as a load of the cache
        _TRACED_STATS["loaded"] += 1
        _EXECUTABLES_LOADED[0] += 1
        _COUNTER.compile_s += time.perf_counter() - t0
    return compiled, tree


#: Every :class:`_TracedJit` of this process, so that :func:`release_programs` reaches the
#: programs each holds by signature.
_INSTANCES: weakref.WeakSet = weakref.WeakSet()


def release_programs() -> None:
    """Let go of the kept programs this process holds (:func:`jax.clear_caches` does not reach
    them: they are held here, not in JAX's caches); a later call reads its program back from
    disk. For a long process that runs many programs once each, such as a test run: XLA:CPU
    maps memory regions per program it holds, a kept program several times as many as
    ``jax.jit``'s (about 120 against 17 on a small model), and the kernel's limit on mapped
    regions is finite."""
    _TRACED.clear()
    with _COUNTER.lock:
        _FRESH.clear()
    for instance in list(_INSTANCES):
        instance.by_sig.clear()


def traced_programs() -> dict[str, int]:
    """How many kept programs this process read from disk (``loaded``), wrote (``written``)
    and could not write (``unkept``)."""
    return dict(_TRACED_STATS)


class _TracedJit:
    """``jax.jit(fn)`` whose compiled program is kept beside the compilation cache (module note
    above); see :func:`traced_jit`."""

    def __init__(self, fn: Callable, key: object,
                 options: dict[str, Any] | None = None) -> None:
        self.fn = fn
        self.options = options
        self.jit = jax.jit(fn, compiler_options=options)
        self.key = key
        self.base: str | None = None  # None: not keyable (or not computed yet)
        self.keyed = False  # whether ``base`` was computed
        self.by_sig: dict[tuple, Callable] = {}
        # threads that call it at once for the first time find its program once: one reads or
        # compiles it, the others wait for that (then each runs it at once)
        self.lock = threading.Lock()
        _INSTANCES.add(self)

    def _base(self) -> str | None:
        if not self.keyed:
            import hashlib

            # under the lock, ``keyed`` set last: a thread arriving meanwhile waits for the
            # key rather than reading ``base`` None and compiling the plain jit on its own
            with self.lock:
                if not self.keyed:
                    try:
                        text = fingerprint(self.key)
                    except Exception:  # _Unkeyable, or an object that does not look as expected
                        self.base = None
                    else:
                        self.base = hashlib.sha256(f"{_source_digest()}|{text}".encode()
                                                   ).hexdigest()
                    self.keyed = True
        return self.base

    def __call__(self, *args):
        directory = cache_in_use()
        if directory is None or jax.device_count() > 1 or self._base() is None:
            return self.jit(*args)
        leaves, tree = jax.tree.flatten(args)
        # NumPy leaves are typed by their shape and dtype alone: a cheap key for the repeated
        # calls of a batched solver (hundreds per run, each with dozens of leaves), where
        # spelling out every leaf's JAX type cost more than some of the calls themselves.
        fast = _numpy_signature(tree, leaves)
        call = self.by_sig.get(fast) if fast is not None else None
        if call is None:
            sig = (tree, tuple(str(jax.typeof(x)) for x in leaves))
            with self.lock:
                call = self.by_sig.get(sig)
                if call is None:
                    call = self.by_sig[sig] = self._program(directory / TRACED_DIR, args,
                                                            leaves, sig)
            if fast is not None:
                self.by_sig[fast] = call
        return call(*leaves)

    def _program(self, directory: Path, args: tuple, leaves: list, sig: tuple) -> Callable:
        import hashlib

        digest = hashlib.sha256(f"{self.base}|{sig[1]}|{sig[0]}|{_machine()}".encode()
                                ).hexdigest()
        _USED.setdefault(digest, self.options)
        pending = _PENDING.get(digest)
        if pending is not None:   # being read back by prefetch_programs: wait for it
            pending.result()
        if digest in _TRACED:
            return _TRACED[digest]
        path = directory / f"{digest}{PROGRAM_SUFFIX}"
        kept = _read_program(path) or self._from_traced(path, leaves)
        if kept is None:
            kept = self._compile(path, args, leaves)
            if kept is None:
                _TRACED[digest] = fallback = self._plain(args)
                return fallback
        _TRACED[digest] = call = _with_tree(*kept)
        return call

    def _from_traced(self, path: Path, leaves: list) -> tuple[Callable, Any] | None:
        """The program kept traced beside ``path`` (see :meth:`_compile`), compiled or read
        from JAX's cache, and its output structure; None where there is none or it is damaged.
        Where XLA compiles it here, its compiled code replaces the traced program: the next
        run reads that instead."""
        traced = path.with_suffix(TRACED_SUFFIX)
        hits = _COUNTER.thread_hits()
        try:
            tree, blob = pickle.loads(traced.read_bytes())
            exported = jax.export.deserialize(blob)
            compiled = _lower_kept(exported, self.options, leaves).compile()
        except Exception:  # absent, stale or damaged: compiled again and replaced
            return None
        with _COUNTER.lock:
            _TRACED_STATS["loaded"] += 1
        if _COUNTER.thread_hits() == hits:  # compiled, not read from JAX's cache: keep that
            try:
                _write_atomic(path, _serialize_program(compiled, tree))
                traced.unlink(missing_ok=True)
            except Exception:  # kept traced, as it was
                pass
        return compiled, tree

    def _compile(self, path: Path, args: tuple, leaves: list) -> tuple[Callable, Any] | None:
        """Trace the program (``jax.export``), compile it, and keep it at ``path``: its
        compiled code, or where JAX read that from its own cache instead of compiling (after an
        edit of the sources, typically) or it cannot be written, the traced program, as before
        programs were kept compiled (XLA:CPU writes an executable read from a cache without all
        of its kernels: "Function ... not found" when the copy runs) unless this process
        compiled the same program itself (:func:`_fresh_twin`). None where it cannot be
        traced: then it is traced every run (a model's own error is raised by the plain jit)."""
        in_tree = jax.tree.structure(args)
        box: dict[str, Any] = {}

        def flat(*xs):
            out = self.fn(*jax.tree.unflatten(in_tree, xs))
            flat_out, box["tree"] = jax.tree.flatten(out)
            return flat_out

        try:
            exported = jax.export.export(jax.jit(flat))(*leaves)
            traced = pickle.dumps((box["tree"], exported.serialize()))
        except Exception as exc:  # a program JAX cannot export: traced every run, as before
            with _COUNTER.lock:
                _TRACED_STATS["unkept"] += 1
                if not _UNKEPT_WHY:  # said by --verbose: a lost saving must not hide here
                    _UNKEPT_WHY.append(f"{type(exc).__name__}: {exc}"[:160])
            return None
        hits = _COUNTER.thread_hits()
        lowered = _lower_kept(exported, self.options, leaves)
        compiled = lowered.compile()
        payload: bytes | None = None
        try:
            if _COUNTER.thread_hits() == hits:  # compiled here, not read from JAX's cache
                payload = _serialize_program(compiled, box["tree"])
                _remember_fresh(lowered, compiled, self.options)  # last: payload kept if not
            else:  # the same program compiled by this process (another problem's) is whole
                twin = _fresh_twin(lowered, self.options)
                payload = None if twin is None else _serialize_program(twin, box["tree"])
        except Exception:  # kept traced
            payload = None
        _write_atomic(path if payload else path.with_suffix(TRACED_SUFFIX), payload or traced)
        with _COUNTER.lock:
            _TRACED_STATS["written"] += 1
        return compiled, box["tree"]

    def _plain(self, args: tuple) -> Callable:
        in_tree = jax.tree.structure(args)
        return lambda *xs: self.jit(*jax.tree.unflatten(in_tree, xs))


def _lower_kept(exported: Any, options: dict[str, Any] | None, leaves: list) -> Any:
    """``exported`` lowered for ``leaves``, without its source locations (MLIR's
    ``strip-debuginfo``), so that the compiled program carries no per-instruction metadata.

    XLA keeps every instruction's JAX name stack and source line in the executable it writes
    (a third of a kept program's bytes), and a warm run parses, copies, prints and frees them
    all again when it reads the program back, a cost in proportion to the bytes. The
    locations name the instructions but do not steer XLA: the optimised program is the same
    (instruction for instruction, up to names), and so are its results. Where the pass is not
    available, the program is compiled with them, as before."""
    lowered = jax.jit(exported.call, compiler_options=options).lower(*leaves)
    try:
        from jax._src.lib.mlir import passmanager

        module: Any = lowered.compiler_ir()  # the module ``compile`` reads: stripped in place
        with module.context:
            passmanager.PassManager.parse("builtin.module(strip-debuginfo)").run(
                module.operation)
    except Exception:  # a JAX without these internals: with its locations (a test tells)
        pass
    return lowered


#: XLA options for a program whose run time is negligible beside its compilation (a fit on a
#: few thousand rows: milliseconds of work, seconds of compiling): LLVM's optimisation passes
#: off. The XLA graph is optimised as always and the arithmetic is the same IEEE arithmetic (no
#: fast-math either way); only the machine code is less tuned. On the fitted cost models this
#: roughly halves the compile time of a fit (the loss-to-success link's: 7.3 -> 3.9 CPU s) at
#: results equal to the solver's stopping noise (1e-8 relative, the same as any rounding
#: change). Where the installed XLA has them (jaxlib 0.7 on), XLA:CPU's MLIR
#: fusion emitters are off too: each fused kernel is then emitted as LLVM IR directly rather
#: than through an MLIR context and pass pipeline of its own, most of the time XLA spent on
#: these programs (a cold ``reproduce llm_costs``: 39 instead of 64 CPU s, same 26 programs);
#: the kernels compute the same operations, and the fits moved within the same stopping noise
#: (at most 3.2e-7 relative, the weakly identified Student-t ν of the inference prices).
QUICK_COMPILE: dict[str, Any] = {"xla_backend_optimization_level": 0}
#: The jaxlib releases whose XLA knows ``xla_cpu_use_fusion_emitters`` for certain: from 0.7 to
#: the newest tested (0.10). XLA rejects an option it does not know ("No such compile option"),
#: and one a later XLA drops would fail every quick-compiled fit, so outside these releases
#: the option is left out (the programs compile as before, only slower).
_FUSION_EMITTERS = ((0, 7, 0), (0, 11, 0))
if (_FUSION_EMITTERS[0] <= tuple(getattr(jaxlib.version, "__version_info__", (0,)))
        < _FUSION_EMITTERS[1]):
    QUICK_COMPILE["xla_cpu_use_fusion_emitters"] = False
#: Rows (after padding) up to which a fit's programs are compiled with :data:`QUICK_COMPILE`:
#: beyond a few thousand rows a search's hundred evaluations start to cost what compiling saves
#: (at 16,384 the warm ``reproduce llm_costs`` ran 45% longer, its usage traces of 10,240 rows).
QUICK_COMPILE_ROWS = 1 << 12


def compiler_options(rows: int | None = None) -> dict[str, Any] | None:
    """:data:`QUICK_COMPILE` for a program over at most :data:`QUICK_COMPILE_ROWS` rows (or
    over none: ``rows`` None, a function of the parameters alone), else None (XLA's default)."""
    return dict(QUICK_COMPILE) if rows is None or rows <= QUICK_COMPILE_ROWS else None


def _numpy_signature(tree: object, leaves: list) -> tuple | None:
    """``(tree, shapes and dtypes)`` when every leaf is a NumPy array (whose JAX type these
    fix), else None; tagged so that it never equals a signature of JAX types."""
    import numpy as np

    out = []
    for x in leaves:
        if type(x) is not np.ndarray:
            return None
        out.append((x.shape, x.dtype.str))
    return ("numpy", tree, tuple(out))


def traced_jit(fn: Callable, key: object,
               options: dict[str, Any] | None = None) -> Callable:
    """``jax.jit(fn)`` (positional arguments, no static ones) whose compiled program is kept on
    disk under ``key`` (what identifies ``fn``'s computation besides the argument shapes: see
    :func:`fingerprint`) while the compilation cache is on, so that a later process neither
    traces, lowers nor compiles it again. Where ``key`` cannot be keyed, the cache is off or
    several devices are in use, it is plain ``jax.jit(fn)``. Same results as ``jax.jit(fn)``:
    the kept program is the one JAX compiles. ``options``: XLA compiler options (e.g.
    :func:`compiler_options`), part of the program's key."""
    return _TracedJit(fn, key, options)


def kept_value(key: object, compute: Callable[[], Any]) -> Any:
    """``compute()``, kept on disk beside the traced programs under ``key`` (see
    :func:`fingerprint`; hashed with the project's sources) while the compilation cache is on:
    for what a warm run would otherwise trace just to learn again, such as the output shape of
    a model function. Where ``key`` cannot be keyed or the cache is off, plain ``compute()``.
    ``compute`` must return a picklable value; an exception it raises is not kept."""
    import hashlib

    directory = cache_in_use()
    if directory is None:
        return compute()
    try:
        text = fingerprint(key)
    except Exception:  # _Unkeyable, or an object that does not look as expected
        return compute()
    digest = hashlib.sha256(f"{_source_digest()}|value|{text}".encode()).hexdigest()
    path = directory / TRACED_DIR / f"{digest}.value"
    try:
        return pickle.loads(path.read_bytes())
    except Exception:  # absent, stale or damaged: compute it again
        pass
    value = compute()
    _write_atomic(path, pickle.dumps(value))
    return value


def _write_atomic(path: Path, blob: bytes) -> None:
    """Write ``blob`` to ``path`` through a rename (another process never reads half of it),
    then bound the folder to a quarter of the cache's size, oldest entries first."""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
        entries = sorted([*path.parent.glob(f"*{PROGRAM_SUFFIX}"),
                          *path.parent.glob(f"*{TRACED_SUFFIX}")], key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in entries)
        budget = _max_bytes() // 4
        for p in entries:
            if total <= budget:
                break
            total -= p.stat().st_size
            p.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only or vanished cache costs only the time to trace again


# --- Reading a run's programs back ahead of use -----------------------------------------------
#
# Reading a kept program back costs tens to hundreds of milliseconds (XLA deserialising its
# machine code, most of it outside the GIL), paid when the program is first called. A command
# that names its run (:func:`prefetch_programs`) has the programs its last run used read back
# on background threads (:data:`READ_THREADS`) from its start, while the main thread imports,
# draws and solves.

#: Threads that read programs back ahead of use. XLA rebuilds a program from its bytes (the HLO
#: module, its buffer assignment and analyses: CPU in proportion to the program's size) outside
#: the GIL, and the run's main thread mostly waits for the next program it calls (a warm
#: ``counterfactual heavy_training_vs_long_context`` reads back 26 MB of programs), so two
#: readers can fill both cores of a small machine while the main thread waits; more than the
#: machine's cores gain nothing.
READ_THREADS = 2
#: Programs this process has asked for, by digest (with their compiler options), in order.
_USED: dict[str, dict[str, Any] | None] = {}
#: Programs being read back by :func:`prefetch_programs`, by digest.
_PENDING: dict[str, Any] = {}
#: Programs :func:`prefetch_programs` read back (counted in ``traced_programs()["loaded"]``).
_PREFETCHED: list[str] = []
#: The run :func:`prefetch_from_env` started at import, (name, record), until the run's own
#: :func:`prefetch_programs` call under that name takes it.
_FROM_ENV: list[tuple[str, Callable[[], None]]] = []
#: Environment variable (internal: set by the command line only) naming a run whose programs
#: ``import estimation`` starts reading back (:func:`prefetch_from_env`), as ``PID:NAME``: a
#: program that names its run before importing the library (the command line) has them read
#: while the rest of the library, pandas and the command's own modules import, instead of from
#: when the run starts. Removed once read, and obeyed only by the process that set it: a child
#: process (a Dask worker, a subprocess) that inherits it ignores it.
PREFETCH_ENV = "_LLMECON_PREFETCH"


def prefetch_from_env() -> Callable[[], None] | None:
    """:func:`prefetch_programs` of the run that :data:`PREFETCH_ENV` names (and the variable
    removed), as ``import estimation`` does once the cache is configured; None when it names
    none or was set by another process.

    Examples
    --------
    >>> import os
    >>> from estimation.compilation import PREFETCH_ENV, prefetch_from_env
    >>> os.environ[PREFETCH_ENV] = "1:a run of another process"  # inherited: ignored
    >>> prefetch_from_env() is None, PREFETCH_ENV in os.environ
    (True, False)
    """
    pid, _, name = os.environ.pop(PREFETCH_ENV, "").partition(":")
    if not name or pid != str(os.getpid()):
        return None
    record = prefetch_programs(name)
    _FROM_ENV.append((name, record))
    return record


def prefetched_programs() -> int:
    """How many of the traced programs read back (:func:`traced_programs`'s ``loaded``) were
    read ahead of their first call by :func:`prefetch_programs`."""
    return len(_PREFETCHED)


def prefetch_programs(name: str) -> Callable[[], None]:
    """Start reading back, on background threads, the kept programs that the last run named
    ``name`` used (programs another run needs are only read back sooner; results are
    unchanged), and return a function to call when the run is done: it records the programs
    this run used under ``name``, for the next run. With the cache off, both do nothing. The
    function's ``ahead`` attribute is the number of programs the last run used (0: none known,
    e.g. a cold run), being read ahead here or by an earlier call.

    A program the run calls while it is still being read waits for it instead of reading it
    twice; one the run does not call costs only background work, stopped at exit. The first
    call with the name of the run started at import (:data:`PREFETCH_ENV`: the command line
    names it, the library function it runs calls this) returns that run's function."""
    import concurrent.futures
    import hashlib
    import pickle

    if _FROM_ENV and _FROM_ENV[0][0] == name:
        return _FROM_ENV.pop()[1]
    directory = cache_in_use()
    if directory is None or jax.device_count() > 1:
        def nothing() -> None:
            pass

        nothing.ahead = 0  # type: ignore[attr-defined]
        return nothing
    manifest = directory / TRACED_DIR / (hashlib.sha256(
        f"{_source_digest()}|programs|{name}".encode()).hexdigest() + ".programs")
    try:
        planned: dict[str, dict[str, Any] | None] = pickle.loads(manifest.read_bytes())
    except Exception:  # absent, stale or damaged: nothing to read ahead
        planned = {}
    todo = [(d, o) for d, o in planned.items() if d not in _TRACED and d not in _PENDING]
    if todo:   # imported here, not by a reader beside a main thread that may be importing
        from jax.experimental import serialize_executable  # noqa: F401
    futures: dict[str, concurrent.futures.Future] = {
        d: concurrent.futures.Future() for d, _ in todo}
    _PENDING.update(futures)
    stop = threading.Event()

    queue = iter(todo)
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:   # the next program in the order the last run first called them
                digest, _ = next(queue, (None, None))
            if digest is None:
                return
            try:
                if not stop.is_set():
                    _read_back(directory / TRACED_DIR, digest)
            except Exception:  # the run's own call reads it (or traces it) as before
                pass
            finally:
                _PENDING.pop(digest, None)
                futures[digest].set_result(None)

    threads = [threading.Thread(target=work, name=f"read-kept-programs-{i}", daemon=True)
               for i in range(min(READ_THREADS, len(todo)))]
    if threads:
        for thread in threads:
            thread.start()
        import atexit

        def finish() -> None:   # an unused program's read is not cut short by the exit
            stop.set()
            for thread in threads:
                thread.join()

        atexit.register(finish)

    before = set(_USED)  # asked for by earlier work of this process (another scenario)

    def record() -> None:
        used = {d: o for d, o in _USED.items() if d not in before or d in planned}
        if used != planned:
            _write_atomic(manifest, pickle.dumps(used))

    # what the last run used and is still kept (evicted, or another machine's, it is compiled
    # again: a cold run), whether read here or already (by another name's prefetch)
    ahead = sum(d in _TRACED or any((directory / TRACED_DIR / f"{d}{suffix}").exists()
                                    for suffix in (PROGRAM_SUFFIX, TRACED_SUFFIX))
                for d in planned)
    record.ahead = ahead  # type: ignore[attr-defined]
    return record


def _read_back(directory: Path, digest: str) -> None:
    """Read the compiled program ``digest`` back into this process, as
    :meth:`_TracedJit._program` does at a first call (a program kept only traced is left to
    that call)."""
    if digest in _TRACED:
        return
    kept = _read_program(directory / f"{digest}{PROGRAM_SUFFIX}", background=True)
    if kept is None:
        return
    _PREFETCHED.append(digest)
    _TRACED[digest] = _with_tree(*kept)


def _with_tree(run: Callable, out_tree: Any) -> Callable:
    """A kept program's flat ``run`` returning its outputs in their tree."""
    def call(*xs):
        return jax.tree.unflatten(out_tree, run(*xs))

    return call
