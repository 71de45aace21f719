"""Epoch AI's own benchmark runs, one row per (model version, benchmark), with the counts a
likelihood needs: questions, epochs (samples per question), accuracy and its reported standard
error, and the model's training compute and release date.

``benchmark_runs`` joins ``benchmarks_runs.csv`` (Epoch AI Benchmarking Hub) to the Epoch
Capabilities Index file (training compute and release date per model version), to the Epoch models
database (training compute by model name where the index has none) and to Epoch's evaluation-token
log (epochs per run).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from data.errors import DataValidationError
from data.schema import Column, Schema

SNAPSHOT = "2025-12-03"

#: Questions per benchmark version and the number of samples Epoch draws per question (epochs).
#: Question counts: GPQA diamond 198 (Rein et al. 2023), MATH level 5 1,324 (the level-5 problems
#: of the MATH test set, Hendrycks et al. 2021), OTIS Mock AIME 2024-2025 45, FrontierMath
#: 2025-02-28 290 private / 10 public, FrontierMath Tier 4 48 private, SWE-bench Verified 500;
#: the first three agree with ``eval_tokens`` (samples / epochs), the rest with the reported
#: standard errors (p(1-p)/se² ≈ questions for single-epoch runs; tests/data). Epochs: the modal
#: value of ``eval_tokens`` for GPQA (16), MATH (8) and OTIS (16); FrontierMath and SWE-bench
#: are single runs. FrontierMath Tier 4 public has no documented question count and every run
#: scores 0 ± 0, so it is not kept.
BENCHMARK_QUESTIONS: dict[str, tuple[int, int]] = {
    "GPQA diamond": (198, 16),
    "MATH level 5": (1324, 8),
    "OTIS Mock AIME 2024-2025": (45, 16),
    "FrontierMath-2025-02-28-Private": (290, 1),
    "FrontierMath-2025-02-28-Public": (10, 1),
    "FrontierMath-Tier-4-2025-07-01-Private": (48, 1),
    "SWE-Bench verified": (500, 1),
}

#: ``eval_tokens`` spells the task names of the three benchmarks it logs differently.
_EVAL_TASK = {"GPQA Diamond": "GPQA diamond", "MATH level 5": "MATH level 5",
              "OTIS Mock AIME 2024-2025": "OTIS Mock AIME 2024-2025"}

SCHEMA = Schema(
    name="benchmark_runs",
    columns=(
        Column("run_id", "str", description="Epoch run id"),
        Column("task", "str", description="benchmark (and version) as named by Epoch"),
        Column("model_version", "str", description="model version id as run (with effort suffix)"),
        Column("model", "str", nullable=True, description="Epoch model name"),
        Column("release_date", "date", min="2015-01-01", max="2030-12-31", nullable=True,
               description="version release date"),
        Column("started_at", "date", min="2024-01-01", max="2030-12-31", nullable=True,
               description="date the run started (empty for 4 runs in the source)"),
        Column("accuracy", "float", "fraction", min=0, max=1,
               description="best score across scorers: mean success over questions x epochs"),
        Column("stderr", "float", "fraction", min=0, max=0.5,
               description="reported standard error of that scorer (rounded to 0.01)"),
        Column("scorer", "str", description="the scorer whose score is the best"),
        Column("questions", "int", "", min=1, max=100000, description="questions in the benchmark"),
        Column("epochs", "int", "", min=1, max=1000, description="samples per question"),
        Column("epochs_source", "str",
               description="eval_tokens (this run's model and task) or benchmark (modal value)"),
        Column("training_compute_flop", "float", "FLOP", min=1e15, max=1e28, nullable=True,
               description="training compute of the model"),
        Column("compute_source", "str", nullable=True,
               description="capability (by version) or models (by model name); empty if none"),
    ),
    unique=("run_id",),
)

_SCORE = re.compile(r"^\s*(\w+):([0-9.]+)±([0-9.]+)\s*$")


def _scorer(scores: str, best: float) -> tuple[str, float]:
    """The (scorer, stderr) of the score closest to ``best`` in 'name:0.85±0.02,...'."""
    parsed = []
    for part in str(scores).split(","):
        m = _SCORE.match(part)
        if m is None:
            raise DataValidationError(f"benchmark_runs: column 'Scores': cannot parse {part!r} in "
                             f"{scores!r}; expected 'scorer:value±stderr'")
        parsed.append((abs(float(m[2]) - best), m[1], float(m[3])))
    _, name, se = min(parsed)
    return name, se


def curate_benchmark_runs(runs: pd.DataFrame, capability: pd.DataFrame, models: pd.DataFrame,
                          eval_tokens: pd.DataFrame, versions: pd.DataFrame) -> pd.DataFrame:
    """Runs of the benchmarks in :data:`BENCHMARK_QUESTIONS` → the ``benchmark_runs`` table.

    ``capability``, ``models`` and ``eval_tokens`` are the curated tables; ``versions`` is Epoch's
    ``model_versions.csv`` (release dates of versions the capability index does not list).
    Sorted by task, then run id.
    """
    runs = runs[runs["task"].isin(BENCHMARK_QUESTIONS)].copy()
    best = pd.to_numeric(runs["Best score (across scorers)"])
    scorer = [_scorer(s, b) for s, b in zip(runs["Scores"], best, strict=True)]
    version = runs["model"].astype("string").str.strip()
    cap = capability.drop_duplicates("model_version").set_index("model_version")
    ver = versions.assign(id=versions["id"].astype("string").str.strip()).drop_duplicates("id")
    rel_fill = pd.to_datetime(version.map(ver.set_index("id")["Version release date"]),
                              format="ISO8601")
    name = version.map(cap["model"])
    by_name = models.dropna(subset=["training_compute_flop"]).drop_duplicates("model")
    c_cap = version.map(cap["training_compute_flop"])
    c_mod = name.map(by_name.set_index("model")["training_compute_flop"])
    compute = c_cap.fillna(c_mod)
    source = np.where(c_cap.notna(), "capability", np.where(c_mod.notna(), "models", None))
    ev = eval_tokens.assign(task=eval_tokens["task"].map(_EVAL_TASK))
    ev_epochs = ev.set_index(["model_version", "task"])["epochs"]
    logged = pd.Series([ev_epochs.get((v, t)) for v, t in zip(version, runs["task"], strict=True)],
                       index=runs.index, dtype="float64")
    default = runs["task"].map({k: e for k, (_, e) in BENCHMARK_QUESTIONS.items()})
    out = pd.DataFrame({
        "run_id": runs["id"].astype("string").str.strip(),
        "task": runs["task"].astype("string"),
        "model_version": version,
        "model": name.astype("string"),
        "release_date": pd.to_datetime(version.map(cap["release_date"])).fillna(rel_fill),
        "started_at": pd.to_datetime(runs["started_at"], format="%d %B %Y %I:%M%p").dt.normalize(),
        "accuracy": best,
        "stderr": [s for _, s in scorer],
        "scorer": [n for n, _ in scorer],
        "questions": runs["task"].map({k: q for k, (q, _) in BENCHMARK_QUESTIONS.items()}),
        "epochs": logged.fillna(default).astype("int64"),
        "epochs_source": np.where(logged.notna(), "eval_tokens", "benchmark"),
        "training_compute_flop": compute,
        "compute_source": pd.array(source, dtype="string"),
    })
    return out.sort_values(["task", "run_id"]).reset_index(drop=True)
