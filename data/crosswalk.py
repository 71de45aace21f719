"""A crosswalk between the model identifiers of the different tables.

Prices are keyed by API ids (``claude-3-5-sonnet-20240620``,
``meta-llama/Llama-3.1-405B-Instruct``), Epoch's databases by model names (``Claude 3.5 Sonnet``,
``Llama 3.1-405B``), the capability index by version ids with effort suffixes
(``gpt-5-2025-08-07_high``). ``model_crosswalk`` maps
each identifier of ``api_prices``, ``api_price_history``, ``capability`` and ``eval_tokens`` to one
canonical Epoch model name, with the ``rule`` that made the match:

1. ``exact``: the identifier is a canonical name.
2. ``capability version``: an ``eval_tokens`` id equal to a ``capability.model_version``.
3. ``normalised name``: equal after :func:`normalise` (lower case, provider path and cloud-region
   or vendor prefixes dropped, ``. _ space`` → ``-``, parentheses dropped).
4. ``normalised, suffix dropped``: equal after also dropping date stamps, version tags and
   ``instruct/chat/latest/preview``-type and reasoning-effort suffixes (:func:`strip_suffixes`).
5. ``manual``: listed in :data:`MANUAL`.

The canonical names are the ``models`` names (the Epoch models database), plus the capability
index's model names for models newer than the database snapshot. A key that two canonical names
share is ambiguous and matches nothing. Identifiers that match nothing are left out.
"""

from __future__ import annotations

import re

import pandas as pd

from data.schema import Column, Schema

SCHEMA = Schema(
    name="model_crosswalk",
    columns=(
        Column(
            "dataset",
            "str",
            description="api_prices, api_price_history, capability or eval_tokens",
        ),
        Column(
            "id",
            "str",
            description="identifier in that dataset: api_prices.model, api_price_history.model, "
            "capability.model_version, eval_tokens.model_version",
        ),
        Column("model", "str", description="canonical Epoch model name"),
        Column("in_models", "bool", description="model is a `models.model` name"),
        Column("in_capability", "bool", description="model is a `capability.model` name"),
        Column("rule", "str", description="how the match was made (see datasheet)"),
    ),
    unique=("dataset", "id"),
)

#: Hand-made matches: identifier (after :func:`normalise`) → canonical model name.
MANUAL: dict[str, str] = {
    "gpt-3-5-turbo": "GPT-3.5 Turbo",
    "claude-v2": "Claude 2",
    "claude-instant-v1": "Claude Instant",
    "text-davinci-003": "GPT-3.5",
    "davinci": "GPT-3 175B (davinci)",
    "davinci-002": "GPT-3 175B (davinci)",
    "gpt-4-32k": "GPT-4",
    "claude-instant-1": "Claude Instant",
    "claude-instant-1-2": "Claude Instant",
    "claude-instant": "Claude Instant",
    "claude-2-0": "Claude 2",
    "claude-2-1": "Claude 2.1",
    "mistral-7b-instruct": "Mistral 7B",
    "mixtral-8x7b-instruct": "Mixtral 8x7B",
    "mixtral-8x22b-instruct": "Mixtral 8x22B",
    "deepseek-coder-v2": "DeepSeek-Coder-V2 236B",
    "llama-4-scout-17b-16e": "Llama 4 Scout",
    "llama-4-maverick-17b-128e": "Llama 4 Maverick",
    "command-r-plus": "Command R+",
    "command": "Cohere Command",
    "gemini-pro-1-5": "Gemini 1.5 Pro",
    "gemini-flash-1-5": "Gemini 1.5 Flash",
    "gemini-flash-1-5-8b": "Gemini 1.5 Flash 8B",
    "phi-3-medium-128k": "phi-3-medium 14B",
    "phi-3-mini-128k": "phi-3-mini 3.8B",
    "ada": "GPT-3 Medium",
    "babbage": "GPT-3 XL",
    "curie": "GPT-3 6.7B",
}

_REGION = re.compile(r"^(us|eu|apac|global|jp|au|ca|us-gov)\.")
_VENDOR = re.compile(
    r"^(anthropic|meta|mistral|amazon|cohere|ai21|deepseek|qwen|openai|google|xai|moonshotai|"
    r"writer|twelvelabs|minimax|zai|nvidia)\."
)
_SUFFIXES = (
    r"-\d{4}-\d{2}-\d{2}$",  # -2024-08-06
    r"-\d{8}$",  # -20240229
    r"-\d{2}-\d{2}$",  # -06-05 (gemini previews)
    r"-\d{4}$",  # -0613, -0125
    r"-\d{3}$",  # -001, -002
    r"-v\d+(-\d+)?$",  # -v1, -v1-0 (bedrock)
    r"-(high|medium|low|minimal|xhigh|none)$",  # reasoning effort
    r"-\d+k$",  # thinking budget (-16k), context variants
)
#: Dropped only if the key without dates and versions matches nothing ("o1-preview" stays).
_WORDS = (r"-(latest|preview|exp|experimental|instruct|chat|it|hf|base|fp8|free)$",)
_SUFFIX = tuple(re.compile(p) for p in _SUFFIXES)
_SUFFIX_WORDS = tuple(re.compile(p) for p in _SUFFIXES + _WORDS)


def normalise(name: str) -> str:
    """Lower-case key of a model name or API id (see module docstring, rule 3)."""
    s = str(name).strip().lower()
    s = s.rsplit("/", 1)[-1]
    s = re.sub(r"[:@].*$", "", s)  # bedrock ":0", vertex "@001"
    s = _REGION.sub("", s)
    s = _VENDOR.sub("", s)
    s = re.sub(r"\(.*?\)", " ", s)
    s = re.sub(r"[\s._]+", "-", s)
    s = re.sub(r"-+", "-", s).strip("-")
    s = re.sub(r"^meta-llama-", "llama-", s)
    return s


def strip_suffixes(key: str, words: bool = True) -> list[str]:
    """Keys obtained by dropping one trailing suffix at a time (rule 4), shortest last.

    Date, version and effort suffixes go first; instruct/chat/preview-type words only if
    ``words``. Each intermediate key is tried in turn, so ``deepseek-v3-0324`` stops at
    ``deepseek-v3`` and never reaches ``deepseek``.
    """
    out: list[str] = []
    patterns = _SUFFIX_WORDS if words else _SUFFIX
    while True:
        for pat in patterns:
            shorter = pat.sub("", key)
            if shorter != key and shorter:
                key = shorter
                out.append(key)
                break
        else:
            return out


def _canonical(models: pd.DataFrame, capability: pd.DataFrame) -> tuple[set[str], dict[str, str]]:
    names_db = set(models["model"])
    names_cap = set(capability["model"].dropna())
    by_key: dict[str, set[str]] = {}
    for name in sorted(names_db):
        by_key.setdefault(normalise(name), set()).add(name)
    # capability names join only where no database name has the key
    for name in sorted(names_cap - names_db):
        key = normalise(name)
        if key not in by_key:
            by_key.setdefault(key, set()).add(name)
        elif not (by_key[key] & names_db):
            by_key[key].add(name)
    unique = {k: next(iter(v)) for k, v in by_key.items() if len(v) == 1}
    return names_db | names_cap, unique


def _match(ident: str, names: set[str], by_key: dict[str, str]) -> tuple[str, str] | None:
    if ident in names:
        return ident, "exact"
    key = normalise(ident)
    if key in by_key:
        return by_key[key], "normalised name"
    if key in MANUAL and MANUAL[key] in names:
        return MANUAL[key], "manual"
    for short in strip_suffixes(key, words=False) + strip_suffixes(key):
        if short in by_key:
            return by_key[short], "normalised, suffix dropped"
        if short in MANUAL and MANUAL[short] in names:
            return MANUAL[short], "manual"
    return None


def epoch_open_weights(
    ids: list[str], models: pd.DataFrame, capability: pd.DataFrame
) -> dict[str, bool]:
    """Epoch's open-weights classification for each id that matches a canonical name.

    ``models.open_weights`` where the database knows the model, else whether the capability
    index's ``accessibility`` starts with "Open weights"; ids with neither are left out.
    """
    names, by_key = _canonical(models, capability)
    db = models.dropna(subset=["open_weights"]).set_index("model")["open_weights"].to_dict()
    cap = {
        m: a.startswith("Open weights")
        for m, a in capability.dropna(subset=["model", "accessibility"])
        .drop_duplicates("model")[["model", "accessibility"]]
        .itertuples(index=False)
    }
    out: dict[str, bool] = {}
    for ident in sorted(set(ids)):
        hit = _match(ident, names, by_key)
        if hit is None:
            continue
        flag = db.get(hit[0], cap.get(hit[0]))
        if flag is not None:
            out[ident] = bool(flag)
    return out


def curate_crosswalk(
    api_prices: pd.DataFrame,
    price_history: pd.DataFrame,
    capability: pd.DataFrame,
    eval_tokens: pd.DataFrame,
    models: pd.DataFrame,
) -> pd.DataFrame:
    """Match every identifier of the four tables to a canonical Epoch model name."""
    names, by_key = _canonical(models, capability)
    db, cap = set(models["model"]), set(capability["model"].dropna())
    version_to_model = (
        capability.dropna(subset=["model"])
        .drop_duplicates("model_version")
        .set_index("model_version")["model"]
        .to_dict()
    )
    rows = []

    def add(dataset: str, ident: str, hit: tuple[str, str] | None) -> None:
        if hit is not None:
            model, rule = hit
            rows.append(
                {
                    "dataset": dataset,
                    "id": ident,
                    "model": model,
                    "in_models": model in db,
                    "in_capability": model in cap,
                    "rule": rule,
                }
            )

    for ident in sorted(set(api_prices["model"])):
        add("api_prices", ident, _match(ident, names, by_key))
    for ident in sorted(set(price_history["model"])):
        add("api_price_history", ident, _match(ident, names, by_key))
    for ident, model in capability[["model_version", "model"]].itertuples(index=False):
        if isinstance(model, str):
            hit = _match(model, names, by_key)
            if hit is not None and hit[1] == "exact" and model not in db:
                # the capability name itself is canonical; say whether the database knows it
                hit = (model, "exact")
            add("capability", ident, hit)
        else:
            add("capability", ident, _match(ident, names, by_key))
    for ident in sorted(set(eval_tokens["model_version"])):
        if ident in version_to_model:
            add("eval_tokens", ident, (version_to_model[ident], "capability version"))
        else:
            add("eval_tokens", ident, _match(ident, names, by_key))
    return pd.DataFrame(rows, columns=SCHEMA.names)
