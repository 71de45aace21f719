"""The persistent compilation cache: on by default in the user cache directory, moved or switched
off by the environment, bounded in size, shared safely by two processes at once; and the count of
compilations that ``--verbose`` reports.

Each check runs in a fresh interpreter, since the cache is configured when ``estimation`` is first
imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Compiles a handful of small programs and prints the cache in use and the compile counts.
WORKLOAD = """
import json, sys
import estimation
import jax, jax.numpy as jnp
from estimation.compilation import cache_in_use, compile_stats
before = compile_stats()
for k in range(int(sys.argv[1])):
    f = jax.jit(lambda x, k=k: jnp.sum(jnp.sin(x * (k + 1.5)) ** 2) + jnp.linalg.norm(x))
    f(jnp.arange(16.0 + k)).block_until_ready()
s = compile_stats() - before
print(json.dumps({"cache": None if cache_in_use() is None else str(cache_in_use()),
                  "enabled": bool(jax.config.jax_enable_compilation_cache),
                  "compiled": s.compiled, "loaded": s.loaded}))
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LLMECON_CACHE_DIR", "LLMECON_CACHE_MAX_MB", "JAX_COMPILATION_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")  # where platformdirs looks on Linux
    env["JAX_PLATFORMS"] = "cpu"
    env.update(extra)
    return env


def _run(env: dict[str, str], programs: int = 3) -> dict:
    out = subprocess.run([sys.executable, "-c", WORKLOAD, str(programs)], env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr and "Error" not in out.stderr, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _entries(path: Path) -> list[Path]:
    return sorted(path.glob("*-cache"))


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_CACHE_HOME is the Linux convention")
def test_default_cache_is_the_user_cache_directory_and_a_second_run_compiles_nothing(tmp_path):
    env = _env(tmp_path)
    first = _run(env)
    where = tmp_path / "xdg" / "llmecon" / "jax"
    assert first["cache"] == str(where) and first["enabled"]
    assert first["compiled"] >= 3 and _entries(where)
    second = _run(env)
    assert second["compiled"] == 0
    assert second["loaded"] == first["compiled"]


def test_environment_switches_off_the_cache(tmp_path):
    off = _run(_env(tmp_path, LLMECON_CACHE_DIR="off"))
    assert off["cache"] is None and not off["enabled"]
    assert off["loaded"] == 0 and not (tmp_path / "xdg" / "llmecon").exists()


def test_two_processes_share_one_cache_at_once(tmp_path):
    """Both processes compile the same programs into the same empty cache (moved there by
    ``LLMECON_CACHE_DIR``) concurrently: neither fails or warns (JAX locks the cache when a size
    bound is set), and a third process then finds every program in the cache."""
    env = _env(tmp_path, LLMECON_CACHE_DIR=str(tmp_path / "shared"))
    procs = [subprocess.Popen([sys.executable, "-c", WORKLOAD, "6"], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "Warning" not in err and "Error" not in err, err
        assert json.loads(out.strip().splitlines()[-1])["compiled"] + \
            json.loads(out.strip().splitlines()[-1])["loaded"] >= 6
    third = _run(env, programs=6)
    assert third["cache"] == str(tmp_path / "shared")
    assert third["compiled"] == 0 and third["loaded"] >= 6


def test_cache_size_is_bounded(tmp_path):
    """With a 64 kB bound the least recently used entries are evicted as new ones arrive."""
    where = tmp_path / "small"
    _run(_env(tmp_path, LLMECON_CACHE_DIR=str(where), LLMECON_CACHE_MAX_MB="0.0625"), 12)
    sizes = [p.stat().st_size for p in _entries(where)]
    assert sizes and sum(sizes) <= 64 * 1024


def test_bad_size_bound_is_named(tmp_path):
    out = subprocess.run([sys.executable, "-c", "import estimation"], capture_output=True,
                         text=True, env=_env(tmp_path, LLMECON_CACHE_MAX_MB="lots"), check=False)
    assert out.returncode != 0 and "LLMECON_CACHE_MAX_MB='lots'" in out.stderr


def test_compile_stats_count_compilations_in_process():
    import jax
    import jax.numpy as jnp

    from estimation.compilation import compile_stats

    x = jnp.ones(7)
    f = jax.jit(lambda x: jnp.cumsum(x) * 3.25 - 0.125)
    before = compile_stats()
    f(x).block_until_ready()
    f(x).block_until_ready()  # the same shape: no new compilation
    d = compile_stats() - before
    assert d.compiled + d.loaded == 1
    assert d.seconds > 0
    assert "compilation:" in d.line()


#: Checks a model's output shape (Objective.check_shape) and reports whether it traced the model.
SHAPE_CHECK = """
import json
import jax.numpy as jnp
import numpy as np
import estimation
from estimation.fit import _objective
traced = []
def loglik(p, d):
    traced.append(1)
    return -0.5 * (d["y"] - p["mu"]) ** 2
obj = _objective(loglik, {"y": np.arange(5.0)}, ["mu"], "mle", None, None, None, None)
obj.check_shape(np.zeros(1))
print(json.dumps({"traced": len(traced)}))
"""


def test_a_second_process_reads_the_model_shape_back_without_tracing(tmp_path):
    """The output shape that the start checks trace the model for is kept beside the traced
    programs (estimation.compilation.kept_value): a warm run does not trace the model for it."""
    env = _env(tmp_path, LLMECON_CACHE_DIR=str(tmp_path / "cache"))

    def run() -> dict:
        out = subprocess.run([sys.executable, "-c", SHAPE_CHECK], env=env, capture_output=True,
                             text=True, timeout=300, check=False)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert run()["traced"] == 1
    assert run()["traced"] == 0
    assert list((tmp_path / "cache" / "traced").glob("*.value"))


TYPED = """
import json
import jax
import numpy as np
import jax.numpy as jnp
from estimation.compilation import traced_jit, traced_programs
jax.config.update("jax_enable_x64", True)

def f(d):
    return {"y": jnp.cumsum(d["x"]) * d["s"]}

g = traced_jit(f, ("cumsum", f))
a = {"x": np.arange(3.0), "s": np.array(2.0)}
b = {"x": np.arange(4.0), "s": np.array(2.0)}
c = {"x": jnp.asarray(np.arange(3.0)), "s": jnp.asarray(np.array(2.0))}
r = [g(x)["y"].tolist() for x in (a, a, b, c)]
programs = len({id(p) for p in g.by_sig.values()})
print(json.dumps({"r": r, "traced": traced_programs(), "programs": programs}))
"""


def test_numpy_arguments_find_their_kept_program_by_shape_and_dtype(tmp_path):
    """Repeated NumPy arguments take the cheap signature (shape, dtype); another shape is another
    program, and JAX arrays of the same type find the same program."""
    out = subprocess.run([sys.executable, "-c", TYPED], capture_output=True, text=True,
                         timeout=300, check=False,
                         env=_env(tmp_path, LLMECON_CACHE_DIR=str(tmp_path / "c")))
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["r"] == [[0.0, 2.0, 6.0], [0.0, 2.0, 6.0], [0.0, 2.0, 6.0, 12.0], [0.0, 2.0, 6.0]]
    assert res["traced"]["written"] == 2 and res["programs"] == 2


RELEASED = """
import json
import jax
import numpy as np
import jax.numpy as jnp
from estimation import compilation
from estimation.compilation import release_programs, traced_jit, traced_programs
jax.config.update("jax_enable_x64", True)

def f(x):
    return jnp.cumsum(x) * 2.0

g = traced_jit(f, ("released", f))
x = np.arange(3.0)
first = g(x).tolist()
fresh_before = len(compilation._FRESH)
release_programs()
held_after, fresh_after = len(g.by_sig), len(compilation._FRESH)
again = g(x).tolist()
print(json.dumps({"r": [first, again], "held_after": held_after, "traced": traced_programs(),
                  "fresh": [fresh_before, fresh_after]}))
"""


def test_released_programs_are_read_back_from_disk(tmp_path):
    """release_programs lets go of the kept programs this process holds (jax.clear_caches does
    not reach them; the test run's memory-map guard in tests/conftest.py calls both): the next
    call reads its program back from disk, without tracing or compiling it again, and gives the
    same result."""
    out = subprocess.run([sys.executable, "-c", RELEASED], capture_output=True, text=True,
                         timeout=300, check=False,
                         env=_env(tmp_path, LLMECON_CACHE_DIR=str(tmp_path / "c")))
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["r"] == [[0.0, 2.0, 6.0], [0.0, 2.0, 6.0]]
    assert res["held_after"] == 0
    assert res["fresh"] == [1, 0]  # the programs compiled here are let go of too
    assert res["traced"]["written"] == 1 and res["traced"]["loaded"] == 1


def test_a_slow_key_is_computed_once_for_threads_arriving_meanwhile(monkeypatch):
    """A kept program's key is computed by the first caller while the others wait: a thread
    arriving meanwhile gets the key, not None (which would send it to a plain jit, compiled
    apart from the kept program)."""
    import threading
    import time

    from estimation import compilation

    calls = []

    def slow(key):
        calls.append(key)
        time.sleep(0.3)
        return "slow key"

    monkeypatch.setattr(compilation, "fingerprint", slow)
    prog = compilation.traced_jit(lambda x: x, ("slow",))
    seen: list = []
    first = threading.Thread(target=lambda: seen.append(prog._base()))
    first.start()
    time.sleep(0.05)
    seen.append(prog._base())
    first.join()
    assert len(calls) == 1
    assert seen[0] is not None and seen == [seen[0], seen[0]]


TWINS = """
import json
import jax
import numpy as np
import jax.numpy as jnp
from estimation.compilation import traced_jit, traced_programs
jax.config.update("jax_enable_x64", True)

def f(x):
    return jnp.cumsum(x) * 2.0

x = np.arange(3.0)
r = [traced_jit(f, (name, f))(x).tolist() for name in ("first", "second")]
print(json.dumps({"r": r, "traced": traced_programs()}))
"""


def test_a_program_compiled_twice_in_a_run_is_kept_compiled_both_times(tmp_path):
    """Two programs of one run with different keys but the same computation: the second's
    compilation is read from JAX's cache (an executable XLA:CPU would write without its
    kernels), so the first's, compiled in this process, is kept for it; a second process reads
    both back compiled, with the same results."""
    env = _env(tmp_path, LLMECON_CACHE_DIR=str(tmp_path / "c"))

    def run() -> dict:
        out = subprocess.run([sys.executable, "-c", TWINS], capture_output=True, text=True,
                             timeout=300, check=False, env=env)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = run()
    traced = tmp_path / "c" / "traced"
    assert first["traced"]["written"] == 2
    assert len(list(traced.glob("*.xla"))) == 2 and not list(traced.glob("*.jaxexport"))
    second = run()
    assert second["r"] == first["r"] == [[0.0, 2.0, 6.0]] * 2
    assert second["traced"]["loaded"] == 2 and second["traced"]["written"] == 0


def test_kept_programs_are_lowered_without_source_locations():
    """The module a kept program is compiled from names no instruction (its source locations
    stripped by the installed JAX's MLIR pass: a third of the bytes a warm run reads back);
    the same program lowered plainly does, so a JAX whose pass went missing fails here."""
    import re

    import jax
    import jax.numpy as jnp

    import estimation  # noqa: F401  (float64)
    from estimation.compilation import _lower_kept

    exported = jax.export.export(jax.jit(lambda x: jnp.sin(x) * 2.0))(
        jax.ShapeDtypeStruct((3,), jnp.float64))
    plain = jax.jit(exported.call).lower(jnp.zeros(3)).as_text(debug_info=True)
    kept = _lower_kept(exported, None, [jnp.zeros(3)])
    assert re.search(r'loc\("', plain)
    assert not re.search(r'loc\("', kept.as_text(debug_info=True))
    out = kept.compile()(jnp.arange(3.0))
    assert jnp.array_equal(out, jnp.sin(jnp.arange(3.0)) * 2.0)
