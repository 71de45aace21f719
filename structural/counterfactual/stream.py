"""Sweeps of any size: the engine's (draws × prices × Q) grid streamed in chunks of draws.

:func:`sweep` solves every hypothesis exactly as :func:`~.engine.solve_grid` does, but a chunk of
draws at a time, so memory stays bounded whatever the number of points:

* **Chunk size from memory.** A chunk holds at most :data:`MEMORY_SHARE` of the memory available
  now (and at most :data:`MAX_CHUNK_POINTS` points), at :data:`BYTES_PER_POINT` per point and
  hypothesis (the flat batch, the solver's outputs and their concatenated copy). Its number of
  draws is a multiple of the engine's block quantum (:func:`quantum`), so chunk boundaries fall
  on block boundaries; a lane's bytes depend neither on its block's size (a large batch's path
  solver takes :data:`~.engine.BLOCK_PATH_LARGE` lanes per call) nor on its place in the block
  (lanes never interact; tested), so the output bytes do not depend on the chunk size.
* **Written chunk by chunk, resumable.** Each finished chunk goes to ``store/chunk-NNNNNN.npz``
  (written under a temporary name and renamed, so a file present is complete) beside a
  ``manifest.json`` fingerprinting the inputs. A run interrupted at any point is resumed by
  calling :func:`sweep` again with the same inputs and store: finished chunks are kept, the
  others are solved. A store holding another sweep is refused. In this process a chunk is
  written on a thread while the next is solved (an interruption waits for that write).
* **Every device, every machine.** Within a chunk the engine shards its blocks over the local
  devices (:func:`estimation.distributed.batch_mesh`); with ``scheduler=`` (a Dask address or
  client) the chunks run on a Dask cluster through :func:`estimation.distributed.map_chunks`,
  each written here as soon as it arrives, so a worker that dies loses only the chunk it held.
* **Reductions on the way.** P(cheapest hypothesis) over draws is accumulated per chunk (counts
  kept in each chunk file), so a sweep that is never consolidated still yields it.

The full arrays are assembled on demand into ``.npy`` files opened as memory maps
(:meth:`SweepResult.array`, :meth:`SweepResult.solution`), again chunk by chunk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from estimation.distributed import available_memory, map_chunks
from structural.counterfactual.engine import (
    BLOCK,
    BLOCK_PATH,
    Hypothesis,
    HypothesisError,
    Solution,
    solve_grid,
    with_target,
)

__all__ = ["sweep"]

#: Bytes one point (draw × price × Q) of one hypothesis needs while its chunk is solved, an
#: upper bound: the flat inputs (~40 float64) and the kept output fields (~25 when all are
#: kept; only the few blocks in flight hold the others, see :func:`.engine._in_blocks`).
BYTES_PER_POINT = 640
#: Share of the memory available at the start that one chunk may take.
MEMORY_SHARE = 0.25
#: Most points (× hypotheses) in one chunk: small enough for a fine-grained resume and an
#: honest ETA, large enough that the per-chunk overhead (a few re-solve calls, a file) is
#: negligible, and small enough that a chunk's arrays (a few MB a field) are freed and taken
#: again within about a second. Memory that a process frees and touches again seconds later
#: costs the kernel's page clearing again, and on a virtual machine that hands free memory back
#: to its host far more (measured here: 0.1 ns a byte re-touched at once, 0.6 after 10 s idle,
#: 2.6 for memory the host had taken back): chunks of 2²¹ points (about 6 s each) spent
#: 0.19–0.24 CPU-µs a point in the kernel, 2¹⁸ (the three-lever sweep's 512 draws, ten
#: blocks of 1,024 lanes) 0.04–0.06, as a 10⁵-point call repeated in memory does.
MAX_CHUNK_POINTS = 1 << 18
MANIFEST = "manifest.json"
#: Chunks up to which :meth:`SweepResult.solution` opens each chunk file once for all fields
#: (a file per chunk held open meanwhile); a larger sweep opens them field by field.
OPEN_CHUNKS = 16


class SweepStoreError(HypothesisError):
    """A chunk store that cannot take this sweep (it holds another one, or is not a folder)."""


def quantum(n_prices: int, n_q: int) -> int:
    """Draws per chunk must be a multiple of this, so that chunk boundaries fall on the engine's
    block boundaries: (draw × price) lanes of the continuation solver come in blocks of
    :data:`~.engine.BLOCK_PATH`, (draw × price × Q) lanes of the flat solver in blocks of
    :data:`~.engine.BLOCK`."""
    a = BLOCK_PATH // math.gcd(BLOCK_PATH, n_prices)
    b = BLOCK // math.gcd(BLOCK, n_prices * n_q)
    return a * b // math.gcd(a, b)


def chunk_draws(n_draws: int, n_prices: int, n_q: int, n_hyp: int,
                memory: int | None = None) -> int:
    """Draws per chunk for a sweep: as many as :data:`MEMORY_SHARE` of ``memory`` (default:
    available now) and :data:`MAX_CHUNK_POINTS` allow, rounded down to a multiple of
    :func:`quantum` (at least one quantum)."""
    memory = available_memory() if memory is None else memory
    per_draw = n_prices * n_q * max(n_hyp, 1)
    points = min(MEMORY_SHARE * memory / BYTES_PER_POINT, MAX_CHUNK_POINTS)
    q = quantum(n_prices, n_q)
    return int(min(max(q, int(points // per_draw) // q * q), -(-n_draws // q) * q))


def _fingerprint(tech, hypotheses: Sequence[Hypothesis], theta: Mapping[str, np.ndarray],
                 prices: Mapping[str, np.ndarray], Q: np.ndarray, fields: Sequence[str] | None,
                 chunk: int) -> str:
    h = hashlib.sha256()
    h.update(repr((tech, list(hypotheses), fields, chunk)).encode())
    for name, arrays in (("theta", theta), ("prices", prices), ("Q", {"Q": Q})):
        for k in sorted(arrays):
            h.update(f"{name}.{k}".encode())
            h.update(np.ascontiguousarray(arrays[k], dtype=np.float64).tobytes())
    return h.hexdigest()


def solve_chunk(tech, hypotheses: Sequence[Hypothesis], theta: Mapping[str, np.ndarray],
                prices: Mapping[str, np.ndarray], Q: np.ndarray,
                fields: Sequence[str] | None) -> dict[str, np.ndarray]:
    """One chunk of draws: :func:`~.engine.solve_grid`'s values as flat ``"i:field"`` arrays
    (hypothesis index i) plus the counts behind P(cheapest). Runs in this process or in a Dask
    worker (everything it takes and returns pickles)."""
    import structural  # noqa: F401  (float64 on in a fresh worker before any array is placed)

    sol = solve_grid(tech, hypotheses, theta, prices, Q, fields=fields)
    out: dict[str, np.ndarray] = {}
    for i, h in enumerate(sol.hypotheses):
        for k, v in sol.values[h].items():
            if fields is None or k in fields:
                out[f"{i}:{k}"] = v
    totals = np.stack([sol.total(h) for h in sol.hypotheses])    # (H, k, P, nQ)
    best = np.argmin(totals, axis=0)
    any_feasible = np.isfinite(totals).any(axis=0)
    out["cheapest_counts"] = np.stack([((best == i) & any_feasible).sum(axis=0)
                                       for i in range(len(sol.hypotheses))])
    # Points re-solved by the nested fallback (-1: a hypothesis without the two-lever Newton).
    out["fallback_counts"] = np.array([sol.fallbacks.get(h, -1) for h in sol.hypotheses])
    return out


@dataclass
class SweepResult:
    """A finished sweep in its chunk store: ``hypotheses``, ``Q``, ``shape`` (K, P, nQ), the
    draws per chunk and P(cheapest) over all draws (``p_cheapest[h]``, shape (P, nQ))."""

    store: Path
    hypotheses: list[str]
    Q: np.ndarray
    shape: tuple[int, int, int]
    chunk: int
    fields: list[str]
    p_cheapest: dict[str, np.ndarray] = field(default_factory=dict)
    solved_chunks: int = 0
    #: Points per two-lever hypothesis that failed Newton's KKT test and were solved by the
    #: nested bisection instead (see :attr:`.engine.Solution.fallbacks`).
    fallbacks: dict[str, int] = field(default_factory=dict)

    @property
    def n_chunks(self) -> int:
        return -(-self.shape[0] // self.chunk)

    def chunk_path(self, c: int) -> Path:
        return self.store / f"chunk-{c:06d}.npz"

    def array(self, hypothesis: str, name: str) -> np.ndarray:
        """The (K, P, nQ) array of one output field, assembled chunk by chunk into
        ``store/HYPOTHESIS.FIELD.npy`` and returned as a read-only memory map."""
        return self._arrays([(hypothesis, name)])[0]

    def _arrays(self, wanted: Sequence[tuple[str, str]]) -> list[np.ndarray]:
        """:meth:`array` of each (hypothesis, field) of ``wanted``, one field at a time (one
        field's pages in memory at once, whatever the sweep's size), a sweep of at most
        :data:`OPEN_CHUNKS` chunks opening each chunk file once for all of them (an opening
        parses the file's zip directory of every field).

        The assembled files are not synced to disk (``msync``): they are derived from the
        chunk files (synced, :func:`_save_chunk`), a memory map's writes are the file's for
        every reader of this machine at once, and a store opened again deletes them
        (:func:`_open_store`), so one cut short by a crash of the machine is never read; syncing
        the 60 fields of a three-hypothesis run cost 0.2 s."""
        from contextlib import ExitStack

        with ExitStack() as stack:
            opened: dict[int, Any] = {}

            def part_of(c: int, key: str) -> np.ndarray:
                if self.n_chunks > OPEN_CHUNKS:
                    with np.load(self.chunk_path(c)) as f:
                        return f[key]
                if c not in opened:
                    opened[c] = stack.enter_context(np.load(self.chunk_path(c)))
                return opened[c][key]

            for h, k in wanted:
                path = self.store / f"{h}.{k}.npy"
                if path.exists():
                    continue
                tmp = path.with_suffix(".npy.tmp")
                arr = None
                for c in range(self.n_chunks):
                    part = part_of(c, f"{self.hypotheses.index(h)}:{k}")
                    if arr is None:
                        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=part.dtype,
                                                        shape=self.shape)
                    arr[c * self.chunk:c * self.chunk + len(part)] = part
                del arr   # unmapped: its pages are the file's
                os.replace(tmp, path)
        return [np.load(self.store / f"{h}.{k}.npy", mmap_mode="r") for h, k in wanted]

    def solution(self) -> Solution:
        """The whole sweep as the engine's :class:`~.engine.Solution`, every field a memory
        map (see :meth:`array`)."""
        wanted = [(h, k) for h in self.hypotheses for k in self.fields]
        maps = iter(self._arrays(wanted))
        return Solution(list(self.hypotheses), self.Q,
                        {h: {k: next(maps) for k in self.fields} for h in self.hypotheses},
                        dict(self.fallbacks))


def _open_store(store: Path, manifest: dict, replace_other: bool) -> set[int]:
    """Create ``store`` or check that it holds this sweep (else refuse, or empty it with
    ``replace_other``); the chunks already finished."""
    if store.exists() and not store.is_dir():
        raise SweepStoreError(f"store {store}: expected a folder, found a file")
    store.mkdir(parents=True, exist_ok=True)
    mpath = store / MANIFEST
    if mpath.exists():
        try:
            old = json.loads(mpath.read_text())
        except (OSError, ValueError) as e:
            raise SweepStoreError(f"store {store}: unreadable {MANIFEST} ({e})") from e
        if old.get("fingerprint") != manifest["fingerprint"] and replace_other:
            for p in store.iterdir():
                if p.is_file() and (p.name == MANIFEST or p.suffix in (".npz", ".npy", ".tmp")):
                    p.unlink()
            return _open_store(store, manifest, False)
        if old.get("fingerprint") != manifest["fingerprint"]:
            raise SweepStoreError(
                f"store {store} holds another sweep (other scenario, draws, prices, Q or chunk "
                "size); choose another folder or delete it")
        for p in store.iterdir():  # assembled fields (unsynced) are built again from chunks
            if p.is_file() and p.suffix in (".npy", ".tmp"):
                p.unlink()
    else:
        tmp = mpath.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
        os.replace(tmp, mpath)
    return {int(p.name[6:12]) for p in store.glob("chunk-*.npz")}


def _save_chunk(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write a chunk atomically and durably: a file under its final name is always complete,
    even after a crash of the machine (its data reach the disk before its name does)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform can open a folder: not Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse to sync a folder: the rename is as durable as it is
        pass
    finally:
        os.close(fd)


def sweep(tech, hypotheses: Sequence[Hypothesis], theta: Mapping[str, Any],
          prices: Mapping[str, Any], Q: Any, store: str | Path, *,
          fields: Sequence[str] | None = None, chunk: int | None = None,
          scheduler: Any = None, progress: Any = None,
          memory: int | None = None, replace_other: bool = False) -> SweepResult:
    """Solve every hypothesis over (draws × prices × Q) in chunks of draws, each written to
    ``store`` as it finishes; resume where an earlier call with the same inputs stopped.

    Parameters
    ----------
    tech, hypotheses, theta, prices, Q
        As for :func:`~.engine.solve_grid` (theta: K draws per parameter).
    store : path
        Folder for the manifest and one ``.npz`` per chunk (created; reused to resume).
    fields : sequence of str, optional
        Output fields to keep (default all, e.g. ``("total", "status")`` for a lean sweep).
    chunk : int, optional
        Draws per chunk (default :func:`chunk_draws` from available ``memory``); must be a
        multiple of :func:`quantum` so that the output bytes do not depend on it.
    scheduler : str or distributed.Client, optional
        Run the chunks on this Dask cluster instead of in this process.
    progress : estimation.progress.Progress, optional
        Advanced by the points of each finished chunk (a bar with an ETA on a terminal).
    memory : int, optional
        Bytes to size the chunks from (default: available now).
    replace_other : bool
        A store that holds another sweep is emptied and reused instead of refused.

    Returns
    -------
    SweepResult

    Examples
    --------
    300 draws of Erdil's (2024) trade-off in two chunks of one block quantum each; the streamed
    arrays are byte for byte those of one :func:`~.engine.solve_grid` call:

    >>> import tempfile
    >>> import numpy as np
    >>> from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, solve_grid
    >>> from structural.counterfactual.stream import quantum, sweep
    >>> tech = TradeoffTechnology(Target("performance", 60.0))
    >>> hyps = [Hypothesis("train_more", ("T",), fixed={"I": 1e9}),
    ...         Hypothesis("infer_more", ("T",), fixed={"I": 1e11})]
    >>> theta = {"w_T": np.linspace(0.5, 1.5, 300), "w_I": np.ones(300)}
    >>> prices = {"train_chip_hour": np.ones(1), "serve_chip_hour": np.ones(1)}
    >>> Q = np.geomspace(1e3, 1e12, 10)
    >>> res = sweep(tech, hyps, theta, prices, Q, tempfile.mkdtemp() + "/store",
    ...             chunk=quantum(1, len(Q)))
    >>> res.n_chunks, res.shape
    (2, (300, 1, 10))
    >>> whole = solve_grid(tech, hyps, theta, prices, Q)
    >>> bool(np.array_equal(res.array("train_more", "total"), whole.total("train_more")))
    True
    """
    theta = {k: np.asarray(v, dtype=np.float64) for k, v in with_target(tech, theta).items()}
    prices = {k: np.asarray(v, dtype=np.float64) for k, v in prices.items()}
    Q = np.asarray(Q, dtype=np.float64)
    K = len(next(iter(theta.values())))
    P = len(next(iter(prices.values())))
    nQ = len(Q)
    names = [h.name for h in hypotheses]
    q = quantum(P, nQ)
    if chunk is None:
        chunk = chunk_draws(K, P, nQ, len(hypotheses), memory)
    if chunk < 1 or chunk % q:
        raise HypothesisError(f"chunk: expected a positive multiple of {q} draws (the engine's "
                              f"block quantum for {P} prices × {nQ} Q), got {chunk}")
    fields = None if fields is None else list(fields)
    manifest = {"fingerprint": _fingerprint(tech, hypotheses, theta, prices, Q, fields, chunk),
                "hypotheses": names, "shape": [K, P, nQ], "chunk": chunk, "fields": fields}
    store = Path(store)
    done = _open_store(store, manifest, replace_other)
    bounds = [(a, min(a + chunk, K)) for a in range(0, K, chunk)]
    todo = [c for c in range(len(bounds)) if c not in done]
    per_draw = P * nQ * len(hypotheses)
    finished = (len(bounds) - len(todo)) * chunk * per_draw
    if progress is not None:
        progress.start(min(finished, K * per_draw), total=K * per_draw)

    def args_of(c: int) -> tuple:
        a, b = bounds[c]
        return (tech, list(hypotheses), {k: v[a:b] for k, v in theta.items()}, prices, Q, fields)

    def keep(c: int, arrays: Mapping[str, np.ndarray]) -> None:
        nonlocal finished
        _save_chunk(store / f"chunk-{c:06d}.npz", arrays)
        finished += (bounds[c][1] - bounds[c][0]) * per_draw
        if progress is not None:
            progress.update(finished)

    if scheduler is None:
        _solve_and_write(todo, lambda c: _solve_chunk(*args_of(c)), keep)
    elif todo:
        map_chunks(solve_chunk, [args_of(c) for c in todo], scheduler,
                   on_result=lambda i, res: keep(todo[i], res))
    return _result(store, names, Q, (K, P, nQ), chunk, fields, len(todo), len(bounds))


def _solve_and_write(todo: Sequence[int], solve: Callable[[int], dict[str, np.ndarray]],
                     keep: Callable[[int, dict[str, np.ndarray]], None]) -> None:
    """Solve the chunks ``todo`` in order, each written (``keep``) on a writer thread while the
    next one is solved: the write (about 1–5 % of a chunk's time) overlaps the solve instead of
    adding to it, at the cost of one finished chunk's outputs held while the next is solved.
    An interruption or error waits for the write in flight, so a chunk solved is not lost."""
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending: Future | None = None
        for c in todo:   # chunks of one batch, bounded memory: not a loop over scenarios
            arrays = solve(c)
            if pending is not None:
                pending.result()
            pending = writer.submit(keep, c, arrays)
        if pending is not None:
            pending.result()


#: The chunk solver the in-process loop calls (a module global so that a test can interrupt it).
_solve_chunk: Callable[..., dict[str, np.ndarray]] = solve_chunk


def _result(store: Path, names: list[str], Q: np.ndarray, shape: tuple[int, int, int],
            chunk: int, fields: list[str] | None, solved: int, n_chunks: int) -> SweepResult:
    """Read back P(cheapest) from the chunk files (small arrays only) and the field names."""
    counts = None
    fallbacks = np.zeros(len(names), dtype=np.int64)
    keys: list[str] = []
    for c in range(n_chunks):
        with np.load(store / f"chunk-{c:06d}.npz") as f:
            part = f["cheapest_counts"]
            fallbacks += f["fallback_counts"] if "fallback_counts" in f.files else -1
            if not keys:
                keys = [k.split(":", 1)[1] for k in f.files if k.startswith("0:")]
        counts = part.astype(np.int64) if counts is None else counts + part
    assert counts is not None
    pc = {h: counts[i] / shape[0] for i, h in enumerate(names)}
    return SweepResult(store, names, Q, shape, chunk, keys if fields is None else fields, pc,
                       solved, {h: int(fallbacks[i]) for i, h in enumerate(names)
                                if fallbacks[i] >= 0})
