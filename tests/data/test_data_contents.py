"""Numbers in the curated tables that the datasheets and analyses rely on."""

from __future__ import annotations

import numpy as np
import pytest

import data


def test_api_prices_units_and_known_rows() -> None:
    p = data.load("api_prices")
    assert dict(p["source"].value_counts()) == {"litellm": 3331, "genai-prices": 1324}
    claude2 = p[(p["source"] == "genai-prices") & (p["model"] == "claude-2")].iloc[0]
    assert claude2["input_usd_per_mtok"] == 8.0 and claude2["output_usd_per_mtok"] == 24.0
    assert claude2["context_window"] == 200000
    # LiteLLM's $/token converted to $/Mtok without binary noise
    lite = p[p["source"] == "litellm"]["input_usd_per_mtok"].dropna()
    assert np.allclose(lite, np.round(lite, 9))
    # dated prices: exactly one current block per genai model
    g = p[p["source"] == "genai-prices"]
    current = g[g["current"]].groupby(["provider", "model"]).size()
    assert current.max() == 1
    assert (~g["current"]).sum() == 15
    tiered = p.dropna(subset=["long_context_threshold_tokens"])
    assert set(tiered["long_context_threshold_tokens"]) >= {128000, 200000, 272000}
    assert (tiered["input_long_usd_per_mtok"] >= tiered["input_usd_per_mtok"]).mean() > 0.95


def test_open_weights_rule() -> None:
    from data.prices import open_weights

    assert open_weights("meta-llama/Llama-3.1-405B-Instruct")[0] is True
    assert open_weights("bedrock/us-east-1/anthropic.claude-instant-v1")[0] is False
    assert open_weights("gpt-oss-120b")[0] is True
    assert open_weights("gpt-4o-2024-08-06")[0] is False
    assert open_weights("some-unknown-model") == (None, None)


def test_price_history_known_price_cuts() -> None:
    h = data.load("api_price_history")
    gpt4o = h[h["model"] == "GPT-4o"].set_index("date")["input_usd_per_mtok"]
    assert gpt4o["2024-05-13"] == 5.0 and gpt4o["2024-08-06"] == 2.5
    mini = h[(h["model"] == "o1-mini")].set_index("date")["output_usd_per_mtok"]
    assert mini["2024-09-12"] == 12.0 and mini["2025-01-31"] == 4.4
    assert h["date"].min().isoformat()[:10] == "2021-11-20"
    assert set(h["context_tier"]) == {"all", "<=128k", ">128k"}


def test_models_active_parameters_and_mfu() -> None:
    m = data.load("models").set_index("model")
    assert m.loc["DeepSeek-V3", "active_parameters"] == 37e9
    assert m.loc["DeepSeek-V3", "parameters"] == 671e9
    assert m.loc["MiniMax-Text-01", "active_parameters"] == pytest.approx(45.9e9)
    assert (
        m["active_parameters"].dropna() < m.loc[m["active_parameters"].notna(), "parameters"]
    ).all()
    assert m["mfu"].max() <= 1.0
    assert m["domain"].str.contains("Language").all()


def test_training_costs_join() -> None:
    c = data.load("training_costs").set_index("model")
    assert len(c) == 82 and c["language"].sum() == 58
    assert c.loc["Grok-3", "headline_usd"] == pytest.approx(5.0747693e8, rel=1e-6)
    assert c["capex_energy_usd"].notna().all()


def test_capability_and_eval_tokens() -> None:
    e = data.load("capability")
    assert e["eci"].notna().sum() == 142
    assert e["eci"].max() == pytest.approx(150.0)
    t = data.load("eval_tokens")
    assert (t["samples"] == t["questions"] * t["epochs"]).all()
    assert dict(t.groupby("task")["questions"].first()) == {
        "GPQA Diamond": 198,
        "MATH level 5": 1324,
        "OTIS Mock AIME 2024-2025": 45,
    }
    # reasoning models spend more output tokens per question than chat models
    o1 = t[(t["model_version"] == "o1-mini-2024-09-12_high") & (t["task"] == "MATH level 5")]
    gpt4 = t[(t["model_version"] == "gpt-4-0613") & (t["task"] == "MATH level 5")]
    assert o1["output_tokens_per_sample"].iloc[0] > 5 * gpt4["output_tokens_per_sample"].iloc[0]


def test_hardware_tables_join_and_deflator() -> None:
    hw = data.load("hardware").set_index("hardware")
    assert hw.loc["NVIDIA H200 SXM", "bf16_flops"] == pytest.approx(9.895e14)
    prices = data.load("hardware_prices")
    assert prices["hardware"].isin(hw.index).all()
    assert prices["on_demand_usd_per_chip_hour"].notna().sum() == 465
    ppi = data.load("ppi").set_index("date")
    assert ppi.loc["2000-12-01", "ppi"] == 100.0
    in_2023 = ppi.loc["2023-01-01":"2023-12-01"]
    assert (in_2023["ppi"] * in_2023["to_2023_usd"]).mean() == pytest.approx(in_2023["ppi"].mean())


def test_request_traces_counts_and_cache_measure() -> None:
    r = data.load("request_traces")
    assert dict(r["trace"].value_counts()) == {
        "azure_conv_2023": 19366,
        "mooncake_conv": 12031,
        "azure_code_2023": 8819,
    }
    m = r[r["trace"] == "mooncake_conv"]
    assert m["input_tokens"].median() == 6909 and m["output_tokens"].max() == 2000
    assert (m["blocks"] == (m["input_tokens"] + 511) // 512).all()
    assert (m["cached_blocks"] <= m["blocks"]).all()
    share = m["cached_tokens"].sum() / m["input_tokens"].sum()
    assert 0.36 < share < 0.39  # "about 37% of prefix blocks repeat" (source description)
    assert m["cached_tokens"].iloc[0] == 0  # the first request has nothing to reuse
    az = r[r["trace"] == "azure_code_2023"]
    assert az["cached_tokens"].isna().all()
    assert az["input_tokens"].median() == 1469


def test_prefix_reuse_counts_leading_seen_blocks_only() -> None:
    from data.traces import prefix_reuse

    ids = [[0, 1, 2], [0, 1, 5], [0, 9, 2], [7, 0, 1]]
    assert list(prefix_reuse(ids)) == [0, 2, 1, 0]


def test_open_weights_prefers_epoch_classification() -> None:
    p = data.load("api_prices")
    epoch = p[p["open_weights_rule"] == "Epoch model accessibility"]
    assert len(epoch) == 1286
    assert p["open_weights"].isna().sum() == 711
    # Qwen Plus is API-only: the family rule would say open, Epoch says closed
    qwen_plus = p[p["model"] == "qwen/qwen-plus"]
    assert not qwen_plus["open_weights"].any()
    llama = p[p["model"] == "meta-llama/llama-4-scout-17b-16e-instruct"]
    assert llama["open_weights"].all()
