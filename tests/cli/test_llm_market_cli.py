"""``llmecon fit llm_demand`` and market scenarios of ``llmecon counterfactual`` on bundled data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import data
from llmecon.cli import main


def _exit2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err
    return err


def test_fit_llm_demand_writes_its_tables(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fit"
    assert main(["fit", "llm_demand", "--model", "logit", "--draws", "4", "--sensitivity", "",
                 "--out", str(out)]) == 0
    for f in ("params.csv", "elasticities.csv", "markups.csv", "summary.txt", "open_ratio.csv"):
        assert (out / f).is_file(), f
    mk = pd.read_csv(out / "markups.csv")
    assert {"prices", "marginal_cost", "markup", "markup_low", "markup_high",
            "roofline_cost"} <= set(mk.columns)
    assert (mk.loc[mk["pricing"] == "competitive", "markup"] == 0).all()
    el = pd.read_csv(out / "elasticities.csv")
    own = el[el["product_j"] == el["product_k"]]
    assert (own["elasticity"] < 0).all() and own["elasticity_low"].notna().all()
    text = (out / "summary.txt").read_text()
    assert "First stage" in text and "f_stat" in text and "Market size" in text
    # product-weeks with a negative cost are listed with their interval, never dropped
    assert "Negative marginal costs" in text and {"flag", "price_vs_model_median"} <= set(
        mk.columns)
    flagged = mk["flag"].astype(str).str.startswith("negative")
    assert (flagged == (mk["marginal_cost"] < 0)).all()
    params = pd.read_csv(out / "params.csv", index_col=0)
    assert params.loc["prices", "estimate"] < 0
    # full precision in every CSV (Markdown and the summary round; CSVs used to stop at 8-10)
    for name in ("params.csv", "markups.csv", "elasticities.csv"):
        cells = (out / name).read_text().replace("\n", ",").split(",")
        digits = [len(c.lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0"))
                  for c in cells if c.replace(".", "").replace("-", "").replace("e", "").isdigit()]
        assert max(digits) > 12, name


def test_unidentified_level_price_nested_demand_is_refused_with_its_first_stage(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nested logit in level price: α is not negative at 95 % on the bundled data, so the fit
    stops with exit 1 and a one-line reason (first-stage F, Shea R²), writes the estimates and
    the first stage, and no markups or elasticities."""
    out = tmp_path / "lvl"
    assert main(["fit", "llm_demand", "--model", "nested", "--price-form", "level", "--draws",
                 "2", "--sensitivity", "", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "not identified" in err and "Shea partial R²" in err and "--price-form log" in err
    assert sorted(p.name for p in out.iterdir()) == ["params.csv", "summary.txt"]
    text = (out / "summary.txt").read_text()
    assert text.startswith("NOT IDENTIFIED") and "First stage" in text
    assert pd.read_csv(out / "params.csv", index_col=0).loc["prices", "ci_high"] > 0


def test_token_file_in_wrong_unit_exits_2_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tokens.csv"
    bad = data.load("api_market").head(50)
    bad = bad.assign(tokens_input=bad["tokens_input"] * 1e9,
                     date=bad["date"].dt.strftime("%Y-%m-%d"))
    bad.to_csv(f, index=False)
    out = tmp_path / "out"
    err = _exit2(capsys, ["fit", "llm_demand", "--market", str(f), "--out", str(out)])
    assert "wrong unit" in err and "tokens_input" in err
    assert not out.exists()


def test_prices_without_provider_column_exit_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "prices.csv"
    p = data.load("api_provider_prices").head(50).drop(columns="provider")
    p.assign(date=p["date"].dt.strftime("%Y-%m-%d")).to_csv(f, index=False)
    out = tmp_path / "out"
    err = _exit2(capsys, ["fit", "llm_demand", "--provider-prices", str(f), "--out", str(out)])
    assert "'provider'" in err
    assert not out.exists()


def test_crosswalk_naming_an_unknown_model_exits_2(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "xw.csv"
    xw = data.load("openrouter_crosswalk").head(5).copy()
    xw.loc[1, "model"] = "acme/not-a-model"
    xw.to_csv(f, index=False)
    err = _exit2(capsys, ["data", "validate", "openrouter_crosswalk", str(f)])
    assert "acme/not-a-model" in err


def _scenario(tmp_path: Path, change: str, model: str = "logit") -> Path:
    f = tmp_path / "sc.toml"
    f.write_text(f'kind = "market"\ntitle = "test"\n[market]\nmodel = "{model}"\n'
                 f"[change]\n{change}\n")
    return f


def test_scenario_naming_an_unknown_model_exits_2(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    f = _scenario(tmp_path, 'type = "withdraw"\nmodels = ["acme/not-a-model"]')
    out = tmp_path / "cf"
    err = _exit2(capsys, ["counterfactual", str(f), "--out", str(out), "--draws", "3"])
    assert "acme/not-a-model" in err
    assert not out.exists()


def test_price_form_bad_or_on_a_pipeline_scenario_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _scenario(tmp_path, 'type = "guardrail"\nshare = 0.1')
    f.write_text(f.read_text().replace("[market]", '[market]\nprice_form = "cubic"'))
    assert "market.price_form" in _exit2(capsys, ["counterfactual", str(f), "--out",
                                                  str(tmp_path / "a")])
    err = _exit2(capsys, ["counterfactual", "guardrails", "--out", str(tmp_path / "b"),
                          "--price-form", "level"])
    assert "--price-form" in err and "market" in err


def test_scenario_with_unknown_key_exits_2(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    f = _scenario(tmp_path, 'type = "guardrail"\nshare = 0.1\nbogus = 1')
    err = _exit2(capsys, ["counterfactual", str(f), "--out", str(tmp_path / "cf")])
    assert "bogus" in err


@pytest.mark.parametrize("form", ["log", "level"])
def test_compute_price_scenario_runs_and_writes_report(tmp_path: Path, form: str,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Both price forms run; the form decides closed models' pass-through (above 1 with
    α log p, where the markup is a share of the price; below 1 with α p), and the report says
    which form it used."""
    f = _scenario(tmp_path, 'type = "compute_price"\nfactor = 1.5\ncompute_share = 1.0',
                  model="logit")
    out = tmp_path / "cf"
    assert main(["counterfactual", str(f), "--out", str(out), "--draws", "3",
                 "--price-form", form]) == 0
    for name in ("products.csv", "products.md", "surplus.csv", "report.md", "summary.json",
                 "changes.png"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "products.csv")
    comp = table[table["pricing"] == "competitive"]
    # open weights priced at marginal cost pass a cost change through one for one
    assert comp["pass_through"].dropna().sub(1.0).abs().max() < 1e-6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["price_form"] == form
    median = summary["median_pass_through_closed"]
    lo, hi = summary["median_pass_through_closed_low"], summary["median_pass_through_closed_high"]
    assert lo <= hi
    assert (median > 1.0 and lo > 1.0) if form == "log" else (median < 1.0 and hi < 1.0)
    assert f"price form '{form}'" in (out / "report.md").read_text()
    assert summary["cs_change_total_low"] <= summary["cs_change_total_usd"] <= summary[
        "cs_change_total_high"]
    names = {r["name"]: r for r in summary["parameters"]}
    assert names["prices"]["source"] == "fitted" and names["change.factor"]["value"] == 1.5
    assert names["price_per_hour"]["source"] == "published"
    # 3 draws are too few for variance shares: reported as undefined, never as a number
    vd = summary["variance_decomposition"]
    assert vd["method"] and all(v is None for k, g in vd.items() if k != "method"
                                for v in g.values())
    assert (out / "provenance.csv").is_file() and (out / "variance_decomposition.csv").is_file()


def test_entry_scenario_lowers_no_price_and_gives_entrant_a_share(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = _scenario(tmp_path, 'type = "open_model_entry"\nquality = 150.0\nparameters = 671e9\n'
                  'active_parameters = 37e9\nname = "entrant/x"', model="logit")
    out = tmp_path / "cf"
    assert main(["counterfactual", str(f), "--out", str(out), "--draws", "3"]) == 0
    table = pd.read_csv(out / "products.csv")
    e = table[table["product_ids"] == "entrant/x"]
    assert len(e) == table["market_ids"].nunique() and (e["new_share"] > 0).all()
    rest = table[(table["product_ids"] != "entrant/x") & (table["pricing"] == "bertrand")]
    assert (rest["new_price"] <= rest["price"] + 1e-9).all()  # entry never raises a price
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cs_change_total_usd"] > 0


def _interrupted(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("quiet", [False, True])
@pytest.mark.parametrize("argv, target, line", [
    (["fit", "llm_demand", "--model", "logit", "--sensitivity", ""],
     "structural.market.llm_api.fit_llm_demand", "llmecon fit llm_demand: fitting the logit"),
    (["counterfactual", "lab_merger", "--draws", "3"],
     "structural.market.llm_scenarios.run", "llmecon counterfactual: solving the market scenario"),
])
def test_market_commands_show_progress_unless_quiet(tmp_path: Path, capsys, monkeypatch, argv,
                                                    target, line, quiet) -> None:
    """On a terminal the long market commands say what they are doing (``--quiet``: nothing);
    interrupted there, they exit 130 with one line and write nothing."""
    import sys

    monkeypatch.delenv("LLMECON_QUIET", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(target, _interrupted)
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out)] + (["--quiet"] if quiet else [])) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "llmecon: interrupted; no output was written"
    assert any(e.startswith(line) for e in err) is not quiet, err
    assert list(tmp_path.iterdir()) == []


def test_fit_llm_demand_seed_out_of_range_is_refused_first(tmp_path: Path, capsys) -> None:
    err = _exit2(capsys, ["fit", "llm_demand", "--seed", "99999999999999999999", "--out",
                          str(tmp_path / "out")])
    assert "--seed" in err and "4294967295" in err


@pytest.mark.parametrize("argv, start", [
    (["--draws", "1000000000"], "llmecon fit: error: --draws: 1000000000 parameter draws"),
    (["--model", "rc", "--nodes", "100000000000"], "llmecon fit: error: --nodes: 100000000000"),
])
def test_fit_llm_demand_sizes_beyond_memory_are_refused_before_fitting(tmp_path: Path, capsys,
                                                                      argv, start) -> None:
    err = _exit2(capsys, ["fit", "llm_demand", *argv, "--out", str(tmp_path / "out")])
    assert err.startswith(start) and "GiB" in err
