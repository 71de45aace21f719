"""Pipelines from TOML, hardware presets, validation errors naming the field, and
``llmecon cost``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import structural
from llmecon.cli import main
from structural.errors import PipelineError, UnknownHardwareError
from structural.hardware import PRESETS, get_hardware
from structural.pipeline import Pipeline
from structural.stages import Context, FineTune, Output, Pretrain, Reasoning

EXAMPLES = Path(structural.__file__).parent / "examples" / "pipelines"
GOOD = """
name = "t"
[hardware]
name = "H100"
[pretrain]
N = 7e9
D = 2e12
[context]
c = 1000
[input]
x = 100
[output]
y = 200
"""


def test_hardware_presets_and_sources():
    h100 = get_hardware("h100")
    assert h100.flops("bf16") == 989.4e12
    assert h100.memory_bandwidth == 3.35e12
    assert get_hardware("A100").flops("bf16") == 312e12
    for hw in PRESETS.values():
        assert hw.source, hw.name
    with pytest.raises(UnknownHardwareError, match=r"hardware\.name"):
        get_hardware("H900")
    with pytest.raises(PipelineError, match=r"hardware\.precision"):
        get_hardware("A100").flops("fp4")


@pytest.mark.parametrize("name", ["frontier", "small_long_context", "reasoning"])
def test_example_pipelines_load_and_cost(name):
    p = Pipeline.from_toml(EXAMPLES / f"{name}.toml")
    table = p.cost_table(1e9)
    assert (table["total_dollars"].dropna() >= 0).all()
    assert p.total_cost(1e9) > 0
    q = p.quality_measures()
    assert 0 < q["coverage"] < 1
    assert p.cost_per_solved(1e9) > 0


def test_reasoning_pipeline_is_dominated_by_reasoning_tokens():
    p = Pipeline.from_toml(EXAMPLES / "reasoning.toml")
    table = p.cost_table(1e9).set_index("stage")
    assert table.loc["reasoning", "share"] > 0.5


def test_stage_validation_names_the_field():
    with pytest.raises(PipelineError, match=r"^output\.y: .*non-negative"):
        Output(y=-1)
    with pytest.raises(PipelineError, match=r"^context\.cached_fraction"):
        Context(c=10, cached_fraction=1.5)
    with pytest.raises(PipelineError, match=r"^reasoning\.k"):
        Reasoning(k=0.5)
    with pytest.raises(PipelineError, match=r"^pretrain\.U"):
        Pretrain(N=1e9, D=1e10, U=2e10)
    with pytest.raises(PipelineError, match=r"^finetune\.N_trainable"):
        FineTune(D_F=1e6, method="adapter")


@pytest.mark.parametrize("patch, field", [
    ("[utilisation]\ndecode = 1.5\n", "utilisation.decode"),
    ("[utilisation]\ntrain = 0\n", "utilisation.train"),
    ("[reasoning]\nr = -5\n", "reasoning.r"),
    ("[finetune]\nD_F = -1\n", "finetune.D_F"),
    ("[serving]\nbatch = 0\n", "serving.batch"),
    ("[pretrain2]\nN = 1\n", "pretrain2"),
])
def test_bad_pipeline_errors_name_the_field(tmp_path, patch, field):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD + patch)
    with pytest.raises(PipelineError) as err:
        Pipeline.from_toml(path)
    assert err.value.field == field
    assert str(err.value).startswith(field)


def test_negative_output_tokens_in_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace("y = 200", "y = -200"))
    with pytest.raises(PipelineError, match=r"^output\.y"):
        Pipeline.from_toml(path)


@pytest.mark.parametrize("text, field", [
    (GOOD.replace('"H100"', '"H900"'), "hardware.name"),
    (GOOD.replace("y = 200", "y = -200"), "output.y"),
    (GOOD + "[utilisation]\nprefill = 2.0\n", "utilisation.prefill"),
])
def test_cost_command_exits_2_with_one_line(tmp_path, capsys, text, field):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["cost", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert field in err


def test_cost_command_formats(capsys):
    path = str(EXAMPLES / "frontier.toml")
    assert main(["cost", path, "--queries", "1e10"]) == 0
    text = capsys.readouterr().out
    assert "pretrain" in text and "per query" in text and "Q = 1e+10" in text
    assert main(["cost", path, "--format", "md"]) == 0
    # tabulate pads the header to the column width; the fallback writer does not
    assert re.search(r"\| stage +\|", capsys.readouterr().out)
    assert main(["cost", path, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["queries"] == 1e11  # the file's [queries] Q
    stages = {row["stage"]: row for row in data["stages"]}
    assert stages["pretrain"]["kind"] == "fixed"
    total = sum(stages[s]["total_dollars"] for s in ("pretrain", "finetune", "data", "context",
                                                     "input", "reasoning", "output"))
    assert total == pytest.approx(stages["total for Q=1e+11"]["total_dollars"], rel=1e-12)


def test_missing_file_is_exit_2(capsys):
    assert main(["cost", "/nonexistent/pipeline.toml"]) == 2
    assert "path" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["frontier", "reasoning"])
def test_compiled_accounts_match_the_model_evaluated_operation_by_operation(name):
    """Pipeline.accounts runs the accounting as one compiled program; the model's functions
    evaluated eagerly give the same numbers (XLA may fuse, so to a few ulp), and the quality
    measures keep :func:`structural.quality.evaluate`'s order."""
    import jax.numpy as jnp

    from structural import costs, quality

    p = Pipeline.from_toml(EXAMPLES / f"{name}.toml")
    z = {k: jnp.asarray(v, jnp.float64) for k, v in p.quantities().items()}
    theta = {k: jnp.asarray(v, jnp.float64) for k, v in p.parameters().items()}
    eager = costs.stage_costs(z, theta)
    for stage, fields in p.stage_costs().items():
        for field, v in fields.items():
            assert float(v) == pytest.approx(float(eager[stage][field]), rel=1e-13, abs=0.0)
    assert list(p.quality_measures()) == list(quality.evaluate(z, theta)) == list(quality.MEASURES)
    Q = 1e9
    assert p.cost_per_solved(Q) == pytest.approx(
        float(costs.cost_per_solved(z, theta, Q, quality.coverage(z, theta))), rel=1e-13)
    assert p.total_cost(Q) == pytest.approx(float(costs.total_cost(z, theta, Q)), rel=1e-13)
    plan, eager_plan = p.serving_plan(), costs.serving(z, theta)
    assert plan["chips"] == float(eager_plan["chips"])
    assert plan["batch"] == pytest.approx(float(eager_plan["batch"]), rel=1e-13)
