"""The LLM API market's compiled programs (the parametric draws of ``fit_llm_demand``, the
scenario equilibria, the roofline cost) are kept between runs: a second process reads them back
with no compilation and the same numbers to the last bit; their keys tell fitted models apart; and
the faster paths give the numbers of the old ones."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from structural.market import llm_api

SOLVE = """
import json
from importlib.resources import files
import numpy as np
from estimation.compilation import compile_stats, traced_programs
from structural.market import llm_api, llm_scenarios
sc = llm_scenarios.load(files("structural.examples.scenarios") / "compute_price_shock.toml")
products = llm_api.llm_products()
fit = llm_api.fit_llm_demand(products, "logit", draws=4, diagnostics=False)
th, al = llm_api.parameter_draws(fit.results, 4, 0)
solved = llm_scenarios._solve_draws(fit, sc.change, products, th, al)
print(json.dumps({"p": solved["p"].tolist(), "dcs": solved["dcs"].tolist(),
                  "markups": fit.markups["markup_high"].tolist(), "traced": traced_programs(),
                  "compiled": compile_stats().compiled}))
"""


def test_second_process_reads_the_market_programs_back_with_the_same_numbers(second_process):
    first, second = second_process(SOLVE)
    # the roofline cost, the draws of the fit and the equilibria over draws
    assert first["traced"]["written"] >= 3 and first["traced"]["loaded"] == 0
    assert first["traced"].get("unkept", 0) == 0  # every program could be keyed and exported
    assert second["traced"]["loaded"] == first["traced"]["written"]
    assert second["traced"]["written"] == 0
    assert second["compiled"] == 0
    assert second["p"] == first["p"] and second["dcs"] == first["dcs"]
    assert second["markups"] == first["markups"]


@pytest.fixture(scope="module")
def fits():
    return {m: llm_api.fit_llm_demand(llm_api.llm_products("W", m), "nested", draws=4,
                                      diagnostics=False) for m in (2.0, 5.0)}


def test_kept_program_keys_tell_fitted_models_apart(fits):
    def key(mm, *extra):
        program = llm_api.kept_program("test", lambda t: t, mm, *extra)
        return program._base()

    k2, k5 = key(fits[2.0].mm), key(fits[5.0].mm)
    assert k2 is not None and k5 is not None  # keyable: the program is kept
    assert k2 != k5  # another market size: other shares, δ and estimates
    assert key(fits[2.0].mm, 1) != k2  # what the program closes over besides the model
    # the same fit made again is the same key (a warm run finds its program)
    again = llm_api.fit_llm_demand(llm_api.llm_products("W", 2.0), "nested", draws=4,
                                   diagnostics=False)
    assert key(again.mm) == k2


def test_nested_markups_under_jit_equal_the_eager_and_the_per_product_count(fits):
    """Under jit the owner × nest groups used to be counted from traced arrays, falling back to
    one slot per product (J): the markups are the same to rounding either way."""
    mm = fits[2.0].mm
    prob = mm.results.problem
    th, al = llm_api.parameter_draws(mm.results, 4, 0)

    def markups(theta, alpha):
        return llm_api.supply_terms(mm, theta, alpha, mm.delta(theta))[1]

    eager = np.asarray(markups(th[1], al[1]))
    jitted = np.asarray(jax.jit(markups)(th[1], al[1]))
    np.testing.assert_allclose(jitted, eager, rtol=1e-12, atol=1e-14)
    # the old path: J slots per market
    mu, w, _, rho_j = mm.params(th[1], al[1])
    d = mm.delta(th[1])
    nest = jnp.asarray(prob.nests_pad)
    s = jax.vmap(llm_api._shares_one, in_axes=(0, 0, 0, 0, 0, 0, None, None))(
        d, mu, w, prob.mask, rho_j, nest, prob.n_nests, True)
    u = al[1] / jnp.asarray(mm.levels)
    old = jax.vmap(llm_api._nested_markups_one, in_axes=(0, 0, 0, 0, 0, 0, None, None))(
        s, u, rho_j, nest, jnp.asarray(mm.owners), jnp.asarray(mm.closed) & prob.mask,
        prob.n_nests, prob.mask.shape[1])
    np.testing.assert_allclose(eager, np.asarray(old), rtol=1e-10, atol=1e-12)
    assert llm_api.firm_nest_groups(mm.owners, mm.closed, prob.layout.mask,
                                    prob.nests_pad) < prob.mask.shape[1]


def test_sensitivity_reuses_a_fit_with_the_same_numbers(fits):
    """Every column of the sensitivity table is a point quantity: a fit with other draws gives
    the refit's row exactly."""
    refit = llm_api.sensitivity([5.0], "nested", draws=2)
    reused = llm_api.sensitivity([5.0], "nested", draws=2, fits={5.0: fits[5.0]})
    assert reused.equals(refit)


@pytest.mark.parametrize("reduced_converges", [True, False])
def test_scenario_equilibria_run_again_with_the_fallback_only_where_needed(
        fits, monkeypatch, reduced_converges) -> None:
    """The nested scenario's equilibria run first without the full-Newton fallback
    (``llm_api.equilibrium(fallback=False)``); a draw with a market that program leaves
    unconverged sends every draw through the program with the fallback, whose results are the
    ones returned (programs stubbed: the control flow, not the solver, is under test)."""
    from importlib.resources import files

    from structural.market import llm_scenarios

    sc = llm_scenarios.load(files("structural.examples.scenarios") / "compute_price_shock.toml")
    fit = fits[2.0]
    T, J = fit.results.problem.mask.shape
    made = []

    def stub(tag, fn, mm, *extra):
        fallback = extra[-1]
        made.append(fallback)

        def run(th, al):
            k = th.shape[0]
            ok = np.ones(k, bool)
            ok[1] = fallback or reduced_converges
            v = 1.0 if fallback else 0.0
            return (np.full((k, T, J), v), np.full((k, T, J), v), np.full((k, T), v),
                    np.full((k, T, J), v), ok)
        return run

    monkeypatch.setattr(llm_api, "kept_program", stub)
    th, al = llm_api.parameter_draws(fit.results, 4, 0)
    solved = llm_scenarios._solve_draws(fit, sc.change, fit.products, th, al)
    assert made == ([False] if reduced_converges else [False, True])
    assert solved["ok"].all()
    assert np.all(solved["p"] == (0.0 if reduced_converges else 1.0))
