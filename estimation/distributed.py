"""Batches beyond one device: sharding over the local devices, and chunks on a Dask cluster.

Two levels, both leaving every member's result bit for bit what a single process gives, because
each member of a batched solve iterates alone (the solver's pool is a ``vmap``):

* **Every local device.** :func:`batch_mesh` is a one-axis ``jax.sharding.Mesh`` named
  ``"batch"`` over ``jax.devices()`` (``None`` with one device: nothing changes there), and
  :func:`shard_batch` places a batch's leading axis on it with ``NamedSharding(mesh,
  P("batch"))``; the compiled function then runs SPMD, each device on its share of the members.
  The caller pads the batch with masked members so that each device gets as many as one
  device would (then XLA compiles the same per-member shapes, and rounds the same way).
* **More than one machine.** :func:`map_chunks` runs a chunk function over consecutive chunks
  of a batch on a ``dask.distributed`` cluster (one JAX process per worker) and hands the
  results back in chunk order. Each finished chunk is gathered to the caller at once, so a worker
  that dies loses only the chunk it was running, which the scheduler runs again elsewhere
  (``retries``). :func:`solve_on_cluster` is the batched Newton solve on top of it.

``dask[distributed]`` is an optional extra (``pip install llmecon[distributed]``).
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import jax
import numpy as np

from estimation.errors import SpecificationError

#: Times the scheduler reruns a chunk whose task raised (a worker that dies mid-chunk is
#: rescheduled by Dask itself, up to its ``allowed-failures``).
RETRIES = 3
#: Chunks per worker by default: enough to balance uneven chunks, few enough to keep the
#: per-task overhead (shipping the data, a compile on each new worker) small.
CHUNKS_PER_WORKER = 4


def available_memory() -> int:
    """Bytes of memory available to this process now (``MemAvailable``; physical memory where
    the kernel does not say): what chunk sizes and up-front memory checks are measured against."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**63


def batch_mesh(devices: Sequence[Any] | None = None) -> jax.sharding.Mesh | None:
    """A one-axis mesh ``("batch",)`` over ``devices`` (default: every local device), or
    ``None`` when there is only one (then batches are left unsharded)."""
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) < 2:
        return None
    return jax.sharding.Mesh(np.array(devices), ("batch",))


def shard_batch(tree: Any, mesh: jax.sharding.Mesh, *, replicate: bool = False) -> Any:
    """Put every array of ``tree`` on ``mesh``: its leading (batch) axis split across the
    devices (``NamedSharding(mesh, P("batch"))``), or a full copy on each (``replicate``).
    The leading axis must be a multiple of ``mesh.size`` (pad with masked members first)."""
    P = jax.sharding.PartitionSpec
    sharding = jax.sharding.NamedSharding(mesh, P() if replicate else P("batch"))
    return jax.device_put(tree, sharding)


def _client(scheduler: Any):
    """(client, whether we opened it): a ``distributed.Client`` as given, or one connected to a
    scheduler address."""
    try:
        import distributed
    except ImportError as e:  # an optional extra
        raise SpecificationError(
            "scheduler= needs dask.distributed: pip install 'llmecon[distributed]'") from e
    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    if isinstance(scheduler, str):
        try:
            return distributed.Client(scheduler, timeout="20s"), True
        except ValueError as e:  # not an address at all
            raise SpecificationError(
                f"scheduler {scheduler!r} is not a Dask scheduler address such as "
                f"tcp://host:8786 ({e})") from e
        except (OSError, TimeoutError) as e:
            raise SpecificationError(
                f"scheduler {scheduler!r}: no Dask scheduler answered there ({e})") from e
    raise SpecificationError(
        f"scheduler must be a Dask scheduler address or a distributed.Client, got "
        f"{type(scheduler).__name__}")


def chunk_bounds(m: int, chunk: int) -> list[tuple[int, int]]:
    """Consecutive [start, stop) ranges of at most ``chunk`` members covering ``m``."""
    return [(a, min(a + chunk, m)) for a in range(0, m, chunk)]


def map_chunks(fn: Callable[..., Any], chunks: Sequence[tuple], scheduler: Any, *,
               retries: int = RETRIES, progress: Any = None,
               sizes: Sequence[int] | None = None,
               on_result: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``[fn(*args) for args in chunks]``, each call a task on a Dask cluster.

    ``fn`` and its arguments travel by (cloud)pickle to the workers, which import this package.
    Results come back in chunk order whatever order the workers finish in; each is fetched to
    this process as soon as it is done, so a worker killed later cannot take it along. A task
    that raises is rerun up to ``retries`` times; one whose worker dies is rescheduled by Dask.
    ``progress`` (an :class:`estimation.progress.Progress`) advances by ``sizes[i]`` as chunk
    ``i`` arrives. ``on_result(i, result)``, when given, takes each chunk's result as it arrives
    (e.g. to write it to disk) and the result is not kept (its slot in the list is None), so
    the caller never holds more than one chunk.
    """
    from distributed import as_completed

    client, opened = _client(scheduler)
    try:
        job = uuid.uuid4().hex[:12]
        futures = [client.submit(fn, *args, key=f"llmecon-chunk-{job}-{i}", retries=retries,
                                 pure=False)
                   for i, args in enumerate(chunks)]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        done = 0
        for fut, res in as_completed(futures, with_results=True):
            i = index[fut.key]
            if on_result is None:
                results[i] = res
            else:
                on_result(i, res)
            fut.release()  # held here now: nothing to lose on the worker
            done += 1 if sizes is None else sizes[i]
            if progress is not None:
                progress.update(done)
        return results
    finally:
        if opened:
            client.close()


def solve_on_cluster(obj, theta0: np.ndarray, weights: np.ndarray, opts, *, warm: bool,
                     progress: Any, scheduler: Any, chunk: int | None = None,
                     task: Callable[..., Any] | None = None):
    """:func:`estimation.solver.solve_batch` with the members cut into chunks, each solved in a
    Dask worker by the same compiled solver, the results put back in member order.

    Every chunk runs with the pool size of the whole batch, so each member sees the same
    compiled round, and its result the same bytes, as in one process. ``chunk`` (members per
    task) defaults to a multiple of the pool giving about :data:`CHUNKS_PER_WORKER` tasks per
    worker. ``task`` replaces :func:`solve_chunk` (tests use it to kill a worker).
    """
    from estimation.solver import BatchSolution, _pool_size

    m, k = theta0.shape
    P = _pool_size(m, opts.pool)
    client, opened = _client(scheduler)
    try:
        if chunk is None:
            workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
            per = math.ceil(m / (workers * CHUNKS_PER_WORKER))
            chunk = max(P, math.ceil(per / P) * P)
        if chunk < 1:
            raise SpecificationError(f"chunk must be ≥ 1 member, got {chunk}")
        # Host arrays travel; a worker places them itself (after turning on float64).
        shipped = replace(obj, data={key: np.asarray(v) for key, v in obj.data.items()})
        token = _fingerprint(obj)
        per_member = weights.ndim == 2
        bounds = chunk_bounds(m, chunk)
        args = [(token, shipped, theta0[a:b], weights[a:b] if per_member else weights, opts,
                 warm, P) for a, b in bounds]
        parts = map_chunks(task or solve_chunk, args, client, progress=progress,
                           sizes=[b - a for a, b in bounds])
    finally:
        if opened:
            client.close()
    return BatchSolution(
        theta=np.concatenate([p.theta for p in parts]).reshape(m, k),
        fun=np.concatenate([p.fun for p in parts]),
        grad=np.concatenate([p.grad for p in parts]).reshape(m, k),
        hess=np.concatenate([p.hess for p in parts]).reshape(m, k, k),
        iterations=np.concatenate([p.iterations for p in parts]),
        status=np.concatenate([p.status for p in parts]),
        devices=max(p.devices for p in parts),
    )


def _fingerprint(obj) -> str:
    """What identifies the compiled code of ``obj`` (its ``static_key``: functions, parameters,
    kind), as a hash of its pickle: equal for every chunk and every later job of the model."""
    import hashlib

    import cloudpickle

    return hashlib.sha256(cloudpickle.dumps(obj.static_key)).hexdigest()


#: Per model fingerprint, the objective as a worker first unpickled it: later chunks and jobs
#: of the model take its functions, which keep one identity, so the compiled round is found
#: again instead of rebuilt (each unpickling makes new function objects).
_WORKER_OBJECTS: dict[str, Any] = {}


def solve_chunk(token: str, obj, theta0: np.ndarray, weights: np.ndarray, opts, warm: bool,
                pool_size: int):
    """One chunk of :func:`solve_on_cluster`, run in a worker process."""
    import estimation  # noqa: F401  (float64 on before any array is placed)
    from estimation.solver import solve_batch

    first = _WORKER_OBJECTS.setdefault(token, obj)
    obj = replace(obj, contributions=first.contributions, residuals=first.residuals,
                  loss=first.loss, derivatives=first.derivatives, spec=first.spec,
                  data={k: jax.device_put(v) for k, v in obj.data.items()})
    return solve_batch(obj, theta0, weights, opts, warm=warm, pool_size=pool_size)
