"""The counterfactual engine's compiled solvers keep their traced programs between runs
(``estimation.compilation.traced_jit``): a second process reads them back instead of tracing and
lowering them again (read ahead on a second thread where the run is named:
``prefetch_programs``), with the same numbers to the last bit, and the key tells hypotheses and
technologies apart."""

from __future__ import annotations

import sys

from estimation.compilation import fingerprint
from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, engine

SOLVE = """
import json
import numpy as np
from estimation.compilation import compile_stats, prefetch_programs, prefetched_programs
from estimation.compilation import traced_programs
from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, solve_grid
from structural.counterfactual import breakeven
record = prefetch_programs("test_traced_engine")
tech = TradeoffTechnology(Target("performance", 60.0))
hyps = [Hypothesis("train_more", ("T",), fixed={"I": 1e9}),
        Hypothesis("infer_more", ("T",), fixed={"I": 1e11})]
theta = {"w_T": np.array([1.0, 1.1]), "w_I": np.array([1.0, 0.9])}
prices = {"train_chip_hour": np.array([1.0]), "serve_chip_hour": np.array([1.0])}
Q = np.geomspace(1e3, 1e12, 10)
sol = solve_grid(tech, hyps, theta, prices, Q)
be = breakeven(tech, hyps[0], hyps[1], theta, prices, Q, sol)
record()
print(json.dumps({"totals": [sol.total(h).tolist() for h in sol.hypotheses],
                  "breakeven": be["Q"].tolist(), "traced": traced_programs(),
                  "prefetched": prefetched_programs(),
                  "compiled": compile_stats().compiled}))
"""


def test_second_process_reads_the_solvers_back_with_the_same_numbers(second_process):
    first, second = second_process(SOLVE)
    # a solver per hypothesis (the break-even's re-solves reuse them)
    assert first["traced"]["written"] >= 2 and first["traced"]["loaded"] == 0
    assert second["traced"]["loaded"] == first["traced"]["written"]
    assert second["traced"]["written"] == 0
    # the second run read them ahead, on a second thread, from the first run's record
    assert first["prefetched"] == 0
    assert second["prefetched"] == first["traced"]["written"]
    assert first["traced"].get("unkept", 0) == 0  # every solver could be keyed
    assert second["compiled"] == 0
    assert second["totals"] == first["totals"]
    assert second["breakeven"] == first["breakeven"]


def test_solver_keys_tell_hypotheses_and_technologies_apart():
    tech = TradeoffTechnology(Target("performance", 60.0))
    h1 = Hypothesis("train_more", ("T",), fixed={"I": 1e9})
    h2 = Hypothesis("train_more", ("T",), fixed={"I": 1e11})
    keys = {fingerprint(("point", engine.make_solver(t, h)))
            for t in (tech, TradeoffTechnology(Target("performance", 70.0))) for h in (h1, h2)}
    assert len(keys) == 4
    # the same problem built twice is one key (a warm run finds it)
    assert fingerprint(engine.make_path_solver(tech, h1)) \
        == fingerprint(engine.make_path_solver(tech, Hypothesis("train_more", ("T",),
                                                                 fixed={"I": 1e9})))


LOAD = """
import json
from importlib.resources import files
from estimation.compilation import compile_stats, traced_programs
from structural.counterfactual import load_scenario
from structural.counterfactual.scenario import best_attainable
sc = load_scenario(files("structural.examples.scenarios") / "equal_spend_tradeoff.toml")
print(json.dumps({"best": [best_attainable(sc, h) for h in sc.hypotheses],
                  "traced": traced_programs(), "compiled": compile_stats().compiled}))
"""


def test_loading_a_scenario_reads_its_one_quality_program_back(second_process):
    """The reachability check evaluates every hypothesis' best quality through one kept program
    (not op by op): a second process compiles nothing and gets the same numbers."""
    first, second = second_process(LOAD)
    assert first["traced"]["written"] == 1 and first["compiled"] >= 1
    assert second["traced"] == {"loaded": 1, "written": 0, "unkept": 0}
    assert second["compiled"] == 0
    assert second["best"] == first["best"] and len(first["best"]) == 2


EARLY = """
import json, os
os.environ["_LLMECON_PREFETCH"] = f"{os.getpid()}:test_traced_engine early"
import numpy as np
from estimation.compilation import prefetch_programs, prefetched_programs, traced_programs
left = os.environ.get("_LLMECON_PREFETCH")
from structural.counterfactual import Hypothesis, Target, TradeoffTechnology, solve_grid
record = prefetch_programs("test_traced_engine early")   # the one started at import
tech = TradeoffTechnology(Target("performance", 60.0))
hyps = [Hypothesis("train_more", ("T",), fixed={"I": 1e9})]
sol = solve_grid(tech, hyps, {"w_T": np.array([1.0]), "w_I": np.array([1.0])},
                 {"train_chip_hour": np.array([1.0]), "serve_chip_hour": np.array([1.0])},
                 np.geomspace(1e3, 1e12, 10))
record()
print(json.dumps({"total": sol.total("train_more").tolist(), "left": left,
                  "ahead": record.ahead, "same": prefetch_programs("test_traced_engine early")
                  is not record, "traced": traced_programs(), "prefetched": prefetched_programs()}))
"""


def test_a_run_named_before_the_import_is_read_back_from_the_import(second_process):
    """A command line names its run in ``_LLMECON_PREFETCH`` before importing the library: the
    import starts reading its programs back (and removes the variable, which a process the run
    starts must not inherit); the run's own call under that name gets that record, once (a
    later call starts afresh)."""
    first, second = second_process(EARLY)
    assert first["left"] is None and second["left"] is None
    assert first["same"] and second["same"]
    assert first["ahead"] == 0 and first["prefetched"] == 0
    assert second["ahead"] == first["traced"]["written"] >= 1
    assert second["prefetched"] == first["traced"]["written"]
    assert second["total"] == first["total"]


def test_a_reader_thread_finds_classes_only_in_modules_already_imported():
    """Programs read back beside a main thread that is still importing never import: one whose
    output structure names a class of a module not (fully) imported is left to its call."""
    import io
    import pickle

    import pytest

    from estimation.compilation import _Imported, _NotImportedYet

    assert _Imported(io.BytesIO(pickle.dumps(Hypothesis("h", ("T",))))).load().name == "h"
    blob = pickle.dumps(Hypothesis("h", ("T",))).replace(
        b"structural.counterfactual.engine", b"structural.counterfactual.enginx")
    with pytest.raises(_NotImportedYet):
        _Imported(io.BytesIO(blob)).load()


def test_the_command_line_sets_the_variable_the_library_reads():
    """The command line spells the variable out (it must not import JAX to name it): the same
    name as :data:`estimation.compilation.PREFETCH_ENV`, with its own process id."""
    import argparse
    import os

    from estimation.compilation import PREFETCH_ENV
    from llmecon.commands import counterfactual as command

    args = argparse.Namespace(scenario="s", draws=1, seed=0, price_form="p")
    saved = sys.modules.pop("estimation")
    try:
        name = command.read_back_early(args)
        assert os.environ.pop(PREFETCH_ENV) == f"{os.getpid()}:{name}"
    finally:
        sys.modules["estimation"] = saved


AHEAD = """
import json
from estimation.compilation import prefetch_programs
print(json.dumps({"ahead": prefetch_programs("test_traced_engine early").ahead}))
"""


def test_programs_no_longer_kept_are_not_counted_ahead(second_process, tmp_path):
    """``record.ahead`` (which lets the report run its side solves on threads, as in a warm
    run) counts the programs the last run used that are still kept: with them evicted, a run
    is cold again."""
    import json
    import os
    import subprocess

    second_process(EARLY)
    env = {**os.environ, "LLMECON_CACHE_DIR": str(tmp_path / "cache"), "JAX_PLATFORMS": "cpu"}

    def ahead() -> int:
        out = subprocess.run([sys.executable, "-c", AHEAD], env=env, capture_output=True,
                             text=True, timeout=300, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])["ahead"]

    kept = list((tmp_path / "cache").rglob("*.xla"))
    assert kept and ahead() >= 1
    for path in kept:
        path.unlink()
    assert ahead() == 0
