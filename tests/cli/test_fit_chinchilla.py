"""``llmecon fit chinchilla``: good input writes params.csv; bad input exits 2, writes nothing."""

from __future__ import annotations

import pandas as pd
import pytest

import data
from llmecon.cli import main


@pytest.mark.parametrize(
    "content, needle",
    [
        ("params,tokens\n1e9,2e10\n", "column 'loss'"),
        ("params,tokens,loss\n1e9,2e10,2.5\n1e9,-3,2.4\n", "row 1"),
        ("params,tokens,loss\n1e9,2e10,nan\n", "column 'loss'"),
        ("params,tokens,loss\n", "0 rows"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, content, needle):
    f = tmp_path / "in.csv"
    f.write_text(content)
    out = tmp_path / "out"
    assert main(["fit", "chinchilla", "--data", str(f), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not out.exists()


def test_fit_writes_params_and_summary(tmp_path):
    df = data.load("chinchilla")
    f = tmp_path / "runs.csv"
    df[~df["outlier"]][["params", "tokens", "loss"]].to_csv(f, index=False)
    out = tmp_path / "out"
    rc = main(["fit", "chinchilla", "--data", str(f), "--out", str(out), "--quick", "--quiet"])
    assert rc == 0
    params = pd.read_csv(out / "params.csv")
    assert list(params.columns) == ["param", "estimate", "std_err", "ci_low", "ci_high"]
    assert list(params["param"]) == ["A", "B", "E", "alpha", "beta"]
    assert params.set_index("param").loc["alpha", "estimate"] == pytest.approx(0.3473, abs=2e-3)
    assert "Converged" in (out / "summary.txt").read_text()


def test_grid_is_screened_unless_full_grid(tmp_path):
    """By default the 64 starts with the lowest loss run and the summary says so; --full-grid
    runs all 243 of --quick's grid; both reach the same optimum."""
    df = data.load("chinchilla")
    f = tmp_path / "runs.csv"
    df[["params", "tokens", "loss"]].to_csv(f, index=False)
    fits = {}
    for name, extra in (("screened", []), ("full", ["--full-grid"])):
        out = tmp_path / name
        assert main(["fit", "chinchilla", "--data", str(f), "--out", str(out), "--quick",
                     "--quiet", *extra]) == 0
        fits[name] = (pd.read_csv(out / "params.csv").set_index("param"),
                      (out / "summary.txt").read_text())
    (screened, s_text), (full, f_text) = fits["screened"], fits["full"]
    assert "the 64 of the 243 starts" in " ".join(s_text.split())
    assert "screened" not in f_text and "243 (" in f_text
    pd.testing.assert_series_equal(screened["estimate"], full["estimate"], rtol=1e-7)
