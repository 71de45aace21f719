"""The ``benchmark_runs`` table: its question counts agree with the reported standard errors."""

from __future__ import annotations

import numpy as np
import pytest

import data
from data import benchmarks


def test_loads_and_counts():
    df = data.load("benchmark_runs")
    assert len(df) == 515
    assert set(df["task"]) == set(benchmarks.BENCHMARK_QUESTIONS)
    assert df["training_compute_flop"].notna().sum() == 219
    assert "Credit Epoch AI" in data.datasheet("benchmark_runs")


@pytest.mark.parametrize("task", [t for t, (_, e) in benchmarks.BENCHMARK_QUESTIONS.items()
                                  if e == 1])
def test_single_epoch_question_counts_match_stderr(task):
    # for one sample per question, se = sqrt(p(1-p)/n): the implied n, from runs whose rounded
    # se is at least 0.02 (rounding error <= 25%), has a median within 20% of the stated count
    df = data.load("benchmark_runs")
    df = df[(df["task"] == task) & (df["stderr"] >= 0.02) & df["accuracy"].between(0.05, 0.95)]
    assert len(df) >= 3, task
    p = df["accuracy"].to_numpy()
    implied = np.median(p * (1 - p) / df["stderr"].to_numpy() ** 2)
    n = benchmarks.BENCHMARK_QUESTIONS[task][0]
    assert abs(implied / n - 1) < 0.2, (task, implied, n)


def test_bad_scores_string_names_the_column():
    with pytest.raises(ValueError, match="column 'Scores'"):
        benchmarks._scorer("choice 0.85", 0.85)
