"""``python -m data.build`` regenerates the committed CSVs byte for byte."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from data import build

REPO = Path(__file__).resolve().parents[2]
SOURCES = Path(os.environ.get("LLMECON_SOURCES", REPO.parent / "shared" / "sources"))
PACKAGE = REPO / "data"

needs_sources = pytest.mark.skipif(
    not SOURCES.is_dir(), reason=f"raw sources not found at {SOURCES}"
)


@needs_sources
def test_build_reproduces_committed_files(tmp_path: Path) -> None:
    assert build.main(["--sources", str(SOURCES), "--out", str(tmp_path)]) == 0
    names = sorted(build.BUILDERS)
    for name in names:
        fresh = (tmp_path / f"{name}.csv").read_bytes()
        committed = (PACKAGE / f"{name}.csv").read_bytes()
        assert fresh == committed, f"{name}.csv differs from a fresh build"


@needs_sources
def test_build_twice_is_identical(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    build.build(SOURCES, a)
    build.build(SOURCES, b)
    for path in sorted(a.iterdir()):
        assert path.read_bytes() == (b / path.name).read_bytes(), path.name


def test_missing_sources_folder_exits_2(tmp_path: Path) -> None:
    assert build.main(["--sources", str(tmp_path / "absent"), "--out", str(tmp_path)]) == 2
