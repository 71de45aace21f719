"""Dollar amounts in `llmecon cost` share one style per magnitude."""

from __future__ import annotations

import pytest

from llmecon.cli import main
from llmecon.commands.cost import money


@pytest.mark.parametrize("value, text", [
    (2693645.638, "$2,693,645.64"), (8978.82, "$8,978.82"), (0.0, "$0.00"),
    (0.00034747, "$0.0003475"), (1.234e13, "$1.234e+13"), (-12.5, "-$12.50"),
])
def test_money(value, text):
    assert money(value) == text


def test_cost_table_has_no_exponent_dollars_at_ordinary_magnitudes(capsys):
    assert main(["cost", "reasoning", "--queries", "1e9"]) == 0
    out = capsys.readouterr().out
    dollars = [tok for tok in out.split() if tok.startswith("$")]
    assert dollars and not [d for d in dollars if "e+" in d]
    assert "$2,693,645.64" in out


@pytest.mark.parametrize("pipeline", ["frontier", "reasoning", "small_long_context"])
def test_json_output_is_strict_json(capsys, pipeline):
    """Every bundled pipeline's ``--format json`` parses with a parser that rejects NaN and
    Infinity (which Python's json writes by default and strict parsers refuse)."""
    import json

    def refuse(name):
        raise AssertionError(f"non-JSON constant {name} in the output")

    assert main(["cost", pipeline, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert doc["pipeline"] and doc["stages"] and doc["cost_per_solved"] > 0


@pytest.mark.parametrize("pipeline", ["frontier", "reasoning", "small_long_context"])
def test_text_output_fits_100_columns(capsys, pipeline):
    """The heading and notes wrap, and the wide stage table splits into blocks that repeat the
    stage names, so every line fits a 100-column terminal."""
    assert main(["cost", pipeline, "--queries", "1e11"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    assert sum(line.startswith("pretrain ") for line in lines) >= 1
    assert any("$ (Q=1e+11)" in line for line in lines)
