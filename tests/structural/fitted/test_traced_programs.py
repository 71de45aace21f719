"""Compiled programs kept between runs (``estimation.compilation.traced_jit``): a second process
reads back what the first compiled instead of tracing, lowering and compiling it again, with the
same numbers to the last bit (a fit's program calls LAPACK, which a program read back must make
ready itself); the key follows the code and every value a function closes over (for a
script's own function, every global it reads too); a key holding what it cannot describe (an
object of unknown state) leaves the program traced as before."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimation import compilation
from estimation.compilation import _Unkeyable, fingerprint, traced_jit
from estimation.objective import objective_scale

FIT = """
import json, sys
import numpy as np
from structural.fitted import price_trend
from estimation.compilation import compile_stats, traced_programs
scores = price_trend.eci_scores()
res = price_trend.fit_threshold(price_trend.observations(),
                                float(scores[price_trend.REFERENCE_MODELS[0]]))
dcl = price_trend.decline(res)  # a delta-method function of the parameters
s = compile_stats()
print(json.dumps({"params": res.params.to_numpy().tolist(), "bse": res.bse.to_numpy().tolist(),
                  "llf": res.llf, "decline": dcl.to_numpy().tolist(),
                  "traced": traced_programs(), "compiled": s.compiled}))
"""


def test_second_process_reads_the_traced_programs_back_with_the_same_numbers(tmp_path,
                                                                           second_process):
    first, second = second_process(FIT)
    # the single-start fit (one program) and the decline's delta method
    assert first["traced"]["written"] >= 2 and first["traced"]["loaded"] == 0
    assert second["traced"] == {"loaded": first["traced"]["written"], "written": 0, "unkept": 0}
    assert second["compiled"] == 0
    # bit for bit: the program read back is the one traced
    for key in ("params", "bse", "llf", "decline"):
        assert second[key] == first[key]
    assert list((tmp_path / "cache" / compilation.TRACED_DIR).glob(
        f"*{compilation.PROGRAM_SUFFIX}"))


def _scaled_sum(scale, x, w):
    return objective_scale(x * scale, w) + jnp.sum(jnp.sin(x) * w)


@pytest.fixture
def cache_dir(tmp_path):
    before = compilation.cache_in_use()
    yield compilation.configure_cache(tmp_path / "jax")
    compilation.configure_cache(before)


def test_read_back_in_a_fresh_wrapper_equals_jit(cache_dir):
    fn = partial(_scaled_sum, 1.7)
    x = np.linspace(-3.0, 5.0, 33)
    w = np.linspace(0.0, 1.0, 33)
    expected = np.asarray(jax.jit(fn)(x, w))
    # keyed on a project function: this test module is not one, so key the computation by
    # objective_scale plus the closed-over constant instead
    key = ("test", objective_scale, 1.7, "scaled sum of sines")
    before = compilation.traced_programs()
    assert np.asarray(traced_jit(fn, key)(x, w)).tobytes() == expected.tobytes()
    mid = compilation.traced_programs()
    assert mid["written"] == before["written"] + 1
    compilation.release_programs()  # as a new process would start
    again = traced_jit(fn, key)(x, w)
    assert compilation.traced_programs()["loaded"] == mid["loaded"] + 1
    assert np.asarray(again).tobytes() == expected.tobytes()
    # another shape is another program
    traced_jit(fn, key)(x[:5], w[:5])
    assert compilation.traced_programs()["written"] == mid["written"] + 1


def test_unkeyable_function_is_plain_jit(cache_dir):
    before = compilation.traced_programs()
    f = traced_jit(lambda x: jnp.cos(x) * 2.0, ("test", object()))  # unknown state
    assert float(f(jnp.float64(0.5))) == float(jax.jit(lambda x: jnp.cos(x) * 2.0)(0.5))
    assert compilation.traced_programs() == before
    assert not list((cache_dir / compilation.TRACED_DIR).glob(
        f"*{compilation.PROGRAM_SUFFIX}"))


def test_program_that_cannot_be_kept_is_reported(cache_dir, monkeypatch):
    # jax.export needs flatbuffers: where it (or anything else) fails, the program still runs,
    # traced every run, and --verbose says so instead of hiding the lost warm-run saving
    def refuse(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'flatbuffers'")

    monkeypatch.setattr(jax.export, "export", refuse)
    monkeypatch.setattr(compilation, "_UNKEPT_WHY", [])
    fn = partial(_scaled_sum, 2.3)
    x = np.linspace(-1.0, 1.0, 7)
    before = compilation.compile_stats()
    got = traced_jit(fn, ("test", objective_scale, 2.3, "unkept"))(x, x)
    assert np.asarray(got).tobytes() == np.asarray(jax.jit(fn)(x, x)).tobytes()
    line = (compilation.compile_stats() - before).line()
    assert "1 programs could not be kept" in line
    assert "flatbuffers" in line


def test_program_that_cannot_be_written_compiled_is_kept_traced(cache_dir, monkeypatch):
    # where XLA cannot write the compiled program, the traced one is kept: read back, no trace
    def refuse(*args, **kwargs):
        raise ValueError("Compilation does not support serialization")

    monkeypatch.setattr(compilation, "_serialize_program", refuse)
    fn = partial(_scaled_sum, 2.9)
    x = np.linspace(-1.0, 1.0, 7)
    got = traced_jit(fn, ("test", objective_scale, 2.9, "kept traced"))(x, x)
    assert np.asarray(got).tobytes() == np.asarray(jax.jit(fn)(x, x)).tobytes()
    kept = cache_dir / compilation.TRACED_DIR
    assert [p.suffix for p in kept.iterdir()] == [compilation.TRACED_SUFFIX]


def test_program_found_in_jaxs_cache_is_kept_traced(cache_dir):
    """A program JAX read from its own cache instead of compiling (after an edit of the
    sources, say) is kept traced, as before programs were kept compiled: XLA:CPU writes such
    an executable without all of its kernels. The next run reads the traced program back (no
    tracing) and JAX's cache the compiled one. The numbers are the same throughout."""
    fn = partial(_scaled_sum, 0.7)
    x = np.linspace(-2.0, 2.0, 9)
    key = ("test", objective_scale, 0.7, "compiled by JAX's cache")
    expected = np.asarray(traced_jit(fn, key)(x, x)).tobytes()  # compiled, and kept compiled
    kept = cache_dir / compilation.TRACED_DIR
    for path in kept.glob(f"*{compilation.PROGRAM_SUFFIX}"):
        path.unlink()  # as after an edit of the sources: JAX's cache still holds the program
    runs, files = [], []
    for _ in range(2):
        # as a new process would start: none of the programs this one compiled is held
        compilation.release_programs()
        jax.clear_caches()
        before = compilation.compile_stats()
        got = traced_jit(fn, key)(x, x)
        runs.append(compilation.compile_stats() - before)
        files.append(sorted(p.suffix for p in kept.iterdir() if p.suffix != ".tmp"))
        assert np.asarray(got).tobytes() == expected
    assert [(r.compiled, r.loaded, r.reused, r.unkept) for r in runs] == \
        [(0, 1, 0, 0), (0, 1, 1, 0)]
    assert files == [[compilation.TRACED_SUFFIX]] * 2


def test_fingerprint_follows_code_and_captured_values():
    from structural.fitted import task_success

    make = task_success.make_contributions.__wrapped__  # a new closure per call (not cached)
    a = make(("GPQA diamond", "MATH level 5"))
    b = make(("GPQA diamond", "MATH level 5"))
    c = make(("GPQA diamond",))
    assert a is not b and fingerprint(a) == fingerprint(b)  # new closure, same computation
    assert fingerprint(a) != fingerprint(c)
    assert fingerprint(np.arange(3.0)) != fingerprint(np.array([0.0, 1.0, 3.0]))
    assert fingerprint({"b": 1, "a": 2.0}) == fingerprint({"a": 2.0, "b": 1})
    with pytest.raises(_Unkeyable):
        fingerprint(object())


SCRIPT = """
import jax.numpy as jnp
def model(p, d):
    return -jnp.{fn}(d["y"] - p["a"] * SHIFT) * sum(p[k] * SCALE for k in ("a",))
"""


def _script_model(fn: str = "exp", **globals_):
    """``model`` of a script (module ``__main__``) run with these globals."""
    ns = {"__name__": "__main__", "SHIFT": 1.0, "SCALE": 3.0, **globals_}
    exec(SCRIPT.format(fn=fn), ns)
    return ns["model"]


def test_a_scripts_function_is_keyed_by_its_code_and_the_globals_it_reads():
    """A user's model (a script's function) is keyed by its code, the names it reads (in
    nested code too) and the value of each global among them: a second run of the script
    reuses its traced program, and a changed global or library function changes the key."""
    key = fingerprint(_script_model())
    assert fingerprint(_script_model()) == key  # the script run again
    assert fingerprint(_script_model("log")) != key  # another jax.numpy function
    assert fingerprint(_script_model(SHIFT=2.0)) != key
    assert fingerprint(_script_model(SCALE=4.0)) != key  # read in the generator's code only
    with pytest.raises(_Unkeyable):
        fingerprint(_script_model(SHIFT=object()))  # a global of unknown state
