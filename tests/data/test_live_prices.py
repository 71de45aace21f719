"""``data.live_prices.current_api_prices``: the installed genai-prices package in the api_prices
schema, checked against the package's own price calculation."""

from __future__ import annotations

import builtins
import datetime as dt
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

import data
from data import live_prices
from llmecon.cli import main

ON = "2026-11-26"
NOON = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)


def test_missing_package_raises_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_genai(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("genai_prices"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m.startswith("genai_prices")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_genai)
    with pytest.raises(ImportError, match=r"pip install 'llmecon\[live\]'") as info:
        live_prices.current_api_prices()
    assert isinstance(info.value, live_prices.LivePricesUnavailable)


def test_missing_package_cli_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unavailable(on: object = None) -> pd.DataFrame:
        raise live_prices.LivePricesUnavailable(live_prices.INSTALL_HINT)

    monkeypatch.setattr(live_prices, "current_api_prices", unavailable)
    assert main(["data", "live-prices"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "pip install 'llmecon[live]'" in err


def test_bad_date_cli_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "live-prices", "--on", "nope"]) == 2
    assert "on: expected a date YYYY-MM-DD, got 'nope'" in capsys.readouterr().err


# --- with the package installed -------------------------------------------------------------


@pytest.fixture(scope="module")
def genai_prices() -> ModuleType:
    return pytest.importorskip("genai_prices")


@pytest.fixture(scope="module")
def live(genai_prices: ModuleType) -> pd.DataFrame:
    return live_prices.current_api_prices(on=ON)


def test_validates_against_api_prices_schema(live: pd.DataFrame, genai_prices: ModuleType) -> None:
    out = data.validate(live, "api_prices")
    assert list(out.columns) == list(data.load("api_prices").columns)
    assert len(live) > 100
    assert (live["source"] == f"genai-prices package {genai_prices.__version__}").all()
    assert (live["snapshot"] == pd.Timestamp(ON)).all()
    assert live.attrs == {
        "genai_prices_version": genai_prices.__version__,
        "snapshot_is_run_date": False,
    }
    # one current block per provider and model (time-of-day blocks are never current)
    cur = live[live["current"]]
    assert not cur.duplicated(["provider", "model"]).any()
    assert cur.groupby(["provider", "model"]).ngroups == live.groupby(["provider", "model"]).ngroups


def test_default_snapshot_is_today(genai_prices: ModuleType) -> None:
    df = live_prices.current_api_prices()
    assert df.attrs["snapshot_is_run_date"] is True
    assert (df["snapshot"] == pd.Timestamp(dt.datetime.now(dt.UTC).date())).all()


def _calc(genai_prices: ModuleType, model: str, provider: str, tokens: int, kind: str) -> float:
    usage = genai_prices.Usage(**{f"{kind}_tokens": tokens})
    res = genai_prices.calc_price(usage, model, provider_id=provider, genai_request_timestamp=NOON)
    assert res.model.id == model
    price = res.input_price if kind == "input" else res.output_price
    return float(price) * 1e6 / tokens


def _row(live: pd.DataFrame, provider: str, model: str) -> pd.Series:
    hit = live[(live["provider"] == provider) & (live["model"] == model) & live["current"]]
    assert len(hit) == 1, (provider, model)
    return hit.iloc[0]


def test_known_flat_price_matches_package(live: pd.DataFrame, genai_prices: ModuleType) -> None:
    row = _row(live, "openai", "gpt-4o")
    assert pd.isna(row["long_context_threshold_tokens"])
    for kind in ("input", "output"):
        expected = _calc(genai_prices, "gpt-4o", "openai", 1_000_000, kind)
        assert row[f"{kind}_usd_per_mtok"] == pytest.approx(expected, rel=1e-12)
    assert row["input_usd_per_mtok"] == pytest.approx(2.5)
    assert row["output_usd_per_mtok"] == pytest.approx(10.0)


def test_known_tiered_price_matches_package(live: pd.DataFrame, genai_prices: ModuleType) -> None:
    # 1M prompt tokens are above the 200k tier, so the package charges the long-context price
    # for all of them; 100k tokens are charged at the base price.
    row = _row(live, "google", "gemini-2.5-pro")
    assert row["long_context_threshold_tokens"] == 200_000
    assert row["input_long_usd_per_mtok"] == pytest.approx(
        _calc(genai_prices, "gemini-2.5-pro", "google", 1_000_000, "input"), rel=1e-12
    )
    assert row["input_usd_per_mtok"] == pytest.approx(
        _calc(genai_prices, "gemini-2.5-pro", "google", 100_000, "input"), rel=1e-12
    )
    assert row["input_long_usd_per_mtok"] > row["input_usd_per_mtok"]


def test_every_flat_current_input_price_matches_package(
    live: pd.DataFrame,
    genai_prices: ModuleType,
) -> None:
    timed = set(live.loc[live["time_window"].notna(), "model"])
    cur = live[
        live["current"] & live["long_context_threshold_tokens"].isna() & ~live["model"].isin(timed)
    ]
    checked = 0
    for row in cur.itertuples(index=False):
        usage = genai_prices.Usage(input_tokens=1_000_000, output_tokens=1_000_000)
        try:
            res = genai_prices.calc_price(
                usage, row.model, provider_id=row.provider, genai_request_timestamp=NOON
            )
        except LookupError:
            continue
        if res.model.id != row.model or res.provider.id != row.provider:
            continue  # the model id matches an earlier entry's rules in the package
        assert float(res.input_price) == pytest.approx(row.input_usd_per_mtok, rel=1e-12), row
        out = 0.0 if pd.isna(row.output_usd_per_mtok) else row.output_usd_per_mtok
        assert float(res.output_price) == pytest.approx(out, rel=1e-12, abs=1e-12), row
        checked += 1
    assert checked > 0.8 * len(cur)


def test_same_rows_as_snapshot_rules_on_data_json_form(
    live: pd.DataFrame, genai_prices: ModuleType
) -> None:
    # as_data_json gives curate_genai exactly the structure it reads from data.json
    from genai_prices.data import providers

    raw = live_prices.as_data_json(providers)
    assert {p["id"] for p in raw} == set(live["provider"])
    deepseek = next(p for p in raw if p["id"] == "deepseek")
    chat = next(m for m in deepseek["models"] if m["id"] == "deepseek-chat")
    assert chat["prices"][1]["constraint"] == {"start_time": "00:30:00Z", "end_time": "16:30:00Z"}


def test_cli_prints_head_and_writes_csv(
    live: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "live.csv"
    assert main(["data", "live-prices", "--on", ON, "--rows", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"{len(live)} rows" in text
    assert "gpt" in text or "claude" in text
    assert main(["data", "validate", "api_prices", str(out)]) == 0
    back = data.validate(pd.read_csv(out, keep_default_na=False, na_values=[""]), "api_prices")
    assert len(back) == len(live)
    assert back["input_usd_per_mtok"].tolist() == live["input_usd_per_mtok"].tolist()
