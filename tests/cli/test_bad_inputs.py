"""Bad input to every command refused before any work: exit 2, one line naming the option, file,
column or value, no traceback and no files written. A fit that runs but cannot be trusted exits 1
with one line and writes nothing.

Together with the Python API cases of ``tests/estimation/test_trust.py`` these cover well over 60
distinct bad inputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import data
from llmecon.cli import main

PIPELINE = Path(__file__).resolve().parents[2] / "structural/examples/pipelines/reasoning.toml"


def _fails(capsys, argv: list[str], *needles: str, status: int = 2) -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == status, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """The bundled Chinchilla runs (outliers dropped) as a user's CSV."""
    df = data.load("chinchilla")
    f = tmp_path / "runs.csv"
    df[~df["outlier"]][["params", "tokens", "loss"]].to_csv(f, index=False)
    return f


def _csv(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


# --- fit chinchilla: options checked before the data are read or the grid is run -------------


@pytest.mark.parametrize("opts, needle", [
    (["--seed", "-1"], "--seed: expected an integer from 0 to 4294967295, got -1"),
    (["--seed", str(2**32)], "--seed"),
    (["--seed", "99999999999999999999"], "--seed"),
    (["--bootstrap", "1"], "--bootstrap: expected 0 or an integer ≥ 2, got 1"),
    (["--bootstrap", "-1"], "--bootstrap"),
    (["--bootstrap", "-40"], "--bootstrap"),
    (["--bootstrap", "1000000000000"], "--bootstrap: 1000000000000 replicates"),
    (["--out", "/proc/llmecon-x"], "--out /proc/llmecon-x: cannot create or write"),
])
def test_fit_chinchilla_bad_options(runs, capsys, opts, needle):
    _fails(capsys, ["fit", "chinchilla", "--data", runs, "--quick", "--quiet", *opts], needle)


@pytest.mark.parametrize("text, needle", [
    ("params,tokens,loss,loss\n1,2,3,4\n", "column 'loss' appears more than once"),
    ("params,params,tokens,loss\n1,1,2,3\n", "column 'params' appears more than once"),
    ("", "cannot read as CSV"),
    ("params,tokens\n1e9,2e10\n", "loss"),
    ("params,tokens,loss\n1e9,2e10,nan\n", "column 'loss'"),
    ("params,tokens,loss\n-1e9,2e10,2.5\n", "column 'params'"),
    ("params,tokens,loss\n0,2e10,2.5\n", "column 'params'"),
    ("params,tokens,loss\n1e308,2e10,2.5\n", "column 'params': row 0"),
    ("params,tokens,loss\n1e9,1e308,2.5\n", "column 'tokens': row 0"),
    ("params,tokens,loss\n1e9,2e10,1e308\n", "column 'loss': row 0"),
    ("params,tokens,loss\n1e9,2e10,abc\n", "not a number"),
    ("params,tokens,loss\n1e9,2e10,2.5\n", "distinct value"),  # one row
    ("params,tokens,loss\n" + "1e9,2e10,2.5\n" * 20, "column 'params' has 1 distinct"),
    ("params,tokens,loss\n" + "".join(f"1e9,{2e10 * (i + 1)},{2.5 - i / 100}\n"
                                      for i in range(20)), "column 'params' has 1 distinct"),
    ("params,tokens,loss\n" + "".join(f"{1e8 * (i + 1)},2e10,{2.5 - i / 100}\n"
                                      for i in range(20)), "column 'tokens' has 1 distinct"),
    ("params,tokens,loss\n" + "".join(f"{1e8 * (i + 1)},{2e9 * (i + 1)},{3 - i / 10}\n"
                                      for i in range(6)), "6 distinct (params, tokens) run(s)"),
])
def test_fit_chinchilla_bad_data(tmp_path, capsys, text, needle):
    f = _csv(tmp_path, text)
    out = tmp_path / "out"
    _fails(capsys, ["fit", "chinchilla", "--data", f, "--quick", "--quiet", "--out", out], needle)
    assert not out.exists()


def test_fit_chinchilla_existing_files_need_force(runs, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "params.csv").write_text("mine\n")
    _fails(capsys, ["fit", "chinchilla", "--data", runs, "--quick", "--quiet", "--out", out],
           "already holds 1 file(s) (params.csv)", "--force")
    assert (out / "params.csv").read_text() == "mine\n"


# --- fit cost models ---------------------------------------------------------------------------


@pytest.mark.parametrize("argv, needle", [
    (["fit", "usage", "--components", "0"], "--components '0'"),
    (["fit", "usage", "--components", "5"], "--components '5'"),
    (["fit", "usage", "--components", "a,b"], "--components 'a,b'"),
    (["fit", "usage", "--prices", "1"], "--prices '1'"),
    (["fit", "usage", "--prices", "1,1e9"], "outside [0.0005, 2000]"),
    (["fit", "usage", "--prices", "x,y"], "--prices 'x,y'"),
    (["fit", "price_trend", "--threshold", "nan"], "--threshold"),
    (["fit", "price_trend", "--reference", "nosuch-model"], "--reference 'nosuch-model'"),
    (["fit", "training_cost", "--runs", "/nonexistent/runs.csv"], "no such file"),
    (["fit", "task_success", "--bootstrap", "10000000000"],
     "--bootstrap: 10000000000 replicates of"),
    (["fit", "task_success", "--bootstrap", "1"], "--bootstrap"),
])
def test_fit_cost_models_bad_options(capsys, argv, needle):
    _fails(capsys, argv, needle)


@pytest.mark.parametrize("text, needle", [
    ("output_tokens\n5\n5\n5\n5\n", "has 1 distinct value(s)"),
    ("output_tokens\n5\n6\n5\n6\n", "has 2 distinct value(s)"),
    ("output_tokens,output_tokens\n5,6\n7,8\n", "column 'output_tokens' appears more than once"),
    ("output_tokens\n-3\n5\n6\n", "output_tokens"),
])
def test_fit_usage_bad_traces(tmp_path, capsys, text, needle):
    out = tmp_path / "out"
    _fails(capsys, ["fit", "usage", "--traces", _csv(tmp_path, text), "--out", out], needle)
    assert not out.exists()


def test_fit_inference_price_on_three_rows_writes_nothing(tmp_path, capsys):
    text = ("provider,model,input_usd_per_mtok,output_usd_per_mtok,active_parameters,parameters,"
            "context_window,date\n"
            + "".join(f"p{i},m{i},{0.1 * (i + 1)},{0.2 * (i + 1)},{7e9 * (i + 1)},{7e9 * (i + 1)},"
                      f"8192,2024-0{i + 1}-01\n" for i in range(3)))
    out = tmp_path / "out"
    rc = main(["fit", "inference_price", "--prices", str(_csv(tmp_path, text)), "--out",
               str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc in (1, 2) and len(err) == 1 and "Traceback" not in err[0], err
    assert not out.exists()


# --- data, reproduce, cost ---------------------------------------------------------------------


def test_data_live_prices_existing_out_needs_force(tmp_path, capsys):
    f = tmp_path / "prices.csv"
    f.write_text("mine\n")
    _fails(capsys, ["data", "live-prices", "--out", f], "already exists", "--force")
    assert f.read_text() == "mine\n"


@pytest.mark.parametrize("argv, needle", [
    (["data", "validate", "chinchilla", "{dup}"], "column 'loss' appears more than once"),
    (["data", "show", "chinchilla", "--rows", "-1"], "--rows"),
    (["data", "show", "nosuch"], "unknown dataset 'nosuch'"),
    (["reproduce", "nosuch"], "unknown paper 'nosuch'"),
    (["reproduce", "kaplan2020", "--all"], "give one paper NAME or --all"),
    (["reproduce"], "give one paper NAME or --all"),
    (["cost", "{d0}"], "model_loss"),
    (["cost", "{nbig}"], "is nan"),
    (["cost", "reasoning", "--queries", "0"], "--queries"),
    (["cost", "reasoning", "--queries", "-5"], "--queries"),
    (["cost", "reasoning", "--queries", "inf"], "--queries"),
    (["cost", "reasoning", "--queries", "nan"], "--queries"),
])
def test_other_commands_bad_input(tmp_path, capsys, argv, needle):
    text = PIPELINE.read_text()
    files = {
        "dup": _csv(tmp_path, "params,tokens,flops,loss,loss,outlier\n1,2,3,4,5,False\n"),
        "d0": _csv(tmp_path, text.replace("D = 2e12", "D = 0"), "d0.toml"),
        "nbig": _csv(tmp_path, text.replace("N = 70e9", "N = 1e308"), "nbig.toml"),
    }
    _fails(capsys, [a.format(**files) for a in argv], needle)


def test_reproduce_existing_out_needs_force_and_keeps_the_files(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "kaplan2020_table1.csv").write_text("mine\n")
    _fails(capsys, ["reproduce", "kaplan2020", "--quick", "--quiet", "--out", out], "--force")
    assert (out / "kaplan2020_table1.csv").read_text() == "mine\n"
    assert main(["reproduce", "kaplan2020", "--quick", "--quiet", "--out", str(out),
                 "--force"]) == 0
    assert (out / "kaplan2020_table1.csv").read_text() != "mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind
