"""The Chinchilla training runs (Hoffmann et al. 2022, Figure 4 left) as digitised by Epoch AI.

Besiroglu, Erdil, Barnett and You (2024), "Chinchilla Scaling: A replication attempt"
(arXiv:2404.10102), recovered the 245 final training runs behind Hoffmann et al.'s Figure 4 from the
figure's SVG and refitted the parametric loss L(N, D) = E + A/N^alpha + B/D^beta on them,
dropping the five highest-loss runs as outliers. The curated table keeps every run, flags those
five, and adds the training tokens D = C / (6 N) (Kaplan et al. 2020: C ≈ 6 N D).
"""

from __future__ import annotations

import pandas as pd

from data.errors import DataValidationError
from data.schema import Column, Schema, validate

SCHEMA = Schema(
    name="chinchilla",
    columns=(
        Column(
            "params",
            "float",
            "parameters",
            min=1e7,
            max=1e12,
            positive=True,
            description="model size N (non-embedding + embedding, as plotted by Hoffmann et al.)",
        ),
        Column(
            "flops",
            "float",
            "FLOP",
            min=1e17,
            max=1e25,
            positive=True,
            description="training compute C",
        ),
        Column(
            "tokens",
            "float",
            "tokens",
            min=1e7,
            max=1e13,
            positive=True,
            description="training tokens D = C / (6 N)",
        ),
        Column(
            "loss",
            "float",
            "nats/token",
            min=1.0,
            max=10.0,
            positive=True,
            description="final training loss, decoded from the point colour (~99 distinct values)",
        ),
        Column(
            "outlier",
            "bool",
            description="one of the 5 highest-loss runs that Besiroglu et al. (2024) drop",
        ),
    ),
)

#: Number of highest-loss runs Besiroglu et al. (2024) drop before fitting.
N_OUTLIERS = 5

#: Columns a user-supplied file must have for ``llmecon fit chinchilla --data FILE.csv``.
FIT_SCHEMA = Schema(
    name="chinchilla fit input",
    columns=(
        # Upper bounds far beyond any model trained: a value past them is a unit or typing error.
        Column("params", "float", "parameters", positive=True, max=1e16,
               description="model size N"),
        Column("tokens", "float", "tokens", positive=True, max=1e18,
               description="training tokens D"),
        Column("loss", "float", "nats/token", positive=True, max=100.0,
               description="final loss L"),
    ),
)


def validate_chinchilla_fit_input(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate a user table for the Chinchilla loss fit L(N, D) = E + A/N^alpha + B/D^beta.

    Parameters
    ----------
    df : pandas.DataFrame
        Must have columns ``params`` (N), ``tokens`` (D) and ``loss`` (L), every value finite and
        strictly positive, and at least one row. Other columns (``flops``, ``outlier``) are kept.
    source : str
        Where the table came from (a file name), named in error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with ``params``, ``tokens`` and ``loss`` as float64 first, then the other columns.

    Raises
    ------
    data.DataValidationError
        One line naming ``source``, the column, the first bad row (0-based) and its value.

    Examples
    --------
    >>> import pandas as pd
    >>> import data
    >>> runs = pd.DataFrame({"params": [1e8, 4e8], "tokens": ["2e9", "8e9"], "loss": [3.1, 2.8],
    ...                      "lab": ["x", "y"]})
    >>> checked = data.validate_chinchilla_fit_input(runs, "runs.csv")
    >>> checked.columns.tolist(), checked["tokens"].dtype.name
    (['params', 'tokens', 'loss', 'lab'], 'float64')
    """
    return validate(df, FIT_SCHEMA, source=source)


def curate(raw: pd.DataFrame) -> pd.DataFrame:
    """Turn Epoch AI's ``svg_extracted_data.csv`` into the curated table (source row order kept).

    The outliers are the ``N_OUTLIERS`` largest losses; a tie at the boundary would make the set
    ambiguous, so it is an error rather than an arbitrary pick.
    """
    params = raw["Model Size"].astype(float)
    flops = raw["Training FLOP"].astype(float)
    loss = raw["loss"].astype(float)
    ordered = loss.sort_values(ascending=False, kind="stable")
    if ordered.iloc[N_OUTLIERS - 1] == ordered.iloc[N_OUTLIERS]:
        raise DataValidationError(
            f"chinchilla: column 'loss': the {N_OUTLIERS}th and {N_OUTLIERS + 1}th highest "
            f"losses tie at {ordered.iloc[N_OUTLIERS]}; the outlier set is ambiguous"
        )
    outlier = loss >= ordered.iloc[N_OUTLIERS - 1]
    out = pd.DataFrame(
        {
            "params": params,
            "flops": flops,
            "tokens": flops / (6.0 * params),
            "loss": loss,
            "outlier": outlier.astype(bool),
        }
    )
    return validate(out.reset_index(drop=True), SCHEMA, source="svg_extracted_data.csv")
