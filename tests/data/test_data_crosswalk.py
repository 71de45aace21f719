"""The model crosswalk: rules, spot checks of matches, and joins it enables."""

from __future__ import annotations

import pytest

import data
from data.crosswalk import normalise, strip_suffixes


@pytest.fixture(scope="module")
def xwalk():
    return data.load("model_crosswalk")


def test_normalise_and_suffixes() -> None:
    assert normalise("bedrock/us-east-1/anthropic.claude-3-5-sonnet-20240620-v1:0") == (
        "claude-3-5-sonnet-20240620-v1"
    )
    assert normalise("Claude 3.5 Sonnet") == "claude-3-5-sonnet"
    assert normalise("meta-llama/Meta-Llama-3.1-405B-Instruct") == "llama-3-1-405b-instruct"
    assert normalise("GPT-3 175B (davinci)") == "gpt-3-175b"
    assert strip_suffixes("deepseek-v3-0324", words=False)[0] == "deepseek-v3"
    assert "o1-preview" in strip_suffixes("o1-preview-2024-09-12-medium", words=False)


@pytest.mark.parametrize(
    ("dataset", "ident", "model"),
    [
        ("api_prices", "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude 3.5 Sonnet"),
        ("api_prices", "anthropic.claude-v2:1", "Claude 2"),
        ("api_prices", "gpt-4o-2024-08-06", "GPT-4o"),
        ("api_prices", "deepseek-v3-0324", "DeepSeek-V3"),
        ("api_prices", "meta-llama/llama-4-scout-17b-16e-instruct", "Llama 4 Scout"),
        ("api_price_history", "Llama 3.1-405B", "Llama 3.1-405B"),
        ("capability", "gpt-5-2025-08-07_high", "GPT-5"),
        ("eval_tokens", "o1-preview-2024-09-12_medium", "o1-preview"),
        ("eval_tokens", "gpt-4-0613", "GPT-4"),
        ("eval_tokens", "Qwen2.5-72B-Instruct", "Qwen2.5-72B"),
    ],
)
def test_spot_checks(xwalk, dataset: str, ident: str, model: str) -> None:
    row = xwalk[(xwalk["dataset"] == dataset) & (xwalk["id"] == ident)]
    assert len(row) == 1, (dataset, ident)
    assert row["model"].iloc[0] == model


def test_every_row_joins_where_it_says(xwalk) -> None:
    models = set(data.load("models")["model"])
    cap = set(data.load("capability")["model"].dropna())
    assert (xwalk["in_models"] == xwalk["model"].isin(models)).all()
    assert (xwalk["in_capability"] == xwalk["model"].isin(cap)).all()
    assert (xwalk["in_models"] | xwalk["in_capability"]).all()
    assert set(xwalk["rule"]) == {
        "exact",
        "normalised name",
        "manual",
        "normalised, suffix dropped",
        "capability version",
    }
    # every identifier is an identifier of its dataset
    ids = {
        "api_prices": set(data.load("api_prices")["model"]),
        "api_price_history": set(data.load("api_price_history")["model"]),
        "capability": set(data.load("capability")["model_version"]),
        "eval_tokens": set(data.load("eval_tokens")["model_version"]),
    }
    for dataset, group in xwalk.groupby("dataset"):
        assert set(group["id"]) <= ids[dataset]
    assert ids["eval_tokens"] == set(xwalk.loc[xwalk["dataset"] == "eval_tokens", "id"])
    assert ids["api_price_history"] == set(xwalk.loc[xwalk["dataset"] == "api_price_history", "id"])


def test_prices_join_capability_through_crosswalk(xwalk) -> None:
    prices = data.load("api_prices")
    cap = data.load("capability").dropna(subset=["eci"])
    link = xwalk[xwalk["dataset"] == "api_prices"][["id", "model"]]
    joined = prices.merge(link, left_on="model", right_on="id", suffixes=("", "_epoch"))
    joined = joined.merge(cap[["model", "eci"]], left_on="model_epoch", right_on="model")
    # enough priced, scored models for a price-quality regression
    assert joined["model_epoch"].nunique() >= 50
