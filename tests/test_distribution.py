"""The schedule of the test suite over worker processes (tests/conftest.py): the modules its
tables name exist (a renamed module would silently lose its place), and modules that compile the
same programs are one unit."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _conftest():
    spec = importlib.util.spec_from_file_location("llmecon_tests_conftest", HERE / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tables_name_modules_that_exist():
    c = _conftest()
    named = set(c.COLD_SECONDS) | {m for modules in c.SHARED_PROGRAMS.values() for m in modules}
    missing = sorted(m for m in named if not (HERE / m).is_file())
    assert not missing, f"tests/conftest.py names modules that do not exist: {missing}"


def test_modules_that_share_programs_are_one_unit():
    c = _conftest()
    listed = [m for modules in c.SHARED_PROGRAMS.values() for m in modules]
    assert len(listed) == len(set(listed)), "a module is in two units"
    for unit, modules in c.SHARED_PROGRAMS.items():
        assert {c.work_unit(f"tests/{m}::test_x[a::b]") for m in modules} == {unit}
        assert c.unit_seconds(unit) == sum(c.COLD_SECONDS.get(m, 0.0) for m in modules)
    # any other module is its own unit; an unlisted one counts as light
    assert c.work_unit("tests/cli/test_errors.py::test_x[a::b]") == "cli/test_errors.py"
    assert c.unit_seconds("cli/test_errors.py") == 0.0


def test_the_memory_map_guard_counts_regions_and_programs():
    """The guard of tests/conftest.py reads the map list only after enough new programs: it
    counts this process's regions (Linux) and its compiled or loaded programs."""

    import jax
    import jax.numpy as jnp

    import estimation.compilation  # noqa: F401  (the program count lives there)

    c = _conftest()
    if Path(f"/proc/{os.getpid()}/maps").exists():
        assert c._mapped_regions() > 100
    before = c._programs_so_far()
    regions = c._mapped_regions()
    jax.jit(lambda x: jnp.sin(x) * 3.0 + 1.0)(jnp.arange(7.0))  # a new program
    assert c._programs_so_far() >= before + 1
    # the regions one new program mapped (a jax.jit one ~17 on Linux; elsewhere 0): within the
    # ~120 a kept program maps, which the margin below assumes
    assert c._mapped_regions() - regions <= 120
    # between two reads at most that many programs of ~120 regions each: inside the margin
    # between the budget and the kernel's 65,530
    assert 0 < c._PROGRAMS_BETWEEN_READS * 120 < 65_530 - c._MAP_BUDGET
