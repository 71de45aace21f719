"""Errors raised by the structural model: each names the offending field and what was expected."""

from __future__ import annotations

from llmecon.errors import InputError


class PipelineError(InputError):
    """A pipeline, stage or hardware specification is invalid.

    ``field`` is the dotted name of the offending field (e.g. ``"output.y"``); the message says what
    was expected, so the command line can print it as one line.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class UnknownHardwareError(PipelineError):
    """A hardware name that is not one of the presets in :data:`structural.hardware.PRESETS`."""


class MarketDataError(InputError):
    """Products × markets data or a demand specification is invalid.

    ``field`` names the offending column, market or parameter; the message says what was expected,
    so the command line prints it as one line.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
