"""One input-error base for the project: the CLI exits 2 only for it, 1 with one line for a
computation that failed, 130 on Ctrl-C with no partial output, and shows a traceback with a
bug-report line for anything else. Warnings reach the user as one plain line."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pytest

from llmecon import errors
from llmecon.cli import BUG_REPORT, main
from llmecon.commands import _inputs, cost

PACKAGES = ("data", "estimation", "structural", "papers", "llmecon")


def _project_classes() -> list[type]:
    seen = []
    for pkg in PACKAGES:
        root = importlib.import_module(pkg)
        mods = [root] + [importlib.import_module(m.name) for m in
                         pkgutil.walk_packages(root.__path__, f"{pkg}.")
                         if not m.name.endswith("__main__")]
        for mod in mods:
            for _, obj in inspect.getmembers(mod, inspect.isclass):
                if obj.__module__ == mod.__name__:
                    seen.append(obj)
    return seen


def test_every_value_error_of_the_project_is_an_input_error():
    classes = _project_classes()
    value_errors = [c for c in classes if issubclass(c, ValueError)]
    assert len(value_errors) >= 10
    bad = [f"{c.__module__}.{c.__name__}" for c in value_errors
           if not issubclass(c, errors.InputError)]
    assert bad == []
    assert [c.__module__ for c in classes if c.__name__ == "UsageError"] == ["llmecon.errors"]


def _run_with(monkeypatch, capsys, exc: BaseException):
    def boom(args):
        raise exc

    monkeypatch.setattr(cost, "run", boom)
    rc = main(["cost", "x"])
    return rc, capsys.readouterr().err


def test_input_error_is_exit_2_one_line(monkeypatch, capsys):
    rc, err = _run_with(monkeypatch, capsys, errors.InputError("column 'x': bad"))
    assert rc == 2 and err.strip() == "llmecon cost: error: column 'x': bad"


def test_computation_error_is_exit_1_one_line(monkeypatch, capsys):
    rc, err = _run_with(monkeypatch, capsys, errors.ComputationError("did not converge"))
    assert rc == 1 and err.strip() == "llmecon cost: failed: did not converge"


@pytest.mark.parametrize("exc", [
    ValueError("operands could not be broadcast together"),  # a bug inside NumPy
    KeyError("column"),
    ZeroDivisionError("division by zero"),
    OSError("an OS error about no file"),
])
def test_a_bug_shows_its_traceback_and_asks_for_a_report(monkeypatch, capsys, exc):
    rc, err = _run_with(monkeypatch, capsys, exc)
    assert rc == 1
    assert "Traceback" in err and type(exc).__name__ in err
    assert err.strip().splitlines()[-1] == f"llmecon cost: {BUG_REPORT}"


def test_ctrl_c_exits_130_one_line_and_leaves_no_partial_output(monkeypatch, capsys, tmp_path):
    out = tmp_path / "results"

    def interrupted(args):
        with _inputs.staged_output(out, force=False) as tmp:
            (tmp / "first.csv").write_text("1\n")  # written, then the user presses Ctrl-C
            raise KeyboardInterrupt

    monkeypatch.setattr(cost, "run", interrupted)
    rc = main(["cost", "x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 130 and len(err) == 1 and "interrupted" in err[0]
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its staging copy


def test_ctrl_c_keeps_an_existing_folder_as_it_was(tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "old.csv").write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        with _inputs.staged_output(out, force=True) as tmp:
            (tmp / "old.csv").write_text("new\n")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["results"]
    assert (out / "old.csv").read_text() == "old\n"


def test_staged_output_moves_files_into_place_only_at_the_end(tmp_path):
    out = tmp_path / "results"
    with _inputs.staged_output(out, force=False) as tmp:
        (tmp / "a.csv").write_text("a\n")
        assert not out.exists()
    assert (out / "a.csv").read_text() == "a\n"


def test_warnings_print_as_one_plain_line(monkeypatch, capsys):
    def warns(args):
        warnings.warn("the Hessian is ill-conditioned", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(cost, "run", warns)
    assert main(["cost", "x"]) == 0
    err = capsys.readouterr().err
    assert err == "llmecon: warning: the Hessian is ill-conditioned\n"


def _subparsers(parser, path=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subparsers(sub, (*path, name))


def test_every_option_of_every_command_has_help_text():
    from llmecon.cli import build_parser

    missing = []
    for path, sub in [((), build_parser()), *_subparsers(build_parser())]:
        for action in sub._actions:
            if action.option_strings and action.dest != "help" and not action.help:
                missing.append(f"{' '.join(path)} {action.option_strings[0]}")
    assert missing == []


def test_every_help_is_plain_text_within_100_columns():
    """No raw reStructuredText double backticks, and no line wider than a 100-column terminal,
    in the help of any command or subcommand."""
    from llmecon.cli import build_parser

    bad = []
    for path, sub in [((), build_parser()), *_subparsers(build_parser())]:
        text = sub.format_help()
        if "``" in text or max(len(line) for line in text.splitlines()) > 100:
            bad.append(" ".join(path) or "llmecon")
    assert bad == []


@pytest.mark.parametrize("argv", [["data", "--help"], ["fit", "usage", "--help"],
                                  ["reproduce", "--help"], ["cost", "--help"],
                                  ["counterfactual", "--help"]])
def test_help_has_no_raw_double_backticks(capsys, argv):
    with pytest.raises(SystemExit):
        main(argv)
    assert "``" not in capsys.readouterr().out


def _bare_raises(package: str) -> list[str]:
    """``raise ValueError(...)``/``raise KeyError(...)`` statements under ``package``."""
    import ast
    from pathlib import Path

    root = Path(importlib.import_module(package).__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                    and isinstance(node.exc.func, ast.Name)
                    and node.exc.func.id in ("ValueError", "KeyError")):
                found.append(f"{path.relative_to(root.parent)}:{node.lineno}")
    return found


@pytest.mark.parametrize("package", ["structural", "papers"])
def test_the_model_raises_no_bare_value_or_key_error(package):
    # A bare ValueError/KeyError on user input would reach the CLI as a bug (traceback, exit 1)
    assert _bare_raises(package) == []


@pytest.mark.parametrize("call, needle", [
    ("structural.costs:cost_parameters", "nope: unknown cost parameter"),
    ("structural.quality:quality_parameters", "nope: unknown quality parameter"),
    ("structural.firm:default_levers", "nope: unknown lever"),
])
def test_unknown_model_parameter_is_an_input_error_naming_it(call, needle):
    module, name = call.split(":")
    fn = getattr(importlib.import_module(module), name)
    with pytest.raises(errors.InputError, match=needle):
        fn(nope=1.0)


@pytest.mark.parametrize("free, needle", [((), "at least one"), (("zz",), "unknown lever"),
                                          (("N", "N"), "duplicate")])
def test_bad_free_levers_are_input_errors(free, needle):
    from structural import firm

    with pytest.raises(errors.InputError, match=f"free: {needle}"):
        firm.free_mask(free)


def test_unknown_paper_is_an_input_error():
    import papers

    with pytest.raises(errors.InputError, match="unknown paper 'nosuch'"):
        papers.get("nosuch")


@pytest.mark.parametrize("paper", ["nevo2000", "blp1995"])
def test_a_missing_optional_extra_is_one_line_and_exit_2(paper, monkeypatch, capsys):
    # pyblp (the `market` extra) unimportable: the reproduction names the extra, no traceback
    monkeypatch.setitem(__import__("sys").modules, "pyblp", None)
    monkeypatch.setitem(__import__("sys").modules, "pyblp.data", None)
    assert main(["reproduce", paper, "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'llmecon[market]'" in err
    assert BUG_REPORT not in err and "Traceback" not in err
