"""What models can do and how many tokens they spend doing it (Epoch AI benchmark data).

``capability``: the Epoch Capabilities Index (ECI), a single IRT-style capability score stitched
across benchmarks (Epoch AI, "A Rosetta Stone for AI Benchmarks"), with release dates.
``eval_tokens``: input and output tokens Epoch's evaluation runs used per model and task; output
tokens per sample measure how many (reasoning) tokens a model spends on a question.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.errors import DataValidationError
from data.schema import Column, Schema

SNAPSHOT = "2025-11-07"
EVAL_SNAPSHOT = "2025-03-12"

SCHEMA = Schema(
    name="capability",
    columns=(
        Column("model_version", "str", description="Epoch model version id (with effort suffix)"),
        Column("model", "str", nullable=True, description="Epoch model name"),
        Column("display_name", "str", nullable=True, description="name shown on epoch.ai"),
        Column("organization", "str", nullable=True, description="developer"),
        Column("country", "str", nullable=True, description="country of the developer"),
        Column(
            "release_date",
            "date",
            min="2015-01-01",
            max="2030-12-31",
            nullable=True,
            description="version release date",
        ),
        Column(
            "release_date_source",
            "str",
            nullable=True,
            description="eci (the index file) or model_versions (filled from Epoch's version list)",
        ),
        Column(
            "eci",
            "float",
            "ECI points",
            min=0,
            max=300,
            nullable=True,
            description="Epoch Capabilities Index score (empty: not scored)",
        ),
        Column("accessibility", "str", nullable=True, description="Epoch 'Model accessibility'"),
        Column(
            "training_compute_flop",
            "float",
            "FLOP",
            min=1e15,
            max=1e28,
            nullable=True,
            description="training compute",
        ),
        Column("confidence", "str", nullable=True, description="Epoch confidence in compute"),
    ),
    unique=("model_version",),
)


def _text(s: pd.Series) -> pd.Series:
    out = s.astype("string").str.strip()
    return out.where(out != "", pd.NA)


def curate_capability(eci: pd.DataFrame, versions: pd.DataFrame) -> pd.DataFrame:
    """ECI file → one row per model version, source order; missing release dates are filled
    from ``model_versions.csv`` (``Version release date``) by exact version id."""
    rel = pd.to_datetime(eci["Release date"], format="ISO8601")
    ids = versions["id"].astype("string").str.strip()
    by_id = versions.assign(id=ids).drop_duplicates("id").set_index("id")["Version release date"]
    fill = pd.to_datetime(eci["Model version"].map(by_id), format="ISO8601")
    source = np.where(rel.notna(), "eci", np.where(fill.notna(), "model_versions", None))
    return pd.DataFrame(
        {
            "model_version": _text(eci["Model version"]),
            "model": _text(eci["Model name"]),
            "display_name": _text(eci["Display name"]),
            "organization": _text(eci["Organization"]),
            "country": _text(eci["Country"]),
            "release_date": rel.fillna(fill),
            "release_date_source": pd.array(source, dtype="string"),
            "eci": pd.to_numeric(eci["ECI Score"]),
            "accessibility": _text(eci["Model accessibility"]),
            "training_compute_flop": pd.to_numeric(eci["Training compute (FLOP)"]),
            "confidence": _text(eci["Confidence"]),
        }
    )


EVAL_SCHEMA = Schema(
    name="eval_tokens",
    columns=(
        Column("model_version", "str", description="model id as run by Epoch"),
        Column("task", "str", description="GPQA Diamond, MATH level 5 or OTIS Mock AIME 2024-2025"),
        Column("epochs", "int", "", min=1, max=1000, description="passes over the question set"),
        Column("samples", "int", "", min=1, max=1e7, description="questions x epochs answered"),
        Column("questions", "float", "", min=1, description="samples / epochs"),
        Column("input_tokens", "int", "tokens", min=1, description="input tokens, all samples"),
        Column("output_tokens", "int", "tokens", min=1, description="output tokens, all samples"),
        Column(
            "input_tokens_per_sample",
            "float",
            "tokens",
            min=1,
            max=1e6,
            description="input_tokens / samples",
        ),
        Column(
            "output_tokens_per_sample",
            "float",
            "tokens",
            min=1,
            max=1e6,
            description="output_tokens / samples (reasoning plus answer)",
        ),
    ),
    unique=("model_version", "task"),
)


def curate_eval_tokens(raw: pd.DataFrame) -> pd.DataFrame:
    """``epoch_ai_eval_data.csv`` → per-sample token counts; total = input + output is checked."""
    total = raw["input_tokens"] + raw["output_tokens"]
    bad = np.flatnonzero(total.to_numpy() != raw["total_tokens"].to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataValidationError(
            f"eval_tokens: column 'total_tokens': row {i} has {raw['total_tokens'].iloc[i]}; "
            f"expected input_tokens + output_tokens = {total.iloc[i]}"
        )
    samples = raw["total_samples"].astype("int64")
    return pd.DataFrame(
        {
            "model_version": _text(raw["Model"]),
            "task": _text(raw["Task"]),
            "epochs": raw["epochs"].astype("int64"),
            "samples": samples,
            "questions": samples / raw["epochs"],
            "input_tokens": raw["input_tokens"].astype("int64"),
            "output_tokens": raw["output_tokens"].astype("int64"),
            "input_tokens_per_sample": raw["input_tokens"] / samples,
            "output_tokens_per_sample": raw["output_tokens"] / samples,
        }
    )
