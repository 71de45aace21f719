"""What a user reads of a counterfactual: the console's break-even line says how many draws never
cross, report lines fit 100 columns, the P(cheapest) plot keeps its legend off the lines and
tells coinciding lines apart, and the cost-share plot says at which Q the shares are taken."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from structural.counterfactual import plots
from structural.counterfactual.report import CounterfactualResult


def _result(crossing: float) -> CounterfactualResult:
    be = pd.DataFrame([{"pair": "a vs b", "price_point": 0, "Q_breakeven": 3.2e9,
                        "Q_median": 3e9, "Q_lo": 1e9, "Q_hi": 8e9, "draws_crossing": crossing,
                        "cheaper_below": "a", "note": ""}])
    sc = SimpleNamespace(title="t")
    return CounterfactualResult(sc, tables={"breakeven": be},
                                assumptions=["word " * 80 + "end"])


def test_breakeven_line_says_what_share_of_draws_never_cross():
    text = _result(0.8).render()
    line = next(x for x in text.splitlines() if x.startswith("- a vs b"))
    assert "Q = 3.2e+09" in line
    assert "20% of draws never cross" in text
    assert "the others cross in [1e+09, 8e+09]" in text.replace("\n  ", " ")


def test_breakeven_line_is_silent_when_every_draw_crosses():
    text = _result(1.0).render()
    assert "never cross" not in text and "Q = 3.2e+09 [1e+09, 8e+09]" in text


def test_report_lines_fit_100_columns():
    res = _result(0.5)
    res.tables["provenance"] = pd.DataFrame([{"name": "A", "value": 406.4, "source": "published",
                                              "reference": "a very long reference " * 10}])
    res.tables["variance_decomposition"] = pd.DataFrame(
        [{"quantity": f"log cost at Q = 1e9: hypothesis_{i}", "group": g,
          "first_order_share": 0.1} for i in range(6) for g in ("chinchilla", "context", "u")])
    text = res.render(console=True)
    assert max(len(x) for x in text.splitlines()) <= 100
    assert "end" in text  # wrapped, not cut
    assert "a very long reference" in text and "…" in text
    assert "hypothesis_5: chinchilla 0.1" in text
    assert "a very long reference " * 10 in res.render()  # report.md keeps everything


def _costs() -> pd.DataFrame:
    Q = np.geomspace(1e6, 1e12, 9)
    rows = []
    for h, p in [("always", 1.0), ("never", 0.0), ("also_never", 0.0)]:
        rows += [{"hypothesis": h, "price_point": 0, "Q": q, "p_cheapest": p} for q in Q]
    return pd.DataFrame(rows)


def test_probability_cheapest_legend_is_off_the_lines_and_lines_differ():
    fig = plots.probability_cheapest_figure(_costs(), "title")
    ax = fig.axes[0]
    fig.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.y1 <= ax.get_window_extent().y0  # below the axes, not on P = 1 or 0
    lines = ax.get_lines()
    styles = {(ln.get_linestyle(), ln.get_marker()) for ln in lines}
    assert len(lines) == 3 and len(styles) == 3  # coinciding lines stay visible


def test_cost_shares_says_at_which_Q():
    shares = pd.DataFrame([{"hypothesis": h, "Q": 1e9, "stage": s, "cost": 1.0, "share": 0.5}
                           for h in ("a", "b") for s in ("pretrain", "decode")])
    fig = plots.cost_shares_figure(shares, "title")
    assert "at Q = 1e+09 lifetime queries" in fig.axes[0].get_xlabel()


@pytest.mark.parametrize("name", ["probability_cheapest.png", "cost_shares.png"])
def test_plots_are_written(tmp_path, name):
    if name == "cost_shares.png":
        shares = pd.DataFrame([{"hypothesis": "a", "Q": 1e9, "stage": "decode", "cost": 1.0,
                                "share": 1.0}])
        path = plots.plot_cost_shares(shares, tmp_path / name, "t")
    else:
        path = plots.plot_probability_cheapest(_costs(), tmp_path / name, "t")
    assert path.stat().st_size > 1000


def test_figures_drawn_on_the_drawing_thread_are_those_write_draws(tmp_path):
    # run(out=...) draws each figure on plots.Drawer's thread as its table is made; write()
    # without one draws them itself: the same files, byte for byte
    from importlib.resources import files

    from structural.counterfactual import run

    res = run(files("structural.examples.scenarios") / "equal_spend_tradeoff.toml", draws=20,
              out=tmp_path / "run")
    drawn = sorted(p.name for p in (tmp_path / "run").glob("*.png"))
    assert drawn == ["cost_shares.png", "cost_vs_queries.png", "probability_cheapest.png"]
    res.write(tmp_path / "again")
    for name in drawn:
        assert (tmp_path / "run" / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    assert [p.name for p in res.files][-4:] == [
        "cost_vs_queries.png", "probability_cheapest.png", "cost_shares.png", "report.md"]


def test_a_failed_run_s_drawer_draws_no_figure_it_had_not_started(tmp_path):
    """``close(cancel=True)`` (a run that failed or was interrupted) waits for the figure being
    drawn but draws none of those still queued; ``close()`` draws them all."""
    import threading

    started, release, drawn = threading.Event(), threading.Event(), []

    def slow(name):
        started.set()
        release.wait(10)
        drawn.append(name)

    for cancel, expected in ((True, ["a"]), (False, ["a", "b"])):
        started.clear(), release.clear(), drawn.clear()
        drawer = plots.Drawer()
        drawer.submit(tmp_path / "a.png", slow, "a")
        drawer.submit(tmp_path / "b.png", drawn.append, "b")
        assert started.wait(10)
        threading.Timer(0.2, release.set).start()
        drawer.close(cancel=cancel)
        assert drawn == expected
