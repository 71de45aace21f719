"""Errors raised by the data package."""

from __future__ import annotations

from llmecon.errors import InputError


class DataValidationError(InputError):
    """A table does not match its schema.

    The message is one line naming the dataset or file, the column, the first offending row
    (0-based position in the table, with its value) and what was expected, so that a user can
    find and fix the problem without reading the code.

    Examples
    --------
    >>> import pandas as pd
    >>> import data
    >>> runs = pd.DataFrame({"params": [1e8], "tokens": [-2e9], "loss": [3.1]})
    >>> try:
    ...     data.validate_chinchilla_fit_input(runs, "runs.csv")
    ... except data.DataValidationError as err:
    ...     print(err)
    chinchilla fit input (runs.csv): column 'tokens': row 0 (0-based) has -2000000000: ...
    """


class UnknownDatasetError(KeyError, InputError):
    """A dataset name that is not in the catalogue; the message lists the known names.

    Also a ``KeyError``, as for any unknown key.

    Examples
    --------
    >>> import data
    >>> try:
    ...     data.load("chinchila")
    ... except data.UnknownDatasetError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    unknown dataset 'chinchila'; known datasets: api_market, ..., chinchilla, ...
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
