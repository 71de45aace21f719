"""Plots of a counterfactual (matplotlib Figures on the Agg canvas, without pyplot).

matplotlib is imported only when a figure is drawn: a command that draws nothing (most of them)
does not pay its import, and pyplot's backend machinery is never loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.figure import Figure

# The public API is the package's: run(out=...) draws these figures.
__all__: list[str] = []

#: Resolution of the saved figures, dots per inch. Each figure is also made at it: its layout
#: passes (``tight_layout``, the tight bounding box) then measure the text at the dpi it is
#: drawn at, so matplotlib's caches of text metrics and parsed tick labels (the log axes'
#: mathtext) serve the final draw too, instead of each label being laid out again at 110 dpi
#: after the layout measured it at the default 100.
DPI = 110


def import_in_background():
    """Import what the figures are drawn with (matplotlib's Figure and Agg canvas, about 0.4 s)
    on a second thread, started before the solve: the import then runs beside the compiled
    solvers (which release the GIL) instead of after them. An import error surfaces at
    :func:`_axes`'s own import. Returns the thread."""
    import threading

    thread = threading.Thread(target=_import_matplotlib, name="import-matplotlib", daemon=True)
    thread.start()
    return thread


class Drawer:
    """Figures drawn on one background thread (matplotlib imported there first), each as soon
    as its table exists, instead of all of them after the run: a warm
    ``heavy_training_vs_long_context`` spends most of its break-even search waiting for compiled
    solvers (which release the GIL), time in which the P(cheapest) and cost-share figures are
    drawn. One thread draws them one after another, as the main thread would (the same calls,
    so the same PNG bytes), and the main thread draws none meanwhile (``write`` draws what was
    not submitted, e.g. the guardrail figure, only after taking the submitted ones).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import pandas as pd
    >>> from structural.counterfactual.plots import Drawer, plot_cost_shares
    >>> shares = pd.DataFrame({"hypothesis": ["a", "a"], "stage": ["train", "serve"],
    ...                        "share": [0.25, 0.75], "Q": [1e9, 1e9]})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     drawer = Drawer()
    ...     drawer.submit(Path(d) / "s.png", plot_cost_shares, shares, Path(d) / "s.png", "t")
    ...     path = drawer.result(Path(d) / "s.png")
    ...     drawer.close()
    ...     path.name, drawer.result(Path(d) / "s.png")   # taken once: then None
    ('s.png', None)
    """

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="plots")
        self._pool.submit(_import_matplotlib)
        self._pending: dict[Path, Any] = {}

    def submit(self, path: Path, draw: Callable[..., Path], *args: Any) -> None:
        """Draw ``draw(*args)`` (which saves to ``path``) on the drawing thread."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._pending[Path(path).absolute()] = self._pool.submit(draw, *args)

    def result(self, path: Path) -> Path | None:
        """The figure submitted for ``path`` once drawn (its error raised here), or None where
        none was submitted (the caller draws it)."""
        future = self._pending.pop(Path(path).absolute(), None)
        return None if future is None else future.result()

    def close(self, cancel: bool = False) -> None:
        """Wait for the figures still being drawn (their errors dropped: a run that failed
        reports its own) and stop the thread; ``cancel``: those not started yet are not drawn
        (a failed or interrupted run leaves no more figures in its folder than it must)."""
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=cancel)


def _import_matplotlib() -> None:
    try:
        from matplotlib import figure  # noqa: F401
        from matplotlib.backends import backend_agg  # noqa: F401
    except Exception:  # _axes imports them again and reports what failed
        pass


def _axes(figsize: tuple[float, float]):
    """A new Figure on the Agg canvas and its one Axes (what ``pyplot.subplots`` gives, without
    pyplot's figure manager; the same rcParams, so the same PNG bytes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def plot_cost_vs_queries(costs: pd.DataFrame, breakeven: pd.DataFrame, path: Path, title: str,
                         unit: str) -> Path:
    """Total cost against lifetime queries per hypothesis (price point 0): the point estimate,
    the draws' 95% band, and break-even markers with their interval."""
    df = costs[costs["price_point"] == 0]
    fig, ax = _axes(figsize=(7.5, 4.8))
    for i, (h, g) in enumerate(df.groupby("hypothesis", sort=False)):
        color = f"C{i}"
        ok = np.isfinite(g["total"]) & (g["Q"] > 0)
        ax.plot(g["Q"][ok], g["total"][ok], color=color, label=h, lw=2)
        if "total_lo" in g:
            okb = ok & np.isfinite(g["total_lo"]) & np.isfinite(g["total_hi"])
            ax.fill_between(g["Q"][okb], g["total_lo"][okb], g["total_hi"][okb], color=color,
                            alpha=0.2, lw=0)
    if len(breakeven):
        be = breakeven[(breakeven["price_point"] == 0) & np.isfinite(breakeven["Q_breakeven"])]
        for j, (_, r) in enumerate(be.iterrows()):
            ax.axvline(r["Q_breakeven"], color="k", ls=":", lw=1)
            if "Q_lo" in r and np.isfinite(r["Q_lo"]) and np.isfinite(r["Q_hi"]):
                ax.axvspan(r["Q_lo"], r["Q_hi"], color="k", alpha=0.06, lw=0)
            ax.annotate(f"{r['pair']}\nQ = {r['Q_breakeven']:.3g}", (r["Q_breakeven"], 0.02 +
                        0.1 * j), xycoords=("data", "axes fraction"), fontsize=7, ha="left")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("lifetime queries Q")
    ax.set_ylabel("total cost (FLOPs)" if unit == "flops" else "total cost ($)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def cost_shares_figure(shares: pd.DataFrame, title: str) -> Figure:
    """Share of total cost by stage, one stacked bar per hypothesis, at the table's Q (the
    scenario's reference lifetime queries, said in the axis label)."""
    piv = shares.pivot(index="hypothesis", columns="stage", values="share").fillna(0.0)
    piv = piv.loc[list(dict.fromkeys(shares["hypothesis"]))]
    piv = piv.loc[:, (piv > 0).any(axis=0)]     # stages no hypothesis pays for add only clutter
    fig, ax = _axes(figsize=(8.5, 1.2 + 0.6 * len(piv)))
    left = np.zeros(len(piv))
    for i, stage in enumerate(piv.columns):
        ax.barh(piv.index, piv[stage], left=left, color=f"C{i}", label=stage)
        left += piv[stage].to_numpy()
    ax.set_xlim(0, 1)
    qs = shares["Q"].unique() if "Q" in shares else []
    at = f" at Q = {qs[0]:.3g} lifetime queries" if len(qs) == 1 else ""
    ax.set_xlabel(f"share of total cost{at}")
    ax.set_title(title + at, fontsize=10)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def plot_cost_shares(shares: pd.DataFrame, path: Path, title: str) -> Path:
    """:func:`cost_shares_figure` saved to ``path``."""
    return _save(cost_shares_figure(shares, title), path)


#: Line styles and markers that tell overlapping P(cheapest) lines apart (in print too).
STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "x")


def probability_cheapest_figure(costs: pd.DataFrame, title: str) -> Figure:
    """Probability over parameter draws that each hypothesis is the cheapest, against Q.

    The lines often coincide (one at P = 1, another at 0), so each hypothesis has its own line
    style and marker and a slightly thinner line drawn over the first; the legend sits below the
    axes, off the P = 0 and P = 1 lines."""
    df = costs[costs["price_point"] == 0]
    fig, ax = _axes(figsize=(7.5, 4.4))
    groups = list(df.groupby("hypothesis", sort=False))
    for i, (h, g) in enumerate(groups):
        ax.plot(g["Q"], g["p_cheapest"], color=f"C{i}", label=h, lw=max(3.0 - 0.7 * i, 1.0),
                ls=STYLES[i % len(STYLES)], marker=MARKERS[i % len(MARKERS)], ms=4,
                markevery=max(len(g) // 8, 1), zorder=2 + i)
    ax.set_xscale("log")
    ax.set_ylim(-0.04, 1.04)
    ax.set_xlabel("lifetime queries Q")
    ax.set_ylabel("P(cheapest)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2),
              ncol=min(len(groups), 3), frameon=False)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def plot_probability_cheapest(costs: pd.DataFrame, path: Path, title: str) -> Path:
    """:func:`probability_cheapest_figure` saved to ``path``."""
    return _save(probability_cheapest_figure(costs, title), path)


def plot_guardrail_costs(sweep: pd.DataFrame, path: Path, title: str) -> Path:
    """Adversary's expected cost against the guarded API's per-attempt success probability, with
    the open-weights fine-tuning route as a horizontal line."""
    fig, ax = _axes(figsize=(7.5, 4.5))
    ax.plot(sweep["p_success"], sweep["api_cost"], lw=2, label="guarded API (repeated attempts)")
    ax.plot(sweep["p_success"], sweep["open_weights_cost"], lw=2, ls="--",
            label="open weights (fine-tune guardrail away)")
    ax.plot(sweep["p_success"], sweep["adversary_cost"], lw=1, color="k", alpha=0.6,
            label="adversary's cheapest route")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("per-attempt success probability against the guardrail")
    ax.set_ylabel("expected cost of one disallowed output ($)")
    return _finish(fig, ax, path, title)


def _finish(fig, ax, path: Path, title: str) -> Path:
    """Title, legend and grid; save at 110 dpi (every plot here ends the same way)."""
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    """Save at 110 dpi (the legend outside the axes included)."""
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path
