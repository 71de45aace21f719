"""Contracts a maintainer can see beyond the import layering (``test_layering.py``): float64 is
switched on in one place, the removed dead code stays removed, and no comment cites a design
document that is not in the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("data", "estimation", "structural", "papers", "llmecon", "benchmarks")


def _sources() -> list[Path]:
    return [f for p in PACKAGES for f in sorted((ROOT / p).rglob("*.py"))]


def test_float64_is_switched_on_in_one_place():
    where = [str(f.relative_to(ROOT)) for f in _sources()
             if "jax_enable_x64" in f.read_text(encoding="utf-8")]
    assert where == ["estimation/__init__.py"]


@pytest.mark.parametrize("module", ["structural.market.demand", "structural.firm",
                                    "papers.llm_costs"])
def test_every_entry_point_computes_in_float64(module):
    """Modules that used to switch float64 on themselves get it through the engine's package."""
    code = (f"import {module}, jax, jax.numpy as jnp; "
            "assert jax.config.jax_enable_x64 and jnp.ones(1).dtype == jnp.float64")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]


#: Names the trust review listed as dead code; they were removed and must not come back unused.
DEAD = ("success_logit", "digamma_series", "load_and_run", "LAW_PARAMS", "EPOCH_RANGE",
        "VARIABLE_STAGES", "FIRM_QUANTITIES", "LOSSES")


def test_removed_dead_code_stays_removed():
    found = [f"{f.relative_to(ROOT)}: {name}" for f in _sources()
             for name in DEAD if re.search(rf"\b{name}\b", f.read_text(encoding="utf-8"))]
    assert found == []
    from papers import kaplan2020

    assert not hasattr(kaplan2020, "SOURCE")


def test_no_comment_cites_a_design_document_outside_the_repository():
    pattern = re.compile(r"design (notes?|doc(ument)?)\b|DESIGN\.md|of the design\b", re.I)
    found = [f"{f.relative_to(ROOT)}:{i}" for f in _sources()
             for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             if pattern.search(line)]
    assert found == []


def test_the_fitted_model_registry_drives_the_command_line_and_llm_costs():
    """``llmecon fit`` offers every registered cost model with the options its module declares,
    and the llm_costs reproduction fits each of them, in the registry's order."""
    from llmecon.cli import build_parser
    from papers import llm_costs
    from structural.fitted import REGISTRY

    fit_models = _fit_subcommands(build_parser())
    assert list(REGISTRY) == [m for m in fit_models if m in REGISTRY]
    for name, model in REGISTRY.items():
        flags = {f for a in fit_models[name]._actions for f in a.option_strings}
        assert {flag for flag, _ in model.arguments} <= flags, name
    assert [what for what, _ in llm_costs.SECTIONS] == [m.section for m in REGISTRY.values()]
    assert [f.__self__ for _, f in llm_costs.SECTIONS] == list(REGISTRY.values())


def _fit_subcommands(parser) -> dict:
    import argparse

    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return next(a for a in sub.choices["fit"]._actions
                if isinstance(a, argparse._SubParsersAction)).choices


#: A fitted model written as one module: the normal mean and scale of a CSV column.
TOY_MODEL = '''
from typing import Any

import numpy as np
import pandas as pd

import estimation
from structural.fitted.distributions import normal_logpdf
from structural.fitted.inputs import FitInputError

COMMAND = {
    "order": 99,
    "summary": "toy: normal mean and scale of a column",
    "section": "toy normal",
    "arguments": [
        ["--data", {"help": "CSV with a column x"}],
        ["--shift", {"type": "float", "default": 0.0, "help": "added to x before the fit"}],
    ],
}
PARAMS = estimation.ParamSpec([estimation.Param("mean", start=0.0),
                               estimation.Param("scale", start=1.0, transform="log")])


def fit(x):
    return estimation.fit(lambda p, d: normal_logpdf(d["x"], p["mean"], p["scale"]),
                          {"x": np.asarray(x, dtype=float)}, PARAMS, kind="mle",
                          start={"mean": float(np.mean(x)), "scale": float(np.std(x))},
                          name="toy normal")


def command(args: Any, cli: Any) -> int:
    if args.data is None:
        raise FitInputError("--data: a CSV with a column x is needed")
    df = cli.read(args.data, "toy data", "--data")
    res = fit(df["x"] + args.shift)
    cli.show_fit(res)
    cli.show_table(pd.DataFrame({"value": [float(res.params["mean"])]}, index=["mean"]))
    return cli.write("toy_normal", [("params", res)], {})


def llm_costs(c: Any, quick: bool) -> None:
    res = fit(np.random.default_rng(0).normal(3.0, 2.0, 200))
    c.add_fit("toy normal", res)
    c.converged.append(res.converged)
'''


def test_a_new_fitted_model_is_one_file(tmp_path, monkeypatch, capsys):
    """A module dropped beside the fitted models (here: on the package's path) is a command
    ``llmecon fit toy_normal`` with its declared options, runs and writes its tables, and is a
    section of llm_costs: no registry entry, command or section is written anywhere else."""
    import pandas as pd

    import structural.fitted as fitted
    from llmecon.cli import build_parser, main
    from papers import llm_costs

    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "toy_normal.py").write_text(TOY_MODEL, encoding="utf-8")
    monkeypatch.setattr(fitted, "__path__", [*fitted.__path__, str(tmp_path / "models")])
    monkeypatch.setattr(fitted, "REGISTRY", fitted.discover())
    assert list(fitted.REGISTRY)[-1] == "toy_normal"
    assert not [f for f in _sources() if "toy_normal" in f.read_text(encoding="utf-8")]

    assert "toy_normal" in _fit_subcommands(build_parser())
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    assert "toy: normal mean and scale of a column" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["fit", "toy_normal", "--help"])
    help_text = capsys.readouterr().out
    assert "--shift SHIFT" in help_text and "--out OUT" in help_text

    x = pd.Series([1.0, 2.5, 2.0, 4.0, 3.5, 0.5, 2.0, 3.0])
    x.to_frame("x").to_csv(tmp_path / "x.csv", index=False)
    out = tmp_path / "out"
    assert main(["fit", "toy_normal", "--data", str(tmp_path / "x.csv"), "--shift", "1",
                 "--out", str(out), "--quiet"]) == 0
    written = pd.read_csv(out / "toy_normal_params.csv").set_index("parameter")
    assert written.loc["mean", "estimate"] == pytest.approx(x.mean() + 1, rel=1e-6)
    assert main(["fit", "toy_normal"]) == 2  # its own input check, one line, exit 2
    assert "--data: a CSV with a column x is needed" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:  # a declared type is enforced by the parser
        main(["fit", "toy_normal", "--data", str(tmp_path / "x.csv"), "--shift", "a"])
    assert bad.value.code == 2

    sections = llm_costs.sections()
    assert [what for what, _ in sections] == [*(w for w, _ in llm_costs.SECTIONS), "toy normal"]
    c = llm_costs._Collected()
    sections[-1][1](c, True)
    assert c.converged == [True]
    assert [r["quantity"] for r in c.rows] == ["mean", "scale"]
    assert "toy normal (N = 200, converged)" in llm_costs.console_table(pd.DataFrame(c.rows))
    sys.modules.pop("structural.fitted.toy_normal", None)


@pytest.mark.parametrize("declaration, message", [
    ("COMMAND = {'order': 1, 'summary': str(1), 'section': 's', 'arguments': []}",
     "must be a dict of literals"),
    ("COMMAND = {'order': 1, 'summary': 's', 'arguments': []}", "with exactly the keys"),
])
def test_a_malformed_declaration_names_its_file(tmp_path, declaration, message):
    from structural.fitted import discover

    (tmp_path / "bad_model.py").write_text(declaration + "\n", encoding="utf-8")
    with pytest.raises(TypeError, match=f"bad_model.py: COMMAND .*{message}"):
        discover([str(tmp_path)])


def test_ci_runs_the_linter_the_import_contracts_and_the_type_checker():
    steps = [line.split("#")[0].strip() for line in
             (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert {"ruff check .", "lint-imports", "mypy"} <= set(steps)


@pytest.mark.skipif(subprocess.run([sys.executable, "-m", "mypy", "--version"],
                                   capture_output=True, check=False).returncode != 0,
                    reason="mypy not installed")
def test_the_engine_type_checks():
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
