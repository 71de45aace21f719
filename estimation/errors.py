"""Errors raised by the estimation engine, written for the user."""

from __future__ import annotations

from llmecon.errors import ComputationError, InputError


class EstimationError(Exception):
    """Base class of every error the engine raises on purpose."""


class SpecificationError(EstimationError, InputError):
    """A parameter specification, start, data array or option is invalid (names the culprit)."""


class EstimationFailed(EstimationError, ComputationError):
    """The input is well formed but the estimate cannot be trusted (not finite, not identified)."""


class ModelFunctionError(SpecificationError):
    """The user's model function failed or returned the wrong shape; the message names the
    function, the parameter values it was called with and the shape expected."""


class NotConvergedWarning(UserWarning):
    """A fit or some bootstrap replicates did not meet the convergence test."""


class CovarianceWarning(UserWarning):
    """The covariance matrix is singular or ill-conditioned at the estimate."""
