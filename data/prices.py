"""LLM API prices: a cross-section per provider and model, and Epoch AI's dated price records.

``api_prices`` stacks two open price maps (Pydantic genai-prices v2, LiteLLM's price map) in one
schema: USD per million tokens for input, output, cache reads and cache writes, the long-context
tier above a token threshold, the context window and an open-weights flag from a documented
family rule. ``api_price_history`` reshapes Epoch AI's dated API-price records (2021–2025) to one
row per model, vendor, date and context tier with input and output prices side by side.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from data.schema import Column, Schema

#: Smallest plausible non-zero price in $/Mtok. Real prices start near $0.001/Mtok, while a price
#: given in $/token is at most ~2e-4 (GPT-4-32k output, $120/Mtok): the bound separates the units.
MIN_USD_PER_MTOK = 5e-4
MAX_USD_PER_MTOK = 2000.0

GENAI_SNAPSHOT = "2026-08-21"
#: LiteLLM's bundled map records no date; the latest date in a model id (2026-09-29) bounds it
#: from below and stands in for the snapshot date.
LITELLM_SNAPSHOT = "2026-09-29"


def _context_window(description: str) -> Column:
    """Context window in tokens (256 to 1e8; empty where the source states none)."""
    return Column("context_window", "int", "tokens", min=256, max=1e8, nullable=True,
                  description=description)


def _price(name: str, what: str, nullable: bool = True) -> Column:
    return Column(
        name,
        "float",
        "$/Mtok",
        min=MIN_USD_PER_MTOK,
        max=MAX_USD_PER_MTOK,
        allow_zero=True,
        nullable=nullable,
        description=what,
    )


SCHEMA = Schema(
    name="api_prices",
    columns=(
        Column(
            "source",
            "str",
            description="genai-prices or litellm (live: genai-prices package <version>)",
        ),
        Column("provider", "str", description="API provider id in the source"),
        Column("model", "str", description="model id in the source (the key used for matching)"),
        Column("name", "str", nullable=True, description="display name (genai-prices only)"),
        Column("snapshot", "date", description="date of the source snapshot"),
        Column(
            "valid_from",
            "date",
            nullable=True,
            description="first day a dated price applies (genai-prices scheduled changes)",
        ),
        Column(
            "time_window",
            "str",
            nullable=True,
            description="UTC time-of-day window of a peak/off-peak price (HH:MM:SS-HH:MM:SS)",
        ),
        Column("current", "bool", description="the price in force on the snapshot date"),
        _price("input_usd_per_mtok", "input (prompt) tokens", nullable=False),
        _price("output_usd_per_mtok", "output tokens"),
        _price("cache_read_usd_per_mtok", "input tokens read from the prompt cache"),
        _price("cache_write_usd_per_mtok", "input tokens written to the prompt cache"),
        Column(
            "long_context_threshold_tokens",
            "int",
            "tokens",
            min=1000,
            max=1e8,
            nullable=True,
            description="prompt length above which the long-context prices apply",
        ),
        _price("input_long_usd_per_mtok", "input price above the threshold"),
        _price("output_long_usd_per_mtok", "output price above the threshold"),
        _price("cache_read_long_usd_per_mtok", "cache-read price above the threshold"),
        _context_window("maximum input tokens"),
        Column(
            "max_output_tokens",
            "int",
            "tokens",
            min=1,
            max=1e8,
            nullable=True,
            description="maximum output tokens (LiteLLM only)",
        ),
        Column(
            "open_weights",
            "bool",
            nullable=True,
            description="weights downloadable, from the model-family rule; empty if unknown",
        ),
        Column("open_weights_rule", "str", nullable=True, description="the family rule that fired"),
    ),
    unique=("source", "provider", "model", "valid_from", "time_window"),
)

# Model-family rule for open weights, matched on the lower-cased model id after the last "/".
# First match wins; a model matching no rule gets an empty flag (unknown) rather than a guess.
OPEN_WEIGHTS_RULES: tuple[tuple[str, bool], ...] = (
    (r"gpt-oss", True),
    (r"^(gpt-|chatgpt|o1|o3|o4|text-|davinci|babbage|ft:gpt)", False),
    (r"claude", False),
    (r"gemini", False),
    (r"gemma", True),
    (r"llama|codellama", True),
    (r"mixtral|open-mistral|mistral-7b|mistral-nemo|open-mixtral|ministral-8b", True),
    (r"mistral-(medium|large|tiny)|magistral-medium|codestral", False),
    (r"qwen|qwq", True),
    (r"deepseek", True),
    (r"phi-", True),
    (r"falcon|olmo|dbrx|starcoder|granite|nemotron|glm-|kimi-k2|minimax-m|jamba|yi-", True),
    (r"command-r|c4ai-aya|aya-expanse", True),
    (
        r"^command|^grok|^sonar|^nova|^titan|^reka|^palm|^chat-bison|^text-bison|^jurassic|^j2-",
        False,
    ),
)
_OPEN_RULES = tuple((re.compile(p), flag) for p, flag in OPEN_WEIGHTS_RULES)


def open_weights(model: str) -> tuple[bool | None, str | None]:
    """(flag, rule) for a model id by :data:`OPEN_WEIGHTS_RULES`; (None, None) if no rule fires."""
    key = model.lower().rsplit("/", 1)[-1]
    key = re.sub(r"^(us|eu|apac|global)\.", "", key)
    key = re.sub(r"^(anthropic|meta|mistral|amazon|cohere|ai21|deepseek|qwen|openai)\.", "", key)
    for pattern, flag in _OPEN_RULES:
        if pattern.search(key):
            return flag, pattern.pattern
    return None, None


def _mtok(v: Any) -> tuple[float | None, int | None, float | None]:
    """genai-prices value → (base price, first tier threshold, first tier price)."""
    if v is None:
        return None, None, None
    if isinstance(v, dict):
        tiers = v.get("tiers") or []
        if tiers:
            return float(v["base"]), int(tiers[0]["start"]), float(tiers[0]["price"])
        return float(v["base"]), None, None
    return float(v), None, None


def curate_genai(
    providers: list[dict[str, Any]],
    snapshot: str = GENAI_SNAPSHOT,
    source: str = "genai-prices",
) -> pd.DataFrame:
    """genai-prices v2 ``data.json`` → one row per provider, model and dated/timed price block.

    A model's ``prices`` is one block or a list whose first element is the default and whose
    later elements apply from a ``start_date`` or within a UTC time-of-day window. Blocks without
    an input token price (per-request or media-only pricing) are dropped. ``snapshot`` is the
    date on which ``current`` is judged and ``source`` the label of every row (the installed
    package in :func:`data.live_prices.current_api_prices`).
    """
    rows = []
    snap = pd.Timestamp(snapshot)
    for prov in providers:
        for m in prov["models"]:
            blocks = m["prices"] if isinstance(m["prices"], list) else [{"prices": m["prices"]}]
            dated = [
                pd.Timestamp(b["constraint"]["start_date"])
                for b in blocks
                if "start_date" in b.get("constraint", {})
            ]
            in_force = max((d for d in dated if d <= snap), default=None)
            for b in blocks:
                p = b["prices"]
                if "input_mtok" not in p:
                    continue
                con = b.get("constraint", {})
                valid_from = pd.Timestamp(con["start_date"]) if "start_date" in con else None
                window = f"{con['start_time']}-{con['end_time']}" if "start_time" in con else None
                if window is not None:
                    current = False
                elif valid_from is None:
                    current = in_force is None
                else:
                    current = valid_from == in_force
                inp, thr, inp_long = _mtok(p.get("input_mtok"))
                out, thr_o, out_long = _mtok(p.get("output_mtok"))
                cr, thr_c, cr_long = _mtok(p.get("cache_read_mtok"))
                cw, _, _ = _mtok(p.get("cache_write_mtok"))
                flag, rule = open_weights(m["id"])
                rows.append(
                    {
                        "source": source,
                        "provider": prov["id"],
                        "model": m["id"],
                        "name": m.get("name"),
                        "snapshot": snap,
                        "valid_from": valid_from,
                        "time_window": window,
                        "current": current,
                        "input_usd_per_mtok": inp,
                        "output_usd_per_mtok": out,
                        "cache_read_usd_per_mtok": cr,
                        "cache_write_usd_per_mtok": cw,
                        "long_context_threshold_tokens": thr or thr_o or thr_c,
                        "input_long_usd_per_mtok": inp_long,
                        "output_long_usd_per_mtok": out_long,
                        "cache_read_long_usd_per_mtok": cr_long,
                        "context_window": m.get("context_window"),
                        "max_output_tokens": None,
                        "open_weights": flag,
                        "open_weights_rule": rule,
                    }
                )
    return _frame(rows)


def _per_mtok(v: Any) -> float | None:
    # LiteLLM stores $/token; x 1e6 and round to 10 significant digits to drop binary noise
    # (3e-06 * 1e6 = 2.9999999999999996).
    if v is None:
        return None
    return float(f"{float(v) * 1e6:.10g}")


_LONG = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")


def curate_litellm(prices: dict[str, Any]) -> pd.DataFrame:
    """LiteLLM price map → one row per ``mode == "chat"`` entry with an input token price.

    The long-context tier is the lowest ``input_cost_per_token_above_<K>k_tokens`` threshold
    (K x 1000 tokens); batch, priority and flex service tiers are not kept.
    """
    rows = []
    snap = pd.Timestamp(LITELLM_SNAPSHOT)
    for key in sorted(prices):
        v = prices[key]
        if not isinstance(v, dict) or v.get("mode") != "chat" or "input_cost_per_token" not in v:
            continue
        ks = sorted(int(m.group(1)) for f in v if (m := _LONG.match(f)))
        k = ks[0] if ks else None
        suffix = f"_above_{k}k_tokens" if k else None
        flag, rule = open_weights(key)
        rows.append(
            {
                "source": "litellm",
                "provider": v.get("litellm_provider"),
                "model": key,
                "name": None,
                "snapshot": snap,
                "valid_from": None,
                "time_window": None,
                "current": True,
                "input_usd_per_mtok": _per_mtok(v.get("input_cost_per_token")),
                "output_usd_per_mtok": _per_mtok(v.get("output_cost_per_token")),
                "cache_read_usd_per_mtok": _per_mtok(v.get("cache_read_input_token_cost")),
                "cache_write_usd_per_mtok": _per_mtok(v.get("cache_creation_input_token_cost")),
                "long_context_threshold_tokens": k * 1000 if k else None,
                "input_long_usd_per_mtok": _per_mtok(v.get(f"input_cost_per_token{suffix}"))
                if k
                else None,
                "output_long_usd_per_mtok": _per_mtok(v.get(f"output_cost_per_token{suffix}"))
                if k
                else None,
                "cache_read_long_usd_per_mtok": _per_mtok(
                    v.get(f"cache_read_input_token_cost{suffix}")
                )
                if k
                else None,
                # a window of 0 tokens means "not stated" in the map
                "context_window": v.get("max_input_tokens") or None,
                "max_output_tokens": v.get("max_output_tokens") or None,
                "open_weights": flag,
                "open_weights_rule": rule,
            }
        )
    return _frame(rows)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=SCHEMA.names)
    for c in ("long_context_threshold_tokens", "context_window", "max_output_tokens"):
        df[c] = pd.array(
            [
                None if x is None or (isinstance(x, float) and np.isnan(x)) else int(x)
                for x in df[c]
            ],
            dtype="Int64",
        )
    df["open_weights"] = pd.array(list(df["open_weights"]), dtype="boolean")
    return df


def curate_api_prices(
    genai: list[dict[str, Any]],
    litellm: dict[str, Any],
    epoch_open_weights: dict[str, bool] | None = None,
) -> pd.DataFrame:
    """Both price maps stacked: genai-prices first (source order), then LiteLLM (sorted keys).

    ``epoch_open_weights`` maps a model id to Epoch AI's own open-weights classification (from
    ``Model accessibility``, through the model crosswalk); where given it replaces the family
    rule, with ``open_weights_rule = "Epoch model accessibility"``.
    """
    df = pd.concat([curate_genai(genai), curate_litellm(litellm)], ignore_index=True)
    return apply_epoch_open_weights(df, epoch_open_weights)


def apply_epoch_open_weights(
    df: pd.DataFrame, epoch_open_weights: dict[str, bool] | None
) -> pd.DataFrame:
    """Replace the family-rule flag by Epoch's classification where ``model`` is in the map."""
    if epoch_open_weights:
        hit = df["model"].map(epoch_open_weights)
        known = hit.notna().to_numpy()
        df.loc[known, "open_weights"] = hit[known].astype(bool).to_numpy()
        df.loc[known, "open_weights_rule"] = "Epoch model accessibility"
        df["open_weights"] = df["open_weights"].astype("boolean")
    return df


# --- Epoch AI dated price records -------------------------------------------------------------

HISTORY_SCHEMA = Schema(
    name="api_price_history",
    columns=(
        Column("date", "date", min="2020-01-01", max="2026-12-31", description="price date"),
        Column("model", "str", description="Epoch model name"),
        Column("model_version", "str", nullable=True, description="API model id, where recorded"),
        Column("developer", "str", description="organisation that developed the model"),
        Column("vendor", "str", nullable=True, description="API vendor selling access"),
        Column("fine_tuned", "bool", description="price for using a fine-tuned version"),
        Column(
            "context_tier",
            "str",
            description="all, or <=128k / >128k for Gemini 1.5's prompt-length tiers",
        ),
        _price("input_usd_per_mtok", "input tokens"),
        _price("output_usd_per_mtok", "output tokens"),
        _price("cached_input_usd_per_mtok", "cached input tokens (Gemini 1.5 context caching)"),
        _context_window("context window recorded with the price"),
        Column("archived_link", "str", nullable=True, description="archived price page"),
    ),
    unique=("date", "model", "model_version", "vendor", "fine_tuned", "context_tier"),
)

_UNIT = re.compile(
    r"^\$/1M (?P<kind>input|output|cashed) tokens(?: \(for (?P<tier>[<>=]+) ?128k tokens\))?$"
)


def _history_unit(unit: str) -> tuple[list[str], str] | None:
    """Price unit → (price columns it fills, context tier), or None for non-token units."""
    if unit == "$/1M tokens (input or output)":
        return ["input_usd_per_mtok", "output_usd_per_mtok"], "all"
    m = _UNIT.match(unit)
    if not m:
        return None
    col = {
        "input": "input_usd_per_mtok",
        "output": "output_usd_per_mtok",
        "cashed": "cached_input_usd_per_mtok",
    }[m.group("kind")]
    tier = m.group("tier")
    return [col], "all" if tier is None else (f"{tier}128k".replace(" ", ""))


def curate_price_history(raw: pd.DataFrame) -> pd.DataFrame:
    """Epoch ``API prices - full view`` → one row per model, vendor, date, tier.

    Kept: records priced per million text tokens (input, output, "input or output", cached, and
    the <=128k / >128k tiers). Dropped: images, training, embedding and character prices, cache
    storage per hour, per-minute and per-month prices.
    """
    price = raw["Price"].astype(str).str.replace(r"[$,\s]", "", regex=True).astype(float)
    recs: dict[tuple, dict[str, Any]] = {}
    for i in range(len(raw)):
        parsed = _history_unit(str(raw["Price Unit"].iloc[i]).strip())
        if parsed is None:
            continue
        cols, tier = parsed
        r = raw.iloc[i]
        key = (
            pd.Timestamp(r["Price date"]),
            str(r["Model"]).strip(),
            _s(r["Model Version"]),
            _s(r["Organization (API vendor)"]),
            str(r["Fine Tuned Model"]).strip().lower() == "checked",
            tier,
        )
        rec = recs.setdefault(
            key,
            {
                "date": key[0],
                "model": key[1],
                "model_version": key[2],
                "developer": _s(r["Organization (model developer)"]),
                "vendor": key[3],
                "fine_tuned": key[4],
                "context_tier": tier,
                "input_usd_per_mtok": None,
                "output_usd_per_mtok": None,
                "cached_input_usd_per_mtok": None,
                "context_window": None,
                "archived_link": _s(r["Archived price link"]),
            },
        )
        for c in cols:
            if rec[c] is not None and rec[c] != price.iloc[i]:
                raise ValueError(
                    f"api_price_history: column {c!r}: row {i} gives {price.iloc[i]} for "
                    f"{key} which already has {rec[c]}"
                )
            rec[c] = float(price.iloc[i])
        cw = r["Context Window Tokens"]
        if pd.notna(cw):
            rec["context_window"] = int(float(cw))
        if rec["archived_link"] is None:
            rec["archived_link"] = _s(r["Archived price link"])
    df = pd.DataFrame(list(recs.values()), columns=HISTORY_SCHEMA.names)
    df["context_window"] = pd.array(
        [None if x is None or pd.isna(x) else int(x) for x in df["context_window"]], dtype="Int64"
    )
    df = df.sort_values(
        ["date", "developer", "model", "vendor", "model_version", "fine_tuned", "context_tier"],
        kind="stable",
        na_position="first",
    )
    return df.reset_index(drop=True)


def _s(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    s = str(v).strip()
    return s or None
