"""Shared pytest configuration: the ``slow`` marker runs only with ``--runslow``; compiled
programs are released before the process runs out of memory mappings."""

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
# Drop JAX's compiled programs whenever the process gets near that limit.
_MAPS = Path(f"/proc/{os.getpid()}/maps")
_MAP_BUDGET = 30_000


def _mapped_regions() -> int:
    try:
        with _MAPS.open("rb") as f:
            return sum(1 for _ in f)
    except OSError:  # not Linux: no such limit to stay under
        return 0


@pytest.fixture(autouse=True)
def _release_compiled_programs():
    yield
    jax = sys.modules.get("jax")
    if jax is not None and _mapped_regions() > _MAP_BUDGET:
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
