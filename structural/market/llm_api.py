"""The LLM API market: demand and supply of OpenRouter models, joined to the roofline serving cost.

Products are OpenRouter model slugs, markets are ISO weeks (or days) of the price window, and the
products × markets table comes from :func:`data.openrouter.demand_products` (shares of a stated
potential market of tokens, the traffic-weighted price, characteristics, ownership and nests).
This module adds what the structural side owns and estimates with :mod:`structural.market`:

- **Serving cost** (:func:`serving_cost`): the per-token marginal cost of serving a model of N
  total and N_a active parameters through the project's roofline
  (:func:`structural.costs.stage_costs`: prefill compute-bound at 2 N_a FLOPs per token, decode
  max(compute, weight + KV bytes / bandwidth)), in $/Mtok at the model's input/output mix. One
  function, so a rebuilt cost model plugs in here and nowhere else.
- **Instruments**: the serving-cost shifter log c_roofline(N, N_a) (with a flag where parameters
  are unknown), how dear the model's providers are on their *other* models
  (:func:`provider_premium`, Hausman 1996 style; only where at least two providers list it),
  the log number of providers, and differentiation
  instruments (Gandhi and Houde 2019: sums of squared quality distances to rivals, in the market
  and in the nest, and rival counts).
- **Demand** (:func:`fit_llm_demand`): nested logit (capability tiers, or open / closed /
  unknown weights) or random-coefficients logit,
  δ_jt = β0 + α log p_jt + x_jt β + week effects + ξ_jt, by
  :func:`structural.market.estimate_demand` (GMM). Price enters in **logs**: LLM prices span
  four orders of magnitude ($0.006 to $41 per Mtok here), and with a linear price term a lab's
  products share one absolute markup (logit: η_f = 1/(−α(1 − s_f))), which exceeds the price of
  its cheap models (negative marginal costs for most closed products). With α log p,
  ∂s_j/∂p_k = (∂s_j/∂log p_k)/p_k, the Lerner index rather than the markup is common to a
  firm's products, and the elasticity is comparable with Demirer et al.'s log–log −1.11.
  ``price_form="level"`` (δ = … + α p) is offered as the alternative, to show what the
  functional form decides (:data:`PRICE_FORMS`).
- **Pass-through above one is a property of the log-price form.** With α log p a single-product
  logit firm's first-order condition is p = c / (1 − 1/(−α(1 − s))): the markup is a constant
  share of price, so dp/dc = 1/(1 − L) > 1 (L the Lerner index; ε/(ε − 1) for small shares,
  ε = −α). With α p the markup 1/(−α(1 − s)) falls as the price rises and dp/dc = 1 − s < 1 for
  that firm. A compute-price shock is therefore amplified into closed prices under the default
  form and damped under the level form; ``llmecon counterfactual … --price-form level`` shows
  the difference.
- **Supply**: a lab owns its closed models and sets their prices as a multi-product Bertrand–Nash
  firm, η = −(O ∘ (∂s/∂p')')⁻¹ s (BLP 1995, eq. 3.6); an open-weights model is sold by a
  competitive provider set, so its price *is* its marginal cost — a restriction tested against
  the roofline cost (ratio price / c_roofline with a bootstrap interval over products).

Prices are in $ per million tokens (input and output blended at the model's own mix), shares in
tokens of the potential market.

**Routing.** OpenRouter sends a request for a model to its providers roughly in proportion to
1/price² (its provider-routing documentation). That response lives *inside* a model: it moves the
traffic-weighted price a user pays for the model, not the choice between models. Model-level
demand here uses the traffic-weighted price (what users pay), and the within-model routing
elasticity is estimated separately (``papers/demirer2025.py``, cross-provider η). Where it matters
— a compute-price shock that moves all providers' prices of an open model together — the
weighted price moves one for one with the providers' common cost, so counterfactual prices of
open models are their marginal costs.

Examples
--------
>>> from structural.market.llm_api import MODELS, PRICE_FORMS
>>> MODELS, PRICE_FORMS
(('nested', 'rc', 'logit'), ('log', 'level'))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from structural.errors import MarketDataError
from structural.market.demand import (
    mixed_logit_shares,
    nested_logit_inclusive_value,
    nested_logit_shares,
    nested_share_jacobian,
    share_price_terms,
)
from structural.market.estimate import DemandResults, estimate_demand
from structural.market.instruments import differentiation_instruments
from structural.market.products import DemandSpec, build_agents, build_products

__all__ = ["MODELS", "PRICE_FORMS", "LLMDemandFit", "at_market_size", "demand_table",
           "equilibrium", "first_stage_table", "fit_llm_demand", "flag_negative_costs",
           "identification_problem", "llm_products", "market_model", "provider_premium",
           "serving_cost", "simulate_shares"]

#: Demand models: the nest column or the random-coefficient formula.
MODELS = ("nested", "rc", "logit")
#: How price enters utility: α log p (default) or α p ($/Mtok).
PRICE_FORMS = ("log", "level")
#: Default Gauss–Hermite nodes for the random-coefficients model (one random coefficient, so
#: a product rule is exact for polynomials of degree 2·15 − 1 and free of simulation noise).
RC_NODES = 15
#: A model is a reasoning model when reasoning tokens exceed this share of its output tokens.
REASONING_SHARE = 0.1
#: Default tokens per query for the roofline (prefill of the input, decode of the output).
QUERY_TOKENS = 2000.0
#: The shortest length :func:`serving_cost`'s program is compiled for (longer: powers of two).
SERVING_COST_BUCKET = 1024

_X1 = ("1 + prices + quality_z + log_context + context_missing + reasoning + log_age"
       " + open_weights_known")
_INSTRUMENTS = ("cost_shifter", "cost_known", "provider_premium", "multi_provider",
                "log_providers", "gh_quality", "gh_quality_nest", "rivals_nest", "local_rivals")


def serving_cost(parameters, active_parameters=None, input_share=0.8, hardware="H100",
                 query_tokens: float = QUERY_TOKENS, **overrides) -> np.ndarray:
    r"""Roofline marginal cost of serving, $ per million tokens, at a given input/output mix.

    The variable (per-query) cost of :func:`structural.costs.stage_costs` for a query of
    x = input_share × L input tokens and y = (1 − input_share) × L output tokens, divided by L:

    .. math::

        c = \Big[\frac{F_\text{prefill}(N_a, x)}{\text{peak}\; u_\text{prefill}}
            + \max\Big(\frac{F_\text{decode}}{\text{peak}\; u_\text{decode}},
            \frac{2N/\text{batch} + \text{KV}}{\text{bandwidth}}\Big)(y)\Big]
            \times \frac{\$/\text{chip-hour}}{3600\, L}

    Parameters
    ----------
    parameters, active_parameters : array_like
        Total and active parameters (active defaults to total: a dense model).
    input_share : array_like
        Input tokens / all tokens of the model's traffic.
    hardware : str
        A preset of :mod:`structural.hardware` (its $/chip-hour, peak FLOP/s, bandwidth).
    query_tokens : float
        L, tokens per query (sets the context the decode reads).
    **overrides
        Any key of :func:`structural.costs.cost_parameters` (``batch``, ``u_decode``, …).

    Returns
    -------
    ndarray
        $/Mtok; NaN where ``parameters`` is unknown (NaN).

    Examples
    --------
    A dense 70B model and a mixture-of-experts with 37B of 671B parameters active, on H100s:

    >>> from structural.market.llm_api import serving_cost
    >>> [round(float(c), 3) for c in serving_cost([70e9, 671e9], [70e9, 37e9])]
    [0.312, 17.403]
    """
    from estimation.compilation import traced_jit
    from structural.costs import cost_parameters

    N = np.asarray(parameters, float)
    Na = N if active_parameters is None else np.where(np.isnan(active_parameters), N,
                                                      np.asarray(active_parameters, float))
    share = np.broadcast_to(np.asarray(input_share, float), N.shape)
    known = np.isfinite(N)
    theta = {k: np.asarray(v, float) for k, v in cost_parameters(hardware, **overrides).items()}
    L = float(query_tokens)
    # one kept program instead of the roofline's few dozen eager operations, its length padded
    # to a power of two (at least 1024) so that a products table and an entrant's single model
    # share one program instead of reading back one per length
    n = N.size
    size = max(SERVING_COST_BUCKET, 1 << max(n - 1, 0).bit_length())

    def pad(x, fill):
        return np.concatenate([np.ravel(x), np.full(size - n, fill)])

    per_query = traced_jit(_per_query_cost, ("llm_api.serving_cost", L))(
        pad(np.where(known, N, 1e9), 1e9), pad(np.where(known, Na, 1e9), 1e9), pad(share, 0.5),
        theta, np.asarray(L))
    return np.where(known, np.asarray(per_query)[:n].reshape(N.shape) / L * 1e6, np.nan)


def _per_query_cost(Ns, Na, share, theta, L):
    """The roofline's variable cost of one query of L tokens (``share`` of them input) for
    models of Ns total and Na active parameters: :func:`serving_cost` before the per-token
    scaling."""
    from structural.costs import stage_costs, variable_cost

    theta = dict(theta, active_fraction=Na / Ns)
    zero = jnp.zeros_like(Ns)
    z = {"N": Ns, "D": zero, "U": zero, "D_F": zero, "trainable_fraction": zero, "c": zero,
         "cached_fraction": zero, "x": share * L, "k": 1.0 + zero, "r": zero,
         "y": (1.0 - share) * L}
    return variable_cost(stage_costs(z, theta))


def _gh_distances(q: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Σ_{k≠j in the same group} (q_j − q_k)²: Gandhi and Houde (2019) quadratic instrument."""
    df = pd.DataFrame({"group": groups, "q": q})
    z = differentiation_instruments(df, ["q"], kind="quadratic", market="group", firm=None)
    return z["diff_quadratic_all_q"].to_numpy()


def provider_premium(provider_prices: pd.DataFrame, freq: str = "W") -> pd.Series:
    """Hausman-style price instrument: how dear model j's providers are on *other* models.

    For each period, provider r's premium on model k is log p_rkt − mean_r' log p_r'kt (blended
    at 80 % input tokens), over models with at least two providers. Model j's instrument is the
    mean over its providers r of their premium on every model k ≠ j (leave-one-out):

        z_jt = mean_{r ∈ R_jt} mean_{k ≠ j, r ∈ R_kt} (log p_rkt − mean_{r' ∈ R_kt} log p_r'kt)

    Hausman (1996) uses a product's price in other markets as a common-cost shifter; here the
    common component is the provider's (hardware, utilisation, margin policy), seen on the other
    models it serves, so z_jt moves model j's price without being set in response to j's own
    demand shock ξ_jt. (The median price of j itself across providers would not do: it is the
    endogenous price's own ingredient.) Models with fewer than two providers get 0 and the
    ``multi_provider`` flag.

    Returns
    -------
    Series indexed by (period, model)

    Examples
    --------
    Provider B charges 10 % more than A on model y; model x, sold by both, gets the mean of their
    premia on y (A's −0.048 and B's +0.048, leaving x out), which cancel:

    >>> import pandas as pd
    >>> from structural.market.llm_api import provider_premium
    >>> day = pd.Timestamp("2026-03-02")
    >>> pp = pd.DataFrame({"date": [day] * 4, "model": ["x", "x", "y", "y"],
    ...                    "provider": ["A", "B", "A", "B"],
    ...                    "price_input": [1.0, 1.0, 1.0, 1.1],
    ...                    "price_output": [1.0, 1.0, 1.0, 1.1]})
    >>> z = provider_premium(pp)
    >>> round(float(z.loc[(day, "x")]), 12), round(float(z.loc[(day, "y")]), 12)
    (0.0, 0.0)
    """
    pp = provider_prices[(provider_prices["price_input"] > 0)]
    period = pp["date"] if freq == "D" else pp["date"] - pd.to_timedelta(
        pp["date"].dt.day_of_week, unit="D")
    blend = 0.8 * pp["price_input"] + 0.2 * pp["price_output"].fillna(pp["price_input"])
    d = pd.DataFrame({"period": period, "model": pp["model"], "provider": pp["provider"],
                      "lp": np.log(blend)}).groupby(["period", "model", "provider"],
                                                    as_index=False)["lp"].mean()
    n = d.groupby(["period", "model"])["provider"].transform("size")
    d = d[n >= 2].copy()
    d["dev"] = d["lp"] - d.groupby(["period", "model"])["lp"].transform("mean")
    tot = d.groupby(["period", "provider"])["dev"].agg(["sum", "count"])
    d = d.join(tot, on=["period", "provider"])
    # leave model j out of its providers' premia
    loo = (d["sum"] - d["dev"]) / (d["count"] - 1).where(d["count"] > 1)
    return d.assign(loo=loo.fillna(0.0)).groupby(["period", "model"])["loo"].mean()


#: Nests of the nested logit: capability tiers (quality above / at or below the sample's median
#: ECI) by default, or the open / closed / unknown weights of the model.
NESTS = ("tier", "weights")


def capability_tier(quality, median: float) -> np.ndarray:
    """The nest of a model of ECI ``quality``: "frontier" above the sample's median, else
    "mainstream"."""
    return np.where(np.asarray(quality, float) > median, "frontier", "mainstream")


def llm_products(freq: str = "W", market_size: float = 2.0, hardware: str = "H100", *,
                 market: pd.DataFrame | None = None, models: pd.DataFrame | None = None,
                 provider_prices: pd.DataFrame | None = None,
                 nests: str = "tier") -> pd.DataFrame:
    """The estimation table: :func:`data.openrouter.demand_products` with quality, instruments
    and the roofline serving cost added.

    Products without a quality index are left to the outside good (their tokens are reported by
    :func:`coverage`); the rest get ``quality_z`` (standardised ECI), ``log_context``
    (``context_missing`` where unknown), ``reasoning`` (reasoning tokens > 10 % of output),
    ``log_age`` (log(1 + weeks since release)), week dummies ``wk1…``, ``roofline_cost``
    ($/Mtok on ``hardware``, NaN where parameters are unknown) and the excluded instruments
    ``demand_instruments0…`` (named in ``attrs["instruments"]``).

    Parameters
    ----------
    freq, market_size
        As for :func:`data.openrouter.demand_products`.
    hardware : str
        The chip the roofline cost assumes.
    market, models, provider_prices : DataFrame, optional
        The curated tables (default: the bundled ``api_market``, ``api_models``,
        ``api_provider_prices``).
    nests : {"tier", "weights"}
        ``nesting_ids`` of the nested logit: capability tier (:func:`capability_tier`; the
        default: with open / closed weights as nests the fit puts ρ at 0.93 and leaves the price
        coefficient at zero, not identified apart from ρ) or open / closed / unknown weights.

    Examples
    --------
    >>> from structural.market.llm_api import llm_products
    >>> products = llm_products()
    >>> products[["market_ids", "product_ids", "prices", "shares"]].shape[1], len(products) > 500
    (4, True)
    """
    import data

    if nests not in NESTS:
        raise MarketDataError("nests", f"expected one of {', '.join(NESTS)}, got {nests!r}")
    from data.openrouter import demand_products

    market = data.load("api_market") if market is None else market
    models = data.load("api_models") if models is None else models
    provider_prices = data.load("api_provider_prices") if provider_prices is None \
        else provider_prices
    full = demand_products(market, models, provider_prices, freq=freq, market_size=market_size)
    df = full[full["quality"].notna()].copy().reset_index(drop=True)
    if df.empty:
        raise MarketDataError("quality", "no inside product has a quality index")
    df.attrs["coverage"] = float(df["tokens"].sum() / full["tokens"].sum())
    q = df["quality"].to_numpy()
    df["quality_z"] = (q - q.mean()) / q.std()
    df["weights_nest"] = df["nesting_ids"]
    df.attrs["quality_median"] = float(np.median(q))
    if nests == "tier":
        df["nesting_ids"] = capability_tier(q, df.attrs["quality_median"])
    df.attrs["nests"] = nests
    df["context_missing"] = df["context_length"].isna().astype(float)
    df["log_context"] = np.log(df["context_length"].fillna(df["context_length"].median()))
    df["reasoning"] = (df["reasoning_share"] > REASONING_SHARE).astype(float)
    df["log_age"] = np.log1p(df["age_weeks"].clip(lower=0))
    df["open_weights_known"] = df["open_weights"].notna().astype(float)
    weeks = sorted(df["market_ids"].unique())
    for i, w in enumerate(weeks[1:], 1):
        df[f"wk{i}"] = (df["market_ids"] == w).astype(float)
    input_share = 1.0 - _output_share(df, market, freq)
    df["input_share"] = input_share
    df["roofline_cost"] = serving_cost(df["parameters"].to_numpy(),
                                       df["active_parameters"].to_numpy(), input_share, hardware)
    known = np.isfinite(df["roofline_cost"].to_numpy())
    df["cost_known"] = known.astype(float)
    df["cost_shifter"] = np.where(known, np.log(np.where(known, df["roofline_cost"], 1.0)), 0.0)
    multi = (df["n_providers"] >= 2).to_numpy()
    df["multi_provider"] = multi.astype(float)
    z = provider_premium(provider_prices, freq)
    key = pd.MultiIndex.from_arrays([df["market_ids"], df["product_ids"]])
    df["provider_premium"] = np.where(multi, z.reindex(key).fillna(0.0).to_numpy(), 0.0)
    df["log_providers"] = np.log(df["n_providers"].clip(lower=1))
    mk = df["market_ids"].astype(str).to_numpy()
    nest = (df["market_ids"].astype(str) + "|" + df["nesting_ids"]).to_numpy()
    qz = df["quality_z"].to_numpy()
    df["gh_quality"] = _gh_distances(qz, mk) / 100.0
    df["gh_quality_nest"] = _gh_distances(qz, nest) / 100.0
    df["rivals_nest"] = df.groupby(nest)["product_ids"].transform("size").to_numpy() - 1.0
    # rivals within one standard deviation of quality: the "local" Gandhi–Houde count
    local = np.zeros(len(df))
    for g in pd.unique(mk):
        i = np.flatnonzero(mk == g)
        local[i] = (np.abs(qz[i, None] - qz[None, i]) < 1.0).sum(axis=1) - 1.0
    df["local_rivals"] = local
    df = df.drop(columns=[c for c in df if c.startswith("demand_instruments")])
    for k, name in enumerate(_INSTRUMENTS):
        df[f"demand_instruments{k}"] = df[name].astype(float)
    df["open_weights"] = df["open_weights"].astype(object)
    df.attrs["instruments"] = list(_INSTRUMENTS)
    df.attrs["weeks"] = len(weeks)
    df.attrs["market_size"] = market_size
    df.attrs["freq"] = freq
    df.attrs["hardware"] = hardware
    return df


def at_market_size(products: pd.DataFrame, market_size: float,
                   market: pd.DataFrame | None = None) -> pd.DataFrame:
    """``products`` (from :func:`llm_products`) at another market size M: the shares
    tokens / (M × the period's OpenRouter tokens), computed as
    :func:`data.openrouter.demand_products` does, so the table equals
    ``llm_products(freq, M, …)`` with the same settings exactly; nothing else in it depends on
    M. ``market`` is the token table ``products`` was built from (default: the bundled
    ``api_market``).

    Examples
    --------
    >>> from structural.market.llm_api import at_market_size, llm_products
    >>> five = at_market_size(llm_products(market_size=2.0), 5.0)
    >>> five.equals(llm_products(market_size=5.0)), five.attrs["market_size"]
    (True, 5.0)
    """
    import data
    from data.openrouter import period_tokens

    if not market_size >= 1:
        raise MarketDataError("market_size", f"expected a number >= 1, got {market_size!r}")
    market = data.load("api_market") if market is None else market
    freq = "D" if products.attrs.get("freq") == "D" else "W"
    out = products.copy()
    out["shares"] = out["tokens"] / out["market_ids"].map(period_tokens(market, freq)
                                                          * market_size)
    out.attrs["market_size"] = market_size
    return out


def _output_share(df: pd.DataFrame, market: pd.DataFrame, freq: str) -> np.ndarray:
    """Output / all tokens of each product over its period (the roofline's token mix)."""
    m = market[market["price_input"].notna()]
    period = m["date"] if freq == "D" else m["date"] - pd.to_timedelta(m["date"].dt.day_of_week,
                                                                      unit="D")
    g = m.assign(period=period).groupby(["period", "model"])[["tokens_input", "tokens_output"]]
    tot = g.sum()
    share = tot["tokens_output"] / (tot["tokens_input"] + tot["tokens_output"])
    key = pd.MultiIndex.from_arrays([df["market_ids"], df["product_ids"]])
    return share.reindex(key).fillna(0.2).to_numpy()


def spec_for(model: str, weeks: int) -> DemandSpec:
    """The demand specification of ``model`` (see :data:`MODELS`)."""
    if model not in MODELS:
        raise MarketDataError("model", f"expected one of {', '.join(MODELS)}, got {model!r}")
    linear = _X1 + "".join(f" + wk{i}" for i in range(1, weeks))
    if model == "nested":
        return DemandSpec(linear=linear, nesting="nesting_ids")
    if model == "rc":
        # no random coefficient on price: its σ is not identified in these data (estimate
        # 0.007, s.e. 5.4 with one on price and quality), and draws of it from that covariance
        # give some agents upward-sloping demand, where no Bertrand–Nash equilibrium exists
        return DemandSpec(linear=linear, random="0 + quality_z")
    return DemandSpec(linear=linear)


@dataclass
class MarketModel:
    """One fitted demand model laid out for per-market equilibrium computations (padded, JAX).

    Built by :func:`market_model`. Demand was estimated on log prices (the ``prices`` column of
    the demand problem is log $/Mtok) or, with ``price_form="level"``, on $/Mtok; ``levels``
    holds the prices in $/Mtok that supply works in, and ``pbar`` each market's share-weighted
    mean price, which converts log-price utility into dollars (see :func:`_cs_one`).
    """

    results: DemandResults
    kind: str
    closed: np.ndarray  # (T, J) products priced by a Bertrand–Nash owner
    owners: np.ndarray  # (T, J) owner codes (−1 padding)
    levels: np.ndarray  # (T, J) prices in $/Mtok (1 on padding)
    pbar: np.ndarray  # (T,) share-weighted mean price, $/Mtok
    price_form: str = "log"  # how price enters utility (PRICE_FORMS)

    @property
    def log_price(self) -> bool:
        return self.price_form == "log"

    def params(self, theta, alpha):
        """Per-market terms (μ, w, α_i − α, ρ_j) for parameters (θ, α)."""
        prob = self.results.problem
        mu, w = prob.agent_terms(theta)
        a_rc = prob.alpha_i(theta, 0.0) if prob.K2 else jnp.zeros_like(w)
        if prob.nests is not None:
            rho = prob.unpack(theta)[2]
            nests = jnp.asarray(prob.nests_pad)
            rho_j = rho[nests] if rho.shape[0] > 1 else jnp.full(nests.shape, rho[0])
        else:
            rho_j = jnp.zeros(prob.mask.shape)
        return mu, w, a_rc, rho_j

    def delta(self, theta):
        """δ(θ) at the observed shares (T, J)."""
        prob = self.results.problem
        d0 = jnp.asarray(prob.layout.pad(self.results.delta))
        return prob.delta(theta, d0)[0]


def market_model(results: DemandResults, products: pd.DataFrame,
                 price_form: str = "log") -> MarketModel:
    """Wrap fitted demand with the LLM market's ownership: closed models priced by their lab,
    open-weights models at marginal cost (a competitive provider set).

    Examples
    --------
    >>> from structural.market import build_products, estimate_demand, llm_api
    >>> products = llm_api.llm_products()
    >>> spec = llm_api.spec_for("logit", products["market_ids"].nunique())
    >>> res = estimate_demand(build_products(llm_api.demand_table(products), spec), method="2s")
    >>> mm = llm_api.market_model(res, products)
    >>> type(mm).__name__, mm.closed.shape == res.problem.layout.mask.shape
    ('MarketModel', True)
    """
    prob = results.problem
    lay = prob.layout
    closed = ~products["firm_ids"].astype(str).str.startswith("open:").to_numpy()
    owners = pd.factorize(products["firm_ids"])[0]
    price = products["prices"].to_numpy(float)
    s = products["shares"].to_numpy(float)
    pbar = (pd.Series(price * s).groupby(products["market_ids"].to_numpy()).sum()
            / pd.Series(s).groupby(products["market_ids"].to_numpy()).sum())
    return MarketModel(results, prob.kind, lay.pad(closed, fill=False), lay.pad(owners, fill=-1),
                       lay.pad(price, fill=1.0), pbar.reindex(lay.market_ids).to_numpy(),
                       _price_form(price_form))


def kept_program(tag: str, fn, mm: MarketModel, *extra):
    """``jax.jit(fn)`` whose traced program is kept between runs
    (:func:`estimation.compilation.traced_jit`), keyed by ``tag``, everything of the fitted
    model ``mm`` that ``fn`` may read (the padded problem's arrays and settings, the estimates,
    ownership, prices) and ``extra`` (the values ``fn`` closes over besides ``mm``). The
    project's source is part of every key, so the code of ``fn`` need not be.

    A warm run reads the program back instead of tracing it (the draws of
    :func:`fit_llm_demand` and the counterfactual equilibria took 2–5 s of tracing a run).
    """
    from estimation.compilation import traced_jit

    prob = mm.results.problem
    res = mm.results
    # the problem's own key (:meth:`Problem.program_key`: its arrays, settings and data)
    key = (tag, prob.program_key(), np.asarray(res.theta), np.asarray(res.beta),
           np.asarray(res.delta), np.asarray(mm.closed), np.asarray(mm.owners),
           np.asarray(mm.levels), np.asarray(mm.pbar), mm.price_form, extra)
    return traced_jit(fn, key)


def _price_form(price_form: str) -> str:
    if price_form not in PRICE_FORMS:
        raise MarketDataError("price_form", f"expected one of {', '.join(PRICE_FORMS)}, got "
                              f"{price_form!r}")
    return price_form


def demand_table(products: pd.DataFrame, price_form: str = "log") -> pd.DataFrame:
    """The products with ``prices`` replaced by log $/Mtok (``price_form="level"``: kept in
    $/Mtok): what demand is estimated on.

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.market.llm_api import demand_table
    >>> demand_table(pd.DataFrame({"product_ids": ["a"], "prices": [1.0]}))["prices"].tolist()
    [0.0]
    """
    p = products["prices"].to_numpy(float)
    bad = ~(np.isfinite(p) & (p > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MarketDataError("prices", f"expected positive $/Mtok (demand is in log price), got "
                              f"{p[i]!r} for {products['product_ids'].iloc[i]!r}")
    return products.assign(prices=np.log(p) if _price_form(price_form) == "log" else p)


def _shares_one(d, mu, w, mask, rho_j, nest, n_nests, nested):
    if nested:
        return nested_logit_shares(d, rho_j, nest, mask, n_nests)
    return mixed_logit_shares(d, mu, w, mask)


def _jac_one(d, mu, w, mask, rho_j, nest, alpha, a_rc, n_nests, nested, plev, log_price=True):
    """∂s_j/∂p_k (J, J) of one market in $/Mtok: log prices enter δ linearly (and μ through the
    price RC), so ∂s_j/∂p_k = (∂s_j/∂log p_k) / p_k; with ``log_price=False`` prices enter in
    $/Mtok and the derivative is the utility's."""
    if nested:
        J = nested_share_jacobian(d, rho_j, nest, mask, n_nests) * alpha
    else:
        lam, gam = share_price_terms(d, mu, w, mask, alpha + a_rc)
        J = jnp.diag(lam) - gam
    scale = plev[None, :] if log_price else 1.0
    return jnp.where(mask[:, None] & mask[None, :], J / scale, 0.0)


def _markups_one(J, s, owners, closed, mask):
    """η = −(O ∘ J')⁻¹ s on the Bertrand (closed) products; 0 for price-takers and padding."""
    bert = closed & mask
    own = (owners[:, None] == owners[None, :]) & bert[:, None] & bert[None, :]
    A = jnp.where(own, J.T, 0.0) + jnp.diag(~bert)
    return jnp.where(bert, -jnp.linalg.solve(A, jnp.where(bert, s, 0.0)), 0.0)


def _nested_markups_one(s, u, rho_j, nest, own, bert, n_nests: int, size: int):
    r"""The nested logit's Bertrand–Nash markups of one market, η = −(O ∘ ∂s/∂p'')⁻¹ s, in
    one unknown per owner × nest group (``size`` slots) instead of one per product.

    With u_j = ∂δ_j/∂p_j the first-order conditions read η_j = (1−ρ_j)(Q_g − 1/u_j) with
    Q = (diag(κ/S) + F) A and A_g = Σ_{k∈g} s_k η_k = (1−ρ_g)(σ_g Q_g − τ_g), σ_g = Σ_{k∈g}
    s_k, τ_g = Σ_{k∈g} s_k/u_k, F the same-firm indicator between groups (see
    :func:`_nested_newton`): the linear system (I − M diag((1−ρ)σ)) Q = −M (1−ρ)τ,
    M = diag(κ/S) + F. Zero for price-takers and padding.
    """
    gid = _group_index(own, nest, bert, size)

    def seg(x):
        return jax.ops.segment_sum(jnp.where(bert, x, 0.0), gid, num_segments=size + 1)[:size]

    n = seg(jnp.ones_like(s))
    present = n > 0
    om_g = seg(1.0 - rho_j) / jnp.where(present, n, 1.0)
    kap_g = seg(rho_j / (1.0 - rho_j)) / jnp.where(present, n, 1.0)
    nest_g = jax.ops.segment_max(jnp.where(bert, nest, 0), gid, num_segments=size + 1)[:size]
    own_g = jax.ops.segment_max(jnp.where(bert, own, jnp.iinfo(own.dtype).min), gid,
                                num_segments=size + 1)[:size]
    S = jax.ops.segment_sum(s, nest, num_segments=n_nests)[nest_g]
    keep = present[:, None] & present[None, :]
    M = jnp.where(keep, (own_g[:, None] == own_g[None, :]) * 1.0
                  + jnp.diag(kap_g / jnp.where(present, S, 1.0)), 0.0)
    u_safe = jnp.where(bert, u, 1.0)
    A = jnp.where(keep, jnp.eye(size) - M * (om_g * seg(s))[None, :], jnp.eye(size))
    Q = jnp.linalg.solve(A, -M @ (om_g * seg(s / u_safe)))
    q = jnp.concatenate([Q, jnp.zeros(1)])[gid]
    return jnp.where(bert, (1.0 - rho_j) * (q - 1.0 / u_safe), 0.0)


def _cs_one(d, mu, w, mask, rho_j, nest, alpha, a_rc, n_nests, nested):
    """Expected consumer surplus (Small and Rosen 1981) per unit of market, in log-price units:
    nested logit log(1 + Σ_h D_h^(1−ρ_h))/(−α) (McFadden 1978); mixed logit Σ_i w_i log(1 +
    Σ_j exp(δ_j + μ_ij))/(−α_i). Multiplied by the market's mean price p̄ it is in $/Mtok of
    market: with utility α log p the marginal utility of a dollar at price p is α/p, evaluated
    at p̄ (the usual money metric when price enters in logs; exact for small price changes
    around p̄)."""
    if nested:
        return nested_logit_inclusive_value(d, rho_j, nest, mask, n_nests) / -alpha
    u = jnp.where(mask[:, None], d[:, None] + mu, -jnp.inf)
    inc = jnp.logaddexp(0.0, jax.nn.logsumexp(u, axis=0))
    return jnp.sum(w * inc / -(alpha + a_rc))


def _bertrand_map(p, c, s, lam, gam, owned, bert, mk, pobs, log_price=True):
    """The ζ-markup map p ← c + ζ(p) of Morrow and Skerlos (2011) in $ prices with log-price
    utility: ∂s_j/∂p_k = (Λ_j δ_jk − Γ_jk)/p_k, so ζ_j = [Σ_k O_jk Γ_kj (p_k − c_k) − s_j p_j]/Λ_j
    (Λ, Γ of :func:`structural.market.demand.share_price_terms` in log price); with level-price
    utility ∂s_j/∂p_k = Λ_j δ_jk − Γ_jk and s_j p_j becomes s_j."""
    zeta = (jnp.where(owned, gam, 0.0).T @ jnp.where(mk, p - c, 0.0)
            - s * (p if log_price else 1.0)) / jnp.where(bert, lam, -1.0)
    return jnp.where(mk, c + jnp.where(bert, zeta, 0.0), pobs)


def _newton(residual, p, mk, atol, max_iterations):
    """Safeguarded Newton on the first-order conditions F(p) = 0 of one market.

    A full Newton step is taken when it keeps every price positive and finite and lowers
    ‖F‖∞; otherwise the step is halved (up to 30 times). Returns (p, iterations, ‖F‖∞).
    """
    def norm(q):
        return jnp.max(jnp.abs(jnp.where(mk, residual(q), 0.0)))

    def cond(state):
        return (state[2] >= atol) & (state[1] < max_iterations)

    def body(state):
        q, it, f0 = state
        F = residual(q)
        JF = jax.jacfwd(residual)(q)
        JF = jnp.where(mk[:, None] & mk[None, :], JF, jnp.eye(len(q)))
        step = jnp.linalg.solve(JF, jnp.where(mk, F, 0.0))

        def shrink(carry):
            t, _ = carry
            return t / 2, norm(q - t / 2 * step)

        def bad(carry):
            t, f = carry
            qn = q - t * step
            return ((~jnp.all(jnp.isfinite(qn) & ((qn > 0) | ~mk))) | ~jnp.isfinite(f)
                    | (f >= f0)) & (t > 2.0 ** -30)

        t, f = jax.lax.while_loop(bad, shrink, (1.0, norm(q - step)))
        return q - t * step, it + 1, f

    return jax.lax.while_loop(cond, body, (p, 0, norm(p)))


def firm_nest_groups(owners, closed, mask, nest) -> int:
    """The largest number of owner × nest groups of Bertrand (closed) products in one market,
    at least 1: the unknowns of the nested logit's equilibrium (:func:`_nested_newton`). Arrays
    being traced have no values to count: their markets' product count is the bound then.

    Examples
    --------
    >>> import numpy as np
    >>> from structural.market.llm_api import firm_nest_groups
    >>> firm_nest_groups(np.array([[0, 0, 1, 2]]), np.array([[True, True, True, False]]),
    ...                  np.ones((1, 4), bool), np.array([[0, 1, 1, 0]]))
    3
    """
    try:
        o, cl, m, h = (np.asarray(x) for x in (owners, closed, mask, nest))
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return int(np.shape(mask)[-1])
    bert = cl & m
    counts = [len(set(zip(o[t][bert[t]].tolist(), h[t][bert[t]].tolist(), strict=True)))
              for t in range(o.shape[0])]
    return max([1, *counts])


def _group_index(own, nest, bert, size: int):
    """Each Bertrand product's owner × nest group in one market, numbered 0, 1, … in the order
    of each group's first product; ``size`` (a slot left out) on the other products."""
    same = ((own[:, None] == own[None, :]) & (nest[:, None] == nest[None, :])
            & bert[:, None] & bert[None, :])
    rep = jnp.argmax(same, axis=1)  # the group's first product (j itself for the first)
    first = bert & (rep == jnp.arange(own.shape[0]))
    order = jnp.cumsum(first) - 1
    return jnp.where(bert, order[rep], size)


def _nested_newton(delta_at, c, own, bert, mk, pobs, rho_j, nest, n_nests, alpha, log_price,
                   start, size: int, atol, max_iterations):
    r"""Bertrand–Nash prices of one nested-logit market by Newton on one unknown per owner ×
    nest group.

    With ∂s_k/∂δ_j = s_k[1{k=j}/(1−ρ) − 1{h(k)=h(j)} κ s_j/S_h − s_j] (κ = ρ/(1−ρ), S_h the
    nest's share) and u_j = ∂δ_j/∂p_j (α/p_j in log price, α in level price), the first-order
    condition of Bertrand product j of firm f in nest h,
    r_j = s_j + u_j Σ_k O_jk (∂s_k/∂δ_j)(p_k − c_k) = 0, is

    .. math::

        rac{p_j - c_j}{1-
ho_h} + rac{1}{u_j} = Q_{fh}, \qquad
        Q_{fh} = \kappa_h rac{A_{fh}}{S_h} + \sum_{h'} A_{fh'}, \quad
        A_{fh} = \sum_{k \in f \cap h} s_k (p_k - c_k),

    so each price is a closed form in its group's Q (p = (c + (1−ρ)Q)/(1 + (1−ρ)/α) in log
    price, c + (1−ρ)(Q − 1/α) in level price) and the equilibrium is Φ(Q) = Q − Ψ(p(Q)) = 0 in
    as many unknowns as groups (``size`` slots, the empty ones fixed at 0), not products: its
    Jacobian costs groups × products, where the first-order conditions' own costs products³.
    Since r_j = u_j s_j Φ_fh at p(Q), the residual and the stopping rule are the first-order
    conditions' as before. Price-takers sit at p = c. Newton steps are halved (up to 30 times)
    until prices stay positive and finite and ‖r‖∞ falls. Returns (p, iterations, ‖r‖∞).
    """
    gid = _group_index(own, nest, bert, size)

    def seg(x):
        return jax.ops.segment_sum(x, gid, num_segments=size + 1)[:size]

    present = seg(bert.astype(float)) > 0
    om = 1.0 - rho_j
    kap_g = seg(jnp.where(bert, rho_j / om, 0.0)) / jnp.where(present, seg(bert * 1.0), 1.0)
    nest_g = jax.ops.segment_max(jnp.where(bert, nest, 0), gid, num_segments=size + 1)[:size]
    own_g = jax.ops.segment_max(jnp.where(bert, own, jnp.iinfo(own.dtype).min), gid,
                                num_segments=size + 1)[:size]
    same_firm = (own_g[:, None] == own_g[None, :]) & present[:, None] & present[None, :]
    keep = present[:, None] & present[None, :]

    def prices(Q):
        q = jnp.concatenate([Q, jnp.zeros(1)])[gid]
        pb = (c + om * q) / (1.0 + om / alpha) if log_price else c + om * (q - 1.0 / alpha)
        return jnp.where(bert, pb, jnp.where(mk, c, pobs))

    def psi(p):
        s = nested_logit_shares(delta_at(p), rho_j, nest, mk, n_nests)
        A = seg(jnp.where(bert, s * (p - c), 0.0))
        S = jax.ops.segment_sum(s, nest, num_segments=n_nests)[nest_g]
        return s, jnp.where(present, kap_g * A / jnp.where(present, S, 1.0) + same_firm @ A, 0.0)

    def phi(Q):
        return Q - psi(prices(Q))[1]

    def residual(Q):  # ‖r‖∞ of the first-order conditions at p(Q): r_j = u_j s_j Φ
        p = prices(Q)
        s, ps = psi(p)
        u = alpha / jnp.where(bert, p, 1.0) if log_price else alpha
        r = u * s * jnp.concatenate([Q - ps, jnp.zeros(1)])[gid]
        return jnp.max(jnp.abs(jnp.where(bert, r, 0.0)))

    def fine(p):
        return jnp.all(jnp.isfinite(p) & ((p > 0) | ~mk))

    def cond(state):
        return (state[2] >= atol) & (state[1] < max_iterations)

    def body(state):
        Q, it, f0 = state
        F = phi(Q)
        JF = jnp.where(keep, jax.jacfwd(phi)(Q), jnp.eye(size))
        step = jnp.linalg.solve(JF, jnp.where(present, F, 0.0))

        def merit(t):  # the first-order conditions' ‖r‖∞, as the stopping rule
            return residual(Q - t * step)

        def bad(carry):
            t, f = carry
            return ((~fine(prices(Q - t * step))) | ~jnp.isfinite(f) | (f >= f0)) \
                & (t > 2.0 ** -30)

        t, f = jax.lax.while_loop(bad, lambda cr: (cr[0] / 2, merit(cr[0] / 2)),
                                  (1.0, merit(1.0)))
        return Q - t * step, it + 1, f

    Q0 = psi(start)[1]  # Q at the observed prices: the equilibrium when costs are unchanged
    Q, it, res = jax.lax.while_loop(cond, body, (Q0, 0, residual(Q0)))
    p = prices(Q)
    return p, it, jnp.where(fine(p), res, jnp.inf)


def equilibrium(mm: MarketModel, theta, alpha, delta, costs, *, owners=None, mask=None,
                closed=None, prices=None, terms=None, nest=None, atol: float = 1e-10,
                max_iterations: int = 1000, groups: int | None = None,
                fallback: bool = True):
    """Bertrand–Nash prices with competitive open models, every market (vmapped; jittable).

    Closed products solve p = c + η(p) with η the multi-product markups of their owner; open
    products are priced at marginal cost. Log prices shift δ linearly:
    δ(p) = δ + α(log p − log p_obs) and μ(p) = μ + (log p − log p_obs)(α_i − α) (with
    ``mm.price_form == "level"``, p − p_obs in place of the log difference).

    Solvers: the mixed-logit family iterates the ζ-markup map (Morrow and Skerlos 2011), which
    converges where iterating the first-order conditions need not; its last iterate is then
    polished by safeguarded Newton on the first-order conditions. The nested logit (whose
    p ← c + η(p) contracts slowly at ρ near 1) is solved by safeguarded Newton from the observed
    prices on its first-order conditions reduced to one unknown per owner × nest
    (:func:`_nested_newton`): ``groups`` of them at most in a market (default: counted from
    the ownership, :func:`firm_nest_groups`); a market where that stalls (ρ near 1 and a large
    cost change) is solved by Newton on every product's condition from the observed prices
    instead. Convergence is the first-order conditions'
    residual ‖s + (O ∘ ∂s/∂p')'(p − c)‖∞ below ``atol`` × max share, reported per market.
    ``fallback=False`` leaves that second Newton out of the program: a market it would have
    worked on (the residual at the reduced solution, or at the observed prices where the
    reduced Newton stalled, not below the tolerance) is reported as not converged, and every
    other market's prices, shares, surplus and convergence are those of ``fallback=True``.
    The second Newton's Jacobian holds J × J × J tangents per market: without it the
    compiled program is a third smaller and faster to read back, for callers that solve
    again with the fallback where a market is not converged
    (:func:`structural.market.llm_scenarios.run`).

    The padded arrays default to the data's; an entrant is an extra slot given through
    ``prices`` ($/Mtok, the prices δ refers to), ``terms`` (μ, w, α_i − α, ρ_j), ``nest``,
    ``mask``, ``owners`` and ``closed``.

    Returns
    -------
    prices ($/Mtok), shares, consumer surplus (per market, $/Mtok of market), iterations,
    converged

    Examples
    --------
    At the costs the observed prices imply, the equilibrium returns the observed prices; a
    0.1 $/Mtok cost increase passes fully into the prices of open models:

    >>> from structural.market import build_products, estimate_demand, llm_api
    >>> products = llm_api.llm_products()
    >>> spec = llm_api.spec_for("logit", products["market_ids"].nunique())
    >>> res = estimate_demand(build_products(llm_api.demand_table(products), spec), method="2s")
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> mm, prob = llm_api.market_model(res, products), res.problem
    >>> th, al = jnp.asarray(res.theta), res.price_coefficient
    >>> d = mm.delta(th)
    >>> _, eta, _, _ = llm_api.supply_terms(mm, th, al, d)
    >>> c = jnp.asarray(mm.levels) - eta
    >>> p, _, _, _, ok = llm_api.equilibrium(mm, th, al, d, c)
    >>> m = np.asarray(prob.mask)
    >>> bool(ok.all()), bool(np.allclose(np.asarray(p)[m], mm.levels[m]))
    (True, True)
    >>> p1, _, _, _, _ = llm_api.equilibrium(mm, th, al, d, c + 0.1)
    >>> open_ = ~np.asarray(mm.closed)[m]
    >>> round(float(np.median((np.asarray(p1) - np.asarray(p))[m][open_])), 6)
    0.1
    """
    prob = mm.results.problem
    nested = prob.nests is not None
    n_nests = prob.n_nests if nested else 1
    if nest is None:
        nest = jnp.asarray(prob.nests_pad) if nested else jnp.zeros(prob.mask.shape, int)
    mu, w, a_rc, rho_j = mm.params(theta, alpha) if terms is None else terms
    p0 = jnp.asarray(mm.levels) if prices is None else prices
    mask = prob.mask if mask is None else mask
    owners = jnp.asarray(mm.owners if owners is None else owners)
    closed = jnp.asarray(mm.closed if closed is None else closed)
    log_price = mm.log_price
    # CS in $/Mtok of market: log-price utility converts at the mean price, level-price is in $
    pbar = jnp.asarray(mm.pbar) if log_price else jnp.ones_like(jnp.asarray(mm.pbar))
    n_groups = (groups or firm_nest_groups(owners, closed, mask, nest)) if nested else 0

    def g(p):  # the price term of utility
        return jnp.log(p) if log_price else p

    def one(c, own, cl, pobs, d, m, ww, arc, rj, ns, mk, pb):
        def at(p):
            dp = jnp.where(mk, g(jnp.where(mk, p, 1.0)) - g(pobs), 0.0)
            return d + alpha * dp, m + dp[:, None] * arc[None, :]

        bert = cl & mk
        owned = (own[:, None] == own[None, :]) & bert[:, None] & bert[None, :]

        def foc(p):  # s + (O ∘ J')(p − c) on Bertrand products, p − c on price-takers
            dd, mmu = at(p)
            s = _shares_one(dd, mmu, ww, mk, rj, ns, n_nests, nested)
            J = _jac_one(dd, mmu, ww, mk, rj, ns, alpha, arc, n_nests, nested, p, log_price)
            r = s + jnp.where(owned, J.T, 0.0) @ jnp.where(mk, p - c, 0.0)
            return jnp.where(bert, r, jnp.where(mk, p - c, 0.0))

        start = jnp.where(bert, pobs, jnp.where(mk, c, pobs))
        scale = jnp.maximum(jnp.max(jnp.where(mk, _shares_one(*at(start), ww, mk, rj, ns,
                                                                n_nests, nested), 0.0)), 1e-300)
        if nested:  # Newton on one unknown per owner × nest (see _nested_newton) ...
            p, it0, res = _nested_newton(lambda q: at(q)[0], c, own, bert, mk, pobs, rj, ns,
                                         n_nests, alpha, log_price, start, n_groups,
                                         atol * scale, 50)
            # ... and where that stalls, Newton on every product's condition from the observed
            # prices (its loop does not run in a market already solved)
            p = jnp.where(res < atol * scale, p, start)
            if fallback:
                p, it1, res = _newton(foc, p, mk, atol * scale, 50)
            else:  # the residual _newton starts from; its loop would run where it is not small
                it1, res = 0, jnp.max(jnp.abs(jnp.where(mk, foc(p), 0.0)))
        else:  # ζ-markup map, its last iterate polished by Newton on the FOCs
            def zeta(p):
                dd, mmu = at(p)
                s = mixed_logit_shares(dd, mmu, ww, mk)
                lam, gam = share_price_terms(dd, mmu, ww, mk, alpha + arc)
                return _bertrand_map(p, c, s, lam, gam, owned, bert, mk, pobs, log_price)

            def cond(state):
                return (state[2] >= atol) & (state[1] < max_iterations)

            def body(state):
                p, it, _ = state
                pn = zeta(p)
                return pn, it + 1, jnp.max(jnp.abs(jnp.where(mk, pn - p, 0.0)))

            start, it0, _ = jax.lax.while_loop(cond, body, (start, 0, jnp.inf))
            scale = jnp.maximum(jnp.max(jnp.where(mk, _shares_one(*at(start), ww, mk, rj, ns,
                                                                    n_nests, nested), 0.0)),
                                1e-300)
            p, it1, res = _newton(foc, start, mk, atol * scale, 50)
        dd, mmu = at(p)
        s = _shares_one(dd, mmu, ww, mk, rj, ns, n_nests, nested)
        cs = _cs_one(dd, mmu, ww, mk, rj, ns, alpha, arc, n_nests, nested) * pb
        return p, s, cs, it0 + it1, (res < atol * scale) & jnp.all(jnp.isfinite(p))

    return jax.vmap(one)(costs, owners, closed, p0, delta, mu, w, a_rc, rho_j, nest, mask,
                         pbar)


def supply_terms(mm: MarketModel, theta, alpha, delta):
    """(∂s/∂p (T, J, J) in $/Mtok, markups (T, J), shares (T, J), CS (T,) in $/Mtok of market)
    at the observed prices."""
    prob = mm.results.problem
    nested = prob.nests is not None
    n_nests = prob.n_nests if nested else 1
    nest = jnp.asarray(prob.nests_pad) if nested else jnp.zeros(prob.mask.shape, int)
    mu, w, a_rc, rho_j = mm.params(theta, alpha)
    log_price = mm.log_price
    pbar = jnp.asarray(mm.pbar) if log_price else jnp.ones_like(jnp.asarray(mm.pbar))
    # counted from the NumPy arrays: under jit the jnp copies are traced and the count would
    # fall back to J slots per market (a 177 × 177 solve per market and draw instead of ~26)
    size = firm_nest_groups(mm.owners, mm.closed, np.asarray(prob.mask), prob.nests_pad) \
        if nested else 0

    def one(d, m, ww, arc, rj, ns, mk, own, cl, plev, pb):
        s = _shares_one(d, m, ww, mk, rj, ns, n_nests, nested)
        J = _jac_one(d, m, ww, mk, rj, ns, alpha, arc, n_nests, nested, plev, log_price)
        cs = _cs_one(d, m, ww, mk, rj, ns, alpha, arc, n_nests, nested) * pb
        if nested:  # the same markups, solved in one unknown per owner × nest
            u = alpha / plev if log_price else jnp.full_like(plev, alpha)
            return J, _nested_markups_one(s, u, rj, ns, own, cl & mk, n_nests, size), s, cs
        return J, _markups_one(J, s, own, cl, mk), s, cs

    return jax.vmap(one)(delta, mu, w, a_rc, rho_j, nest, prob.mask, jnp.asarray(mm.owners),
                         jnp.asarray(mm.closed), jnp.asarray(mm.levels), pbar)


def parameter_draws(results: DemandResults, draws: int, seed: int = 0):
    """(θ, α) draws ~ N(estimate, covariance) of the nonlinear parameters and the price
    coefficient: arrays (K, P) and (K,). Draw 0 is the point estimate."""
    from structural.market.post import _draw_layout

    prob = results.problem
    idx, alpha_name, V = _draw_layout(results)
    rng = np.random.default_rng(seed)
    z = rng.multivariate_normal(np.zeros(V.shape[0]), V, size=draws, method="eigh")
    z[0] = 0.0
    theta = np.tile(results.theta, (draws, 1))
    theta[:, idx] += z[:, :len(idx)]
    # keep nesting parameters inside [0, 1) for the draws that cross the boundary
    for i, (k, _, _) in enumerate(prob.locations):
        if k == "rho":
            theta[:, i] = np.clip(theta[:, i], 0.0, 0.99)
    alpha = results.price_coefficient + (z[:, len(idx)] if alpha_name else 0.0)
    # device_put, not jnp.asarray: no compiled copy to read back per shape (estimate._put)
    return jax.device_put(theta), jax.device_put(alpha)


@dataclass
class LLMDemandFit:
    """What :func:`fit_llm_demand` returns: the estimates and the tables the CLI writes.

    Examples
    --------
    The fields, filled by :func:`fit_llm_demand` (whose example shows a fit):

    >>> import dataclasses
    >>> from structural.market.llm_api import LLMDemandFit
    >>> [f.name for f in dataclasses.fields(LLMDemandFit)]
    ['model', 'results', 'products', 'mm', 'params', 'elasticities', 'markups', 'open_ratio',
    'first_stage', 'draws', 'notes']
    """

    model: str
    results: DemandResults
    products: pd.DataFrame
    mm: MarketModel
    params: pd.DataFrame
    elasticities: pd.DataFrame | None  # None: fitted with supply=False
    markups: pd.DataFrame | None
    open_ratio: pd.DataFrame | None
    first_stage: str
    draws: int
    notes: list[str] = field(default_factory=list)

    def headline(self) -> dict[str, float]:
        """Price coefficient, median own-price elasticity, median closed Lerner index, the share
        of closed product-weeks whose marginal cost is negative (at the estimate, and with the
        whole interval below 0), open price/roofline ratio (geometric mean, token-weighted)
        with its interval."""
        e = self.elasticities
        own = e[e["product_j"] == e["product_k"]]
        mk = self.markups
        closed = mk[mk["pricing"] == "bertrand"]
        r = self.open_ratio.set_index("statistic")["value"]
        return {"alpha": float(self.results.price_coefficient),
                "alpha_se": float(self.results.bse.get("prices", np.nan)),
                "median_own_elasticity": float(own["elasticity"].median()),
                "median_closed_markup": float(closed["markup"].median()),
                "median_closed_lerner": float((closed["markup"] / closed["prices"]).median()),
                "closed_negative_mc_share": float((closed["marginal_cost"] < 0).mean()),
                "closed_negative_mc_at_95": float((closed["marginal_cost_high"] < 0).mean()),
                "open_ratio": float(r["ratio"]), "open_ratio_low": float(r["ratio_low"]),
                "open_ratio_high": float(r["ratio_high"])}


def fit_llm_demand(products: pd.DataFrame, model: str = "nested", *, draws: int = 200,
                   seed: int = 0, nodes: int = RC_NODES, level: float = 0.95,
                   price_form: str = "log", diagnostics: bool = True,
                   supply: bool = True) -> LLMDemandFit:
    """Estimate LLM API demand and back out supply (markups, marginal costs) with intervals.

    Parameters
    ----------
    products : DataFrame
        From :func:`llm_products`.
    model : {"nested", "rc", "logit"}
        Nested logit on the products' ``nesting_ids`` (one ρ), random-coefficients logit with a
        normal coefficient on quality (``nodes`` Gauss–Hermite nodes), or plain logit; price
        enters as α log p in all three.
    draws : int
        Parametric draws of (θ, α) for the intervals on markups and elasticities (≥ 2).
    level : float
        Interval coverage.
    price_form : {"log", "level"}
        Price in utility as α log p (default) or α p; the fit's ``mm.price_form``.
    diagnostics : bool
        Whether to run the first stage (:func:`first_stage`, the fit's ``first_stage`` text);
        False leaves it empty, for callers that only use the estimates (a counterfactual, the
        market-size sensitivity).
    supply : bool
        Whether to back out supply over the draws (the fit's ``markups``, ``elasticities``
        and ``open_ratio``); False leaves them None and ``draws`` 0, for callers that use only
        the estimates and the market model (a counterfactual solves its own draws).

    Returns
    -------
    LLMDemandFit

    Examples
    --------
    >>> from structural.market import llm_api
    >>> products = llm_api.llm_products()
    >>> fit = llm_api.fit_llm_demand(products, "logit", draws=2)
    >>> h = fit.headline()
    >>> h["alpha"] < 0, h["median_own_elasticity"] < 0
    (True, True)
    >>> sorted(fit.markups.columns)[:5]
    ['firm_ids', 'flag', 'marginal_cost', 'marginal_cost_high', 'marginal_cost_low']
    """
    if draws < 2:
        raise MarketDataError("draws", f"need at least 2 draws for intervals, got {draws}")
    spec = spec_for(model, int(products["market_ids"].nunique()))
    prod = build_products(demand_table(products, price_form), spec)
    agents = None
    kw: dict = {}
    if model == "rc":
        agents = build_agents(prod, integration=("product", nodes), seed=seed)
        kw["sigma"] = np.diag([0.5])
    res = estimate_demand(prod, agents, method="2s", **kw)
    notes = list(res.notes)
    if not res.converged:
        notes.append("the GMM fit did not converge: read the estimates with care")
    a, a_se = res.price_coefficient, float(res.bse.get("prices", np.nan))
    if not a + 1.959963984540054 * a_se < 0:  # the CLI refuses: identification_problem
        notes.append(f"the price coefficient ({a:.3g}, s.e. {a_se:.2g}) is not negative at 95 %: "
                     "demand is not identified as downward sloping, and the Bertrand–Nash "
                     "markups and marginal costs of this model are meaningless")
    mm = market_model(res, products, price_form)
    params = pd.DataFrame({"estimate": res.params, "std_err": res.bse})
    params["ci_low"] = params["estimate"] - 1.959963984540054 * params["std_err"]
    params["ci_high"] = params["estimate"] + 1.959963984540054 * params["std_err"]
    params.index.name = "param"
    first = first_stage(products, model, price_form) if diagnostics else ""
    if not supply:
        return LLMDemandFit(model, res, products, mm, params, None, None, None, first, 0, notes)
    lay = res.problem.layout
    th, al = parameter_draws(res, draws, seed)

    eta_d, own_d, J0 = (np.asarray(x) for x in _draw_program(mm)(th, al))
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    eta_long = eta_d[:, lay.t, lay.j]
    own_long = own_d[:, lay.t, lay.j]
    ok = np.all(np.isfinite(eta_long), axis=1)
    if ok.sum() < 2:
        raise MarketDataError("draws", "fewer than 2 parameter draws give finite markups")
    price = products["prices"].to_numpy()
    closed = lay.unpad(mm.closed)
    eta = eta_long[0]
    mk = pd.DataFrame({
        "market_ids": products["market_ids"].to_numpy(), "product_ids": products["product_ids"],
        "firm_ids": products["firm_ids"], "nest": products["nesting_ids"],
        "weights": products["weights_nest"] if "weights_nest" in products else
        products["nesting_ids"],
        "pricing": np.where(closed, "bertrand", "competitive"), "prices": price,
        "markup": eta, "markup_low": np.quantile(eta_long[ok], lo, axis=0),
        "markup_high": np.quantile(eta_long[ok], hi, axis=0),
        "marginal_cost": price - eta,
        "marginal_cost_low": price - np.quantile(eta_long[ok], hi, axis=0),
        "marginal_cost_high": price - np.quantile(eta_long[ok], lo, axis=0),
        "roofline_cost": products["roofline_cost"].to_numpy(),
        "tokens": products["tokens"].to_numpy()})
    mk["price_over_roofline"] = mk["prices"] / mk["roofline_cost"]
    mk = flag_negative_costs(mk)
    # elasticities: own with intervals, cross (every pair) at the estimate
    el = _elasticity_table(res, J0, mm.levels)
    own_mask = el["product_j"] == el["product_k"]
    own_rows = el.index[own_mask]
    el.loc[own_rows, "elasticity_low"] = np.quantile(own_long[ok], lo, axis=0)
    el.loc[own_rows, "elasticity_high"] = np.quantile(own_long[ok], hi, axis=0)
    return LLMDemandFit(model, res, products, mm, params, el, mk,
                        open_price_ratio(mk, seed=seed, level=level), first, int(ok.sum()), notes)


def _draw_program(mm: MarketModel):
    """One kept program (:func:`kept_program`) for the parametric draws (θ_k, α_k): each draw's
    markups and own-price elasticities (K, T, J), and the price derivatives ∂s/∂p' (T, J, J)
    at draw 0 (the estimate). The draws keep markups and own elasticities only: every draw's
    markets × J × J price derivatives (300 MB at 200 draws) are not materialised."""
    mask = mm.results.problem.mask

    def per_draw(theta, alpha):
        d = mm.delta(theta)
        J, eta, s, _ = supply_terms(mm, theta, alpha, d)
        own = jnp.diagonal(J, axis1=1, axis2=2) * jnp.asarray(mm.levels) / jnp.where(
            mask, s, 1.0)
        return eta, own, J

    def draws(th, al):
        eta, own = jax.vmap(lambda t, a: per_draw(t, a)[:2])(th, al)
        return eta, own, per_draw(th[0], al[0])[2]

    return kept_program("llm_api.fit_llm_demand draws", draws, mm)


def flag_negative_costs(markups: pd.DataFrame) -> pd.DataFrame:
    """Mark the product-weeks whose backed-out marginal cost is negative, never drop them.

    Adds ``flag`` ("negative marginal cost", with "at 95 %" where the whole interval is below
    0; empty otherwise) and ``price_vs_model_median``: the product's price that week over its
    median price across the window, the check that the price series itself is not an outlier
    (a data error shows as a ratio far from 1; a ratio near 1 says the negative cost comes from
    the demand model's markup, not from the price).

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.market.llm_api import flag_negative_costs
    >>> mk = pd.DataFrame({"product_ids": ["a", "a", "b"], "prices": [1.0, 1.0, 2.0],
    ...                    "marginal_cost": [-0.1, 0.5, 1.0],
    ...                    "marginal_cost_high": [0.2, 0.8, 1.5]})
    >>> flag_negative_costs(mk)["flag"].tolist()
    ['negative marginal cost', '', '']
    """
    mk = markups.copy()
    neg = (mk["marginal_cost"] < 0).to_numpy()
    all_neg = (mk["marginal_cost_high"] < 0).to_numpy()
    mk["flag"] = np.where(all_neg, "negative marginal cost at 95 %",
                          np.where(neg, "negative marginal cost", ""))
    mk["price_vs_model_median"] = mk["prices"] / mk.groupby("product_ids")["prices"].transform(
        "median")
    return mk


def _elasticity_table(res: DemandResults, J: np.ndarray, levels: np.ndarray) -> pd.DataFrame:
    """ε_jk = ∂s_j/∂p_k · p_k/s_j for every pair in every market (long); J and the padded
    prices ``levels`` in $/Mtok."""
    from structural.market.post import long_matrix

    prob = res.problem
    s = np.asarray(prob.shares_pad)
    p = np.asarray(levels)
    m = np.asarray(prob.mask)
    e = J * p[:, None, :] / np.where(m, s, 1.0)[:, :, None]
    e = np.where(m[:, :, None] & m[:, None, :], e, 0.0)
    return long_matrix(res, e, "elasticity")


def open_price_ratio(markups: pd.DataFrame, seed: int = 0, level: float = 0.95,
                     replicates: int = 2000) -> pd.DataFrame:
    """Open-weights price / roofline cost: the token-weighted geometric mean over product-weeks
    with a bootstrap interval that resamples models (all their weeks together), and the median.

    Under competition (price = marginal cost) a ratio near 1 says the roofline on the stated
    hardware accounts for the price; above 1, providers' costs exceed the roofline (lower
    utilisation, smaller batches, more chips) or they earn a margin.
    """
    o = markups[(markups["pricing"] == "competitive") & markups["roofline_cost"].notna()]
    if o.empty:
        return pd.DataFrame({"statistic": ["ratio", "ratio_low", "ratio_high", "median",
                                           "models"], "value": [np.nan] * 4 + [0]})
    lr = np.log(o["prices"].to_numpy() / o["roofline_cost"].to_numpy())
    w = o["tokens"].to_numpy()
    codes, models = pd.factorize(o["product_ids"])
    num = np.bincount(codes, weights=w * lr)
    den = np.bincount(codes, weights=w)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(models), size=(replicates, len(models)))
    boot = num[pick].sum(axis=1) / den[pick].sum(axis=1)
    lo, hi = np.quantile(boot, [(1 - level) / 2, 1 - (1 - level) / 2])
    point = num.sum() / den.sum()
    return pd.DataFrame({"statistic": ["ratio", "ratio_low", "ratio_high", "median", "models"],
                         "value": [np.exp(point), np.exp(lo), np.exp(hi),
                                   float(np.exp(np.median(lr))), float(len(models))]})


def first_stage(products: pd.DataFrame, model: str, price_form: str = "log") -> str:
    """First-stage strength of the excluded instruments (estimation.ivreg diagnostics): the
    linear IV of the logit (nested: with the log within-nest share) inversion on X1, as text
    (the table is :func:`first_stage_table`)."""
    fs = first_stage_table(products, model, price_form)
    lines = ["First stage (linear IV of the inverted shares; estimation.ivreg, robust):",
             fs.to_string(float_format=lambda x: f"{x:.4g}"),
             f"excluded instruments: {', '.join(_INSTRUMENTS)}"]
    return "\n".join(lines)


def first_stage_table(products: pd.DataFrame, model: str, price_form: str = "log"
                      ) -> pd.DataFrame:
    """One row per endogenous regressor (``prices``; nested: ``log_within_share``): R², partial
    R², Shea's partial R² and the robust first-stage F of the excluded instruments.

    Examples
    --------
    >>> from structural.market import llm_api
    >>> fit = llm_api.fit_llm_demand(llm_api.llm_products(), "logit", draws=2)
    >>> fs = llm_api.first_stage_table(fit.products, "logit")
    >>> list(fs.index), round(float(fs.loc["prices", "f_stat"]), 1)
    (['prices'], 31.0)
    """
    from estimation.iv import ivreg

    df = products
    outside = 1.0 - df.groupby("market_ids")["shares"].transform("sum")
    y = np.log(df["shares"]) - np.log(outside)
    weeks = [c for c in df if c.startswith("wk")]
    exog_cols = ["quality_z", "log_context", "context_missing", "reasoning", "log_age",
                 "open_weights_known", *weeks]
    exog = df[exog_cols].astype(float).assign(const=1.0)
    endog = df[["prices"]].astype(float)
    if price_form == "log":
        endog = np.log(endog)
    if model == "nested":
        within = df["shares"] / df.groupby(["market_ids", "nesting_ids"])["shares"].transform(
            "sum")
        endog = endog.assign(log_within_share=np.log(within))
    inst = df[list(_INSTRUMENTS)].astype(float)
    r = ivreg(dependent=y.rename("logit_delta"), exog=exog, endog=endog, instruments=inst,
              cov_type="robust")
    fs = r.first_stage
    cols = [c for c in ("rsquared", "partial_rsquared", "shea_rsquared", "f_stat", "f_pvalue")
            if c in fs]
    return fs[cols]


def identification_problem(fit: LLMDemandFit) -> str | None:
    """Why ``fit``'s demand does not identify a downward-sloping price response, or None.

    A price coefficient α whose 95 % interval reaches 0 or above makes the Bertrand–Nash
    markups, marginal costs and elasticities meaningless (with α ≥ 0 no equilibrium exists).
    The reason names the first stage of the price (robust F and Shea's partial R², which
    measures the instruments' power for price *given* the other endogenous term); on the
    bundled data the nested logit in level price is the case: F 9.0, Shea R² 0.016 (log price:
    31 and 0.12), α = +0.09 (0.07), while the plain logit in level price gives α = −1.14 (0.17)
    — the instruments move level prices too little, beside the within-nest share, to separate
    α from ρ (prices span $0.006–41/Mtok, so a few dear models carry the level variation the
    cost instruments, built in logs, do not predict).

    Examples
    --------
    >>> from structural.market import llm_api
    >>> fit = llm_api.fit_llm_demand(llm_api.llm_products(), "logit", draws=2)
    >>> llm_api.identification_problem(fit) is None
    True
    """
    a = float(fit.results.price_coefficient)
    se = float(fit.results.bse.get("prices", np.nan))
    if a + 1.959963984540054 * se < 0:
        return None
    fs = first_stage_table(fit.products, fit.model, fit.mm.price_form).loc["prices"]
    return (f"the {fit.model} demand in {fit.mm.price_form} price is not identified as "
            f"downward sloping: price coefficient {a:.3g} (s.e. {se:.2g}) is not negative at "
            f"95 %; the price's first stage is weak (robust F {fs['f_stat']:.1f}, Shea partial "
            f"R² {fs['shea_rsquared']:.3f}), so markups, marginal costs and elasticities would "
            "be meaningless")


def sensitivity(market_sizes=(2.0, 5.0, 10.0), model: str = "nested", freq: str = "W",
                draws: int = 20, seed: int = 0, tables: dict | None = None,
                hardware: str = "H100", nodes: int = RC_NODES,
                nests: str = "tier", fits: dict | None = None) -> pd.DataFrame:
    """The outside-good assumption's weight: for each market size M (potential tokens = M ×
    observed OpenRouter tokens) the inside share, price coefficient, median own elasticity,
    median closed markup and Lerner index, and the share of closed product-weeks with a
    negative marginal cost, from a refit of ``model``.

    Every column is a point quantity (the estimates, draw 0), so ``draws`` does not move the
    table. ``fits`` maps a market size to a fit already made with these settings (the same
    ``model``, ``freq``, ``tables``, ``hardware``, ``nodes``, ``nests``, ``seed`` and log price,
    any number of draws): it is used instead of refitting that size."""
    rows = []
    fits = fits or {}
    base = next(iter(fits.values())).products if fits else None
    for m in market_sizes:
        fit = fits.get(m)
        if fit is None:
            # only the shares depend on the market size: the rest of the table is reused
            products = llm_products(freq, m, hardware, nests=nests, **(tables or {})) \
                if base is None else at_market_size(base, m, (tables or {}).get("market"))
            base = products if base is None else base
            fit = fit_llm_demand(products, model, draws=draws, seed=seed, nodes=nodes,
                                 diagnostics=False)
        h = fit.headline()
        rows.append({"market_size": m,
                     "inside_share": float(fit.products.groupby("market_ids")["shares"].sum()
                                           .mean()),
                     "alpha": h["alpha"], "alpha_se": h["alpha_se"],
                     "median_own_elasticity": h["median_own_elasticity"],
                     "median_closed_markup": h["median_closed_markup"],
                     "median_closed_lerner": h["median_closed_lerner"],
                     "closed_negative_mc_share": h["closed_negative_mc_share"]})
    return pd.DataFrame(rows)


def simulate_shares(mm: MarketModel, theta, alpha, delta) -> np.ndarray:
    """Model shares (long) at the observed prices for δ (padded): used to simulate data.

    Examples
    --------
    >>> from structural.market import build_products, estimate_demand, llm_api
    >>> products = llm_api.llm_products()
    >>> spec = llm_api.spec_for("logit", products["market_ids"].nunique())
    >>> res = estimate_demand(build_products(llm_api.demand_table(products), spec), method="2s")
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> mm = llm_api.market_model(res, products)
    >>> s = llm_api.simulate_shares(mm, jnp.asarray(res.theta), res.price_coefficient,
    ...                             res.problem.layout.pad(res.delta))
    >>> bool(np.allclose(s, products["shares"]))
    True
    """
    _, _, s, _ = supply_terms(mm, jnp.asarray(theta), alpha, jnp.asarray(delta))
    return np.asarray(mm.results.problem.layout.unpad(s))
