"""The OpenRouter market tables: crosswalk, coverage, aliases, :free variants, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import data
from data import DataValidationError, openrouter
from llmecon.cli import main


@pytest.fixture(scope="module")
def models() -> pd.DataFrame:
    return data.load("api_models")


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    return data.load("api_market")


@pytest.fixture(scope="module")
def crosswalk() -> pd.DataFrame:
    return data.load("openrouter_crosswalk")


# --- the crosswalk is explicit data, checked against the tables it joins ---------------------


def test_crosswalk_lists_every_base_slug_for_every_source(crosswalk, models) -> None:
    bases = set(models["base_model"])
    assert set(crosswalk["model"]) == bases
    assert crosswalk.groupby("model").size().eq(len(openrouter.SOURCES)).all()
    unmatched = crosswalk["rule"] == "unmatched"
    assert crosswalk.loc[unmatched, "name"].isna().all()
    assert crosswalk.loc[~unmatched, "name"].notna().all()


def test_every_hand_match_is_in_the_crosswalk_and_scores(crosswalk, models) -> None:
    xw = crosswalk.set_index(["model", "source"])["name"]
    base = models[models["variant"].isna()].set_index("model")
    for table, source, column in (
        (openrouter.AA_FAMILY, "artificial_analysis", "aa_intelligence"),
        (openrouter.ECI_MODEL, "epoch_eci", "eci"),
        (openrouter.LMARENA_NAME, "lmarena", "lmarena_text"),
    ):
        for slug, name in table.items():
            assert xw[(slug, source)] == name
            assert np.isfinite(base.at[slug, column]), (slug, name)


def test_eci_matches_name_capability_versions_or_models(crosswalk) -> None:
    cap = data.load("capability")
    names = set(cap["model_version"]) | set(cap["model"].dropna())
    eci = crosswalk[(crosswalk["source"] == "epoch_eci") & (crosswalk["rule"] != "unmatched")]
    assert len(eci) > 20
    assert set(eci["name"]) <= names


def test_spot_checks(models) -> None:
    m = models.set_index("model")
    assert m.at["openai/gpt-5", "eci"] == pytest.approx(150.0)  # GPT-5 (medium), best version
    assert m.at["openai/gpt-5", "quality_source"] == "epoch_eci"
    assert m.at["anthropic/claude-opus-4.6", "quality_source"] == "aa_calibrated"
    assert 45 < m.at["anthropic/claude-opus-4.6", "aa_intelligence"] < 55
    assert bool(m.at["openai/gpt-oss-120b", "open_weights"]) is True
    assert bool(m.at["anthropic/claude-sonnet-4.5", "open_weights"]) is False
    assert m.at["z-ai/glm-4.6", "open_weights_source"] == "manual"  # OpenRouter's field is empty
    assert m.at["qwen/qwen3-235b-a22b", "parameters"] == 235e9
    assert m.at["qwen/qwen3-235b-a22b", "active_parameters"] == 22e9


def test_unknown_model_in_a_user_crosswalk_is_named(crosswalk) -> None:
    bad = crosswalk.head(3).copy()
    bad.loc[1, "model"] = "acme/not-a-model"
    with pytest.raises(DataValidationError, match=r"row 1 .*'acme/not-a-model'"):
        data.validate(bad, "openrouter_crosswalk")


def test_hand_match_naming_an_unknown_slug_or_name_fails_the_build() -> None:
    aa = pd.Series({"Model X": 40.0, "Model X (Reasoning)": 45.0})
    cap = pd.DataFrame({"model_version": ["x-1"], "model": ["X"], "eci": [130.0]})
    arena = pd.Series({"x": 1400.0})
    slugs = ["acme/x", "acme/x:free"]
    ok = openrouter.curate_crosswalk(slugs, aa, cap, arena, {"acme/x": "Model X"}, {}, {})
    assert len(ok) == 3
    assert openrouter.aa_family_score(aa, "Model X") == 45.0
    with pytest.raises(DataValidationError, match="'acme/y' is not an OpenRouter slug"):
        openrouter.curate_crosswalk(slugs, aa, cap, arena, {"acme/y": "Model X"}, {}, {})
    with pytest.raises(DataValidationError, match="'acme/x' maps to 'Model Z'"):
        openrouter.curate_crosswalk(slugs, aa, cap, arena, {"acme/x": "Model Z"}, {}, {})
    with pytest.raises(DataValidationError, match="maps to 'nope'"):
        openrouter.curate_crosswalk(slugs, aa, cap, arena, {}, {"acme/x": "nope"}, {})


# --- coverage, aliases and variants -----------------------------------------------------------


def test_share_of_tokens_with_a_quality_index_is_above_80_percent(models) -> None:
    kept = models[models["alias_of"].isna()]
    share = kept.loc[kept["quality"].notna(), "tokens_total"].sum() / kept["tokens_total"].sum()
    assert share > 0.80
    eci_only = kept.loc[kept["eci"].notna(), "tokens_total"].sum() / kept["tokens_total"].sum()
    assert eci_only < share  # most 2026 traffic is on models newer than the ECI snapshot


def test_quality_is_eci_or_the_calibrated_aa_index(models) -> None:
    base = models[models["variant"].isna() & models["alias_of"].isna()].set_index("model")
    a, b, n, r2 = openrouter.calibrate_aa_to_eci(base["eci"], base["aa_intelligence"])
    assert n >= 20 and r2 > 0.5 and b > 0
    eci = models["quality_source"] == "epoch_eci"
    assert np.allclose(models.loc[eci, "quality"], models.loc[eci, "eci"])
    cal = models["quality_source"] == "aa_calibrated"
    assert np.allclose(models.loc[cal, "quality"], a + b * models.loc[cal, "aa_intelligence"])
    assert models.loc[models["quality_source"].isna(), "quality"].isna().all()


def test_aliases_are_flagged_and_out_of_the_market(models, market) -> None:
    aliases = models.dropna(subset=["alias_of"])
    assert set(aliases["model"]) == {
        "google/gemini-2.5-pro-preview", "google/gemini-2.5-pro-preview-05-06",
        "x-ai/grok-3-beta", "x-ai/grok-3-mini-beta",
    }
    assert not set(aliases["model"]) & set(market["model"])
    assert set(aliases["alias_of"]) <= set(market["model"])
    assert set(market["model"]) == set(models.loc[models["alias_of"].isna(), "model"])


def test_alias_detection_on_a_small_history() -> None:
    h = pd.DataFrame({
        "Date": ["2026-01-01", "2026-01-02"] * 3,
        "Model": ["a/m", "a/m", "a/m-preview", "a/m-preview", "a/n", "a/n"],
        "Total_Tokens": [1.0, 2.0, 1.0, 2.0, 1.0, 3.0],
    })
    assert openrouter.find_aliases(h) == {"a/m-preview": "a/m"}


def test_free_variants_have_zero_price_and_their_base(models, market) -> None:
    free = models[models["variant"] == "free"]
    assert len(free) > 30
    assert (free["base_model"] + ":free" == free["model"]).all()
    priced = market[market["model"].isin(free["model"]) & market["price_input"].notna()]
    assert len(priced) > 0 and (priced["price_input"] == 0).all()


def test_market_prices_only_inside_the_price_window(market) -> None:
    priced = market.dropna(subset=["price_input"])
    assert priced["date"].min() == pd.Timestamp("2026-02-26")  # first weighted-average row
    assert priced["date"].max() == pd.Timestamp("2026-04-02")
    counted = market.dropna(subset=["n_providers"])
    assert counted["date"].min() == pd.Timestamp("2026-02-19")
    assert market.loc[market["date"] < "2026-02-19", "n_providers"].isna().all()


def test_weekly_panel_sums_tokens(market, models) -> None:
    d = openrouter.market_panel(market, models, "D")
    w = openrouter.market_panel(market, models, "W")
    assert w["tokens"].sum() == pytest.approx(d["tokens"].sum())
    assert (w["date"].dt.day_of_week == 0).all()
    assert "quality" in w and "open_weights" in w
    with pytest.raises(ValueError, match="freq"):
        openrouter.market_panel(market, models, "M")


def test_parameters_from_slug() -> None:
    assert openrouter.parameters_from_slug("nvidia/nemotron-3-super-120b-a12b:free") == (
        120e9, 12e9)
    total, active = openrouter.parameters_from_slug("meta-llama/llama-3.1-8b-instruct")
    assert total == 8e9 and np.isnan(active)
    assert all(np.isnan(openrouter.parameters_from_slug("openai/gpt-5")))


# --- bad input: one clear error naming what is wrong ------------------------------------------


def _history(scale: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({
        "Date": ["2026-02-19", "2026-02-19"], "Model": ["a/x", "b/y"],
        "Prompt": [1.5 * scale, 0.2 * scale], "Completion": [0.1 * scale, 0.01 * scale],
        "Reasoning": [0.0, 0.0], "Total_Tokens": [1.6 * scale, 0.21 * scale],
    })


def _prices() -> pd.DataFrame:
    return pd.DataFrame({
        "Date": ["2026-02-19"] * 3, "Model": ["a/x", "a/x", "b/y"],
        "Provider": ["P1", "Weighted Average", "P2"], "Input_Price_1M": [0.2, 0.25, 1.0],
        "Output_Price_1M": [0.8, 0.9, 4.0], "Cache_Hit_Rate": [np.nan] * 3,
    })


def test_small_market_builds() -> None:
    out = openrouter.curate_api_market(_history(), _prices())
    assert list(out.columns) == openrouter.MARKET_SCHEMA.names
    assert out.set_index("model").at["a/x", "price_input"] == 0.25
    assert out.set_index("model").at["b/y", "n_providers"] == 1


def test_token_file_in_raw_tokens_is_a_wrong_unit() -> None:
    with pytest.raises(DataValidationError, match=r"'Prompt'.*wrong unit.*billions"):
        openrouter.curate_api_market(_history(1e9), _prices())


def test_prices_without_provider_column_are_named() -> None:
    with pytest.raises(DataValidationError, match="column 'Provider' is missing"):
        openrouter.curate_api_market(_history(), _prices().drop(columns="Provider"))
    with pytest.raises(DataValidationError, match="column 'Provider' is missing"):
        openrouter.curate_provider_prices(_prices().drop(columns="Provider"))


def test_prices_per_token_are_a_wrong_unit() -> None:
    p = _prices()
    p[["Input_Price_1M", "Output_Price_1M"]] *= 1e-6
    with pytest.raises(DataValidationError, match=r"wrong unit.*not \$ per token"):
        openrouter.curate_provider_prices(p)


def _cli_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    return err


def test_cli_token_file_in_wrong_unit_exits_2(tmp_path: Path, market,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "tokens.csv"
    bad = market.head(20).copy()
    bad["tokens_input"] *= 1e9  # raw tokens instead of billions
    bad.assign(date=bad["date"].dt.strftime("%Y-%m-%d")).to_csv(f, index=False)
    err = _cli_error(capsys, ["data", "validate", "api_market", str(f)])
    assert "'tokens_input'" in err and "wrong unit" in err


def test_cli_prices_missing_provider_exit_2(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "prices.csv"
    p = data.load("api_provider_prices").head(20).drop(columns="provider")
    p.assign(date=p["date"].dt.strftime("%Y-%m-%d")).to_csv(f, index=False)
    err = _cli_error(capsys, ["data", "validate", "api_provider_prices", str(f)])
    assert "column 'provider' is missing" in err


def test_cli_crosswalk_with_unknown_model_exits_2(tmp_path: Path, crosswalk,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "xw.csv"
    bad = crosswalk.head(5).copy()
    bad.loc[2, "model"] = "acme/not-a-model"
    bad.to_csv(f, index=False)
    err = _cli_error(capsys, ["data", "validate", "openrouter_crosswalk", str(f)])
    assert "'acme/not-a-model'" in err


def test_data_show_api_market(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "show", "api_market", "--rows", "2"]) == 0
    out = capsys.readouterr().out
    assert "# api_market" in out and "No licence" in out


# --- the products × markets table for the demand and supply steps ------------------------------


def test_demand_products_layout_and_market_size(market, models) -> None:
    pp = data.load("api_provider_prices")
    two = openrouter.demand_products(market, models, pp, "W", market_size=2.0)
    five = openrouter.demand_products(market, models, pp, "W", market_size=5.0)
    assert two[["market_ids", "product_ids"]].duplicated().sum() == 0
    inside = two.groupby("market_ids")["shares"].sum()
    assert ((inside > 0) & (inside < 0.5)).all()  # at most 1/market_size of all tokens
    assert np.allclose(five["shares"] * 5, two["shares"] * 2)
    assert (two["prices"] > 0).all() and (two["shares"] > 0).all()
    assert not two["product_ids"].str.contains(":").any()  # variants are outside goods
    opn = two["nesting_ids"] == "open"
    assert (two.loc[opn, "firm_ids"] == "open:" + two.loc[opn, "product_ids"]).all()
    assert (two["demand_instruments0"] == two.groupby("market_ids")["product_ids"].transform(
        "size") - 1).all()
    tok = two["tokens"]
    assert tok[two["quality"].notna()].sum() / tok.sum() > 0.9
    with pytest.raises(ValueError, match="market_size"):
        openrouter.demand_products(market, models, pp, "W", market_size=0.5)


def test_demand_prices_are_token_weighted_blends(market, models) -> None:
    pp = data.load("api_provider_prices")
    daily = openrouter.demand_products(market, models, pp, "D")
    row = daily.iloc[len(daily) // 2]
    raw = market[(market["date"] == row["market_ids"]) & (market["model"] == row["product_ids"])]
    r = raw.iloc[0]
    blend = (r["price_input"] * r["tokens_input"] + r["price_output"] * r["tokens_output"]) / (
        r["tokens_input"] + r["tokens_output"])
    assert row["prices"] == pytest.approx(blend)


def test_datasheets_state_licence_and_credit_every_source() -> None:
    for name in ("api_market", "api_provider_prices", "openrouter_list_prices"):
        sheet = data.datasheet(name)
        assert "No licence" in sheet and "OpenRouter" in sheet
    models_sheet = data.datasheet("api_models")
    for source in ("OpenRouter", "Epoch AI", "CC-BY 4.0", "Artificial Analysis", "LMArena"):
        assert source in models_sheet, source
    assert "Demirer" in data.datasheet("demirer2025_figures")
    assert "unmatched" in data.datasheet("openrouter_crosswalk")
