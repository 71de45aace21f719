"""Bad scenarios and pipelines: ``llmecon counterfactual`` and ``llmecon cost`` refuse each with
exit 2 and one line naming the culprit, and write nothing. (The options of ``counterfactual``
are covered by ``test_counterfactual_cli.py``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmecon.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "structural/examples"
TRADEOFF = (EXAMPLES / "scenarios/equal_spend_tradeoff.toml").read_text()
PIPELINE_SCENARIO = (EXAMPLES / "scenarios/heavy_training_vs_long_context.toml").read_text()
PIPELINE = (EXAMPLES / "pipelines/reasoning.toml").read_text()


def _fails(capsys, argv, *needles: str) -> str:
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


#: (what is wrong, scenario text, words the one-line error must hold)
SCENARIOS = [
    ("bad TOML", "title = \n", ["scenario"]),
    ("empty file", "", ["title"]),
    ("unknown top-level key", TRADEOFF + "\n[nonsense]\nx = 1\n", ["nonsense"]),
    ("unknown technology", _edit(TRADEOFF, 'name = "tradeoff"', 'name = "warp"'),
     ["technology.name", "warp"]),
    ("unknown parameter", _edit(TRADEOFF, "w_I = 1.0 }", "w_I = 1.0, w_X = 2.0 }"), ["w_X"]),
    ("NaN parameter", _edit(TRADEOFF, "w_T = 1.0", "w_T = nan"), ["w_T"]),
    ("infinite parameter", _edit(TRADEOFF, "w_T = 1.0", "w_T = inf"), ["w_T"]),
    ("NaN base lever", _edit(TRADEOFF, "T = 1e24", "T = nan"), ["T"]),
    ("negative queries", _edit(TRADEOFF, "min = 1e3", "min = -1e3"), ["queries"]),
    ("zero query points", _edit(TRADEOFF, "points = 10", "points = 0"), ["points"]),
    ("queries min above max", _edit(TRADEOFF, "min = 1e3", "min = 1e13"), ["queries"]),
    ("negative reference queries", _edit(TRADEOFF, "reference_queries = 1e9",
                                         "reference_queries = -1"), ["reference_queries"]),
    ("NaN target", _edit(TRADEOFF, "value = 60.0", "value = nan"), ["target"]),
    ("wrong target kind", _edit(TRADEOFF, 'kind = "performance"', 'kind = "loss"'),
     ["target.kind"]),
    ("unknown free lever", _edit(TRADEOFF, 'free = ["T", "I"]', 'free = ["T", "Z"]'), ["Z"]),
    ("no free lever", _edit(TRADEOFF, 'free = ["T", "I"]', "free = []"), ["trade_off"]),
    ("unknown hypothesis kind", _edit(TRADEOFF, 'kind = "custom"', 'kind = "magic"'),
     ["magic"]),
    ("no hypotheses", TRADEOFF[:TRADEOFF.index("[hypotheses.trade_off]")], ["hypothes"]),
    ("unknown hardware", _edit(PIPELINE_SCENARIO, 'hardware = "H100"', 'hardware = "Z9000"'),
     ["Z9000"]),
    ("negative price", _edit(PIPELINE_SCENARIO, "train_chip_hour = 2.0",
                             "train_chip_hour = -2.0"), ["train_chip_hour"]),
    ("string where a number goes", _edit(PIPELINE_SCENARIO, "N = 7e9\nD = 2e12\nc = 0",
                                         'N = "big"\nD = 2e12\nc = 0'), ["N"]),
    ("unknown shock", PIPELINE_SCENARIO + "\n[shocks.weather]\nfactor = 2\n", ["weather"]),
]


@pytest.mark.parametrize("text, needles", [(t, n) for _, t, n in SCENARIOS],
                         ids=[w for w, _, _ in SCENARIOS])
def test_bad_scenario_exits_2_and_writes_nothing(tmp_path, capsys, text, needles):
    f = tmp_path / "scenario.toml"
    f.write_text(text)
    out = tmp_path / "out"
    _fails(capsys, ["counterfactual", f, "--out", out, "--draws", "2"], *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.toml"]


def test_scenario_that_is_a_directory_or_not_utf8(tmp_path, capsys):
    _fails(capsys, ["counterfactual", tmp_path, "--out", tmp_path / "out"], "directory")
    f = tmp_path / "bin.toml"
    f.write_bytes(b"title = \"\xff\"\n")
    _fails(capsys, ["counterfactual", f, "--out", tmp_path / "out"], "not UTF-8")
    assert not (tmp_path / "out").exists()


#: (what is wrong, pipeline text, words the one-line error must hold)
PIPELINES = [
    ("bad TOML", "name = \n", []),
    ("unknown hardware", _edit(PIPELINE, 'name = "H100"', 'name = "Z9000"'), ["Z9000"]),
    ("NaN parameters", _edit(PIPELINE, "N = 70e9", "N = nan"), ["N"]),
    ("negative tokens", _edit(PIPELINE, "D = 2e12", "D = -2e12"), ["D"]),
    ("unknown section", PIPELINE + "\n[warp]\nx = 1\n", ["warp"]),
    ("unknown key in a stage", _edit(PIPELINE, "c = 1000", "c = 1000\nzz = 3"), ["zz"]),
    ("utilisation above 1", _edit(PIPELINE, "train = 0.40", "train = 1.5"), ["train"]),
    ("string where a number goes", _edit(PIPELINE, "x = 300", 'x = "many"'), ["x"]),
]


@pytest.mark.parametrize("text, needles", [(t, n) for _, t, n in PIPELINES],
                         ids=[w for w, _, _ in PIPELINES])
def test_bad_pipeline_exits_2(tmp_path, capsys, text, needles):
    f = tmp_path / "pipeline.toml"
    f.write_text(text)
    _fails(capsys, ["cost", f, "--queries", "1e9"], *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipeline.toml"]


@pytest.mark.parametrize("argv, needle", [
    (["cost", "nosuch"], "nosuch"),
    (["cost", "reasoning", "--queries", "-1"], "--queries"),
])
def test_bad_cost_arguments_exit_2(capsys, argv, needle):
    _fails(capsys, argv, needle)
