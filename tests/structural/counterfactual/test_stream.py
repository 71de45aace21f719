"""Streamed sweeps give the bytes of one solve_grid call: in chunks, sharded over two forced host
devices, on a two-worker Dask cluster (one of whose workers is killed mid-run), and after an
interruption resumed from the chunks already written."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
SCRIPT = HERE / "_sweep_scenario.py"
sys.path.insert(0, str(HERE))
import _sweep_scenario as S  # noqa: E402

from structural.counterfactual import stream  # noqa: E402


@pytest.fixture(scope="module")
def single() -> dict[str, np.ndarray]:
    return S.single()


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


def test_chunked_same_bytes_as_one_call(single, tmp_path):
    got = S.chunked(tmp_path / "store")
    _same(single, got)
    assert len(list((tmp_path / "store").glob("chunk-*.npz"))) == 6   # 700 draws / 128
    # P(cheapest), accumulated chunk by chunk, is the engine's over the whole grid.
    from structural.counterfactual.engine import Solution, probability_cheapest

    res = stream.sweep(S.TECH, S.HYPS, *S.inputs(), tmp_path / "store", chunk=128)
    assert res.solved_chunks == 0        # everything was already there
    whole = Solution([h.name for h in S.HYPS], S.Q,
                     {h.name: {"total": single[f"{h.name}:total"]} for h in S.HYPS})
    for h, p in probability_cheapest(whole).items():
        np.testing.assert_array_equal(res.p_cheapest[h], p)


def test_lean_fields_same_bytes(single, tmp_path):
    """A sweep keeping two fields copies only those (and what the re-solves read) out of each
    solved block: the same bytes as the whole solve's, and no other field in the chunks."""
    from structural.counterfactual.engine import solve_grid

    theta, prices, q = S.inputs()
    lean = solve_grid(S.TECH, S.HYPS, theta, prices, q, fields=("total",))
    for h in lean.hypotheses:
        assert {"total", "status"} <= set(lean.values[h]) < set(k.split(":")[1] for k in single
                                                                if k.startswith(f"{h}:"))
        for k, v in lean.values[h].items():
            assert np.array_equal(v, single[f"{h}:{k}"]), (h, k)
    theta = {k: v[:128] for k, v in theta.items()}
    res = stream.sweep(S.TECH, S.HYPS, theta, prices, q, tmp_path / "lean", chunk=128,
                       fields=("total", "status"))
    with np.load(res.chunk_path(0)) as f:
        assert sorted(k for k in f.files if ":" in k) == ["0:status", "0:total", "1:status",
                                                          "1:total"]


def test_two_host_devices_same_bytes(single, tmp_path):
    """Sharded over two devices (a fresh process: XLA reads the device count at JAX's import)."""
    env = dict(os.environ)
    flags = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
    env["XLA_FLAGS"] = " ".join([*flags, "--xla_force_host_platform_device_count=2"])
    out = tmp_path / "two.npz"
    subprocess.run([sys.executable, str(SCRIPT), str(out), "chunked"], env=env, check=True,
                   cwd=tmp_path, timeout=600)
    with np.load(out) as f:
        got = {k: f[k] for k in f.files}
    assert int(got.pop("local_devices")) == 2
    _same(single, got)


class Interrupt(Exception):
    pass


def test_resume_after_interruption(single, tmp_path, monkeypatch):
    """Stopped after two chunks: the next call solves only the four missing chunks."""
    calls = []

    def stop_after_two(*args):
        if len(calls) == 2:
            raise Interrupt
        calls.append(1)
        return stream.solve_chunk(*args)

    monkeypatch.setattr(stream, "_solve_chunk", stop_after_two)
    with pytest.raises(Interrupt):
        S.chunked(tmp_path / "store")
    assert len(list((tmp_path / "store").glob("chunk-*.npz"))) == 2
    assert not list((tmp_path / "store").glob("*.tmp"))
    monkeypatch.setattr(stream, "_solve_chunk", stream.solve_chunk)
    res = stream.sweep(S.TECH, S.HYPS, *S.inputs(), tmp_path / "store", chunk=128)
    assert res.solved_chunks == 4 and res.n_chunks == 6
    sol = res.solution()
    _same(single, {f"{h}:{k}": np.asarray(v) for h in sol.hypotheses
                   for k, v in sol.values[h].items()})


def test_reopened_store_builds_its_fields_again_from_the_chunks(single, tmp_path, monkeypatch):
    """Assembled fields are derived and not synced: a store opened again deletes them (one cut
    short by a crash of the machine, here overwritten with zeros, is never read) and assembles
    them from the chunks, also one chunk file open at a time (more chunks than OPEN_CHUNKS)."""
    store = tmp_path / "store"
    S.chunked(store)
    fields = sorted(store.glob("*.npy"))
    assert fields
    for path in fields:
        zeros = np.lib.format.open_memmap(path, mode="r+")
        zeros[:] = 0
        del zeros
    monkeypatch.setattr(stream, "OPEN_CHUNKS", 1)
    res = stream.sweep(S.TECH, S.HYPS, *S.inputs(), store, chunk=128)
    assert res.solved_chunks == 0
    sol = res.solution()
    _same(single, {f"{h}:{k}": np.asarray(v) for h in sol.hypotheses
                   for k, v in sol.values[h].items()})


def test_store_of_another_sweep_refused(tmp_path):
    theta, prices, q = S.inputs(draws=128)
    stream.sweep(S.TECH, S.HYPS[1:], theta, prices, q, tmp_path, chunk=128, fields=("total",))
    theta["A"] = theta["A"] + 1.0
    with pytest.raises(stream.SweepStoreError, match="holds another sweep"):
        stream.sweep(S.TECH, S.HYPS[1:], theta, prices, q, tmp_path, chunk=128,
                     fields=("total",))
    with pytest.raises(stream.HypothesisError, match="multiple of 128"):
        stream.sweep(S.TECH, S.HYPS[1:], theta, prices, q, tmp_path / "b", chunk=100)


def test_chunk_size_from_memory():
    # 2 prices × 4 Q × 2 hypotheses = 16 points a draw; 256 MiB × 0.25 / 640 B ≈ 104,858
    # points, under MAX_CHUNK_POINTS (2^18).
    assert stream.chunk_draws(10**6, 2, 4, 2, memory=2**28) == 6528     # 51 quanta of 128
    assert stream.chunk_draws(100, 2, 4, 2, memory=2**30) == 128       # at least one quantum
    assert stream.chunk_draws(10**6, 2, 4, 2, memory=10**6) == 128
    assert stream.chunk_draws(10**9, 2, 4, 2, memory=2**40) == (1 << 18) // 16 // 128 * 128


def test_progress_eta():
    import io

    from estimation.progress import Progress

    buf = io.StringIO()
    bar = Progress(100, "sweep", stream=buf)
    bar.start(50)
    bar._t0 -= 10.0            # ten seconds for 25 units since the start: 10 s for the last 25
    bar.update(75)
    assert "75/100" in buf.getvalue() and "ETA 10s" in buf.getvalue()


distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, silence_logs=40) as lc, \
            distributed.Client(lc) as client:
        yield client


def _dying_chunk_task():
    """The chunk task, except that the first chunk to reach it kills its worker outright
    (made in a factory so that the workers receive it by value: they cannot import the tests)."""

    def dying_chunk(marker: str, *args):
        import os

        from structural.counterfactual.stream import solve_chunk

        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return solve_chunk(*args)
        os.close(fd)
        os._exit(1)  # no exception, no cleanup: as if the node vanished

    return dying_chunk


def test_dask_same_bytes_and_worker_killed(single, cluster, tmp_path, monkeypatch):
    """On a two-worker cluster, one worker killed while it runs a chunk: Dask reruns that chunk
    elsewhere, every finished chunk is on disk, and the sweep has the bytes of one call."""
    marker = tmp_path / "killed"
    monkeypatch.setattr(stream, "solve_chunk",
                        functools.partial(_dying_chunk_task(), str(marker)))
    got = S.chunked(tmp_path / "store", scheduler=cluster)
    assert marker.exists()      # a worker was really killed
    _same(single, got)
