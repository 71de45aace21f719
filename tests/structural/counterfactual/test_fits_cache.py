"""The fitted sources' disk cache (``structural.counterfactual.fits``): a fit is written whole
under its final name (moved into place from a temporary file, so a second process, e.g. a
parallel test worker, never reads half of it), read back with the same numbers, and a cache
folder that cannot be written leaves the fit computed and nothing behind."""

from __future__ import annotations

import numpy as np
import pandas as pd

from structural.counterfactual import fits


def _compute(calls: list[int]):
    def compute():
        calls.append(1)
        draws = pd.DataFrame({"a": np.linspace(0.1, 0.9, 5), "b": np.geomspace(1e-3, 1e3, 5)})
        return {"a": 0.5, "b": 1.0 / 3.0}, draws
    return compute


def test_written_whole_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setattr(fits, "_cache_dir", lambda: tmp_path / "fits")
    calls: list[int] = []
    point, draws = fits._cached("toy", _compute(calls))
    assert [p.name for p in (tmp_path / "fits").iterdir()] == [f"toy-v{fits.CACHE_VERSION}.csv"]
    again, again_draws = fits._cached("toy", _compute(calls))
    assert len(calls) == 1                          # the second call read the file
    assert again == point
    np.testing.assert_allclose(again_draws.to_numpy(), draws.to_numpy(), rtol=1e-15)


def test_unwritable_cache_still_returns_the_fit(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(fits, "_cache_dir", lambda: blocker / "fits")
    calls: list[int] = []
    point, _ = fits._cached("toy", _compute(calls))
    assert point["a"] == 0.5 and len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_write_that_fails_midway_leaves_no_partial_file(tmp_path, monkeypatch):
    """The disk fills half-way through the table: no file under the final name (which a later
    run would read as the fit), no temporary file left."""
    monkeypatch.setattr(fits, "_cache_dir", lambda: tmp_path / "fits")

    def half_then_fail(self, target, **kwargs):
        if hasattr(target, "write"):
            target.write("a,b\n0.5,")
        else:
            with open(target, "w") as fh:
                fh.write("a,b\n0.5,")
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    calls: list[int] = []
    point, _ = fits._cached("toy", _compute(calls))
    assert point == {"a": 0.5, "b": 1.0 / 3.0}
    assert list((tmp_path / "fits").iterdir()) == []
