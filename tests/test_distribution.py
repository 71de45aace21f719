"""The schedule of the test suite over worker processes (tests/conftest.py): the modules its
tables name exist (a renamed module would silently lose its place), and modules that compile the
same programs are one unit."""

from __future__ import annotations

import importlib.util
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
