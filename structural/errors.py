"""Errors raised by the structural model: each names the offending field and what was expected."""

from __future__ import annotations

from llmecon.errors import InputError

__all__ = ["MarketDataError", "PipelineError", "UnknownHardwareError"]


class PipelineError(InputError):
    """A pipeline, stage or hardware specification is invalid.

    ``field`` is the dotted name of the offending field (e.g. ``"output.y"``); the message says what
    was expected, so the command line can print it as one line.

    Examples
    --------
    >>> from structural.stages import Pretrain
    >>> Pretrain(N=-1.0, D=1e12)
    Traceback (most recent call last):
    ...
    structural.errors.PipelineError: pretrain.N: expected a positive number, got -1.0
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class UnknownHardwareError(PipelineError):
    """A hardware name that is not one of the presets in :data:`structural.hardware.PRESETS`.

    Examples
    --------
    >>> from structural.hardware import get_hardware
    >>> get_hardware("TPU9")
    Traceback (most recent call last):
    ...
    structural.errors.UnknownHardwareError: hardware.name: unknown hardware 'TPU9'; known: V100, ...
    """


class MarketDataError(InputError):
    """Products × markets data or a demand specification is invalid.

    ``field`` names the offending column, market or parameter; the message says what was expected,
    so the command line prints it as one line.

    Examples
    --------
    >>> from structural.errors import MarketDataError
    >>> issubclass(MarketDataError, ValueError)
    True
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
