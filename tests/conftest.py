"""Shared pytest configuration: the ``slow`` marker runs only with ``--runslow``; compiled
programs are released before the process runs out of memory mappings; under ``--dist loadfile``
(the default, pyproject.toml) the two worker processes get whole modules, heaviest first, and
modules that compile the same programs go to one worker together."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow", action="store_true", default=False, help="run exhaustive slow checks"
    )


# ---------------------------------------------------------------------------------------------
# Distribution over the worker processes (pytest-xdist). The suite is mostly XLA compilation, and
# on a clean machine (a cold compilation cache) every process compiles each program it runs
# unless another process has finished writing that program to the shared persistent cache. So:
# - a module runs in one worker: its module-scoped fixtures are solved once and its programs
#   compiled in one process (worksteal hands the tail of one worker's queue to the other, which
#   splits the module at that point);
# - modules that compile the same programs form one unit, run back to back in one worker (the
#   second finds the first's programs in memory);
# - the heaviest units are handed out first (longest processing time first), so the workers
#   finish together instead of one waiting on the other's last heavy module.

#: Cold CPU seconds of the heaviest test modules, each run alone in a fresh process with a fresh
#: compilation cache and fit cache (``LLMECON_CACHE_DIR=$(mktemp -d) XDG_CACHE_HOME=$(mktemp -d)
#: python -m pytest -q -n 0 MODULE``, user + system time); the counterfactual and market modules
#: from the previous cold run of the suite (test_two_lever_newton's after test_examples had
#: compiled the programs they share: alone it takes ~350); the modules from 15 s down measured
#: together in one process (their shared programs compiled once: low figures). Only their order
#: matters: a stale figure costs balance, never correctness. Modules not listed are light (under
#: 15 s) and run after these.
COLD_SECONDS: dict[str, float] = {
    "structural/counterfactual/test_examples.py": 254,
    "structural/counterfactual/test_engine.py": 56,
    "structural/counterfactual/test_two_lever_newton.py": 135,
    "structural/counterfactual/test_known_answers.py": 51,
    "cli/test_counterfactual_cli.py": 18,
    "structural/test_firm_selection.py": 47,
    "structural/test_firm.py": 53,
    "docs/test_model_docstrings.py": 178,
    "structural/market/test_llm_api.py": 119,
    "structural/market/test_market.py": 56,
    "estimation/test_screening.py": 18,
    "structural/fitted/test_task_success.py": 10,
    "papers/test_llm_costs.py": 42,
    "structural/fitted/test_serving.py": 20,
    "structural/test_chinchilla_mle.py": 36,
    "structural/test_chinchilla_engine.py": 28,
    "cli/test_llm_market_cli.py": 28,
    "estimation/test_trust.py": 26,
    "estimation/test_scale_out.py": 25,
    "estimation/test_single.py": 23,
    "estimation/test_solver.py": 23,
    "estimation/test_inference_checks.py": 22,
    "test_contracts.py": 20,
    "structural/test_production.py": 20,
    "estimation/test_iv_oracles.py": 19,
    "cli/test_bad_scenarios.py": 4,
    "structural/fitted/test_usage.py": 19,
    "structural/test_one_model.py": 18,
    "estimation/test_engine.py": 17,
    "estimation/test_oracles.py": 17,
    "papers/test_demirer2025.py": 15,
    "estimation/test_derivatives.py": 15,
    "estimation/test_compilation.py": 15,
}

#: Units of modules that compile the same programs (same static options and shapes), run in one
#: worker one after the other: the firm's SQP solver in its quality modes; the "balanced"
#: (N, D, c) solvers of the heavy-training scenario (continuation path, its re-solves, the
#: serving ridge, the point solver), which its shipped example compiles first and the
#: two-lever tests then reuse in memory (run apart, whether the second module found them in
#: the persistent cache depended on which worker got there first and whether it had finished
#: writing them: on a cold machine the two-lever module alone costs ~350 CPU s).
SHARED_PROGRAMS: dict[str, tuple[str, ...]] = {
    "firm solver": ("structural/test_firm_selection.py", "structural/test_firm.py"),
    "two-lever solver": ("structural/counterfactual/test_examples.py",
                         "structural/counterfactual/test_two_lever_newton.py"),
}

_UNIT_OF = {module: unit for unit, modules in SHARED_PROGRAMS.items() for module in modules}


def work_unit(nodeid: str) -> str:
    """The unit a test is scheduled in: its module's path below ``tests/``, or the name of the
    :data:`SHARED_PROGRAMS` unit that module belongs to."""
    module = nodeid.split("::", 1)[0].removeprefix("tests/")
    return _UNIT_OF.get(module, module)


def unit_seconds(unit: str) -> float:
    """Estimated cold seconds of a unit (:data:`COLD_SECONDS`; 0 for a light module)."""
    return sum(COLD_SECONDS.get(m, 0.0) for m in SHARED_PROGRAMS.get(unit, (unit,)))


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent under -p no:xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadfile`` with :func:`work_unit` as the unit and the heaviest unit handed out
    first; any other ``--dist`` is left to pytest-xdist."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class HeaviestModuleFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

        def _assign_work_unit(self, node) -> None:
            # the heaviest unit left goes next (ties: pytest-xdist's order)
            heaviest = max(self.workqueue, key=unit_seconds)
            self.workqueue.move_to_end(heaviest, last=False)
            super()._assign_work_unit(node)

    return HeaviestModuleFirst(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="exhaustive check: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# XLA's CPU backend maps ~25 memory regions per compiled program and keeps them while the
# program is cached. One pytest process compiles thousands of programs, and at the kernel's
# vm.max_map_count (65,530 by default) the next compilation dies with a segmentation fault.
# Drop the compiled programs whenever the process gets near that limit: JAX's, and the kept
# programs that estimation.compilation holds itself (several times as many regions each; left
# held, the process stayed over the budget and every later test cleared JAX's caches and
# compiled its programs again).
# Reading the map list costs the kernel ~1 µs per region (25 ms at 25,000), so it is read only
# after :data:`_PROGRAMS_BETWEEN_READS` more programs were compiled or loaded (at most ~120
# regions each: far inside the budget's margin) instead of after every test.
_MAPS = Path(f"/proc/{os.getpid()}/maps")
_MAP_BUDGET = 30_000
_PROGRAMS_BETWEEN_READS = 20
_programs_at_last_read = [-_PROGRAMS_BETWEEN_READS]


def _mapped_regions() -> int:
    try:
        with _MAPS.open("rb") as f:
            return f.read().count(b"\n")
    except OSError:  # not Linux: no such limit to stay under
        return 0


def _programs_so_far() -> int | None:
    """Programs this process compiled or read back (None: not counted, read the maps)."""
    compilation = sys.modules.get("estimation.compilation")
    if compilation is None:
        return None
    stats = compilation.compile_stats()
    return stats.compiled + stats.loaded


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    yield
    jax = sys.modules.get("jax")
    if jax is None:
        return
    programs = _programs_so_far()
    if programs is not None:
        if programs - _programs_at_last_read[0] < _PROGRAMS_BETWEEN_READS:
            return
        _programs_at_last_read[0] = programs
    if _mapped_regions() > _MAP_BUDGET:
        compilation = sys.modules.get("estimation.compilation")
        if compilation is not None:
            compilation.release_programs()
        jax.clear_caches()
        gc.collect()


@pytest.fixture
def second_process(tmp_path: Path) -> Callable[[str], tuple[dict, dict]]:
    """Run a script in two fresh Python processes sharing one new compilation cache: the first
    traces and compiles, the second should read the kept programs back. The script prints a JSON
    object as its last line; both objects are returned, parsed."""
    env = {**os.environ, "LLMECON_CACHE_DIR": str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}

    def run(script: str) -> dict:
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                             text=True, timeout=600, check=False)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    return lambda script: (run(script), run(script))
