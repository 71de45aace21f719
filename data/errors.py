"""Errors raised by the data package."""

from __future__ import annotations

from llmecon.errors import InputError


class DataValidationError(InputError):
    """A table does not match its schema.

    The message is one line naming the dataset or file, the column, the first offending row
    (0-based position in the table, with its value) and what was expected, so that a user can
    find and fix the problem without reading the code.
    """


class UnknownDatasetError(KeyError, InputError):
    """A dataset name that is not in the catalogue; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
