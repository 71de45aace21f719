"""Gandhi–Houde differentiation instruments against ``pyblp.build_differentiation_instruments``
(run beside, on the Nevo cereal and BLP automobile data shipped with PyBLP) and by hand; the
Gauss–Hermite product rule of ``build_agents`` against ``pyblp.build_integration``, and
random-coefficients shares under that rule against a large Monte Carlo integral."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from structural.errors import MarketDataError
from structural.market import DemandSpec, build_agents, build_products
from structural.market.demand import choice_probabilities, mixed_logit_shares
from structural.market.instruments import differentiation_instruments

pyblp = pytest.importorskip("pyblp")
pyblp.options.verbose = False

DATA = {"nevo": ("NEVO_PRODUCTS_LOCATION", ["sugar", "mushy", "prices"]),
        "blp": ("BLP_PRODUCTS_LOCATION", ["hpwt", "air", "mpd", "space"])}


@pytest.fixture(scope="module", params=list(DATA))
def data(request):
    loc, chars = DATA[request.param]
    return pd.read_csv(getattr(pyblp.data, loc)), chars


@pytest.mark.parametrize("kind", ["local", "quadratic"])
@pytest.mark.parametrize("interact", [False, True])
def test_differentiation_instruments_match_pyblp(data, kind, interact):
    df, chars = data
    ref = pyblp.build_differentiation_instruments(
        pyblp.Formulation("0 + " + " + ".join(chars)), df, version=kind, interact=interact)
    got = differentiation_instruments(df, chars, kind=kind, interact=interact)
    assert got.shape == ref.shape
    assert list(got.index) == list(df.index)
    np.testing.assert_allclose(got.to_numpy(), ref, rtol=0, atol=1e-10)
    # the own-firm block first, then the rival block (PyBLP's column order)
    first = f"{chars[0]}*{chars[0]}" if interact and kind == "local" else chars[0]
    assert got.columns[0] == f"diff_{kind}_own_{first}"
    assert got.columns[got.shape[1] // 2] == f"diff_{kind}_rival_{first}"
    assert np.abs(ref).max() > 1.0  # the comparison is not between two zero matrices


def test_firm_agnostic_is_pyblps_first_half_with_one_firm(data):
    # PyBLP's recipe for firm-agnostic instruments: a constant firm id, keep the first half
    df, chars = data
    one = df.assign(firm_ids=0)
    ref = pyblp.build_differentiation_instruments(
        pyblp.Formulation("0 + " + " + ".join(chars)), one, version="local")
    got = differentiation_instruments(df, chars, kind="local", firm=None)
    assert list(got.columns) == [f"diff_local_all_{c}" for c in chars]
    np.testing.assert_allclose(got.to_numpy(), ref[:, :len(chars)], rtol=0, atol=1e-10)


def test_by_hand_on_two_markets_in_shuffled_rows():
    # market a: x = 0, 1, 3 (firms 1, 1, 2); market b: x = 10, 10.5 (firms 1, 2). Pairwise
    # differences (j ≠ k): ±1, ±3, ±2, ±0.5 → SD = sqrt((1 + 9 + 4 + 0.25) · 2 / 8) = 1.887…
    df = pd.DataFrame({"m": ["a", "b", "a", "a", "b"], "f": [1, 1, 1, 2, 2],
                       "x": [0.0, 10.0, 1.0, 3.0, 10.5]}, index=[5, 6, 7, 8, 9])
    quad = differentiation_instruments(df, ["x"], kind="quadratic", market="m", firm="f")
    np.testing.assert_allclose(quad["diff_quadratic_own_x"], [1, 0, 1, 0, 0])
    np.testing.assert_allclose(quad["diff_quadratic_rival_x"], [9, 0.25, 4, 13, 0.25])
    local = differentiation_instruments(df, ["x"], kind="local", market="m", firm="f")
    np.testing.assert_allclose(local["diff_local_own_x"], [1, 0, 1, 0, 0])
    np.testing.assert_allclose(local["diff_local_rival_x"], [0, 1, 0, 0, 1])
    assert list(local.index) == [5, 6, 7, 8, 9]


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.drop(columns="firm_ids"), "firm_ids"),
    (lambda d: d.drop(columns="sugar"), "sugar"),
    (lambda d: d.assign(sugar=d["sugar"].where(d.index != 3)), "sugar"),
    (lambda d: d.assign(mushy=np.inf), "mushy"),
    (lambda d: d.assign(mushy="soft"), "mushy"),
])
def test_bad_input_names_the_column(mutate, field):
    df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION).head(30)
    with pytest.raises(MarketDataError) as err:
        differentiation_instruments(mutate(df), ["sugar", "mushy"])
    assert err.value.field == field


def test_bad_kind_and_empty_characteristics():
    df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION).head(30)
    with pytest.raises(MarketDataError, match="'local' or 'quadratic'"):
        differentiation_instruments(df, ["sugar"], kind="Local")
    with pytest.raises(MarketDataError, match="at least one"):
        differentiation_instruments(df, [])


# --- integration ----------------------------------------------------------------------------

def _nevo_markets(n: int, random: str):
    df = pd.read_csv(pyblp.data.NEVO_PRODUCTS_LOCATION)
    df = df[df["market_ids"].isin(df["market_ids"].unique()[:n])].reset_index(drop=True)
    return build_products(df, DemandSpec("0 + prices", random=random))


@pytest.mark.parametrize("K2, level", [(1, 5), (2, 3), (3, 4)])
def test_product_rule_matches_pyblp(K2, level):
    random = " + ".join(["1", "prices", "sugar"][:K2])
    p = _nevo_markets(2, random)
    a = build_agents(p, integration=("product", level))
    ref = pyblp.build_integration(pyblp.Integration("product", level), K2)
    assert a.nodes.shape == (2, level ** K2, K2)
    for t in range(2):  # the same rule in every market
        np.testing.assert_allclose(a.nodes[t], ref.nodes, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.weights[t], ref.weights.ravel(), rtol=0, atol=1e-12)
    assert abs(a.weights[0].sum() - 1.0) < 1e-12


def _shares(p, agents, sigma):
    """Random-coefficients logit shares s_jt = Σ_i w_i s_ijt with μ_ijt = x2_jt' Σ ν_i."""
    lay = p.layout
    delta = lay.pad(np.log(p.shares) - 1.0)
    X2 = lay.pad(p.X2)
    mu = jnp.einsum("tjk,kl,til->tji", X2, sigma, agents.nodes)
    s = jax.vmap(mixed_logit_shares)(jnp.asarray(delta), mu, jnp.asarray(agents.weights),
                                     jnp.asarray(lay.mask))
    return np.asarray(s), mu


def test_quadrature_shares_agree_with_large_monte_carlo():
    # Σ = diag(0.8, 2.0, 0.1) on (1, prices, sugar): heterogeneity large enough that the integral
    # is far from the logit. The Monte Carlo mean of s_ij over R draws has standard error
    # sd_i(s_ij)/√R; the product rule must land within 5 of those standard errors of it, and its
    # level-7 and level-9 values agree to 1e-5 (the rule has converged).
    sigma = jnp.diag(jnp.array([0.8, 2.0, 0.1]))
    p = _nevo_markets(3, "1 + prices + sugar")
    quad7, _ = _shares(p, build_agents(p, integration=("product", 7)), sigma)
    quad9, _ = _shares(p, build_agents(p, integration=("product", 9)), sigma)
    R = 100_000
    mc_agents = build_agents(p, integration=("monte_carlo", R), seed=1)
    mc, mu = _shares(p, mc_agents, sigma)
    logit, _ = _shares(p, build_agents(p, integration=("product", 1)), sigma)
    lay = p.layout
    delta = jnp.asarray(lay.pad(np.log(p.shares) - 1.0))
    sij = jax.vmap(choice_probabilities)(delta, mu, jnp.asarray(lay.mask))
    se = np.asarray(sij.std(axis=2)) / np.sqrt(R)
    m = lay.mask
    assert np.abs(quad9 - quad7)[m].max() < 1e-5
    z = np.abs(quad9 - mc)[m] / se[m]
    assert z.max() < 5.0, z.max()
    # and the integral matters: the one-node rule (the plain logit) is far outside that band
    assert (np.abs(logit - mc)[m] / se[m]).max() > 50.0
