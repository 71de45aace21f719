"""The curated Chinchilla runs and the validation of user fit input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import data
from data import DataValidationError, validate_chinchilla_fit_input


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return data.load("chinchilla")


def test_shape_and_columns(runs: pd.DataFrame) -> None:
    assert runs.shape == (245, 5)
    assert list(runs.columns) == ["params", "flops", "tokens", "loss", "outlier"]
    assert runs["outlier"].dtype == bool
    assert runs[["params", "flops", "tokens", "loss"]].notna().all().all()


def test_tokens_are_flops_over_six_params(runs: pd.DataFrame) -> None:
    np.testing.assert_allclose(runs["tokens"], runs["flops"] / (6 * runs["params"]), rtol=1e-15)


def test_five_outliers_are_the_five_highest_losses(runs: pd.DataFrame) -> None:
    assert runs["outlier"].sum() == 5
    top5 = runs["loss"].nlargest(5).index
    assert set(top5) == set(runs.index[runs["outlier"]])
    # no tie at the cut-off: the 5th highest loss is strictly above the 6th
    ordered = np.sort(runs["loss"].to_numpy())[::-1]
    assert ordered[4] > ordered[5]
    assert runs.loc[runs["outlier"], "loss"].min() == pytest.approx(3.446995, abs=1e-6)


def test_source_values(runs: pd.DataFrame) -> None:
    # first source row and the ranges stated in the provenance note
    assert runs.loc[0, "params"] == pytest.approx(6795600349.289497)
    assert runs.loc[0, "loss"] == pytest.approx(5.005581996196243)
    assert runs["loss"].nunique() == 99
    assert 5.6e7 < runs["params"].min() < 5.8e7
    assert 1.6e10 < runs["params"].max() < 1.7e10
    assert 2.07 < runs["loss"].min() < 2.09


def test_load_returns_a_copy() -> None:
    a = data.load("chinchilla")
    a.loc[0, "loss"] = -1.0
    assert data.load("chinchilla").loc[0, "loss"] > 0


def _fit_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"params": [1e8, 2e8, 4e8], "tokens": [2e9, 4e9, 8e9], "loss": [3.1, 2.9, 2.7]}
    )


def test_fit_input_accepts_valid_and_keeps_extra_columns() -> None:
    df = _fit_frame().assign(note=["a", "b", "c"])
    out = validate_chinchilla_fit_input(df, "runs.csv")
    assert list(out.columns)[:3] == ["params", "tokens", "loss"]
    assert out["params"].dtype == np.float64
    assert list(out["note"]) == ["a", "b", "c"]


def test_fit_input_accepts_curated_table(runs: pd.DataFrame) -> None:
    out = validate_chinchilla_fit_input(runs, "chinchilla")
    assert len(out) == 245


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.drop(columns="tokens"), ["runs.csv", "'tokens'", "missing"]),
        (lambda d: d.assign(loss=[3.1, np.nan, 2.7]), ["runs.csv", "'loss'", "row 1", "NaN"]),
        (lambda d: d.assign(params=[1e8, 2e8, -4e8]), ["'params'", "row 2", "-400000000", "> 0"]),
        (lambda d: d.assign(tokens=[2e9, 0.0, 8e9]), ["'tokens'", "row 1", "not positive"]),
        (lambda d: d.assign(loss=[3.1, np.inf, 2.7]), ["'loss'", "row 1", "inf", "not finite"]),
        (
            lambda d: d.assign(params=["1e8", "big", "4e8"]),
            ["'params'", "row 1", "'big'", "number"],
        ),
        (lambda d: d.iloc[:0], ["runs.csv", "empty", "at least 1 row"]),
    ],
)
def test_fit_input_errors_name_column_and_row(mutate, expected: list[str]) -> None:
    with pytest.raises(DataValidationError) as info:
        validate_chinchilla_fit_input(mutate(_fit_frame()), "runs.csv")
    msg = str(info.value)
    assert "\n" not in msg
    for part in expected:
        assert part in msg, (part, msg)
    assert isinstance(info.value, ValueError)


def test_fit_input_from_csv_file(tmp_path) -> None:
    path = tmp_path / "runs.csv"
    path.write_text("params,tokens,loss\n1e8,2e9,3.1\n2e8,,2.9\n")
    with pytest.raises(DataValidationError, match=r"runs\.csv.*'tokens'.*row 1"):
        validate_chinchilla_fit_input(pd.read_csv(path), str(path))
