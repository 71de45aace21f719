"""Errors raised by the estimation engine, written for the user."""

from __future__ import annotations


class EstimationError(Exception):
    """Base class of every error the engine raises on purpose."""


class SpecificationError(EstimationError, ValueError):
    """A parameter specification, start, data array or option is invalid (names the culprit)."""


class NotConvergedWarning(UserWarning):
    """A fit or some bootstrap replicates did not meet the convergence test."""


class CovarianceWarning(UserWarning):
    """The covariance matrix is singular or ill-conditioned at the estimate."""
