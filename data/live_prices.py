"""Current API prices from the installed ``genai-prices`` package, beside the committed snapshot.

The PyPI package ``genai-prices`` (Pydantic, MIT) bundles the same price data as the
``data.json`` behind the committed ``api_prices`` snapshot, as Python objects
(``genai_prices.data.providers``). :func:`current_api_prices` turns the installed package's
bundled data into the ``api_prices`` schema by the snapshot's own rules
(:func:`data.prices.curate_genai`), so a newer package version gives newer prices without a
rebuild. Nothing is fetched: the package can update its prices over the network, which is never
used here. The package is optional (``pip install 'llmecon[live]'``).

>>> from data.live_prices import current_api_prices
>>> df = current_api_prices()   # same columns and units as data.load("api_prices")
>>> isinstance(df.attrs["genai_prices_version"], str), df.attrs["snapshot_is_run_date"]
(True, True)
"""

from __future__ import annotations

import datetime as dt
from importlib import metadata
from typing import Any

import pandas as pd

from data import catalog, crosswalk, prices
from data.errors import DataValidationError
from data.schema import validate
from llmecon.errors import MissingExtraError

INSTALL_HINT = (
    "the optional live price source needs the genai-prices package: pip install 'llmecon[live]'"
)


class LivePricesUnavailable(MissingExtraError):
    """The optional ``genai-prices`` package is not installed (or cannot be imported).

    Examples
    --------
    Fall back on the committed snapshot where the optional package is missing:

    >>> import data
    >>> try:
    ...     prices = data.current_api_prices()
    ... except data.LivePricesUnavailable:     # pip install 'llmecon[live]'
    ...     prices = data.load("api_prices")
    >>> "input_usd_per_mtok" in prices.columns
    True
    """


def _bundled_providers() -> tuple[str, list[Any]]:
    """(package version, the package's bundled providers); never the network-updated snapshot."""
    try:
        # genai_prices.data is the data generated into the wheel; get_snapshot() could return
        # prices fetched by UpdatePrices, so it is not used.
        from genai_prices.data import providers
    except ImportError as exc:
        raise LivePricesUnavailable(INSTALL_HINT) from exc
    return metadata.version("genai-prices"), providers


def _number(v: Any) -> float | dict[str, Any]:
    # Decimal → float gives the same double as json.load of the decimal string in data.json.
    if hasattr(v, "tiers"):
        return {
            "base": float(v.base),
            "tiers": [{"start": int(t.start), "price": float(t.price)} for t in v.tiers],
        }
    return float(v)


def _utc_time(t: dt.time) -> str:
    # data.json writes "00:30:00Z"; the package holds tz-aware times.
    if t.tzinfo is not None:
        t = dt.datetime.combine(dt.date(1970, 1, 1), t).astimezone(dt.UTC).time()
    return t.isoformat() + "Z"


def _constraint(c: Any) -> dict[str, str]:
    if c is None:
        return {}
    if hasattr(c, "start_date"):
        return {"start_date": c.start_date.isoformat()}
    return {"start_time": _utc_time(c.start_time), "end_time": _utc_time(c.end_time)}


def _price_block(p: Any) -> dict[str, Any]:
    return {k: _number(v) for k, v in vars(p).items() if v is not None and not k.startswith("_")}


def as_data_json(providers: list[Any]) -> list[dict[str, Any]]:
    """The package's ``Provider`` objects → the ``data.json`` dict form that
    :func:`data.prices.curate_genai` reads (only the fields it uses).

    ``price_variants`` (batch, priority and other request-dependent prices) are left out, as in
    the snapshot.
    """
    out = []
    for prov in providers:
        models = []
        for m in prov.models:
            if isinstance(m.prices, list):
                blocks: Any = []
                for b in m.prices:
                    block: dict[str, Any] = {"prices": _price_block(b.prices)}
                    con = _constraint(b.constraint)
                    if con:
                        block["constraint"] = con
                    blocks.append(block)
            else:
                blocks = _price_block(m.prices)
            entry: dict[str, Any] = {"id": m.id, "name": m.name, "prices": blocks}
            if m.context_window is not None:
                entry["context_window"] = m.context_window
            models.append(entry)
        out.append({"id": prov.id, "models": models})
    return out


def current_api_prices(on: str | dt.date | None = None) -> pd.DataFrame:
    """The installed ``genai-prices`` package's prices as a validated ``api_prices`` table.

    Parameters
    ----------
    on : str or datetime.date, optional
        Snapshot date: ``current`` marks the price block in force on this day (the latest
        ``valid_from`` on or before it; time-of-day blocks are never current). The package
        records no date for its data, so the default is today's date (UTC), which is what the
        package itself uses to pick a price; ``df.attrs["snapshot_is_run_date"]`` is then True.

    Returns
    -------
    pandas.DataFrame
        The ``api_prices`` columns, $/Mtok, validated by the same schema as the committed table;
        ``source`` = ``"genai-prices package <version>"``. Open-weights flags are Epoch's
        classification where the id matches an Epoch model (the build's crosswalk rules on the
        committed ``models`` and ``capability`` tables), else the family rule.
        ``df.attrs`` holds ``genai_prices_version`` and ``snapshot_is_run_date``.

    Raises
    ------
    LivePricesUnavailable
        An ``ImportError``: the optional package is not installed.

    Examples
    --------
    The prices in force on 1 June 2025, by the package's bundled data (nothing is fetched):

    >>> import data
    >>> prices = data.current_api_prices("2025-06-01")
    >>> prices.columns.equals(data.load("api_prices").columns)
    True
    >>> prices.attrs["snapshot_is_run_date"], bool(prices["current"].any())
    (False, True)
    >>> prices["source"].iloc[0].startswith("genai-prices package")
    True
    """
    run_date = on is None
    if on is None:
        snap = dt.datetime.now(dt.UTC).date()
    else:
        try:
            snap = pd.Timestamp(on).date()
        except ValueError:
            raise DataValidationError(f"on: expected a date YYYY-MM-DD, got {on!r}") from None
    version, providers = _bundled_providers()
    df = prices.curate_genai(
        as_data_json(providers),
        snapshot=snap.isoformat(),
        source=f"genai-prices package {version}",
    )
    flags = crosswalk.epoch_open_weights(
        df["model"].tolist(), catalog.load("models"), catalog.load("capability")
    )
    df = prices.apply_epoch_open_weights(df, flags)
    df = validate(df, prices.SCHEMA, source=f"genai-prices package {version}", allow_extra=False)
    df.attrs = {"genai_prices_version": version, "snapshot_is_run_date": run_date}
    return df
