"""Epoch AI's models database reduced to language models, and its training-cost estimates.

``models``: the language models of Epoch AI's "Data on AI Models" (rows whose ``Domain`` contains
"Language"): size, training compute and data, hardware, chip-hours, accessibility.
``training_costs``: the three training-cost estimates of Cottier et al. (2024), "The rising costs
of training frontier AI models" (arXiv:2405.21015) — cloud rental, hardware acquisition, amortised
hardware capex plus energy — and Epoch's later headline estimate, joined to the database.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from data.errors import DataValidationError
from data.schema import Column, Schema

SNAPSHOT = "2025-08-07"

SCHEMA = Schema(
    name="models",
    columns=(
        Column("model", "str", description="Epoch model name (the hub key of model_crosswalk)"),
        Column("organization", "str", nullable=True, description="developer(s), comma-separated"),
        Column("date", "date", min="1950-01-01", max="2030-12-31", description="publication date"),
        Column("domain", "str", description="Epoch domains (all contain Language)"),
        Column(
            "parameters",
            "float",
            "parameters",
            min=1e3,
            max=1e14,
            nullable=True,
            description="total parameters",
        ),
        Column(
            "active_parameters",
            "float",
            "parameters",
            min=1e3,
            max=1e14,
            nullable=True,
            description="parameters active per token (mixture-of-experts), parsed from notes",
        ),
        Column(
            "training_compute_flop",
            "float",
            "FLOP",
            min=1e3,
            max=1e28,
            nullable=True,
            description="pre-training compute",
        ),
        Column(
            "training_tokens",
            "float",
            "tokens",
            min=1e3,
            max=1e15,
            nullable=True,
            description="training dataset size in datapoints (tokens for language models)",
        ),
        Column(
            "epochs", "float", "", min=0, max=1e4, nullable=True, description="passes over data"
        ),
        Column(
            "finetune_compute_flop",
            "float",
            "FLOP",
            min=0,
            max=1e28,
            nullable=True,
            description="fine-tuning compute",
        ),
        Column("hardware", "str", nullable=True, description="training hardware (Epoch chip name)"),
        Column(
            "hardware_quantity",
            "float",
            "chips",
            min=1,
            max=1e7,
            nullable=True,
            description="number of chips",
        ),
        Column(
            "training_time_hours",
            "float",
            "h",
            min=0,
            max=1e6,
            nullable=True,
            description="wall-clock training time",
        ),
        Column(
            "chip_hours",
            "float",
            "chip-hours",
            min=0,
            max=1e10,
            nullable=True,
            description="training chip-hours",
        ),
        Column(
            "mfu", "float", "", min=0, max=1, nullable=True, description="model FLOP utilisation"
        ),
        Column(
            "compute_cost_2023_usd",
            "float",
            "2023 USD",
            min=0,
            max=1e11,
            nullable=True,
            description="Epoch's training compute cost",
        ),
        Column("accessibility", "str", nullable=True, description="Epoch 'Model accessibility'"),
        Column(
            "open_weights",
            "bool",
            nullable=True,
            description="accessibility starts with 'Open weights'; empty if accessibility unknown",
        ),
        Column("confidence", "str", nullable=True, description="Epoch confidence in the estimates"),
        Column("notable", "bool", description="meets one of Epoch's notability criteria"),
        Column("country", "str", nullable=True, description="country of organisation"),
        Column("base_model", "str", nullable=True, description="model it was fine-tuned from"),
    ),
    unique=("model",),
)

# "Activated Parameters per Token: 45.9B" first, then "17B active" / "37 billion activated".
_ACTIVE = (
    re.compile(
        r"activ(?:e|ated) param\w*(?: per token)?\s*[:=]\s*(\d+(?:\.\d+)?)\s*(?:B|billion)",
        re.IGNORECASE,
    ),
    re.compile(
        r"(\d+(?:\.\d+)?)\s*(?:B|billion)\s+(?:parameters?\s+|params?\s+)?activ(?:e|ated)",
        re.IGNORECASE,
    ),
)


def active_parameters(notes: object, total: float) -> float:
    """Active parameters from Epoch's ``Parameters notes`` ("17B active", "37 billion activated").

    The first such phrase giving fewer parameters than the total wins (a phrase repeating the
    total is skipped); no phrase, or a missing note, gives NaN.
    """
    if not isinstance(notes, str):
        return np.nan
    for pattern in _ACTIVE:
        for m in pattern.finditer(notes):
            value = float(m.group(1)) * 1e9
            if not np.isfinite(total) or value < total:
                return value
    return np.nan


def _usd(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s.astype("string").str.replace(r"[$,\s]", "", regex=True), errors="raise")


def _fraction(s: pd.Series) -> pd.Series:
    # A few MFU entries are percentages (e.g. 72 for 72%); utilisation cannot exceed 1.
    return s.where(s <= 1.0, s / 100.0)


def _text(s: pd.Series) -> pd.Series:
    out = s.astype("string").str.strip()
    return out.where(out != "", pd.NA)


def curate_models(raw: pd.DataFrame) -> pd.DataFrame:
    """``All ML Systems - full view`` → language models, sorted by date then name."""
    lang = raw[raw["Domain"].fillna("").str.contains("Language")].copy()
    params = pd.to_numeric(lang["Parameters"], errors="raise")
    acc = _text(lang["Model accessibility"])
    out = pd.DataFrame(
        {
            "model": _text(lang["Model"]),
            "organization": _text(lang["Organization"]),
            "date": pd.to_datetime(lang["Publication date"], format="ISO8601"),
            "domain": _text(lang["Domain"]),
            "parameters": params,
            "active_parameters": [
                active_parameters(n, t)
                for n, t in zip(lang["Parameters notes"], params, strict=True)
            ],
            "training_compute_flop": pd.to_numeric(lang["Training compute (FLOP)"]),
            # FunSearch records 0 datapoints (it reuses a pre-trained model): unknown, not zero
            "training_tokens": pd.to_numeric(lang["Training dataset size (datapoints)"]).replace(
                0.0, np.nan
            ),
            "epochs": pd.to_numeric(lang["Epochs"]),
            # integers beyond int64 in the source: parse each as a float (non-numbers raise)
            "finetune_compute_flop": [
                np.nan if pd.isna(v) else float(v) for v in lang["Finetune compute (FLOP)"]
            ],
            "hardware": _text(lang["Training hardware"]),
            "hardware_quantity": pd.to_numeric(lang["Hardware quantity"]),
            "training_time_hours": pd.to_numeric(lang["Training time (hours)"]),
            "chip_hours": pd.to_numeric(lang["Training chip-hours"]),
            "mfu": _fraction(pd.to_numeric(lang["Hardware utilization (MFU)"])),
            "compute_cost_2023_usd": _usd(lang["Training compute cost (2023 USD)"]),
            "accessibility": acc,
            "open_weights": pd.array(
                [pd.NA if pd.isna(a) else a.startswith("Open weights") for a in acc],
                dtype="boolean",
            ),
            "confidence": _text(lang["Confidence"]),
            "notable": lang["Notability criteria"].notna().to_numpy(),
            "country": _text(lang["Country (of organization)"]),
            "base_model": _text(lang["Base model"]),
        }
    )
    out = out.sort_values(["date", "model"], kind="stable").reset_index(drop=True)
    return out


COSTS_SCHEMA = Schema(
    name="training_costs",
    columns=(
        Column("model", "str", description="Epoch model name"),
        Column("organization", "str", nullable=True, description="developer (from the database)"),
        Column("date", "date", description="publication date (from the database)"),
        Column("language", "bool", description="the model is in the `models` table"),
        Column(
            "training_compute_flop",
            "float",
            "FLOP",
            min=1e3,
            max=1e28,
            nullable=True,
            description="training compute (from the database)",
        ),
        Column(
            "cloud_usd",
            "float",
            "USD",
            min=100,
            max=1e11,
            nullable=True,
            description="cost at cloud rental prices (Cottier et al. method 1)",
        ),
        Column(
            "hardware_acquisition_usd",
            "float",
            "USD",
            min=100,
            max=1e11,
            nullable=True,
            description="up-front cost of the training hardware (method 2)",
        ),
        Column(
            "capex_energy_usd",
            "float",
            "USD",
            min=100,
            max=1e11,
            nullable=True,
            description="amortised hardware capex plus energy over training (method 3)",
        ),
        Column(
            "headline_usd",
            "float",
            "USD",
            min=100,
            max=1e11,
            nullable=True,
            description="Epoch's updated single estimate (method not stated in the file)",
        ),
        Column(
            "database_cost_2023_usd",
            "float",
            "2023 USD",
            min=0,
            max=1e11,
            nullable=True,
            description="the database's 'Training compute cost (2023 USD)'",
        ),
    ),
    unique=("model",),
)


def curate_training_costs(
    costs: pd.DataFrame, updated: pd.DataFrame, systems: pd.DataFrame
) -> pd.DataFrame:
    """Join ``model_costs.csv`` and ``model_costs_updated.csv`` on exact model name to the database.

    Every cost row must match a database row exactly (it does in the snapshot); a miss is an error.
    """
    merged = costs.merge(updated, on="Model", how="outer", validate="one_to_one")
    db = systems.drop_duplicates("Model").set_index("Model")
    missing = sorted(set(merged["Model"]) - set(db.index))
    if missing:
        raise DataValidationError(
            f"training_costs: column 'model': {missing[0]!r} is not in the database"
        )
    d = db.loc[merged["Model"]]
    lang = d["Domain"].fillna("").str.contains("Language").to_numpy()
    out = pd.DataFrame(
        {
            "model": merged["Model"].to_numpy(),
            "organization": _text(d["Organization"]).to_numpy(),
            "date": pd.to_datetime(d["Publication date"], format="ISO8601").to_numpy(),
            "language": lang,
            "training_compute_flop": pd.to_numeric(d["Training compute (FLOP)"]).to_numpy(),
            "cloud_usd": merged["Cloud_Cost"].to_numpy(),
            "hardware_acquisition_usd": merged["Hardware_Acquisition_Cost"].to_numpy(),
            "capex_energy_usd": merged["Hardware_Capex_Energy_Cost"].to_numpy(),
            "headline_usd": merged["Cost"].to_numpy(),
            "database_cost_2023_usd": _usd(d["Training compute cost (2023 USD)"]).to_numpy(),
        }
    )
    return out.sort_values(["date", "model"], kind="stable").reset_index(drop=True)
