"""Checks on the files a user names on the command line, and the bundled example files.

Every check fails with a one-line :class:`llmecon.errors.UsageError` naming the file: a path that
does not exist, a directory where a file is expected, or a file that is not UTF-8 text. The example
pipelines and scenarios ship as package data under ``structural/examples``, so ``llmecon cost
reasoning`` finds them after a normal install, whatever the working directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmecon.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

#: Bundled example folders under ``structural/examples``, by the command that reads them.
EXAMPLE_KINDS = ("pipelines", "scenarios")


def input_file(path: str | Path, kind: str, flag: str | None = None) -> Path:
    """Return ``path`` after checking it is an existing UTF-8 text file.

    Parameters
    ----------
    path : str or Path
        The file the user named.
    kind : str
        What the file should be, for the message, e.g. ``".csv"`` or ``".toml"``.
    flag : str, optional
        The option that named the file (``"--data"``), prefixed to the "no such file" message.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    UsageError
        The path does not exist, is a directory, or is not UTF-8 text.
    """
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{p} is a directory; expected a {kind} file")
    if not p.exists():
        raise UsageError(f"{flag + ' ' if flag else ''}{p}: no such file")
    check_utf8(p)
    return p


def check_utf8(path: Path) -> None:
    """Raise :class:`UsageError` naming ``path`` when its bytes are not valid UTF-8.

    Parameters
    ----------
    path : Path
        An existing, readable file.

    Raises
    ------
    UsageError
        The file holds a byte sequence that is not UTF-8; the message gives its offset.
    """
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: byte 0x{raw[exc.start]:02x} at offset {exc.start} is not UTF-8; "
            "the file must be UTF-8 text"
        ) from None


def _examples_dir(kind: str) -> Traversable:
    if kind not in EXAMPLE_KINDS:
        raise ValueError(f"kind: expected one of {EXAMPLE_KINDS}, got {kind!r}")
    import importlib.util
    import sys

    # Found without running the package (whose import loads the engine and JAX, seconds of
    # start-up for ``--list-examples``), unless it is imported already or not a plain folder.
    spec = None if "structural" in sys.modules else importlib.util.find_spec("structural")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "examples" / kind
        if folder.is_dir():
            return folder
    return resources.files("structural").joinpath("examples").joinpath(kind)


def example_names(kind: str) -> list[str]:
    """Names (file stems) of the bundled ``structural/examples/<kind>/*.toml`` files.

    Parameters
    ----------
    kind : {"pipelines", "scenarios"}
        Which example folder.

    Returns
    -------
    list of str
        Sorted stems, e.g. ``["frontier", "reasoning", "small_long_context"]``.
    """
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in _examples_dir(kind).iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    )


def bundled_values(dataset: str, column: int = 0) -> list[str]:
    """The distinct values, in file order, of one column of a bundled dataset (``data/NAME.csv``),
    read with the csv module: for help texts, which must not import pandas (``import data``
    would) to list, say, the bundled request traces. The package is located with
    :func:`importlib.util.find_spec`, which does not run it."""
    import csv
    import importlib.util

    spec = importlib.util.find_spec("data")
    if spec is None or not spec.submodule_search_locations:
        return []
    path = Path(next(iter(spec.submodule_search_locations))) / f"{dataset}.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        next(rows, None)
        return list(dict.fromkeys(row[column] for row in rows if len(row) > column))


def _bundled_name(path: Path, kind: str) -> str | None:
    """The example file name ``path`` refers to, or None when it names a user's own file.

    A bare name (``reasoning``, ``reasoning.toml``) or a path ending in ``examples/<kind>/NAME``
    (as written in the README) refers to a bundled example; any other missing path is the user's.
    """
    parent = path.parent.parts
    if parent and parent[-2:] != ("examples", kind):
        return None
    return path.name if path.suffix == ".toml" else f"{path.name}.toml"


@contextlib.contextmanager
def example_or_file(path: str | Path, kind: str, command: str) -> Iterator[Path]:
    """Yield ``path`` if it exists, else the bundled example it names, as a real file path.

    Parameters
    ----------
    path : str or Path
        What the user typed: a file, a bare example name (``reasoning``), or the README's
        ``structural/examples/<kind>/<name>.toml``.
    kind : {"pipelines", "scenarios"}
        Which bundled folder to look in.
    command : str
        The subcommand, for the ``--list-examples`` hint in the message.

    Yields
    ------
    Path
        A checked UTF-8 file (extracted to a temporary file if the package is zipped).

    Raises
    ------
    UsageError
        Neither the file nor a bundled example of that name exists (the message lists the
        bundled names), or the file is a directory or not UTF-8 text.
    """
    p = Path(path)
    if p.exists():
        yield input_file(p, ".toml")
        return
    name = _bundled_name(p, kind)
    entry = _examples_dir(kind).joinpath(name) if name else None
    if entry is None or not entry.is_file():
        raise UsageError(
            f"no {kind.removesuffix('s')} file at path {p}, nor a bundled example of that name; "
            f"bundled {kind}: "
            f"{', '.join(example_names(kind))} (llmecon {command} --list-examples)"
        )
    with resources.as_file(entry) as real:
        yield input_file(real, ".toml")


def print_examples(kind: str) -> int:
    """Print the bundled example names of ``kind``, one a line; return 0.

    Parameters
    ----------
    kind : {"pipelines", "scenarios"}
        Which example folder.

    Returns
    -------
    int
        Exit status 0.
    """
    for name in example_names(kind):
        print(name)
    return 0


def output_dir(path: Path | None, flag: str = "--out", force: bool = True) -> Path | None:
    """Return ``path`` after checking, before any work, that results can be written there.

    Parameters
    ----------
    path : Path or None
        The output folder the user named; None passes through.
    flag : str
        The option that named it, for the message.
    force : bool
        Whether files already in the folder may be replaced (the command's ``--force``).

    Returns
    -------
    Path or None
        ``path`` unchanged.

    Raises
    ------
    UsageError
        ``path`` exists and is not a directory; it holds files and ``force`` is false; or the
        folder it would be created in does not exist or cannot be written.
    """
    if path is None:
        return None
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a directory")
    if path.is_dir() and not force and any(path.iterdir()):
        names = sorted(p.name for p in path.iterdir())
        raise UsageError(f"{flag} {path}: the folder already holds {len(names)} file(s) "
                         f"({', '.join(names[:3])}{', ...' if len(names) > 3 else ''}); "
                         "give --force to replace them or choose another folder")
    parent = _existing_parent(path)
    try:  # the only sure test: create (and remove) a folder where the results will go
        if not parent.is_dir():
            raise NotADirectoryError(f"{parent} is not a directory")
        os.rmdir(tempfile.mkdtemp(prefix=".llmecon-check-", dir=parent))
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create or write a folder there "
                         f"({exc.strerror or exc})") from None
    return path


def _existing_parent(path: Path) -> Path:
    """The nearest ancestor of ``path`` (or ``path`` itself) that exists."""
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


@contextlib.contextmanager
def staged_output(path: Path | None, flag: str = "--out",
                  force: bool = True) -> Iterator[Path | None]:
    """Yield a temporary folder for a command's files; move them into ``path`` only on success.

    The one way every command writes its ``--out`` folder: checked up front by
    :func:`output_dir`, written in a hidden sibling folder, and moved into place once the work
    has finished. An error or Ctrl-C (``KeyboardInterrupt``) removes the temporary folder, so an
    interrupted run leaves no partial output and an existing folder as it was.

    Parameters
    ----------
    path : Path or None
        The output folder; None yields None and writes nothing.
    flag, force
        As for :func:`output_dir`.

    Yields
    ------
    Path or None
        The folder to write into.
    """
    if output_dir(path, flag, force) is None:
        yield None
        return
    assert path is not None
    path = path.absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        yield tmp
        if not path.exists():
            tmp.rename(path)  # atomic on one file system
            return
        for f in sorted(tmp.iterdir()):
            target = path / f.name
            if target.is_dir() and not f.is_dir():
                raise UsageError(f"{flag} {target}: is a folder; cannot replace it with a file")
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(f, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def staged_file(path: Path, force: bool, flag: str = "--out") -> Path:
    """Check a single output file up front: its folder exists and it does not, unless ``force``.

    Write to the returned path with :func:`write_file_atomically`.
    """
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; expected a file name")
    if path.exists() and not force:
        raise UsageError(f"{flag} {path}: the file already exists; give --force to replace it")
    if not path.parent.is_dir():
        raise UsageError(f"{flag}: folder {path.parent} not found")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: folder {path.parent} cannot be written")
    return path


def write_file_atomically(path: Path, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then move it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.partial-", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


#: Seeds are unsigned 32-bit integers (what every generator here accepts, NumPy's and JAX's).
SEED_MAX = 2**32 - 1


def check_seed(seed: int, flag: str = "--seed") -> int:
    """Return ``seed`` after checking it lies in [0, 2³² − 1]."""
    if not 0 <= seed <= SEED_MAX:
        raise UsageError(f"{flag}: expected an integer from 0 to {SEED_MAX}, got {seed}")
    return seed


def check_count(value: int, flag: str, minimum: int, zero_ok: bool = False) -> int:
    """Return ``value`` after checking it is ≥ ``minimum`` (or exactly 0 when ``zero_ok``)."""
    if zero_ok and value == 0:
        return value
    if value < minimum:
        allowed = f"0 or an integer ≥ {minimum}" if zero_ok else f"an integer ≥ {minimum}"
        raise UsageError(f"{flag}: expected {allowed}, got {value}")
    return value


def check_memory(nbytes: float, flag: str, what: str) -> None:
    """Refuse, before any work, a size whose arrays would not fit in available memory.

    Parameters
    ----------
    nbytes : float
        Bytes the run needs at its peak (an estimate from the array shapes).
    flag : str
        The option that set the size (``--bootstrap``), named in the message.
    what : str
        What the memory holds, for the message.
    """
    from estimation.distributed import available_memory

    have = available_memory()
    if nbytes > 0.8 * have:
        raise UsageError(f"{flag}: {what} needs about {nbytes / 2**30:.1f} GiB, more than the "
                         f"{have / 2**30:.1f} GiB available; choose a smaller value")


#: Bytes per bootstrap replicate and data row at the peak of a bootstrap: its resample counts,
#: copied into the pools of the solver, with room for the per-replicate arrays beside them.
BOOT_BYTES_PER_CELL = 8 * 4


def check_bootstrap_memory(draws: int, rows: int, flag: str = "--bootstrap") -> None:
    """Refuse, before any work, a bootstrap whose replicates × rows would not fit in memory
    (:func:`check_memory` with :data:`BOOT_BYTES_PER_CELL`)."""
    check_memory(BOOT_BYTES_PER_CELL * draws * rows, flag, f"{draws} replicates of {rows} rows")


def read_csv(path: Path, flag: str | None, **kwargs) -> pd.DataFrame:
    """Read a user's CSV file after :func:`input_file`, refusing what pandas would hide.

    A duplicated column name (pandas would rename the second ``loss`` to ``loss.1`` and fit the
    first) and an empty or malformed file each raise :class:`UsageError` naming the file.
    """
    import csv

    import pandas as pd

    input_file(path, ".csv", flag=flag)
    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    seen: set[str] = set()
    for name in (h.strip() for h in header):
        if name in seen:
            raise UsageError(f"{path}: column {name!r} appears more than once in the header; "
                             "each column must have its own name")
        seen.add(name)
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as exc:
        raise UsageError(f"{path}: cannot read as CSV ({' '.join(str(exc).split())})") from None


def require_finite(what: str, **values: Any) -> None:
    """Refuse results that are not finite numbers, which only out-of-range input produces.

    A pipeline with 0 pretraining tokens or 1e308 parameters computes a loss of inf and a
    P(solved) of NaN; printing them (or writing ``Infinity`` into JSON, which strict parsers
    reject) would hide the bad input. Scalars and mappings must be finite; in tables (DataFrames)
    NaN marks "not applicable" and only ±inf is refused.

    Parameters
    ----------
    what : str
        What was computed from the input (``"pipeline reasoning"``), for the message.
    **values
        Named numbers, mappings of numbers or DataFrames.

    Raises
    ------
    UsageError
        Naming the first quantity that is not finite.
    """
    import math

    def bad(name: str, v: Any, nan_ok: bool = False) -> None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return
        if math.isinf(v) or (math.isnan(v) and not nan_ok):
            raise UsageError(f"{what}: {name} is {v}; an input is out of range (a size of 0, "
                             "or a value too large to compute with): check the inputs it uses")

    for key, v in values.items():
        if hasattr(v, "to_dict") and hasattr(v, "columns"):  # a DataFrame
            for col, series in v.to_dict().items():
                for row, x in series.items():
                    bad(f"{key} {col!r} (row {row})", x, nan_ok=True)
        elif isinstance(v, dict):
            for k, x in v.items():
                bad(f"{key} {k!r}", x)
        else:
            bad(key, v)
