"""The LLM API market as OpenRouter shows it: daily tokens by model, prices by provider, and the
models' characteristics and quality scores.

Four curated tables are built from the raw scrapes by :mod:`data.build` (nothing here reads the raw
sources at run time):

``api_market``
    model × day: input (prompt), output (completion) and reasoning tokens in billions, OpenRouter's
    traffic-weighted input/output price and the number of providers listing the model.
``api_provider_prices``
    model × provider × day: each provider's posted input/output price ($/Mtok).
``api_models``
    one row per OpenRouter slug: author, open-weights flag and its source, release date, context
    length, total and active parameters, quality scores (Epoch Capabilities Index, Artificial
    Analysis Intelligence Index, LMArena text score) and one ``quality`` index on the ECI scale
    with its source; aliases and ``:free`` variants are flagged, never dropped.
``openrouter_crosswalk``
    slug × source → the name the source uses (or ``unmatched``), with the rule that made the match.

The slug → name matches are explicit data: :data:`AA_FAMILY`, :data:`ECI_MODEL` and
:data:`LMARENA_NAME` below, checked by ``tests/data/test_openrouter.py``; a name that the source
does not know, or a slug that the token data do not contain, is an error at build time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from data.errors import DataValidationError
from data.schema import Column, Schema
from llmecon.errors import InputError

SNAPSHOT = "2026-05-04"
PRICE_SNAPSHOT = "2026-04-02"

#: The largest daily token count of one model, in billions, that is plausible on OpenRouter
#: (the largest in the data is ≈1.6e3 bn, i.e. 1.6 trillion tokens a day). A file in raw tokens
#: (a factor 1e9 larger) or in millions (1e3 larger) exceeds it.
MAX_DAILY_BN = 1e4
#: The largest plausible price in $/Mtok (the dearest model, o1-pro, posts $600/Mtok output;
#: one reseller lists $1,126). A price in $/token would be 1e6 times smaller, caught below.
MAX_PRICE = 5e3
#: The smallest non-zero price in $/Mtok a row may carry: a few resellers post effective input
#: prices near 1e-6 $/Mtok (cache-discounted). A table in $/token (1e-6 of $/Mtok) is caught by
#: its median instead (:data:`MIN_MEDIAN_PRICE`).
MIN_PRICE = 1e-6
#: The smallest plausible median non-zero price of a price table, in $/Mtok (the data's is ≈0.25).
MIN_MEDIAN_PRICE = 1e-3

_B = "1e9 tokens"

MARKET_SCHEMA = Schema(
    name="api_market",
    columns=(
        Column("date", "date", min="2025-01-01", max="2027-12-31", description="UTC day"),
        Column("model", "str", description="OpenRouter slug (author/name[:variant])"),
        Column("tokens_input", "float", _B, min=0, max=MAX_DAILY_BN,
               description="prompt tokens that day, billions"),
        Column("tokens_output", "float", _B, min=0, max=MAX_DAILY_BN,
               description="completion tokens that day (reasoning included), billions"),
        Column("tokens_reasoning", "float", _B, min=0, max=MAX_DAILY_BN,
               description="reasoning tokens that day (part of tokens_output), billions"),
        Column("price_input", "float", "$/Mtok", min=MIN_PRICE, max=MAX_PRICE, allow_zero=True,
               nullable=True,
               description="OpenRouter's traffic-weighted input price; empty outside the price "
               "window"),
        Column("price_output", "float", "$/Mtok", min=MIN_PRICE, max=MAX_PRICE, allow_zero=True,
               nullable=True,
               description="traffic-weighted output price; empty outside the window"),
        Column("n_providers", "int", min=0, max=200, nullable=True,
               description="providers posting a price that day; empty outside the price window"),
    ),
    unique=("date", "model"),
)

PROVIDER_PRICES_SCHEMA = Schema(
    name="api_provider_prices",
    columns=(
        Column("date", "date", min="2025-01-01", max="2027-12-31", description="UTC day"),
        Column("model", "str", description="OpenRouter slug"),
        Column("provider", "str", description="inference provider as OpenRouter names it"),
        Column("price_input", "float", "$/Mtok", min=MIN_PRICE, max=MAX_PRICE, allow_zero=True,
               description="provider's input (prompt) price"),
        Column("price_output", "float", "$/Mtok", min=MIN_PRICE, max=MAX_PRICE, allow_zero=True,
               nullable=True, description="provider's output (completion) price"),
        Column("cache_hit_rate", "float", "fraction", min=0, max=1, nullable=True,
               description="share of input tokens served from the prompt cache, where shown"),
    ),
    unique=("date", "model", "provider"),
)

MODELS_SCHEMA = Schema(
    name="api_models",
    columns=(
        Column("model", "str", description="OpenRouter slug"),
        Column("base_model", "str", description="slug without its :variant (:free, :exacto)"),
        Column("variant", "str", nullable=True, description="free, exacto, …; empty for the base"),
        Column("alias_of", "str", nullable=True,
               description="slug whose token series this slug repeats exactly (left out of "
               "api_market); empty otherwise"),
        Column("author", "str", description="developer, the slug's first part"),
        Column("name", "str", nullable=True, description="OpenRouter display name"),
        Column("open_weights", "bool", nullable=True,
               description="weights downloadable; empty where no source says"),
        Column("open_weights_source", "str", nullable=True,
               description="openrouter (hugging_face_id), epoch, or manual (see datasheet)"),
        Column("release_date", "date", min="2018-01-01", max="2027-12-31", nullable=True,
               description="OpenRouter 'created' date of the slug"),
        Column("first_seen", "date", min="2025-01-01", max="2027-12-31",
               description="first day with tokens in the data (censored at the window start)"),
        Column("context_length", "int", "tokens", min=1, max=1e8, nullable=True,
               description="largest context OpenRouter lists"),
        Column("parameters", "float", "parameters", min=1e6, max=1e14, nullable=True,
               description="total parameters (from the slug, e.g. 120b, or Epoch)"),
        Column("active_parameters", "float", "parameters", min=1e6, max=1e14, nullable=True,
               description="active parameters of a mixture of experts (-aNb in the slug, or "
               "Epoch)"),
        Column("eci", "float", "ECI points", min=0, max=300, nullable=True,
               description="Epoch Capabilities Index (best scored version of the matched model)"),
        Column("aa_intelligence", "float", "index points", min=0, max=100, nullable=True,
               description="Artificial Analysis Intelligence Index (best variant, mean over "
               "dates)"),
        Column("lmarena_text", "float", "Elo", min=500, max=2500, nullable=True,
               description="LMArena text score (median over dates)"),
        Column("quality", "float", "ECI points", min=0, max=300, nullable=True,
               description="ECI where scored, else the AA index mapped onto the ECI scale"),
        Column("quality_source", "str", nullable=True,
               description="epoch_eci or aa_calibrated; empty when neither exists"),
        Column("tokens_total", "float", _B, min=0, description="tokens over the window, billions"),
    ),
    unique=("model",),
)

CROSSWALK_SCHEMA = Schema(
    name="openrouter_crosswalk",
    columns=(
        Column("model", "str", description="OpenRouter slug (base slug; variants share it)"),
        Column("source", "str", description="artificial_analysis, epoch_eci or lmarena"),
        Column("name", "str", nullable=True, description="the source's name; empty if unmatched"),
        Column("rule", "str", description="manual, normalised or unmatched (see datasheet)"),
    ),
    unique=("model", "source"),
)

LIST_PRICES_SCHEMA = Schema(
    name="openrouter_list_prices",
    columns=(
        Column("date", "date", min="2025-01-01", max="2027-12-31",
               description="day of the archived snapshot of OpenRouter's model list"),
        Column("model", "str", description="OpenRouter slug"),
        Column("price_input", "float", "$/Mtok", min=MIN_PRICE, max=MAX_PRICE, allow_zero=True,
               description="list (lowest-provider) input price"),
        Column("price_output", "float", "$/Mtok", min=MIN_PRICE, max=MAX_PRICE, allow_zero=True,
               description="list output price"),
    ),
    unique=("date", "model"),
)

FIGURES_SCHEMA = Schema(
    name="demirer2025_figures",
    columns=(
        Column("figure", "int", min=1, max=30, description="figure number in Demirer et al. 2025"),
        Column("statistic", "str",
               description="p10, p25, p50, p75, p90 (Figs. 11, 15); median, p90_frontier (Fig. 5)"),
        Column("date", "date", min="2022-01-01", max="2026-12-31", description="day"),
        Column("value", "float", min=0, max=1e4,
               description="Fig. 5/15: intelligence index / 100; Fig. 11: $ per Mtok prompt "
               "per unit of intelligence (index / 100)"),
    ),
    unique=("figure", "statistic", "date"),
)

SOURCES = ("artificial_analysis", "epoch_eci", "lmarena")

#: OpenRouter slug → Artificial Analysis model *family*: the index is the best of the variants AA
#: lists as ``NAME`` or ``NAME (…)`` (reasoning efforts), e.g. "GPT-5" → GPT-5 (minimal … high).
AA_FAMILY: dict[str, str] = {
    "ai21/jamba-large-1.7": "Jamba 1.7 Large",
    "allenai/molmo-2-8b": "Molmo2-8B",
    "allenai/olmo-3-7b-instruct": "Olmo 3 7B Instruct",
    "allenai/olmo-3-7b-think": "Olmo 3 7B Think",
    "allenai/olmo-3.1-32b-instruct": "Olmo 3.1 32B Instruct",
    "allenai/olmo-3.1-32b-think": "Olmo 3.1 32B Think",
    "amazon/nova-2-lite-v1": "Nova 2.0 Lite",
    "amazon/nova-lite-v1": "Nova Lite",
    "amazon/nova-micro-v1": "Nova Micro",
    "amazon/nova-premier-v1": "Nova Premier",
    "amazon/nova-pro-v1": "Nova Pro",
    "anthropic/claude-3-haiku": "Claude 3 Haiku",
    "anthropic/claude-3.5-haiku": "Claude 3.5 Haiku",
    "anthropic/claude-3.7-sonnet": "Claude 3.7 Sonnet",
    "anthropic/claude-haiku-4.5": "Claude 4.5 Haiku",
    "anthropic/claude-opus-4.5": "Claude Opus 4.5",
    "anthropic/claude-opus-4.6": "Claude Opus 4.6",
    "anthropic/claude-opus-4.7": "Claude Opus 4.7",
    "anthropic/claude-sonnet-4": "Claude 4 Sonnet",
    "anthropic/claude-sonnet-4.5": "Claude 4.5 Sonnet",
    "anthropic/claude-sonnet-4.6": "Claude Sonnet 4.6",
    "arcee-ai/trinity-large-thinking": "Trinity Large Thinking",
    "baidu/ernie-4.5-300b-a47b": "ERNIE 4.5 300B A47B",
    "cohere/command-a": "Command A",
    "deepseek/deepseek-chat-v3-0324": "DeepSeek V3 0324",
    "deepseek/deepseek-chat-v3.1": "DeepSeek V3.1",
    "deepseek/deepseek-r1": "DeepSeek R1 (Jan '25)",
    "deepseek/deepseek-r1-0528": "DeepSeek R1 0528 (May '25)",
    "deepseek/deepseek-v3.1-terminus": "DeepSeek V3.1 Terminus",
    "deepseek/deepseek-v3.2": "DeepSeek V3.2",
    "deepseek/deepseek-v3.2-exp": "DeepSeek V3.2 Exp",
    "deepseek/deepseek-v3.2-speciale": "DeepSeek V3.2 Speciale",
    "deepseek/deepseek-v4-flash": "DeepSeek V4 Flash",
    "deepseek/deepseek-v4-pro": "DeepSeek V4 Pro",
    "google/gemini-2.0-flash-001": "Gemini 2.0 Flash",
    "google/gemini-2.5-flash": "Gemini 2.5 Flash",
    "google/gemini-2.5-flash-lite": "Gemini 2.5 Flash-Lite",
    "google/gemini-2.5-flash-lite-preview-09-2025": "Gemini 2.5 Flash-Lite Preview (Sep '25)",
    "google/gemini-2.5-pro": "Gemini 2.5 Pro",
    "google/gemini-3-flash-preview": "Gemini 3 Flash Preview",
    "google/gemini-3-pro-preview": "Gemini 3 Pro Preview",
    "google/gemini-3.1-flash-lite-preview": "Gemini 3.1 Flash-Lite Preview",
    "google/gemini-3.1-pro-preview": "Gemini 3.1 Pro Preview",
    "google/gemini-3.1-pro-preview-customtools": "Gemini 3.1 Pro Preview",
    "google/gemma-3-12b-it": "Gemma 3 12B Instruct",
    "google/gemma-3-27b-it": "Gemma 3 27B Instruct",
    "google/gemma-3-4b-it": "Gemma 3 4B Instruct",
    "google/gemma-3n-e4b-it": "Gemma 3n E4B Instruct",
    "google/gemma-4-26b-a4b-it": "Gemma 4 26B A4B",
    "google/gemma-4-31b-it": "Gemma 4 31B",
    "inception/mercury-2": "Mercury 2",
    "inclusionai/ling-2.6-flash": "Ling 2.6 Flash",
    "kwaipilot/kat-coder-pro": "KAT-Coder-Pro V1",
    "kwaipilot/kat-coder-pro-v2": "KAT Coder Pro V2",
    "liquid/lfm-2-24b-a2b": "LFM2 24B A2B",
    "liquid/lfm2-8b-a1b": "LFM2 8B A1B",
    "meta-llama/llama-3-70b-instruct": "Llama 3 Instruct 70B",
    "meta-llama/llama-3-8b-instruct": "Llama 3 Instruct 8B",
    "meta-llama/llama-3.1-405b-instruct": "Llama 3.1 Instruct 405B",
    "meta-llama/llama-3.1-70b-instruct": "Llama 3.1 Instruct 70B",
    "meta-llama/llama-3.1-8b-instruct": "Llama 3.1 Instruct 8B",
    "meta-llama/llama-3.2-11b-vision-instruct": "Llama 3.2 Instruct 11B (Vision)",
    "meta-llama/llama-3.2-1b-instruct": "Llama 3.2 Instruct 1B",
    "meta-llama/llama-3.3-70b-instruct": "Llama 3.3 Instruct 70B",
    "meta-llama/llama-4-maverick": "Llama 4 Maverick",
    "meta-llama/llama-4-scout": "Llama 4 Scout",
    "minimax/minimax-m2": "MiniMax-M2",
    "minimax/minimax-m2.1": "MiniMax-M2.1",
    "minimax/minimax-m2.5": "MiniMax-M2.5",
    "minimax/minimax-m2.7": "MiniMax-M2.7",
    "mistralai/devstral-2512": "Devstral 2",
    "mistralai/devstral-medium": "Devstral Medium",
    "mistralai/devstral-small": "Devstral Small (Jul '25)",
    "mistralai/ministral-14b-2512": "Ministral 3 14B",
    "mistralai/ministral-3b-2512": "Ministral 3 3B",
    "mistralai/ministral-8b-2512": "Ministral 3 8B",
    "mistralai/mistral-large-2411": "Mistral Large 2 (Nov '24)",
    "mistralai/mistral-large-2512": "Mistral Large 3",
    "mistralai/mistral-medium-3": "Mistral Medium 3",
    "mistralai/mistral-medium-3.1": "Mistral Medium 3.1",
    "mistralai/mistral-small-2603": "Mistral Small 4",
    "mistralai/mistral-small-3.1-24b-instruct": "Mistral Small 3.1",
    "mistralai/mistral-small-3.2-24b-instruct": "Mistral Small 3.2",
    "moonshotai/kimi-k2": "Kimi K2",
    "moonshotai/kimi-k2-0905": "Kimi K2 0905",
    "moonshotai/kimi-k2-thinking": "Kimi K2 Thinking",
    "moonshotai/kimi-k2.5": "Kimi K2.5",
    "moonshotai/kimi-k2.6": "Kimi K2.6",
    "nousresearch/hermes-4-405b": "Hermes 4 - Llama-3.1 405B",
    "nousresearch/hermes-4-70b": "Hermes 4 - Llama-3.1 70B",
    "nvidia/llama-3.1-nemotron-70b-instruct": "Llama 3.1 Nemotron Instruct 70B",
    "nvidia/llama-3.1-nemotron-ultra-253b-v1": "Llama 3.1 Nemotron Ultra 253B v1",
    "nvidia/llama-3.3-nemotron-super-49b-v1.5": "Llama Nemotron Super 49B v1.5",
    "nvidia/nemotron-3-nano-30b-a3b": "NVIDIA Nemotron 3 Nano 30B A3B",
    "nvidia/nemotron-3-super-120b-a12b": "NVIDIA Nemotron 3 Super 120B A12B",
    "nvidia/nemotron-nano-12b-v2-vl": "NVIDIA Nemotron Nano 12B v2 VL",
    "nvidia/nemotron-nano-9b-v2": "NVIDIA Nemotron Nano 9B V2",
    "openai/gpt-4.1": "GPT-4.1",
    "openai/gpt-4.1-mini": "GPT-4.1 mini",
    "openai/gpt-4.1-nano": "GPT-4.1 nano",
    "openai/gpt-4o": "GPT-4o (Nov '24)",
    "openai/gpt-4o-2024-08-06": "GPT-4o (Aug '24)",
    "openai/gpt-4o-2024-11-20": "GPT-4o (Nov '24)",
    "openai/gpt-5": "GPT-5",
    "openai/gpt-5-codex": "GPT-5 Codex",
    "openai/gpt-5-mini": "GPT-5 mini",
    "openai/gpt-5-nano": "GPT-5 nano",
    "openai/gpt-5.1": "GPT-5.1",
    "openai/gpt-5.1-codex": "GPT-5.1 Codex",
    "openai/gpt-5.1-codex-mini": "GPT-5.1 Codex mini",
    "openai/gpt-5.2": "GPT-5.2",
    "openai/gpt-5.2-codex": "GPT-5.2 Codex",
    "openai/gpt-5.3-codex": "GPT-5.3 Codex",
    "openai/gpt-5.4": "GPT-5.4",
    "openai/gpt-5.4-mini": "GPT-5.4 mini",
    "openai/gpt-5.4-nano": "GPT-5.4 nano",
    "openai/gpt-5.5": "GPT-5.5",
    "openai/gpt-oss-120b": "gpt-oss-120B",
    "openai/gpt-oss-20b": "gpt-oss-20B",
    "openai/o1": "o1",
    "openai/o3": "o3",
    "openai/o3-mini": "o3-mini",
    "openai/o3-mini-high": "o3-mini (high)",
    "openai/o4-mini": "o4-mini",
    "openai/o4-mini-high": "o4-mini (high)",
    "prime-intellect/intellect-3": "INTELLECT-3",
    "qwen/qwen3-14b": "Qwen3 14B",
    "qwen/qwen3-235b-a22b": "Qwen3 235B A22B",
    "qwen/qwen3-235b-a22b-thinking-2507": "Qwen3 235B A22B 2507",
    "qwen/qwen3-30b-a3b": "Qwen3 30B A3B",
    "qwen/qwen3-30b-a3b-instruct-2507": "Qwen3 30B A3B 2507 Instruct",
    "qwen/qwen3-30b-a3b-thinking-2507": "Qwen3 30B A3B 2507",
    "qwen/qwen3-32b": "Qwen3 32B",
    "qwen/qwen3-8b": "Qwen3 8B",
    "qwen/qwen3-coder": "Qwen3 Coder 480B A35B Instruct",
    "qwen/qwen3-coder-30b-a3b-instruct": "Qwen3 Coder 30B A3B Instruct",
    "qwen/qwen3-coder-next": "Qwen3 Coder Next",
    "qwen/qwen3-max": "Qwen3 Max",
    "qwen/qwen3-max-thinking": "Qwen3 Max Thinking",
    "qwen/qwen3-next-80b-a3b-instruct": "Qwen3 Next 80B A3B Instruct",
    "qwen/qwen3-next-80b-a3b-thinking": "Qwen3 Next 80B A3B",
    "qwen/qwen3-vl-235b-a22b-instruct": "Qwen3 VL 235B A22B Instruct",
    "qwen/qwen3-vl-235b-a22b-thinking": "Qwen3 VL 235B A22B",
    "qwen/qwen3-vl-30b-a3b-instruct": "Qwen3 VL 30B A3B Instruct",
    "qwen/qwen3-vl-30b-a3b-thinking": "Qwen3 VL 30B A3B",
    "qwen/qwen3-vl-32b-instruct": "Qwen3 VL 32B Instruct",
    "qwen/qwen3-vl-8b-instruct": "Qwen3 VL 8B Instruct",
    "qwen/qwen3-vl-8b-thinking": "Qwen3 VL 8B",
    "qwen/qwen3.5-122b-a10b": "Qwen3.5 122B A10B",
    "qwen/qwen3.5-27b": "Qwen3.5 27B",
    "qwen/qwen3.5-35b-a3b": "Qwen3.5 35B A3B",
    "qwen/qwen3.5-397b-a17b": "Qwen3.5 397B A17B",
    "qwen/qwen3.5-9b": "Qwen3.5 9B",
    "rekaai/reka-flash-3": "Reka Flash 3",
    "stepfun/step-3.5-flash": "Step 3.5 Flash",
    "upstage/solar-pro-3": "Solar Pro 3",
    "x-ai/grok-3": "Grok 3",
    "x-ai/grok-3-mini": "Grok 3 mini Reasoning (high)",
    "x-ai/grok-4": "Grok 4",
    "x-ai/grok-4-fast": "Grok 4 Fast",
    "x-ai/grok-4.1-fast": "Grok 4.1 Fast",
    "x-ai/grok-4.20": "Grok 4.20 Beta 0309",
    "x-ai/grok-4.20-beta": "Grok 4.20 Beta 0309",
    "x-ai/grok-code-fast-1": "Grok Code Fast 1",
    "xiaomi/mimo-v2-flash": "MiMo-V2-Flash",
    "xiaomi/mimo-v2-omni": "MiMo-V2-Omni",
    "xiaomi/mimo-v2-pro": "MiMo-V2-Pro",
    "xiaomi/mimo-v2.5-pro": "MiMo-V2.5-Pro",
    "z-ai/glm-4.5": "GLM-4.5",
    "z-ai/glm-4.5-air": "GLM-4.5-Air",
    "z-ai/glm-4.5v": "GLM-4.5V",
    "z-ai/glm-4.6": "GLM-4.6",
    "z-ai/glm-4.6v": "GLM-4.6V",
    "z-ai/glm-4.7": "GLM-4.7",
    "z-ai/glm-4.7-flash": "GLM-4.7-Flash",
    "z-ai/glm-5": "GLM-5",
    "z-ai/glm-5-turbo": "GLM-5-Turbo",
    "z-ai/glm-5.1": "GLM-5.1",
    "z-ai/glm-5v-turbo": "GLM 5V Turbo",
}

#: OpenRouter slug → Epoch Capabilities Index: a ``capability.model_version`` (that version's
#: score) or a ``capability.model`` name (the best scored version of that model).
ECI_MODEL: dict[str, str] = {
    "anthropic/claude-3.5-haiku": "Claude 3.5 Haiku",
    "anthropic/claude-3.5-sonnet": "claude-3-5-sonnet-20241022",
    "anthropic/claude-3.7-sonnet": "Claude 3.7 Sonnet",
    "anthropic/claude-opus-4": "Claude Opus 4",
    "anthropic/claude-opus-4.1": "Claude Opus 4.1",
    "anthropic/claude-sonnet-4": "Claude Sonnet 4",
    "anthropic/claude-sonnet-4.5": "Claude Sonnet 4.5",
    "deepseek/deepseek-chat-v3-0324": "DeepSeek-V3-0324",
    "deepseek/deepseek-r1": "DeepSeek-R1",
    "deepseek/deepseek-r1-0528": "DeepSeek-R1-0528",
    "deepseek/deepseek-r1-distill-llama-70b": "DeepSeek-R1-Distill-Llama-70B",
    "google/gemini-2.0-flash-001": "gemini-2.0-flash-001",
    "google/gemini-2.5-flash": "Gemini 2.5 Flash",
    "google/gemini-2.5-pro": "Gemini 2.5 Pro",
    "google/gemma-2-27b-it": "gemma-2-27b-it",
    "google/gemma-2-9b-it": "gemma-2-9b-it",
    "google/gemma-3-27b-it": "Gemma 3 27B",
    "meta-llama/llama-3.1-405b-instruct": "Llama-3.1-405B-Instruct",
    "meta-llama/llama-3.1-70b-instruct": "Llama-3.1-70B-Instruct",
    "meta-llama/llama-3.1-8b-instruct": "Llama-3.1-8B-Instruct",
    "meta-llama/llama-3.3-70b-instruct": "Llama 3.3 70B",
    "meta-llama/llama-4-maverick": "Llama 4 Maverick",
    "meta-llama/llama-4-scout": "Llama 4 Scout",
    "microsoft/phi-4": "phi-4",
    "mistralai/mistral-large-2407": "mistral-large-2407",
    "mistralai/mistral-large-2411": "mistral-large-2411",
    "mistralai/mistral-medium-3": "mistral-medium-2505",
    "mistralai/mistral-small-24b-instruct-2501": "mistral-small-2501",
    "mistralai/mistral-small-3.1-24b-instruct": "mistral-small-2503",
    "moonshotai/kimi-k2": "Kimi K2",
    "openai/gpt-4.1": "GPT-4.1",
    "openai/gpt-4.1-mini": "GPT-4.1 mini",
    "openai/gpt-4.1-nano": "GPT-4.1 nano",
    "openai/gpt-4o": "gpt-4o-2024-11-20",
    "openai/gpt-4o-2024-08-06": "gpt-4o-2024-08-06",
    "openai/gpt-4o-2024-11-20": "gpt-4o-2024-11-20",
    "openai/gpt-4o-mini": "GPT-4o mini",
    "openai/gpt-4o-mini-2024-07-18": "gpt-4o-mini-2024-07-18",
    "openai/gpt-5": "GPT-5",
    "openai/gpt-5-mini": "GPT-5 mini",
    "openai/gpt-5-nano": "GPT-5 nano",
    "openai/o1": "o1",
    "openai/o3": "o3",
    "openai/o3-mini": "o3-mini",
    "openai/o4-mini": "o4-mini",
    "qwen/qwen-2.5-72b-instruct": "qwen2.5-72b-instruct",
    "qwen/qwen-max": "qwen-max-2025-01-25",
    "qwen/qwen3-235b-a22b": "qwen3-235b-a22b",
    "qwen/qwen3-max": "qwen3-max-2025-09-23",
    "x-ai/grok-3": "Grok 3",
    "x-ai/grok-3-mini": "Grok-3 mini",
    "x-ai/grok-4": "Grok 4",
}

#: Hand matches to LMArena names where normalising the slug (``.`` → ``-``) does not find one.
LMARENA_NAME: dict[str, str] = {
    "anthropic/claude-haiku-4.5": "claude-haiku-4-5-20251001",
    "anthropic/claude-opus-4.5": "claude-opus-4-5-20251101",
    "anthropic/claude-sonnet-4": "claude-sonnet-4-20250514",
    "anthropic/claude-sonnet-4.5": "claude-sonnet-4-5-20250929",
    "google/gemini-3-flash-preview": "gemini-3-flash",
    "google/gemini-3-pro-preview": "gemini-3-pro",
    "moonshotai/kimi-k2.5": "kimi-k2.5-thinking",
    "openai/gpt-4.1": "gpt-4.1-2025-04-14",
    "openai/gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "openai/gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "openai/gpt-5": "gpt-5-high",
    "openai/gpt-5-mini": "gpt-5-mini-high",
    "openai/gpt-5-nano": "gpt-5-nano-high",
    "x-ai/grok-4": "grok-4-0709",
    "x-ai/grok-4-fast": "grok-4-fast-reasoning",
    "x-ai/grok-4.1-fast": "grok-4-1-fast-reasoning",
    "xiaomi/mimo-v2-flash": "mimo-v2-flash (thinking)",
}

#: Open-weights status from the developer's own release (weights on Hugging Face or not), for
#: slugs that OpenRouter's model list does not cover, and as corrections where its
#: ``hugging_face_id`` is empty for an open-weights model (GLM-4.6, GLM-4 32B, Gemma 3). These
#: take precedence over the other sources; slugs no source covers keep an empty flag.
OPEN_WEIGHTS_MANUAL: dict[str, bool] = {
    "google/gemma-3-12b-it": True,
    "google/gemma-3-27b-it": True,
    "google/gemma-3-4b-it": True,
    "mistralai/ministral-14b-2512": True,
    "mistralai/mistral-large-2512": True,
    "nvidia/nemotron-nano-12b-v2-vl": True,
    "qwen/qwen3-embedding-8b": True,
    "qwen/qwen3-vl-30b-a3b-instruct": True,
    "qwen/qwen3-vl-8b-instruct": True,
    "z-ai/glm-4-32b": True,
    "z-ai/glm-4.6": True,
    "anthropic/claude-haiku-4.5": False,
    "anthropic/claude-opus-4.5": False,
    "anthropic/claude-opus-4.6": False,
    "anthropic/claude-opus-4.7": False,
    "anthropic/claude-sonnet-4.6": False,
    "deepseek/deepseek-v3.2": True,
    "google/gemini-2.5-flash-image": False,
    "google/gemini-3-flash-preview": False,
    "google/gemini-3-pro-image-preview": False,
    "google/gemini-3-pro-preview": False,
    "google/gemini-3.1-flash-lite-preview": False,
    "google/gemini-3.1-pro-preview": False,
    "google/gemini-3.1-pro-preview-customtools": False,
    "google/gemma-4-26b-a4b-it": True,
    "google/gemma-4-31b-it": True,
    "minimax/minimax-m2": True,
    "minimax/minimax-m2.1": True,
    "minimax/minimax-m2.5": True,
    "moonshotai/kimi-k2-thinking": True,
    "moonshotai/kimi-k2.5": True,
    "nvidia/nemotron-3-nano-30b-a3b": True,
    "nvidia/nemotron-3-super-120b-a12b": True,
    "openai/gpt-5.1": False,
    "openai/gpt-5.1-chat": False,
    "openai/gpt-5.1-codex": False,
    "openai/gpt-5.1-codex-mini": False,
    "openai/gpt-5.2": False,
    "openai/gpt-5.2-chat": False,
    "openai/gpt-5.2-codex": False,
    "openai/gpt-5.3-chat": False,
    "openai/gpt-5.3-codex": False,
    "openai/gpt-5.4": False,
    "openai/gpt-5.4-mini": False,
    "openai/gpt-5.4-nano": False,
    "openai/gpt-5.5": False,
    "openai/gpt-oss-safeguard-20b": True,
    "qwen/qwen3-coder-next": True,
    "qwen/qwen3.5-122b-a10b": True,
    "qwen/qwen3.5-27b": True,
    "qwen/qwen3.5-35b-a3b": True,
    "qwen/qwen3.5-397b-a17b": True,
    "qwen/qwen3.5-9b": True,
    "qwen/qwen3.5-flash-02-23": False,
    "qwen/qwen3.5-plus-02-15": False,
    "qwen/qwen3.6-plus": False,
    "qwen/qwen3.6-plus-preview": False,
    "stepfun/step-3.5-flash": True,
    "x-ai/grok-4.1-fast": False,
    "x-ai/grok-4.20": False,
    "xiaomi/mimo-v2-flash": True,
    "z-ai/glm-4.7": True,
    "z-ai/glm-4.7-flash": True,
    "z-ai/glm-5": True,
}


# --------------------------------------------------------------------------------------------
# raw-input checks


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataValidationError(
            f"{what}: column {missing[0]!r} is missing; expected columns {', '.join(columns)} "
            f"(found {', '.join(map(str, df.columns)) or 'none'})"
        )


def _check_units(df: pd.DataFrame, columns: list[str], what: str, limit: float, unit: str) -> None:
    for c in columns:
        v = pd.to_numeric(df[c], errors="coerce")
        bad = np.flatnonzero((v > limit).to_numpy())
        if bad.size:
            i = int(bad[0])
            raise DataValidationError(
                f"{what}: column {c!r}: row {i} (0-based) has {v.iloc[i]:g}: above {limit:g} "
                f"(wrong unit? values must be in {unit})"
            )


def _check_price_units(df: pd.DataFrame, columns: list[str], what: str) -> None:
    for c in columns:
        v = pd.to_numeric(df[c], errors="coerce")
        v = v[v > 0]
        if len(v) and v.median() < MIN_MEDIAN_PRICE:
            raise DataValidationError(
                f"{what}: column {c!r}: median non-zero price {v.median():g} is below "
                f"{MIN_MEDIAN_PRICE:g} (wrong unit? values must be in $ per million tokens, "
                "not $ per token)"
            )
    _check_units(df, columns, what, MAX_PRICE, "$ per million tokens")


def split_slug(slug: str) -> tuple[str, str | None]:
    """``"a/b:free"`` → ``("a/b", "free")``; a slug without a variant → ``(slug, None)``."""
    base, _, variant = str(slug).partition(":")
    return base, (variant or None)


# --------------------------------------------------------------------------------------------
# api_market


def find_aliases(history: pd.DataFrame) -> dict[str, str]:
    """Slugs whose whole daily token series repeats another slug's exactly → the slug kept.

    OpenRouter's rankings count an aliased model once and show the same series under each alias
    (``google/gemini-2.5-pro``, ``…-preview``, ``…-preview-05-06``). Summing them would count the
    tokens two or three times. Within a group the shortest slug (then the first alphabetically)
    is kept.
    """
    wide = history.pivot_table(index="Model", columns="Date", values="Total_Tokens",
                               aggfunc="sum").round(9)
    wide = wide[wide.fillna(0).sum(axis=1) > 0]
    key = wide.fillna(-1.0).apply(lambda r: tuple(r), axis=1)
    out: dict[str, str] = {}
    for _, group in key.groupby(key):
        if len(group) > 1:
            slugs = sorted(group.index, key=lambda s: (len(s), s))
            out.update({s: slugs[0] for s in slugs[1:]})
    return out


def curate_api_market(history: pd.DataFrame, pricing: pd.DataFrame) -> pd.DataFrame:
    """Token history (billions) + weighted-average prices → one row per model and day.

    Parameters
    ----------
    history : DataFrame
        ``Date, Model, Prompt, Completion, Reasoning, Total_Tokens`` in billions of tokens.
    pricing : DataFrame
        ``Date, Model, Provider, Input_Price_1M, Output_Price_1M`` in $/Mtok; the rows with
        ``Provider == "Weighted Average"`` give the traffic-weighted price, the others count the
        providers.

    Aliased slugs (:func:`find_aliases`) are left out; :func:`curate_api_models` lists them.
    """
    _require(history, ["Date", "Model", "Prompt", "Completion", "Reasoning", "Total_Tokens"],
             "token history")
    _check_units(history, ["Prompt", "Completion", "Reasoning", "Total_Tokens"], "token history",
                 MAX_DAILY_BN, "billions of tokens per model and day")
    _require(pricing, ["Date", "Model", "Provider", "Input_Price_1M", "Output_Price_1M"],
             "provider prices")
    _check_price_units(pricing, ["Input_Price_1M", "Output_Price_1M"], "provider prices")
    aliases = find_aliases(history)
    h = history[~history["Model"].isin(aliases)]
    wavg = pricing[pricing["Provider"] == "Weighted Average"]
    prov = pricing[pricing["Provider"] != "Weighted Average"]
    n = prov.groupby(["Date", "Model"])["Provider"].nunique().rename("n_providers")
    w = wavg.drop_duplicates(["Date", "Model"]).set_index(["Date", "Model"])[
        ["Input_Price_1M", "Output_Price_1M"]
    ]
    out = h.set_index(["Date", "Model"])[["Prompt", "Completion", "Reasoning"]].join(w).join(n)
    in_window = out.index.get_level_values("Date").isin(set(pricing["Date"]))
    out.loc[in_window & out["n_providers"].isna(), "n_providers"] = 0
    out = out.reset_index().rename(
        columns={
            "Date": "date",
            "Model": "model",
            "Prompt": "tokens_input",
            "Completion": "tokens_output",
            "Reasoning": "tokens_reasoning",
            "Input_Price_1M": "price_input",
            "Output_Price_1M": "price_output",
        }
    )
    out["date"] = pd.to_datetime(out["date"], format="ISO8601")
    # the scrape lists the paid endpoints' prices under a :free slug too; a free variant costs 0
    free = out["model"].map(lambda s: split_slug(s)[1] == "free") & out["price_input"].notna()
    out.loc[free, ["price_input", "price_output"]] = 0.0
    return out.sort_values(["date", "model"], kind="stable")[MARKET_SCHEMA.names].reset_index(
        drop=True
    )


def curate_provider_prices(pricing: pd.DataFrame) -> pd.DataFrame:
    """Provider price records → one row per model, provider and day.

    The weighted-average rows go to :func:`curate_api_market`; rows under ``:free`` slugs are
    left out: the scrape repeats the paid slug's providers and prices there.
    """
    _require(pricing, ["Date", "Model", "Provider", "Input_Price_1M", "Output_Price_1M",
                       "Cache_Hit_Rate"], "provider prices")
    _check_price_units(pricing, ["Input_Price_1M", "Output_Price_1M"], "provider prices")
    # rows under a :free slug repeat the paid slug's provider list (94% identical prices)
    free = pricing["Model"].map(lambda s: split_slug(s)[1] == "free")
    p = pricing[(pricing["Provider"] != "Weighted Average") & ~free]
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(p["Date"], format="ISO8601"),
            "model": p["Model"].astype(str),
            "provider": p["Provider"].astype(str),
            "price_input": p["Input_Price_1M"].astype(float),
            "price_output": p["Output_Price_1M"].astype(float),
            "cache_hit_rate": p["Cache_Hit_Rate"].astype(float),
        }
    )
    # a handful of scraped prices carry float noise (4.000000000000001): 12 significant digits
    for c in ("price_input", "price_output"):
        out[c] = out[c].map(lambda v: float(f"{v:.12g}") if np.isfinite(v) else v)
    return out.sort_values(["date", "model", "provider"], kind="stable").reset_index(drop=True)


def curate_list_prices(snapshots: list[dict]) -> pd.DataFrame:
    """Archived list-price snapshots ($/token; -1 marks a router's variable price) → $/Mtok.

    Rows with a negative (variable) price are left out: ``openrouter/auto`` and similar routers
    have no price of their own.
    """
    raw = pd.DataFrame(snapshots)
    _require(raw, ["date", "model_id", "prompt_price", "completion_price"], "list prices")
    raw = raw[(raw["prompt_price"] >= 0) & (raw["completion_price"] >= 0)]
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(raw["date"], format="ISO8601"),
            "model": raw["model_id"].astype(str),
            "price_input": (raw["prompt_price"].astype(float) * 1e6).map(lambda v: float(
                f"{v:.12g}")),
            "price_output": (raw["completion_price"].astype(float) * 1e6).map(lambda v: float(
                f"{v:.12g}")),
        }
    )
    return out.sort_values(["date", "model"], kind="stable").reset_index(drop=True)


def curate_figures(series: Mapping[tuple[int, str], pd.DataFrame]) -> pd.DataFrame:
    """Digitised figure series → long form (figure, statistic, date, value).

    ``series`` maps (figure, file kind) to the digitised CSV: ``(11, "percentiles")`` and
    ``(15, "percentiles")`` with ``date, p10, …, p90``; ``(5, "median")`` and
    ``(5, "p90_frontier")`` with ``date, intelligence_index``.
    """
    parts = []
    for (fig, kind), df in series.items():
        if kind == "percentiles":
            _require(df, ["date", "p10", "p25", "p50", "p75", "p90"], f"figure {fig}")
            long = df.melt(id_vars="date", var_name="statistic", value_name="value")
        else:
            _require(df, ["date", "intelligence_index"], f"figure {fig}")
            long = df.rename(columns={"intelligence_index": "value"}).assign(statistic=kind)
        parts.append(long.assign(figure=fig))
    out = pd.concat(parts, ignore_index=True)
    out["date"] = pd.to_datetime(out["date"], format="ISO8601")
    out = out[FIGURES_SCHEMA.names]
    return out.sort_values(["figure", "statistic", "date"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# quality scores and the crosswalk


def aa_scores(bench: pd.DataFrame, metric: str = "artificial_analysis_intelligence_index"
              ) -> pd.Series:
    """Artificial Analysis wide table → mean over dates of ``metric`` per AA model name."""
    _require(bench, ["Date", "Metric"], "Artificial Analysis records")
    rows = bench[bench["Metric"] == metric].drop(columns=["Date", "Metric"])
    return rows.apply(pd.to_numeric, errors="coerce").mean().dropna()


def aa_family_score(scores: pd.Series, family: str) -> float:
    """Best score among AA names ``family`` and ``family (…)``; NaN if none."""
    hit = [n for n in scores.index if n == family or n.startswith(family + " (")]
    return float(scores[hit].max()) if hit else float("nan")


def lmarena_scores(arena: pd.DataFrame) -> pd.Series:
    """LMArena records → median text score per LMArena model name."""
    _require(arena, ["Date", "Model", "Score_text"], "LMArena records")
    s = pd.to_numeric(arena["Score_text"], errors="coerce")
    return s.groupby(arena["Model"].astype(str)).median().dropna()


def eci_score(capability: pd.DataFrame, name: str) -> float:
    """ECI of ``capability.model_version == name``, else the best of ``model == name``."""
    by_version = capability[capability["model_version"] == name]
    if len(by_version):
        return float(by_version["eci"].max())
    return float(capability.loc[capability["model"] == name, "eci"].max())


def _norm_arena(slug: str) -> str:
    return split_slug(slug)[0].rsplit("/", 1)[-1].lower()


def _norm_arena_dash(slug: str) -> str:
    return _norm_arena(slug).replace(".", "-")


def curate_crosswalk(
    slugs: list[str],
    aa: pd.Series,
    capability: pd.DataFrame,
    arena: pd.Series,
    aa_family: Mapping[str, str] = AA_FAMILY,
    eci_model: Mapping[str, str] = ECI_MODEL,
    lmarena_name: Mapping[str, str] = LMARENA_NAME,
) -> pd.DataFrame:
    """One row per base slug and source: the source's name for it, or ``unmatched``.

    Raises
    ------
    DataValidationError
        A hand match names a slug that is not in the token data, or a name the source does not
        have (a typo, or a source snapshot that changed).
    """
    bases = sorted({split_slug(s)[0] for s in slugs})
    known = set(bases)
    eci_names = set(capability["model_version"]) | set(capability["model"].dropna())
    for table, names, what in (
        (aa_family, None, "artificial_analysis"),
        (eci_model, eci_names, "epoch_eci"),
        (lmarena_name, set(arena.index), "lmarena"),
    ):
        for slug, name in table.items():
            if slug not in known:
                raise DataValidationError(
                    f"openrouter_crosswalk ({what}): model {slug!r} is not an OpenRouter slug of "
                    f"the token data; expected one of the {len(known)} slugs in api_market"
                )
            ok = (not np.isnan(aa_family_score(aa, name))) if names is None else name in names
            if not ok:
                raise DataValidationError(
                    f"openrouter_crosswalk ({what}): model {slug!r} maps to {name!r}, which the "
                    f"{what} data do not contain"
                )
    by_norm = {n.lower(): n for n in arena.index}
    rows = []
    for slug in bases:
        for source in SOURCES:
            name, rule = None, "unmatched"
            if source == "artificial_analysis" and slug in aa_family:
                name, rule = aa_family[slug], "manual"
            elif source == "epoch_eci" and slug in eci_model:
                name, rule = eci_model[slug], "manual"
            elif source == "lmarena":
                if slug in lmarena_name:
                    name, rule = lmarena_name[slug], "manual"
                else:
                    for key in (_norm_arena(slug), _norm_arena_dash(slug)):
                        if key in by_norm:
                            name, rule = by_norm[key], "normalised"
                            break
            rows.append({"model": slug, "source": source, "name": name, "rule": rule})
    return pd.DataFrame(rows, columns=CROSSWALK_SCHEMA.names)


def check_crosswalk(crosswalk: pd.DataFrame, source: str | None = None) -> None:
    """Check a crosswalk table (already schema-valid) against the curated OpenRouter models.

    Raises :class:`DataValidationError` naming the first row whose ``model`` is not a base slug
    of ``api_models``, whose ``source`` is not one of :data:`SOURCES`, or whose ``rule`` is not
    manual, normalised or unmatched.
    """
    from data.catalog import load  # the catalogue imports this module

    where = f"openrouter_crosswalk ({source})" if source else "openrouter_crosswalk"
    known = set(load("api_models")["base_model"])
    for col, ok, expected in (
        ("model", known, f"one of the {len(known)} base slugs of api_models"),
        ("source", set(SOURCES), ", ".join(SOURCES)),
        ("rule", {"manual", "normalised", "unmatched"}, "manual, normalised or unmatched"),
    ):
        bad = np.flatnonzero(~crosswalk[col].isin(ok).to_numpy())
        if bad.size:
            i = int(bad[0])
            raise DataValidationError(
                f"{where}: column {col!r}: row {i} (0-based) has unknown {col} "
                f"{crosswalk[col].iloc[i]!r}; expected {expected}"
            )


# --------------------------------------------------------------------------------------------
# api_models

_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)b(?![a-z0-9])")
_ACTIVE = re.compile(r"-a(\d+(?:\.\d+)?)b(?![a-z0-9])")


def parameters_from_slug(slug: str) -> tuple[float, float]:
    """Total and active parameters written in a slug: ``qwen3-235b-a22b`` → (235e9, 22e9).

    NaN where the slug does not say; a dense model's active count is left NaN (a slug cannot
    tell a dense model from a mixture of experts without the ``-aNb`` part).
    """
    name = split_slug(slug)[0].rsplit("/", 1)[-1].lower()
    active = _ACTIVE.search(name)
    total = _SIZE.search(_ACTIVE.sub("", name))
    return (
        float(total.group(1)) * 1e9 if total else float("nan"),
        float(active.group(1)) * 1e9 if active else float("nan"),
    )


def _model_list(snapshots: list[dict]) -> pd.DataFrame:
    """OpenRouter /api/v1/models snapshots (oldest first) → one row per id, newest wins."""
    rows = {}
    for snap in snapshots:
        for m in snap["data"]:
            hf = m.get("hugging_face_id")
            rows[m["id"]] = {
                "model": m["id"],
                "name": m.get("name"),
                "created": pd.to_datetime(m.get("created"), unit="s").normalize()
                if m.get("created") else pd.NaT,
                "context_length": m.get("context_length"),
                "hf": bool(hf and str(hf).strip()),
            }
    return pd.DataFrame(list(rows.values())).set_index("model")


def calibrate_aa_to_eci(eci: pd.Series, aa: pd.Series) -> tuple[float, float, int, float]:
    """Least squares eci = a + b·aa on the slugs scored by both; returns (a, b, n, R²).

    Where ECI is missing the ``quality`` column is a + b·aa: the AA index on the ECI scale.
    """
    both = pd.concat([eci, aa], axis=1, keys=["eci", "aa"]).dropna()
    if len(both) < 5:
        raise DataValidationError(
            f"api_models: only {len(both)} models have both an ECI and an AA score; at least 5 "
            "are needed to put the AA index on the ECI scale"
        )
    x, y = both["aa"].to_numpy(), both["eci"].to_numpy()
    b, a = np.polyfit(x, y, 1)
    r2 = 1 - np.sum((y - a - b * x) ** 2) / np.sum((y - y.mean()) ** 2)
    return float(a), float(b), len(both), float(r2)


def curate_api_models(
    history: pd.DataFrame,
    model_lists: list[dict],
    crosswalk: pd.DataFrame,
    aa: pd.Series,
    capability: pd.DataFrame,
    arena: pd.Series,
    epoch_models: pd.DataFrame,
) -> pd.DataFrame:
    """One row per slug of the token history: characteristics and quality scores.

    Open weights: :data:`OPEN_WEIGHTS_MANUAL` where it lists the slug; else OpenRouter's
    ``hugging_face_id`` (non-empty ⇒ open) where the slug is in its model list; else Epoch's
    classification of the matched ECI model; else empty. Variants (``:free``) take their base
    slug's values.
    """
    aliases = find_aliases(history)
    tokens = history.groupby("Model")["Total_Tokens"].sum()
    first = pd.to_datetime(history.groupby("Model")["Date"].min(), format="ISO8601")
    listing = _model_list(model_lists)
    xw = crosswalk.dropna(subset=["name"]).set_index(["model", "source"])["name"]
    cap_open = {
        m: str(a).startswith("Open weights")
        for m, a in capability.dropna(subset=["model", "accessibility"])[
            ["model", "accessibility"]
        ].itertuples(index=False)
    }
    cap_by_version = capability.set_index("model_version")["model"].to_dict()
    em = epoch_models.drop_duplicates("model").set_index("model")
    rows = []
    for slug in sorted(tokens.index):
        base, variant = split_slug(slug)
        lst = listing.loc[slug] if slug in listing.index else (
            listing.loc[base] if base in listing.index else None
        )
        eci_name = xw.get((base, "epoch_eci"))
        epoch_name = cap_by_version.get(eci_name, eci_name) if eci_name else None
        if base in OPEN_WEIGHTS_MANUAL:
            ow, ow_src = OPEN_WEIGHTS_MANUAL[base], "manual"
        elif lst is not None:
            ow, ow_src = bool(lst["hf"]), "openrouter"
        elif epoch_name in cap_open:
            ow, ow_src = cap_open[epoch_name], "epoch"
        else:
            ow, ow_src = pd.NA, None
        total, active = parameters_from_slug(base)
        if epoch_name in em.index:
            if np.isnan(total):
                total = float(em.at[epoch_name, "parameters"])
            if np.isnan(active):
                active = float(em.at[epoch_name, "active_parameters"])
        aa_name = xw.get((base, "artificial_analysis"))
        ar_name = xw.get((base, "lmarena"))
        rows.append(
            {
                "model": slug,
                "base_model": base,
                "variant": variant,
                "alias_of": aliases.get(slug),
                "author": base.split("/", 1)[0],
                "name": None if lst is None else lst["name"],
                "open_weights": ow,
                "open_weights_source": ow_src,
                "release_date": pd.NaT if lst is None else lst["created"],
                "first_seen": first[slug],
                "context_length": np.nan if lst is None else lst["context_length"],
                "parameters": total,
                "active_parameters": active,
                "eci": eci_score(capability, eci_name) if eci_name else np.nan,
                "aa_intelligence": aa_family_score(aa, aa_name) if aa_name else np.nan,
                "lmarena_text": float(arena[ar_name]) if ar_name else np.nan,
                "tokens_total": float(tokens[slug]),
            }
        )
    out = pd.DataFrame(rows)
    base_rows = out[out["variant"].isna() & out["alias_of"].isna()].set_index("model")
    a, b, _, _ = calibrate_aa_to_eci(base_rows["eci"], base_rows["aa_intelligence"])
    out["quality"] = out["eci"].where(out["eci"].notna(), a + b * out["aa_intelligence"])
    out["quality_source"] = np.where(
        out["eci"].notna(), "epoch_eci",
        np.where(out["aa_intelligence"].notna(), "aa_calibrated", None),
    )
    return out[MODELS_SCHEMA.names]


# --------------------------------------------------------------------------------------------
# user-facing joins


def market_panel(market: pd.DataFrame, models: pd.DataFrame, freq: str = "D") -> pd.DataFrame:
    """``api_market`` joined to ``api_models``; ``freq="W"`` sums tokens by ISO week (Monday)
    and takes the token-weighted mean price over the week's priced days.

    Returns one row per model and period with the market columns, ``tokens_total`` of the period
    and the model characteristics (``open_weights``, ``quality``, …).
    """
    if freq not in ("D", "W"):
        raise InputError(f"freq must be 'D' or 'W', got {freq!r}")
    m = market.copy()
    m["tokens"] = m["tokens_input"] + m["tokens_output"]
    if freq == "W":
        m["date"] = m["date"] - pd.to_timedelta(m["date"].dt.day_of_week, unit="D")
        w = m["tokens"].where(m["price_input"].notna(), 0.0)
        for c in ("price_input", "price_output"):
            m[c + "_w"] = m[c].fillna(0.0) * w
        m["w"] = w
        g = m.groupby(["date", "model"])
        m = g[["tokens_input", "tokens_output", "tokens_reasoning", "tokens"]].sum()
        den = g["w"].sum()
        for c in ("price_input", "price_output"):
            m[c] = (g[c + "_w"].sum() / den).where(den > 0)
        m["n_providers"] = g["n_providers"].max() if "n_providers" in market else np.nan
        m = m.reset_index()
    attrs = models.drop(columns=["tokens_total"]).set_index("model")
    return m.join(attrs, on="model")


def _priced_days(market: pd.DataFrame, freq: str) -> pd.DataFrame:
    """``api_market`` with ``tokens`` (input + output) and ``period`` (the day, or its ISO
    week's Monday), on the days with weighted prices only, so partial weeks at the window's
    ends keep the same market definition (potential and inside tokens over the same days)."""
    m = market.copy()
    m["tokens"] = m["tokens_input"] + m["tokens_output"]
    m["period"] = m["date"] if freq == "D" else m["date"] - pd.to_timedelta(
        m["date"].dt.day_of_week, unit="D")
    # unique() rather than a set of Timestamps: the same days, without boxing every row's date
    return m[m["date"].isin(m.loc[m["price_input"].notna(), "date"].unique())]


def period_tokens(market: pd.DataFrame, freq: str | None = None) -> pd.Series:
    """All OpenRouter tokens of each market period (priced days only; indexed by the period):
    a market's potential in :func:`demand_products` is ``market_size`` times this.

    ``market`` is ``api_market`` with ``freq`` given, or the table of its priced days already
    (``freq`` None). Shares at another market size M are ``tokens / (period_tokens × M)``, the
    same arithmetic as :func:`demand_products`, without redoing the rest of its table.

    Examples
    --------
    >>> import data
    >>> from data.openrouter import period_tokens
    >>> s = period_tokens(data.load("api_market"), "W")
    >>> s.index.name, bool((s > 0).all())
    ('period', True)
    """
    if freq is not None and freq not in ("D", "W"):
        raise InputError(f"freq must be 'D' or 'W', got {freq!r}")
    m = market if freq is None else _priced_days(market, freq)
    return m.groupby("period")["tokens"].sum()


def demand_products(
    market: pd.DataFrame,
    models: pd.DataFrame,
    provider_prices: pd.DataFrame,
    freq: str = "W",
    market_size: float = 2.0,
) -> pd.DataFrame:
    """Products × markets in the long form of structural demand estimation (PyBLP's names).

    Markets are weeks (``freq="W"``, Monday start) or days (``"D"``) of the price window; the
    inside goods are the paid base slugs with tokens and a positive weighted price that week.

    Parameters
    ----------
    market, models, provider_prices : DataFrame
        ``api_market``, ``api_models``, ``api_provider_prices``.
    freq : {"W", "D"}
        Market period.
    market_size : float
        The assumption that closes the model: the potential tokens of a market are
        ``market_size`` × all OpenRouter tokens of the period (priced, unpriced and ``:free``);
        the outside good is everything else, including the ``:free`` variants and direct API
        use. Vary it (e.g. 1.5, 2, 5, 10) for a sensitivity table.

    Returns
    -------
    DataFrame
        ``market_ids`` (period start), ``product_ids`` (slug), ``firm_ids`` (the author for
        closed or unknown weights; ``open:<slug>`` for open weights, each sold by a competitive
        provider set), ``nesting_ids`` (open, closed, unknown), ``shares`` = tokens / potential,
        ``prices`` ($/Mtok, token-weighted blend of input and output prices over the period),
        ``tokens`` (1e9), ``quality``, ``open_weights``, ``context_length``, ``reasoning_share``
        (reasoning / output tokens), ``age_weeks`` (since release, else first seen),
        ``parameters``, ``active_parameters``, ``n_providers``, ``posted_price`` (median posted
        blended price across providers: a cost shifter for open-weights models, equal to the
        own price for single-provider models), and differentiation instruments
        ``demand_instruments0`` (rival products in the market), ``…1`` (sum of rivals'
        quality), ``…2`` (rivals in the same nest), ``…3`` (sum of same-nest rivals' quality),
        ``…4`` (providers listing the model) — Berry, Levinsohn & Pakes (1995);
        Gandhi & Houde (2019) for the nest counts.
    """
    if freq not in ("D", "W"):
        raise InputError(f"freq must be 'D' or 'W', got {freq!r}")
    if not market_size >= 1:
        raise InputError(f"market_size must be >= 1 (potential ≥ observed tokens), got "
                         f"{market_size!r}")
    m = _priced_days(market, freq)
    pp = provider_prices.assign(period=provider_prices["date"] if freq == "D" else
                                provider_prices["date"] - pd.to_timedelta(
                                    provider_prices["date"].dt.day_of_week, unit="D"))
    potential = period_tokens(m) * market_size
    paid = models[models["variant"].isna() & models["alias_of"].isna()].set_index("model")
    inside = m[m["model"].isin(paid.index) & (m["price_input"] > 0) & (m["tokens"] > 0)].copy()
    inside["spend"] = (inside["price_input"] * inside["tokens_input"]
                       + inside["price_output"].fillna(inside["price_input"])
                       * inside["tokens_output"])
    g = inside.groupby(["period", "model"])
    out = g[["tokens", "tokens_output", "tokens_reasoning", "spend"]].sum()
    out["n_providers"] = g["n_providers"].max()
    out = out.reset_index()
    out["prices"] = out["spend"] / out["tokens"]
    # the provider's blended price at the model's own input/output mix that period
    mix = (out["tokens"] - out["tokens_output"]) / out["tokens"]
    posted = pp[pp["price_input"] > 0].groupby(["period", "model"])[
        ["price_input", "price_output"]].median()
    out = out.join(posted, on=["period", "model"])
    out["posted_price"] = mix * out["price_input"] + (1 - mix) * out["price_output"].fillna(
        out["price_input"])
    attrs = paid[["open_weights", "author", "quality", "context_length", "parameters",
                  "active_parameters", "release_date", "first_seen"]]
    out = out.join(attrs, on="model")
    born = out["release_date"].fillna(out["first_seen"])
    out["age_weeks"] = (out["period"] - born).dt.days / 7
    out["reasoning_share"] = (out["tokens_reasoning"] / out["tokens_output"]).where(
        out["tokens_output"] > 0, 0.0)
    nest = out["open_weights"].map({True: "open", False: "closed"}).fillna("unknown")
    out["firm_ids"] = np.where(nest == "open", "open:" + out["model"], out["author"])
    out["nesting_ids"] = nest
    out["shares"] = out["tokens"] / out["period"].map(potential)
    q = out["quality"].fillna(0.0)
    by_m = out.groupby("period")
    same = out.groupby(["period", "nesting_ids"])
    out["demand_instruments0"] = by_m["model"].transform("size") - 1
    out["demand_instruments1"] = by_m["quality"].transform("sum") - q
    out["demand_instruments2"] = same["model"].transform("size") - 1
    out["demand_instruments3"] = same["quality"].transform("sum") - q
    out["demand_instruments4"] = out["n_providers"]
    out = out.rename(columns={"period": "market_ids", "model": "product_ids"})
    cols = ["market_ids", "product_ids", "firm_ids", "nesting_ids", "shares", "prices", "tokens",
            "quality", "open_weights", "context_length", "reasoning_share", "age_weeks",
            "parameters", "active_parameters", "n_providers", "posted_price"] + [
            f"demand_instruments{i}" for i in range(5)]
    return out[cols].sort_values(["market_ids", "product_ids"], kind="stable").reset_index(
        drop=True)
