"""Batched solves beyond one device give the bytes of one process: sharded over two forced host
devices, and in chunks on a two-worker Dask cluster, one of whose workers is killed mid-run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
SCENARIO = HERE / "_scale_scenario.py"
sys.path.insert(0, str(HERE))
import _scale_scenario  # noqa: E402


def _run_scenario(tmp_path: Path, devices: int) -> dict[str, np.ndarray]:
    """The scenario in a fresh process (XLA reads its device count once, at JAX's import)."""
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
    if devices > 1:
        flags.append(f"--xla_force_host_platform_device_count={devices}")
    env["XLA_FLAGS"] = " ".join(flags)
    out = tmp_path / f"devices{devices}.npz"
    subprocess.run([sys.executable, str(SCENARIO), str(out)], env=env, check=True, cwd=tmp_path,
                   timeout=300)
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def one_device(tmp_path_factory) -> dict[str, np.ndarray]:
    return _run_scenario(tmp_path_factory.mktemp("one"), 1)


RESULTS = ("params", "starts", "draws", "iterations", "converged")


def test_two_host_devices_same_bytes(one_device, tmp_path):
    two = _run_scenario(tmp_path, 2)
    assert int(one_device["local_devices"]) == 1 and set(one_device["used"]) == {1}
    # Both batched solves (the grid and the bootstrap) ran sharded over the two devices.
    assert int(two["local_devices"]) == 2
    assert len(two["used"]) == 2 and set(two["used"]) == {2}
    assert one_device["converged"].all()
    for key in RESULTS:
        assert np.array_equal(one_device[key], two[key]), key


def test_mesh_and_shard():
    """The helpers themselves: no mesh on one device; a batch split along its first axis."""
    import jax

    from estimation.distributed import batch_mesh, chunk_bounds, shard_batch

    assert batch_mesh(jax.devices()[:1]) is None
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("batch",))
    x = shard_batch(np.arange(6.0).reshape(3, 2), mesh)
    assert x.sharding.spec == jax.sharding.PartitionSpec("batch")
    np.testing.assert_array_equal(np.asarray(x), np.arange(6.0).reshape(3, 2))


distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, silence_logs=40) as lc, \
            distributed.Client(lc) as client:
        yield client


def test_dask_same_bytes_as_one_process(one_device, cluster):
    client = cluster
    out = _scale_scenario.run(scheduler=client)
    for key in RESULTS:
        assert np.array_equal(one_device[key], out[key]), key


def _dying_chunk_task():
    """The chunk task, except that the first chunk to reach it kills its worker outright
    (made in a factory so that the workers receive it by value: they cannot import the tests)."""

    def dying_chunk(marker: str, *args):
        import os

        from estimation.distributed import solve_chunk

        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return solve_chunk(*args)
        os.close(fd)
        os._exit(1)  # no exception, no cleanup: as if the node vanished

    return dying_chunk


def test_worker_killed_mid_run_loses_nothing(one_device, cluster, tmp_path):
    """A worker dies while running a chunk: Dask reruns that chunk elsewhere, finished chunks
    are kept, and the bootstrap comes out byte for byte as in one process."""
    import functools

    from estimation import distributed as dist

    client = cluster
    marker = tmp_path / "killed"
    original = dist.solve_on_cluster

    def with_killer(*args, **kwargs):
        return original(*args, chunk=8, task=functools.partial(_dying_chunk_task(), str(marker)),
                        **kwargs)

    dist.solve_on_cluster = with_killer
    try:
        out = _scale_scenario.run(scheduler=client)
    finally:
        dist.solve_on_cluster = original
    assert marker.exists()  # a worker was really killed
    for key in RESULTS:
        assert np.array_equal(one_device[key], out[key]), key


def test_scheduler_errors():
    from estimation.distributed import map_chunks
    from estimation.errors import SpecificationError

    with pytest.raises(SpecificationError, match="scheduler must be"):
        map_chunks(print, [()], scheduler=3)
