"""``llmecon fit demand``: a logit and a BLP fit write their files; bad input exits 2 with one
line naming the column, market or parameter, and writes nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmecon.cli import main


def _products(T=30, J=4, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    N = T * J
    x = rng.uniform(0, 2, N)
    w = rng.uniform(0, 1, N)
    xi = rng.normal(0, 0.3, N)
    price = 1 + 0.5 * x + w + 0.5 * xi
    delta = 1 + x - 2 * price + xi
    mid = np.repeat(np.arange(T), J)
    e = np.exp(delta)
    s = e / (1 + pd.Series(e).groupby(mid).transform("sum").to_numpy())
    return pd.DataFrame({"market_ids": mid, "product_ids": np.tile(np.arange(J), T),
                         "firm_ids": np.tile(np.arange(J) // 2, T), "shares": s,
                         "prices": price, "x": x, "demand_instruments0": w,
                         "demand_instruments1": w ** 2, "demand_instruments2": x * w})


def _agents(T=30, I=20) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"market_ids": np.repeat(np.arange(T), I), "weights": 1.0 / I,
                         "nodes0": rng.standard_normal(T * I)})


LOGIT = 'linear = "1 + prices + x"\n'
BLP = 'linear = "1 + prices + x"\nrandom = "0 + prices"\n[start]\nsigma = [[0.5]]\n'


def _run(tmp_path, products=None, spec=LOGIT, agents=None, extra=()):
    f = tmp_path / "p.csv"
    (products if products is not None else _products()).to_csv(f, index=False)
    s = tmp_path / "spec.toml"
    s.write_text(spec)
    argv = ["fit", "demand", "--products", str(f), "--spec", str(s), "--out",
            str(tmp_path / "out"), *extra]
    if agents is not None:
        a = tmp_path / "a.csv"
        agents.to_csv(a, index=False)
        argv += ["--agents", str(a)]
    return main(argv)


def test_logit_fit_writes_files(tmp_path, capsys):
    assert _run(tmp_path) == 0
    out = tmp_path / "out"
    params = pd.read_csv(out / "params.csv", index_col=0)
    assert params.loc["prices", "estimate"] == pytest.approx(-2.0, abs=0.5)
    el = pd.read_csv(out / "elasticities.csv")
    assert (el.loc[el.product_j == el.product_k, "elasticity"] < 0).all()
    mk = pd.read_csv(out / "markups.csv")
    assert (mk["markup"] > 0).all() and (out / "summary.txt").exists()


def test_blp_fit_writes_files(tmp_path, capsys):
    assert _run(tmp_path, spec=BLP, agents=_agents()) == 0
    params = pd.read_csv(tmp_path / "out" / "params.csv", index_col=0)
    assert "sigma[prices]" in params.index


BAD = [
    ("missing market ids", lambda d: d.drop(columns="market_ids"), LOGIT, None, "market_ids"),
    ("missing product id", lambda d: d.assign(product_ids=d.product_ids.where(d.index != 5)),
     LOGIT, None, "product_ids"),
    ("shares sum above one", lambda d: d.assign(shares=d.shares.where(d.market_ids != 3, 0.3)),
     LOGIT, None, "market 3"),
    ("share of zero", lambda d: d.assign(shares=d.shares.where(d.index != 2, 0.0)), LOGIT, None,
     "shares"),
    ("singular instruments", lambda d: d.assign(demand_instruments2=d.demand_instruments0),
     LOGIT, None, "singular"),
    ("unidentified", lambda d: d.drop(columns=["demand_instruments1", "demand_instruments2"]),
     'linear = "1 + prices + x"\nrandom = "0 + prices + x"\n[start]\nsigma = [[1, 0], [0, 1]]\n',
     "agents2", "not identified"),
    ("unknown formula column", None, 'linear = "1 + prices + nosuch"\n', None, "nosuch"),
    ("bad TOML", None, 'linear = "1 + prices\n', None, "TOML"),
    ("unknown spec key", None, LOGIT + 'colour = "red"\n', None, "colour"),
    ("no linear formula", None, 'random = "0 + prices"\n', None, "linear"),
    ("supply without cost", None, LOGIT, None, "cost"),
    ("RC without agents", None, BLP, None, "--agents"),
    ("sigma of the wrong shape", None, BLP.replace("[[0.5]]", "[[0.5, 0], [0, 1]]"), "agents",
     "sigma"),
    ("agents miss a market", None, BLP, "short", "market 29"),
    ("nan price", lambda d: d.assign(prices=d.prices.where(d.index != 7)), LOGIT, None,
     "prices"),
]


@pytest.mark.parametrize("name, mutate, spec, agents, needle", BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, name, mutate, spec, agents,
                                              needle):
    products = _products()
    if mutate is not None:
        products = mutate(products)
    ag = {"agents": _agents(), "short": _agents().query("market_ids < 29"),
          "agents2": _agents().assign(nodes1=0.3)}.get(agents)
    extra = ("--supply",) if name == "supply without cost" else ()
    assert _run(tmp_path, products, spec, ag, extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "out").exists()


def _significant_digits(text: str) -> int:
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mantissa)


def test_files_carry_full_precision_and_existing_ones_need_force(tmp_path, capsys):
    """The CSVs hold every digit (only the summary rounds); a second run into the same folder is
    refused, naming a file and --force, and leaves the first run's files as they were."""
    assert _run(tmp_path) == 0
    out = tmp_path / "out"
    text = (out / "params.csv").read_text()
    digits = [_significant_digits(v) for line in text.splitlines()[1:] for v in line.split(",")[1:]]
    assert max(digits) > 12, text
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    capsys.readouterr()
    assert _run(tmp_path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0] and "already holds" in err[0], err
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert _run(tmp_path, extra=["--force"]) == 0


@pytest.mark.parametrize("quiet", [False, True])
def test_progress_line_on_a_terminal_unless_quiet(tmp_path, capsys, monkeypatch, quiet):
    import sys

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.delenv("LLMECON_QUIET", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("structural.market.estimate_demand", interrupted)
    assert _run(tmp_path, extra=["--quiet"] if quiet else []) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert ("llmecon fit demand: estimating ..." in err) is not quiet, err
    assert err[-1] == "llmecon: interrupted; no output was written"
    assert not (tmp_path / "out").exists()
