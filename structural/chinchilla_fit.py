"""Estimating the Chinchilla loss law from training runs (Besiroglu et al. 2024, §2–3).

Residual of run i on the log scale, in the log-sum-exp form of Besiroglu et al. (2024), eq. (2):

    r_i = LSE(log A − α log N_i, log B − β log D_i, log E) − log L_i

Two estimators:

``huber``      minimise Σ_i Huber_δ(r_i), δ = 10⁻³ (Hoffmann et al. 2022, §D.2, with the loss
               summed rather than averaged, as Besiroglu et al. recommend).
``huber-mle``  maximise the likelihood of r_i under a Huber density with a free scale σ,
               log f(r) = −Huber_δ(r/σ) − log σ − log Z(δ),
               Z(δ) = √(2π)(2Φ(δ) − 1) + 2 exp(−δ²/2)/δ;
               this is what Besiroglu et al.'s notebook maximises for their Table 1 point estimate.
               At the optimum σ ≈ δ·mean|r_i| ≈ 5·10⁻⁶, so the density's quadratic zone is
               narrower than 10⁻⁸ and the likelihood is in effect that of least absolute
               deviations: a joint Newton run on (θ, σ) stalls on its kinks. It is found by
               block-coordinate ascent instead (:func:`huber_mle_alternating`), then checked as a
               joint fit.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import estimation
from estimation import Bootstrap, Param, ParamSpec
from estimation.fit import SCREEN_CELLS
from estimation.losses import Huber
from structural.pretraining import chinchilla_log_loss, chinchilla_log_loss_and_shares

__all__ = ["check_identified", "fit_chinchilla", "paper_resamples", "screen_starts"]

# Hoffmann et al. (2022), §D.2: the initialisation grid of their Approach 3 fit, on (a, b, e, α, β)
# with a = log A, b = log B, e = log E.
HOFFMANN_GRID = {
    "alpha": np.arange(0.0, 2.5, 0.5),
    "beta": np.arange(0.0, 2.5, 0.5),
    "e": np.arange(-1.0, 1.5, 0.5),
    "a": np.arange(0.0, 30.0, 5.0),
    "b": np.arange(0.0, 30.0, 5.0),
}
QUICK_GRID = {
    "alpha": [0.0, 0.5, 1.0],
    "beta": [0.0, 0.5, 1.0],
    "e": [-1.0, 0.0, 1.0],
    "a": [0.0, 10.0, 20.0],
    "b": [0.0, 10.0, 20.0],
}


def law_spec(with_scale: bool = False) -> ParamSpec:
    """A, B, E > 0 (log transforms: the optimiser works on a, b, e as in the paper); α, β free."""
    ps = [Param("A", transform="log"), Param("B", transform="log"), Param("E", transform="log"),
          Param("alpha"), Param("beta")]
    if with_scale:
        ps.append(Param("sigma", transform="log"))
    return ParamSpec(ps)


def log_residuals(p: dict, d: dict) -> jnp.ndarray:
    """r_i = LSE(log A − α log N_i, log B − β log D_i, log E) − log L_i (stable log-sum-exp)."""
    log_l = chinchilla_log_loss(d["log_N"], d["log_D"], _log(p, "A"), _log(p, "B"),
                                _log(p, "E"), p["alpha"], p["beta"])
    return log_l - d["log_L"]


class LawDerivatives:
    r"""Closed-form derivatives of :func:`log_residuals` in θ = (log A, log B, log E, α, β).

    With :math:`u_i = (a - \alpha x_i,\ b - \beta y_i,\ e)`, :math:`x = \log N`,
    :math:`y = \log D`, and the softmax shares :math:`p_{ik} = \exp(u_{ik} - \mathrm{LSE}(u_i))`
    of the three terms (Besiroglu et al. 2024, eq. 2):

    .. math::

        \frac{\partial r_i}{\partial\theta} = (p_{i1}, p_{i2}, p_{i3}, -p_{i1} x_i,
            -p_{i2} y_i), \qquad
        \nabla^2 r_i = U_i^\top (\operatorname{diag} p_i - p_i p_i^\top)\, U_i,

    where :math:`U_i = \partial u_i / \partial\theta` has rows (1, 0, 0, −x, 0),
    (0, 1, 0, 0, −y) and (0, 0, 1, 0, 0). So :math:`\sum_i c_i \nabla^2 r_i` is a combination of
    the sums :math:`\sum_i c_i M_{ikl}\, \varphi(x_i, y_i)` over
    :math:`\varphi \in \{1, x, y, x^2, y^2, xy\}`: one (6 × n)(n × 6) product instead of
    differentiating r twice.
    Diagonal terms use p_1(p_2 + p_3) rather than p_1(1 − p_1), which cancels as p_1 → 1.
    The engine checks both against JAX at the start of every fit
    (:mod:`estimation.derivatives`).
    """

    @staticmethod
    def _shares(theta, d):
        log_l, p1, p2, p3 = chinchilla_log_loss_and_shares(
            d["log_N"], d["log_D"], theta[0], theta[1], theta[2], theta[3], theta[4])
        return log_l - d["log_L"], p1, p2, p3

    def jacobian(self, theta, d):
        r, p1, p2, p3 = self._shares(theta, d)
        return r, jnp.stack([p1, p2, p3, -p1 * d["log_N"], -p2 * d["log_D"]], axis=-1)

    def curvature(self, theta, d, c):
        _, p1, p2, p3 = self._shares(theta, d)
        x, y = d["log_N"], d["log_D"]
        phi = jnp.stack([jnp.ones_like(x), x, y, x * x, y * y, x * y], axis=-1)
        m = jnp.stack([p1 * (p2 + p3), p2 * (p1 + p3), p3 * (p1 + p2),
                       -p1 * p2, -p1 * p3, -p2 * p3]) * c
        s11, s22, s33, s12, s13, s23 = m @ phi
        return jnp.array([
            [s11[0], s12[0], s13[0], -s11[1], -s12[2]],
            [s12[0], s22[0], s23[0], -s12[1], -s22[2]],
            [s13[0], s23[0], s33[0], -s13[1], -s23[2]],
            [-s11[1], -s12[1], -s13[1], s11[3], s12[5]],
            [-s12[2], -s22[2], -s23[2], s12[5], s22[4]],
        ])


LAW_DERIVATIVES = LawDerivatives()


def _log(p: dict, name: str) -> jnp.ndarray:
    # The engine passes log_A = θ exactly for log-transformed A; exp(θ) may overflow far from
    # the optimum (runaway grid starts), log(exp(θ)) would then turn into NaN.
    key = f"log_{name}"
    return p[key] if key in p else jnp.log(p[name])


def huber_log_normaliser(delta: float) -> float:
    """log Z(δ) of the Huber density exp(−Huber_δ(u)): Z = √(2π)(2Φ(δ) − 1) + 2e^{−δ²/2}/δ."""
    from scipy.stats import norm  # imported on use: a second of start-up for the other fits

    return float(np.log(np.sqrt(2 * np.pi) * (2 * norm.cdf(delta) - 1)
                        + 2 * np.exp(-0.5 * delta**2) / delta))


def huber_loglik(delta: float):
    """Per-run log-likelihood of the Huber density with free scale σ (the ``huber-mle`` model)."""
    loss = Huber(delta)
    log_z = huber_log_normaliser(delta)

    def loglik(p: dict, d: dict) -> jnp.ndarray:
        r = log_residuals(p, d)
        return -loss.rho(r / p["sigma"]) - jnp.log(p["sigma"]) - log_z

    return loglik


def huber_scale_step(r: np.ndarray, delta: float) -> float:
    r"""The σ that maximises :math:`\sum_i [-\mathrm{Huber}_\delta(r_i/\sigma) - \log\sigma]` at
    fixed residuals r.

    It is the root of the scale score

    .. math::

        \sum_i \min(u_i^2, \delta u_i) = n, \qquad u_i = |r_i| / \sigma

    (:math:`\psi_\delta(u)\,u = \min(u^2, \delta u)` for the Huber ψ). The left side falls
    strictly as σ grows, from +∞ to 0, so the root is unique; it is found in
    :math:`\log(\sigma / \max_i |r_i|)`, which keeps every u finite.
    """
    if not (np.isfinite(delta) and delta > 0):
        raise estimation.SpecificationError(f"Huber delta must be a finite number > 0, got {delta}")
    a = np.abs(np.asarray(r, dtype=np.float64)).ravel()
    if a.size == 0:
        raise estimation.SpecificationError("the Huber scale step needs at least one residual")
    if not np.all(np.isfinite(a)):
        raise estimation.EstimationFailed(
            f"residual {int(np.flatnonzero(~np.isfinite(a))[0])} is not finite: no Huber scale")
    top = a.max()
    if top == 0:
        raise estimation.EstimationFailed(
            "every residual is exactly zero: the Huber scale MLE would be σ = 0")
    a = a / top
    n = a.size

    def score(log_t: float) -> float:  # σ = t·max|r|, so u = a/t
        u = a * np.exp(-log_t)
        return float(np.sum(np.minimum(u * u, delta * u)) - n)

    from scipy.optimize import brentq  # imported on use (start-up time)

    hi = 0.0
    while score(hi) >= 0.0:  # at t = 1 every u ≤ 1: the score is ≤ n·min(δ, 1) − n ≤ 0
        hi += 1.0
    lo = hi - 1.0
    while score(lo) <= 0.0:  # the score grows like δ·Σa_i/t as t → 0
        lo -= 1.0
    return float(top * np.exp(brentq(score, lo, hi, xtol=1e-14, rtol=1e-15)))


def _scaled_log_residuals(p: dict, d: dict) -> jnp.ndarray:
    """r_i/σ with 1/σ carried as the data column ``inv_sigma`` (so one compiled solver serves
    every σ of the alternation)."""
    return log_residuals(p, d) * d["inv_sigma"]


class ScaledLawDerivatives:
    """Closed-form derivatives of :func:`_scaled_log_residuals`: those of
    :class:`LawDerivatives` times 1/σ (Σ c_i ∇²(r_i/σ) = Σ (c_i/σ) ∇²r_i)."""

    def jacobian(self, theta, d):
        r, J = LAW_DERIVATIVES.jacobian(theta, d)
        s = d["inv_sigma"]
        return r * s, J * s[:, None]

    def curvature(self, theta, d, c):
        return LAW_DERIVATIVES.curvature(theta, d, c * d["inv_sigma"])


SCALED_LAW_DERIVATIVES = ScaledLawDerivatives()


def huber_mle_alternating(
    data: dict[str, np.ndarray],
    start: dict[str, float],
    delta: float,
    options: estimation.SolverOptions | None = None,
    max_rounds: int = 50,
    rtol: float = 1e-10,
) -> tuple[dict[str, float], float, int, str | None]:
    r"""Maximise the Huber-density likelihood over (θ, σ) by block-coordinate ascent.

    Each round takes the exact scale step σ ← :func:`huber_scale_step` at the current law, then
    the exact location step: the law's M-estimate under Σ_i Huber_δ(r_i/σ) (the likelihood in θ
    at that σ), warm-started by the batched Newton solver with its IRLS direction. Both steps
    raise the likelihood, so it stops at a point where neither block can improve: a stationary
    point of the joint likelihood (cf. Huber 1981, *Robust Statistics*, ch. 7, on computing
    regression M-estimates together with a scale). A joint Newton run cannot do this here: at
    σ ≈ 5·10⁻⁶ the quadratic zone of the density is ~10⁻⁸ wide and the Hessian jumps at every
    kink. It stops when no law parameter moves by more than ``rtol`` relative to
    :math:`\max(|x|, 1)`.

    Returns
    -------
    (law parameters, σ, rounds used, failure): failure is None once the rounds have settled,
    otherwise why they did not (a location step that did not converge, or ``max_rounds``).
    """
    x = dict(start)
    n = len(data["log_L"])
    jdata = {k: jnp.asarray(v) for k, v in data.items()}
    for rounds in range(1, max_rounds + 1):
        r = np.asarray(log_residuals({k: jnp.asarray(v) for k, v in x.items()}, jdata))
        sigma = huber_scale_step(r, delta)
        with warnings.catch_warnings():  # reported below; its SEs are never used
            warnings.simplefilter("ignore", estimation.NotConvergedWarning)
            warnings.simplefilter("ignore", estimation.CovarianceWarning)
            step = estimation.fit(
                None, {**data, "inv_sigma": np.full(n, 1.0 / sigma)}, law_spec(), kind="m",
                residuals=_scaled_log_residuals, loss=Huber(delta),
                derivatives=SCALED_LAW_DERIVATIVES, start=x, options=options, progress=False,
                name=f"Huber-density MLE, location step {rounds}")
        if not step.converged:
            return x, sigma, rounds, (f"location step of round {rounds} did not converge "
                                      f"({step.diagnostics.status})")
        new = step.params.to_dict()
        moved = max(abs(new[k] - x[k]) / max(abs(x[k]), 1.0) for k in x)
        x = new
        if moved <= rtol:
            # σ was computed at (essentially) this θ: both blocks are at their optimum.
            return x, sigma, rounds, None
    return x, sigma, max_rounds, f"scale/location rounds not settled after {max_rounds}"


def as_fit_data(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """log N, log D, log L from a frame with columns ``params``, ``tokens``, ``loss``."""
    return {"log_N": np.log(df["params"].to_numpy(float)),
            "log_D": np.log(df["tokens"].to_numpy(float)),
            "log_L": np.log(df["loss"].to_numpy(float))}


def grid_to_starts(grid: dict[str, Any]) -> pd.DataFrame:
    """Hoffmann's grid on (a, b, e, α, β) as starts on the user's scale (A = eᵃ, ...)."""
    g = estimation.grid_starts(grid)
    return pd.DataFrame({"A": np.exp(g["a"]), "B": np.exp(g["b"]), "E": np.exp(g["e"]),
                         "alpha": g["alpha"], "beta": g["beta"]})


def paper_resamples(n: int = 240, draws: int = 4000) -> np.ndarray:
    """Besiroglu et al.'s bootstrap resamples (their notebook): ``np.random.seed(42)``, then
    ``choice(n, n)`` per draw; a (draws, n) array of row numbers for
    ``estimation.Bootstrap(indices=...)``.

    Examples
    --------
    >>> from structural.chinchilla_fit import paper_resamples
    >>> paper_resamples(240, 2).shape
    (2, 240)
    """
    rs = np.random.RandomState(42)
    return np.stack([rs.choice(n, size=n, replace=True) for _ in range(draws)])


_LAW_CACHE: dict[float, Any] = {}
_LOGLIK_CACHE: dict[float, Any] = {}


def _huber_residual_model(delta: float, loglik: bool = False):
    """(residuals, loss, Huber-density log-likelihood or None): one function object per δ, so
    repeated fits reuse the compiled solver. The likelihood only where asked for: its
    normaliser needs SciPy's normal distribution, a second of start-up for the summed-Huber
    fit that does not use it."""
    if delta not in _LAW_CACHE:
        _LAW_CACHE[delta] = (log_residuals, Huber(delta))
    if loglik and delta not in _LOGLIK_CACHE:
        _LOGLIK_CACHE[delta] = huber_loglik(delta)
    return (*_LAW_CACHE[delta], _LOGLIK_CACHE.get(delta) if loglik else None)


#: Fewest distinct values of N and of D, and fewest rows per law parameter, for a fit: with
#: fewer, A/N^α (or B/D^β) and E trade off exactly and the "converged" fit is arbitrary.
MIN_DISTINCT, MIN_ROWS_PER_PARAM = 3, 2


def check_identified(df: pd.DataFrame) -> None:
    """Refuse, before fitting, runs that cannot identify the five law parameters.

    E + A/N^α needs at least three distinct N (two points fit any power law exactly with E
    free), likewise D, and the Huber fit needs a few rows per parameter for its SEs.

    Raises
    ------
    estimation.SpecificationError
        Naming the column without variation, or the number of rows against the parameters.

    Examples
    --------
    Runs of one model size cannot identify the law's N exponent:

    >>> import pandas as pd
    >>> from structural.chinchilla_fit import check_identified
    >>> runs = pd.DataFrame({"params": [1e8] * 6, "tokens": [1e9, 2e9, 4e9, 8e9, 1.6e10, 3.2e10],
    ...                      "loss": [3.2, 3.0, 2.9, 2.8, 2.75, 2.7]})
    >>> check_identified(runs)
    Traceback (most recent call last):
    ...
    estimation.errors.SpecificationError: column 'params' has 1 distinct value(s); the law needs ...
    """
    k = len(law_spec())
    for col, sym in (("params", "N"), ("tokens", "D")):
        distinct = int(pd.Series(df[col]).nunique())
        if distinct < MIN_DISTINCT:
            raise estimation.SpecificationError(
                f"column {col!r} has {distinct} distinct value(s); the law needs at least "
                f"{MIN_DISTINCT} distinct {sym} to identify its exponent and scale")
    pairs = len(df[["params", "tokens"]].drop_duplicates())
    if pairs < MIN_ROWS_PER_PARAM * k:
        raise estimation.SpecificationError(
            f"{pairs} distinct (params, tokens) run(s) for {k} law parameters; at least "
            f"{MIN_ROWS_PER_PARAM * k} are needed to identify them and their standard errors")


def _as_starts(starts: pd.DataFrame | dict | None) -> pd.DataFrame:
    """Starts as a DataFrame on the user's scale: a dict of numbers is one start, a dict of
    sequences a grid on (a, b, e, α, β)."""
    if starts is None:
        return grid_to_starts(HOFFMANN_GRID)
    if isinstance(starts, dict):
        if all(np.ndim(v) == 0 for v in starts.values()):
            return pd.DataFrame([{k: float(v) for k, v in starts.items()}])
        return grid_to_starts(starts)
    return starts


def _with_scale(boot: Bootstrap | Any, data: dict[str, np.ndarray], delta: float,
                spec: ParamSpec) -> Any:
    """The summed-Huber bootstrap with each replicate's Huber scale σ added, so that every
    parameter of the (θ, σ) likelihood has its draws (functions of them, Wald tests).

    σ of a replicate is the exact scale step (:func:`huber_scale_step`) at its law parameters on
    its resampled runs, as the alternation computes σ at the estimate.
    """
    W = boot.weights
    draws = boot.draws.copy()
    sig = np.full(len(draws), np.nan)
    jdata = {k: jnp.asarray(v) for k, v in data.items()}
    # Every replicate's residuals in one compiled call; the scale steps are scalar root finds.
    R = np.asarray(jax.jit(jax.vmap(lambda p: log_residuals(p, jdata)))(
        {k: jnp.asarray(draws[k].to_numpy()) for k in draws.columns}))
    for i in np.flatnonzero(boot.converged.to_numpy()):
        r = R[i] if W is None else np.repeat(R[i], W[i].astype(np.int64))
        sig[i] = huber_scale_step(r, delta)
    draws["sigma"] = sig
    theta = spec.to_internal(np.where(np.isfinite(draws.to_numpy()), draws.to_numpy(), 1.0),
                             what="bootstrap draws")
    est = boot.estimate.copy()
    return replace(boot, draws=draws, theta=theta, estimate=est)


#: Starts the objective-value screen keeps (:func:`screen_starts`). On the bundled runs the 128
#: starts of Hoffmann's grid with the lowest summed Huber loss all converge to the grid's optimum
#: (2,694 of its 4,500 starts do), at 36 iterations each against 26 on average over the grid.
SCREEN_STARTS = 64
#: Slots of the solver's pool for a screened fit (:class:`estimation.SolverOptions` ``pool``;
#: default 64). A pool computes every slot until its slowest member stops, and the slowest
#: bootstrap replicates on the bundled runs take 282 iterations against a median of 7: with 16
#: slots the 1,000-replicate bootstrap costs 1.0 s of CPU instead of 1.7 s, with the same bytes
#: (each member iterates alone). A full 4,500-start grid is faster with 64.
SCREENED_POOL = 16


def screen_starts(df: pd.DataFrame, starts: pd.DataFrame, keep: int = SCREEN_STARTS,
                  delta: float = 1e-3) -> pd.DataFrame:
    r"""The ``keep`` starts with the lowest summed Huber loss :math:`\sum_i
    \mathrm{Huber}_\delta(r_i)` at the start itself, in their order in ``starts``.

    Hoffmann et al.'s grid (§D.2) spans exponents 0 to 2 and log-scales 0 to 25, so most of its
    starts begin far from the data (at α = 0 the term A/N^α is a constant); the ones that fit the
    runs best already are those a local search takes to the best optimum. Evaluating the loss
    at every start is one compiled call; refining only the best ``keep`` replaces
    starts × iterations Newton steps (118k on the bundled runs) by a few thousand. Starts where
    the loss is not finite rank last.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from structural.chinchilla_fit import QUICK_GRID, grid_to_starts, screen_starts
    >>> from structural.pretraining import chinchilla_loss
    >>> rng = np.random.default_rng(0)
    >>> N, D = 10 ** rng.uniform(7, 10, 40), 10 ** rng.uniform(9, 12, 40)
    >>> loss = np.asarray(chinchilla_loss(N, D, 400.0, 400.0, 1.7, 0.3, 0.3))
    >>> runs = pd.DataFrame({"params": N, "tokens": D, "loss": loss})
    >>> best = screen_starts(runs, grid_to_starts(QUICK_GRID), keep=4)
    >>> len(best), best.index.is_monotonic_increasing
    (4, True)
    """
    if keep < 1:
        raise estimation.SpecificationError(f"screen_starts keeps at least one start, got {keep}")
    if len(starts) <= keep:
        return starts
    q = _start_losses(as_fit_data(df), starts, delta)
    chosen = np.sort(np.argsort(np.where(np.isfinite(q), q, np.inf), kind="stable")[:keep])
    return starts.iloc[chosen]


_START_LOSS: dict[float, Any] = {}


def _start_losses(data: dict[str, np.ndarray], starts: pd.DataFrame, delta: float) -> np.ndarray:
    """Σ_i Huber_δ(r_i) at every start (one compiled, vmapped call; log scales as the optimiser
    sees them, so a runaway start gives inf rather than a NaN from log(exp(·)))."""
    if delta not in _START_LOSS:
        loss = Huber(delta)

        def total(p, d):
            return jnp.sum(loss.rho(log_residuals(p, d)))

        from estimation.compilation import traced_jit

        # Traced once per machine, like the solver's rounds.
        _START_LOSS[delta] = traced_jit(jax.vmap(total, in_axes=(0, None)),
                                        ("chinchilla start losses", total))
    with np.errstate(divide="ignore"):
        p = {"log_A": np.log(starts["A"].to_numpy(float)),
             "log_B": np.log(starts["B"].to_numpy(float)),
             "log_E": np.log(starts["E"].to_numpy(float)),
             "alpha": starts["alpha"].to_numpy(float), "beta": starts["beta"].to_numpy(float)}
    return np.asarray(_START_LOSS[delta](p, data))


def fit_chinchilla(
    df: pd.DataFrame,
    *,
    estimator: str = "huber",
    delta: float = 1e-3,
    starts: pd.DataFrame | dict | None = None,
    bootstrap: int | Bootstrap | None = None,
    options: estimation.SolverOptions | None = None,
    progress: bool = True,
    scheduler: Any = None,
    screen: int | None = None,
) -> estimation.Results:
    """Fit L(N, D) = E + A/N^α + B/D^β to training runs.

    Parameters
    ----------
    df : DataFrame
        Columns ``params`` (N), ``tokens`` (D), ``loss`` (nats/token), all > 0.
    estimator : {"huber", "huber-mle"}
        Summed Huber loss on log residuals (M-estimation), or the Huber-density MLE with a free
        scale (Besiroglu et al.'s point estimate). ``huber-mle`` starts from the ``huber``
        optimum found from ``starts`` and is maximised by :func:`huber_mle_alternating`.
    starts : DataFrame, dict or None
        Starts on the user scale (a DataFrame), one start as a dict of numbers
        (``{"A": 400, "B": 400, "E": 1.7, "alpha": 0.3, "beta": 0.3}``), or a grid dict of lists
        on (a, b, e, α, β); default Hoffmann's 4,500-point grid.
    bootstrap : int or Bootstrap
        Replicates of the summed-Huber estimator, each refitted from the summed-Huber estimate
        (Besiroglu et al.'s SEs come from that bootstrap for both estimators).
    scheduler : str or distributed.Client, optional
        Run the start grid and the bootstrap in chunks on a Dask cluster (same results as here;
        :func:`estimation.fit`).
    screen : int, optional
        Run only this many starts: those with the lowest summed Huber loss at the start
        (:func:`screen_starts`; ``llmecon fit chinchilla`` uses :data:`SCREEN_STARTS`), and say
        so in the results' notes. Not applied where the grid times the runs exceeds
        ``estimation.fit.SCREEN_CELLS``: there the engine screens every start on a subsample
        of the runs instead. Default: every start.

    Examples
    --------
    Recover the law from 60 simulated runs, from one start:

    >>> import numpy as np
    >>> import pandas as pd
    >>> from structural.chinchilla_fit import fit_chinchilla
    >>> from structural.pretraining import chinchilla_loss
    >>> rng = np.random.default_rng(0)
    >>> N, D = 10 ** rng.uniform(7, 10, 60), 10 ** rng.uniform(9, 12, 60)
    >>> loss = np.asarray(chinchilla_loss(N, D, 400.0, 400.0, 1.7, 0.33, 0.29))
    >>> noisy = loss * np.exp(rng.normal(0, 0.01, 60))
    >>> runs = pd.DataFrame({"params": N, "tokens": D, "loss": noisy})
    >>> start = {"A": 300.0, "B": 300.0, "E": 1.5, "alpha": 0.3, "beta": 0.3}
    >>> res = fit_chinchilla(runs, starts=start, progress=False)
    >>> res.params.round(2)
    A        373.99
    B        257.14
    E          1.65
    alpha      0.32
    beta       0.27
    Name: estimate, dtype: float64
    """
    if estimator not in ("huber", "huber-mle"):
        raise estimation.SpecificationError(
            f"estimator must be 'huber' or 'huber-mle', got {estimator!r}")
    starts = _as_starts(starts)
    check_identified(df)
    resid, loss, _ = _huber_residual_model(delta)
    data = as_fit_data(df)
    grid = len(starts)
    screened = (screen is not None and grid > screen
                and grid * len(df) <= SCREEN_CELLS)
    if screened:
        starts = screen_starts(df, starts, screen, delta)
        if options is None:
            options = estimation.SolverOptions(pool=SCREENED_POOL)
    res = estimation.fit(None, data, law_spec(), kind="m", residuals=resid, loss=loss,
                         derivatives=LAW_DERIVATIVES, start=starts, bootstrap=bootstrap,
                         options=options, progress=progress, scheduler=scheduler,
                         name=f"Chinchilla law, summed Huber (delta={delta:g})")
    if screened:
        res.notes.append(
            f"multistart screened by objective value: the {len(starts)} of the {grid:,} starts "
            "with the lowest summed Huber loss at the start were run (the starts table lists "
            "those; every start: screen=None, --full-grid)")
    if estimator == "huber":
        return res
    x, sigma, rounds, failure = huber_mle_alternating(data, res.params.to_dict(), delta, options)
    loglik = _huber_residual_model(delta, loglik=True)[2]
    # The joint fit from the alternation's optimum checks it with the engine's scale-free test
    # and supplies the likelihood, Hessian and diagnostics of the (θ, σ) model.
    name = f"Chinchilla law, Huber-density MLE (delta={delta:g})"
    mle = estimation.fit(loglik, data, law_spec(with_scale=True), kind="mle",
                         start={**x, "sigma": sigma}, options=options, progress=progress,
                         name=name)
    mle.notes.append(
        f"maximised by alternating exact scale and location steps ({rounds} round(s)) from the "
        "summed-Huber estimate, then checked as a joint Newton fit (its iterations are shown)")
    if failure is not None:  # the joint check alone cannot see this
        d = mle.diagnostics
        if d.converged:  # otherwise the joint fit has warned already
            warnings.warn(f"{name}: the fit did not converge ({failure})",
                          estimation.NotConvergedWarning, stacklevel=2)
        d.status = failure if d.converged else f"{failure}; joint check: {d.status}"
        d.converged = False
    mle.starts = res.starts
    if res.bootstrap is None:
        # Known to be wrong: reading them warns (Results.cov_warning); the summary says so.
        mle.cov_warning = (
            "Hessian SEs of this likelihood understate the uncertainty (about 300x in a Monte "
            f"Carlo): its quadratic zone (|r| <= delta*sigma = {delta * sigma:.2g}) holds only "
            "the runs the law interpolates, so the Hessian measures kinks, not sampling spread; "
            "use bootstrap= (--bootstrap), the paper's SEs")
    else:
        mle.bootstrap = _with_scale(res.bootstrap, data, delta, mle.spec)
        mle.se_source = "bootstrap"
        mle.notes.append("standard errors: bootstrap of the summed-Huber estimator "
                         "(Besiroglu et al. 2024's procedure)")
    return mle
