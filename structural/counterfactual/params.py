"""Where a counterfactual's parameters come from, and their uncertainty draws.

Three sources, all plain Python/pandas objects (a fitted Results object qualifies by duck typing:
anything with ``.params`` and ``.cov_params()``, optionally ``.bootstrap.draws`` and
``.bootstrap.converged``):

* :class:`Published` — constants (a dict); no uncertainty, one "draw".
* :class:`Normal` — a mean Series and covariance DataFrame (e.g. ``results.params`` and
  ``results.cov_params()``): K multivariate-normal draws from ``jax.random`` (seeded), the
  asymptotic distribution of the estimator.
* :class:`Draws` — a DataFrame with one row per replicate (e.g. ``results.bootstrap.draws``);
  unconverged replicates are dropped and counted, never averaged in silently.

Draws that leave a parameter's domain (e.g. a negative exponent from a wide normal) are dropped
and counted too; :class:`ParameterDraws` reports how many were requested, used and dropped, why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from llmecon.errors import InputError

__all__ = ["Blocks", "Draws", "Normal", "ParameterSourceError", "Published", "Uniform",
           "from_results", "make_draws"]


class ParameterSourceError(InputError):
    """A parameter source that does not fit the scenario (names the parameter and the problem).

    Examples
    --------
    >>> from structural.counterfactual.params import Published, make_draws
    >>> make_draws(Published({"kappa": 5.0}), {"alpha": 0.3}, K=10, seed=0)
    Traceback (most recent call last):
    ...
    structural.counterfactual.params.ParameterSourceError: parameters.values: unknown parameter ...
    """


@dataclass(frozen=True)
class Published:
    """Published constants (no uncertainty).

    Examples
    --------
    >>> from structural.counterfactual import Published, make_draws
    >>> pd_ = make_draws(Published({"alpha": 0.34}), {"alpha": 0.3, "beta": 0.28}, K=100, seed=0)
    >>> {k: v.tolist() for k, v in pd_.theta.items()}
    {'alpha': [0.34], 'beta': [0.28]}
    """

    values: Mapping[str, float]
    label: str = "published constants"


@dataclass(frozen=True)
class Normal:
    """Asymptotic normal: draws θ ~ N(mean, cov).

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.counterfactual import Normal, make_draws
    >>> src = Normal(pd.Series({"alpha": 0.34}), pd.DataFrame([[1e-4]], ["alpha"], ["alpha"]))
    >>> draws = make_draws(src, {"alpha": 0.3}, K=1000, seed=0)
    >>> draws.theta["alpha"].shape, round(float(draws.theta["alpha"][1:].std()), 3)
    ((1001,), 0.01)
    """

    mean: pd.Series
    cov: pd.DataFrame
    label: str = "normal draws (given mean and covariance)"


@dataclass(frozen=True)
class Draws:
    """Replicates of the parameters, one row each (bootstrap draws); ``converged`` flags rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.counterfactual import Draws, make_draws
    >>> reps = pd.DataFrame({"alpha": [0.33, 0.34, 0.35, 0.36]})
    >>> draws = make_draws(Draws(reps, point={"alpha": 0.345}), {"alpha": 0.3}, K=4, seed=0)
    >>> draws.theta["alpha"].tolist()  # the point, then the four replicates in drawn order
    [0.345, 0.33, 0.34, 0.35, 0.36]

    """

    draws: pd.DataFrame
    converged: pd.Series | None = None
    point: Mapping[str, float] | None = None
    label: str = "bootstrap draws"


@dataclass(frozen=True)
class Uniform:
    """Assumed parameters with a stated range: independent uniform draws on [low, high].

    Examples
    --------
    >>> from structural.counterfactual.params import Uniform, make_draws
    >>> draws = make_draws(Uniform({"kappa": (2.0, 8.0)}), {"kappa": 5.0}, K=500, seed=0)
    >>> bool(((draws.theta["kappa"][1:] >= 2) & (draws.theta["kappa"][1:] <= 8)).all())
    True
    """

    ranges: Mapping[str, tuple[float, float]]
    label: str = "assumed ranges (uniform)"


@dataclass(frozen=True)
class Blocks:
    """Independent blocks of parameters, each with its own source (a fit's joint draws, a
    covariance, assumed ranges), named by group: the groups of the variance decomposition.

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.counterfactual.params import Blocks, Draws, Uniform, make_draws
    >>> src = Blocks({"law": Draws(pd.DataFrame({"alpha": [0.33, 0.35]})),
    ...               "link": Uniform({"kappa": (2.0, 8.0)})})
    >>> draws = make_draws(src, {"alpha": 0.34, "kappa": 5.0}, K=50, seed=0)
    >>> draws.groups
    {'law': ('alpha',), 'link': ('kappa',)}
    """

    blocks: Mapping[str, Normal | Draws | Uniform]
    point: Mapping[str, float] = field(default_factory=dict)
    label: str = "fitted draws and assumed ranges"


Source = Published | Normal | Draws | Uniform | Blocks


def from_results(results: Any, method: str = "auto") -> Source:
    """A parameter source from a fitted Results-like object.

    ``method="bootstrap"`` uses ``results.bootstrap.draws`` (dropping unconverged replicates);
    ``"asymptotic"`` uses ``params`` and ``cov_params()``; ``"auto"`` prefers the bootstrap when
    the object has one.

    Examples
    --------
    A normal source from a fit's estimates and covariance:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import estimation
    >>> from structural.counterfactual import from_results
    >>> rng = np.random.default_rng(0)
    >>> data = {"y": rng.normal(2.0, 1.0, 200)}
    >>> def loglik(p, d):
    ...     return -0.5 * ((d["y"] - p["mu"]) / p["sigma"]) ** 2 - jnp.log(p["sigma"])
    >>> spec = estimation.ParamSpec([estimation.Param("mu"),
    ...                              estimation.Param("sigma", start=1.0, transform="log")])
    >>> res = estimation.fit(loglik, data, spec, start={"mu": 0.0, "sigma": 1.0}, progress=False)
    >>> src = from_results(res)
    >>> type(src).__name__, list(src.mean.index)
    ('Normal', ['mu', 'sigma'])
    """
    boot = getattr(results, "bootstrap", None)
    if method == "bootstrap" or (method == "auto" and boot is not None):
        if boot is None:
            raise ParameterSourceError("parameters.method: 'bootstrap' requested but the results "
                                       "carry no bootstrap draws")
        return Draws(pd.DataFrame(boot.draws), getattr(boot, "converged", None),
                     point=dict(pd.Series(results.params)))
    if method not in ("auto", "asymptotic"):
        raise ParameterSourceError(f"parameters.method: expected 'auto', 'bootstrap' or "
                                   f"'asymptotic', got {method!r}")
    return Normal(pd.Series(results.params, dtype=float), pd.DataFrame(results.cov_params()),
                  label="asymptotic normal (fitted covariance)")


@dataclass
class ParameterDraws:
    """Parameter values for the engine: ``theta[name]`` has K + 1 rows, row 0 the point estimate
    and rows 1..K the draws (K = 0 for published constants)."""

    theta: dict[str, np.ndarray]
    source: str
    requested: int
    used: int
    dropped: dict[str, int] = field(default_factory=dict)
    drawn: tuple[str, ...] = ()
    #: group name → the parameters drawn together (one group per independent block)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.drawn:
            return f"{self.source}: point values only (no parameter uncertainty)"
        drops = ", ".join(f"{n} {why}" for why, n in self.dropped.items() if n) or "none dropped"
        return (f"{self.source}: {self.used} draws of {', '.join(self.drawn)} used of "
                f"{self.requested} ({drops})")


def _check_names(names: Sequence[str], known: Sequence[str], where: str) -> None:
    for name in names:
        if name not in known:
            raise ParameterSourceError(f"{where}: unknown parameter {name!r}; expected some of "
                                       f"{', '.join(known)}")


def _blocks_table(source: Blocks, base: Mapping[str, float], K: int, seed: int):
    """K joint rows of every block (each block drawn by :func:`make_draws`; independent across
    blocks), the point values, the groups and what was dropped."""
    parts, point, groups, dropped = [], {}, {}, {}
    for i, (group, block) in enumerate(source.blocks.items()):
        sub = make_draws(block, base, K, seed + 7919 * i)
        names_g = list(sub.drawn)
        # every block yields K rows (a block with fewer usable rows is resampled)
        rows = np.random.default_rng(seed + i).choice(sub.used, size=K, replace=sub.used < K)
        parts.append(pd.DataFrame({n: sub.theta[n][1:][rows] for n in names_g}))
        point.update({n: float(sub.theta[n][0]) for n in names_g})
        groups[group] = tuple(names_g)
        dropped.update({f"{group}: {k}": v for k, v in sub.dropped.items()})
    point.update(source.point)
    return pd.concat(parts, axis=1), point, groups, dropped


def make_draws(source: Source, base: Mapping[str, float], K: int, seed: int,
               positive: Sequence[str] = ()) -> ParameterDraws:
    """Point values plus K draws for every parameter in ``base`` (scenario values and defaults);
    the source's parameters replace the base ones.

    Parameters
    ----------
    source : Published, Normal or Draws
    base : every parameter the technology uses, with its scenario value
    K : number of draws wanted (ignored for published constants)
    seed : seed of ``jax.random`` (normal draws) and of the replicate subsample (draws)
    positive : names that must stay > 0; draws outside are dropped and counted

    Examples
    --------
    >>> import pandas as pd
    >>> from structural.counterfactual import Normal, make_draws
    >>> src = Normal(pd.Series({"alpha": 0.34}), pd.DataFrame([[1e-4]], ["alpha"], ["alpha"]))
    >>> draws = make_draws(src, {"alpha": 0.3, "beta": 0.28}, K=200, seed=1)
    >>> draws.used, draws.theta["beta"][:3].tolist()
    (200, [0.28, 0.28, 0.28])
    >>> draws.describe()
    'normal draws (given mean and covariance): 200 draws of alpha used of 200 (none dropped)'
    """
    known = list(base)
    if isinstance(source, Published):
        _check_names(list(source.values), known, "parameters.values")
        vals = {**base, **{k: float(v) for k, v in source.values.items()}}
        return ParameterDraws({k: np.array([v], float) for k, v in vals.items()}, source.label,
                              0, 0)
    if K < 1:
        raise ParameterSourceError(f"draws: expected a positive number of draws, got {K}")
    dropped: dict[str, int] = {}
    groups: dict[str, tuple[str, ...]] = {}
    if isinstance(source, Blocks):
        table, point, groups, dropped = _blocks_table(source, base, K, seed)
        names = list(table.columns)
        requested = K
    elif isinstance(source, Uniform):
        names = list(source.ranges)
        _check_names(names, known, "parameters.ranges")
        rng = np.random.default_rng(seed)
        table = pd.DataFrame({n: rng.uniform(lo, hi, K) for n, (lo, hi) in source.ranges.items()})
        point = {n: float(base[n]) for n in names}
        requested = K
    elif isinstance(source, Normal):
        names = list(source.mean.index)
        _check_names(names, known, "parameters.mean")
        cov = source.cov
        if list(cov.index) != names or list(cov.columns) != names:
            try:
                cov = cov.loc[names, names]
            except KeyError as exc:
                raise ParameterSourceError(f"parameters.cov: rows and columns must name the "
                                           f"parameters of the mean ({', '.join(names)})") from exc
        C = np.asarray(cov, dtype=float)
        if not np.allclose(C, C.T, rtol=1e-8, atol=1e-300):
            raise ParameterSourceError("parameters.cov: expected a symmetric matrix")
        if np.linalg.eigvalsh(C).min() < -1e-10 * max(1.0, np.abs(C).max()):
            raise ParameterSourceError("parameters.cov: expected a positive semi-definite matrix")
        mean = np.asarray(source.mean, dtype=float)
        x = jax.random.multivariate_normal(jax.random.PRNGKey(seed), jnp.asarray(mean),
                                           jnp.asarray(C), shape=(K,), method="eigh")
        table = pd.DataFrame(np.asarray(x), columns=names)
        point = dict(zip(names, mean, strict=True))
        requested = K
    else:
        table = pd.DataFrame(source.draws).astype(float)
        names = list(table.columns)
        _check_names(names, known, "parameters.draws")
        if source.converged is not None:
            conv = np.asarray(source.converged, dtype=bool)
            if len(conv) != len(table):
                raise ParameterSourceError("parameters.converged: expected one flag per draw")
            dropped["unconverged"] = int((~conv).sum())
            table = table[conv]
        requested = K
        if len(table) == 0:
            raise ParameterSourceError("parameters.draws: no converged draws left")
        if K < len(table):
            rows = np.random.default_rng(seed).choice(len(table), size=K, replace=False)
            table = table.iloc[np.sort(rows)]
        point = dict(source.point) if source.point else dict(table.median())
    ok = np.isfinite(table.to_numpy()).all(axis=1)
    dropped["non-finite"] = int((~ok).sum())
    for name in positive:
        if name in table:
            bad = ok & ~(table[name].to_numpy() > 0)
            dropped[f"{name} <= 0"] = int(bad.sum())
            ok &= table[name].to_numpy() > 0
    table = table[ok]
    if len(table) == 0:
        raise ParameterSourceError("parameters: every draw fell outside the parameters' domain")
    theta = {}
    for k, v in base.items():
        col = table[k].to_numpy() if k in table else np.full(len(table), float(v))
        theta[k] = np.concatenate([[float(point.get(k, v))], col])
    return ParameterDraws(theta, source.label, requested, len(table),
                          {k: v for k, v in dropped.items() if v}, tuple(names), groups)
