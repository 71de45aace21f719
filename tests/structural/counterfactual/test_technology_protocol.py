"""The counterfactual engine's plug-in point: a ``Technology`` protocol that every technology
declares in full, so the engine needs no ``hasattr`` checks and no table keyed by a technology's
name, and a new technology is one class."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import structural.counterfactual as cf
from structural.counterfactual.engine import Hypothesis, HypothesisError, solve_grid
from structural.counterfactual.firm_backend import FirmTechnology
from structural.counterfactual.model import (
    TRADEOFF_DEFAULTS,
    ConstrainedTechnology,
    EngineSolved,
    PipelineTechnology,
    Target,
    Technology,
    TradeoffTechnology,
)

ROOT = Path(cf.__file__).parent


@pytest.mark.parametrize("tech, engine_solved", [
    (PipelineTechnology(Target("loss", 2.0)), True),
    (TradeoffTechnology(Target("performance", 60.0)), True),
    (FirmTechnology(Target("model_loss", 2.0)), False),
])
def test_every_technology_satisfies_the_protocol(tech, engine_solved):
    assert isinstance(tech, Technology)
    assert isinstance(tech, ConstrainedTechnology) is engine_solved
    assert (tech.own_solver(Hypothesis("h", tuple(tech.levers[:1]))) is None) is engine_solved


def test_the_engine_looks_nothing_up_by_hasattr_or_by_technology_name():
    found = []
    for path in sorted(ROOT.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                    node.func.id == "hasattr" or (node.func.id == "getattr" and len(node.args) == 3
                                                  and "tech" in ast.unparse(node.args[0]))):
                found.append(f"{path.name}:{node.lineno} {node.func.id}")
            if isinstance(node, ast.Dict) and {"pipeline", "tradeoff"} <= {
                    k.value for k in node.keys if isinstance(k, ast.Constant)}:
                found.append(f"{path.name}:{node.lineno} table keyed by technology name")
    assert found == []


@dataclasses.dataclass(frozen=True)
class Doubled(EngineSolved):
    """A new technology in one class: performance 2·log T + log I, and T binds first."""

    target: Target
    name: str = "doubled"
    levers: tuple[str, ...] = ("T", "I")
    bounds: dict = dataclasses.field(default_factory=lambda: {"T": (1.0, 1e40),
                                                              "I": (1e-10, 1e40)})
    lever_defaults: dict = dataclasses.field(default_factory=dict)
    bind_priority: tuple[str, ...] = ("T", "I")
    fixed_stages: tuple[str, ...] = ("pretrain",)
    positive: tuple[str, ...] = ()
    compute_price_fields: tuple[str, ...] = ("train_chip_hour", "serve_chip_hour")
    data_price_fields: tuple[str, ...] = ()

    def quality(self, z, th):
        return 2.0 * jnp.log(z["T"]) + jnp.log(z["I"])

    def margin(self, z, th):
        return self.quality(z, th) - th["target"]

    def closed_form(self, lever):
        return True

    def bind(self, lever, z, th):
        if lever == "T":
            return jnp.exp((th["target"] - jnp.log(z["I"])) / 2.0)
        return jnp.exp(th["target"] - 2.0 * jnp.log(z["T"]))

    def cost_parts(self, z, th, pr, charge_pretraining=True):
        return {"pretrain": pr["train_chip_hour"] * z["T"],
                "output": pr["serve_chip_hour"] * z["I"]}

    def kink(self, z, th, pr):
        return None  # a smooth cost: no ridge for the engine to follow


def test_a_new_technology_plugs_in_as_one_class():
    tech = Doubled(Target("performance", 60.0))
    assert isinstance(tech, ConstrainedTechnology)
    Q = np.geomspace(1e2, 1e10, 5)
    prices = {"train_chip_hour": np.array([1.0]), "serve_chip_hour": np.array([1.0])}
    sol = solve_grid(tech, [Hypothesis("both", ("T", "I"))], {"w": np.array([1.0])}, prices, Q)
    v = sol.values["both"]
    assert np.all(v["status"] == 0)
    # min T + Q·I s.t. 2 log T + log I = target: inference spend Q·I is half the training spend
    np.testing.assert_allclose(Q * v["cost_output"][0, 0] / v["cost_pretrain"][0, 0], 0.5,
                               rtol=1e-6)


def test_a_free_set_with_no_binding_lever_is_an_input_error():
    tech = dataclasses.replace(TradeoffTechnology(Target("performance", 60.0)),
                               bind_priority=("I",))
    with pytest.raises(HypothesisError, match="none of T can bind"):
        solve_grid(tech, [Hypothesis("t", ("T",), fixed={"I": 1e12})],
                   {k: np.array([v]) for k, v in TRADEOFF_DEFAULTS.items()},
                   {"train_chip_hour": np.array([1.0]), "serve_chip_hour": np.array([1.0])},
                   np.array([1e3]))
