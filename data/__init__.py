"""Curated datasets shipped with llmecon, each a CSV with a datasheet and a validating loader.

>>> import data
>>> catalogue = data.list()           # name, rows, snapshot, licence, description
>>> df = data.load("chinchilla")      # validated DataFrame
>>> sheet = data.datasheet("chinchilla")
>>> checked = data.validate(df, "chinchilla")   # check your own table against a dataset's schema

``DATASETS`` is the catalogue itself, one :class:`data.catalog.Dataset` (schema, snapshot date,
licence, description) per name:

>>> entry = data.DATASETS["chinchilla"]
>>> entry.snapshot, entry.schema.names
('2024-05-14', ['params', 'flops', 'tokens', 'loss', 'outlier'])
"""

from __future__ import annotations

import pandas as pd

from data.catalog import DATASETS, datasheet, load, validate
from data.catalog import catalogue as _catalogue
from data.chinchilla import validate_chinchilla_fit_input
from data.errors import DataValidationError, UnknownDatasetError
from data.live_prices import LivePricesUnavailable, current_api_prices
from data.schema import Column, Schema

__all__ = [
    "DATASETS",
    "Column",
    "DataValidationError",
    "LivePricesUnavailable",
    "Schema",
    "UnknownDatasetError",
    "current_api_prices",
    "datasheet",
    "list",
    "load",
    "validate",
    "validate_chinchilla_fit_input",
]


def list() -> pd.DataFrame:
    """Every curated dataset with its row count, snapshot date, licence and description.

    Examples
    --------
    >>> import data
    >>> catalogue = data.list()
    >>> catalogue.columns.tolist()
    ['name', 'rows', 'snapshot', 'licence', 'description']
    >>> int(catalogue.set_index("name").loc["chinchilla", "rows"])
    245
    """
    return _catalogue()
