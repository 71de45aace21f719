"""Errors raised by the estimation engine, written for the user."""

from __future__ import annotations

from llmecon.errors import ComputationError, InputError


class EstimationError(Exception):
    """Base class of every error the engine raises on purpose.

    Bad input raises :class:`SpecificationError` (also an :class:`llmecon.errors.InputError`); a
    well-formed problem without a trustworthy answer raises :class:`EstimationFailed` (also an
    :class:`llmecon.errors.ComputationError`). One ``except EstimationError`` catches both.

    Examples
    --------
    >>> from estimation import EstimationError, Param, ParamSpec
    >>> try:
    ...     ParamSpec([Param("a"), Param("a")])
    ... except EstimationError as err:
    ...     print(type(err).__name__, "-", err)
    SpecificationError - duplicate parameter names: ['a']
    """


class SpecificationError(EstimationError, InputError):
    """A parameter specification, start, data array or option is invalid (names the culprit).

    Examples
    --------
    >>> from estimation import Param
    >>> Param("sigma", transform="exp")
    Traceback (most recent call last):
    ...
    estimation.errors.SpecificationError: parameter 'sigma': transform 'exp' is not one of ...
    """


class EstimationFailed(EstimationError, ComputationError):
    """The input is well formed but the estimate cannot be trusted (not finite, not identified).

    Examples
    --------
    Two moments that do not involve the parameter ``nu`` cannot identify it:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import EstimationFailed, gmm
    >>> y = np.random.default_rng(0).normal(size=100)
    >>> def moments(p, d):
    ...     return jnp.stack([d["y"] - p["mu"], d["y"] ** 2 - 1.0 - p["mu"] ** 2], axis=1)
    >>> try:
    ...     gmm(moments, {"y": y}, ["mu", "nu"], start={"mu": 0.0, "nu": 0.0})
    ... except EstimationFailed as err:
    ...     print(err)  # doctest: +ELLIPSIS
    G'WG ... is singular (...): the parameters are not identified by these moments
    """


class ModelFunctionError(SpecificationError):
    """The user's model function failed or returned the wrong shape; the message names the
    function, the parameter values it was called with and the shape expected.

    Examples
    --------
    A log-likelihood summed over the rows instead of one contribution per row:

    >>> import numpy as np
    >>> from estimation import fit
    >>> def loglik(p, d):
    ...     return -((d["y"] - p["mu"]) ** 2).sum()
    >>> fit(loglik, {"y": np.zeros(5)}, ["mu"], start={"mu": 0.0}, progress=False)
    Traceback (most recent call last):
    ...
    estimation.errors.ModelFunctionError: loglik(mu=0) returned contributions of shape (); ...
    """


class NotConvergedWarning(UserWarning):
    """A fit or some bootstrap replicates did not meet the convergence test.

    Examples
    --------
    Two iterations are not enough from a start far from the optimum; the fit still returns,
    flagged as not converged, with the reason in its status:

    >>> import warnings
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import NotConvergedWarning, SolverOptions, fit
    >>> y = np.random.default_rng(0).normal(size=20)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     res = fit(lambda p, d: -jnp.cosh(d["y"] - p["a"]), {"y": y}, ["a"],
    ...               start={"a": 30.0}, options=SolverOptions(maxiter=2), progress=False)
    >>> [w.category.__name__ for w in caught], bool(res.converged)
    (['NotConvergedWarning'], False)
    """


class CovarianceWarning(UserWarning):
    """The covariance matrix is singular or ill-conditioned at the estimate.

    Examples
    --------
    Only the sum ``a + b`` enters the model, so the Hessian is singular and both standard
    errors are NaN, with a warning that says why:

    >>> import warnings
    >>> import numpy as np
    >>> from estimation import CovarianceWarning, fit
    >>> y = np.random.default_rng(0).normal(size=20)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     res = fit(lambda p, d: -(d["y"] - p["a"] - p["b"]) ** 2, {"y": y}, ["a", "b"],
    ...               start={"a": 0.0, "b": 0.0}, progress=False)
    >>> any(issubclass(w.category, CovarianceWarning) for w in caught)
    True
    >>> bool(res.bse.isna().all())
    True
    """
