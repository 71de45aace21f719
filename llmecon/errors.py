"""The project's error classes: what the command line reports as bad input, and as a failure.

Every package raises these (or subclasses of them), so one ``except InputError`` tells bad input
from a bug. This module imports nothing, so the lowest layers (``data``, ``estimation``) may use
it without depending on anything else of ours.

- :class:`InputError` (a ``ValueError``): the input is wrong and the message says what to change.
  The CLI prints it as one line and exits 2.
- :class:`ComputationError`: the input is well formed but no trustworthy answer exists (a fit that
  cannot identify its parameters, an estimate where the objective is not finite). The CLI prints
  it as one line and exits 1, writing no files.
- :class:`MissingExtraError` (an ``ImportError``): an optional extra the command needs is not
  installed; the message names the ``pip install`` line. The CLI prints it as one line, exits 2.

Anything else that escapes a command is a bug: the CLI shows its traceback and asks for a report.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a file, column, row, parameter, option or value that is not what was expected.

    The message names the culprit and what was expected, on one line.

    Examples
    --------
    Every package's bad-input errors are InputErrors (and ValueErrors):

    >>> import data
    >>> from llmecon.errors import InputError
    >>> try:
    ...     data.load("chinchila")
    ... except InputError as err:
    ...     print(type(err).__name__, isinstance(err, ValueError))
    UnknownDatasetError True
    """


class UsageError(InputError):
    """A command-line argument that is missing, out of range or contradicts another.

    Examples
    --------
    The CLI reports it on one line of stderr and exits 2:

    >>> from llmecon.cli import main
    >>> main(["counterfactual"])     # no scenario given
    2
    """


class ComputationError(RuntimeError):
    """Well-formed input for which no trustworthy result exists; the message says why.

    Examples
    --------
    The engine's :class:`estimation.EstimationFailed` is one: here two moments that cannot
    identify a second parameter.

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> from estimation import gmm
    >>> from llmecon.errors import ComputationError
    >>> y = np.random.default_rng(0).normal(size=50)
    >>> def moments(p, d):
    ...     return jnp.stack([d["y"] - p["mu"], d["y"] ** 2 - 1.0 - p["mu"] ** 2], axis=1)
    >>> try:
    ...     gmm(moments, {"y": y}, ["mu", "nu"], start={"mu": 0.0, "nu": 0.0})
    ... except ComputationError as err:
    ...     print(type(err).__name__)
    EstimationFailed
    """


class MissingExtraError(ImportError):
    """An optional dependency (a ``pip install 'llmecon[EXTRA]'`` extra) that is not installed.

    The message names the extra to install, on one line.

    Examples
    --------
    The paper reproductions on PyBLP's bundled data raise it where pyblp is missing; the CLI
    prints the message and exits 2:

    >>> from llmecon.errors import MissingExtraError
    >>> err = MissingExtraError("the Nevo data ship with pyblp: pip install 'llmecon[market]'")
    >>> isinstance(err, ImportError), str(err).endswith("'llmecon[market]'")
    (True, True)
    """
