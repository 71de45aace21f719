"""Generic JAX estimation engine: MLE and M-estimation with exact derivatives, batched multistart
and bootstrap, covariance menu, delta method, tests and statsmodels-style results; linear IV and
GMM (:func:`ivreg`, :func:`gmm`) and design matrices from formulas (:func:`design`).

Knows nothing about language models: a model hands it a pure JAX function of named parameters and
data returning one log-likelihood (MLE) or loss (M-estimation) contribution per observation.

Importing the package sets JAX to float64 and switches on the persistent compilation cache
(:mod:`estimation.compilation`), and OpenBLAS to one thread unless the environment says otherwise.
"""

import os

# jaxlib's CPU LAPACK kernels (solves, factorisations) call SciPy's OpenBLAS, loaded at the first
# such call. Its worker threads spin while they wait: on the small matrices of our programs a solve
# of 20 systems of 150 unknowns cost 0.27 CPU s with the default threads and 0.004 s with one, on
# a busy two-core machine (BLP's GMM objective: 1.4 -> 0.09 CPU s). XLA runs the rest of a program
# on its own threads; OPENBLAS_NUM_THREADS set by the user is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax

jax.config.update("jax_enable_x64", True)

from estimation.compilation import enable_default_cache, prefetch_from_env  # noqa: E402

enable_default_cache()
prefetch_from_env()   # a command line's programs read back while the rest imports

from estimation.bootstrap import Bootstrap, BootstrapResults  # noqa: E402
from estimation.derivatives import ResidualDerivatives  # noqa: E402
from estimation.errors import (  # noqa: E402
    CovarianceWarning,
    EstimationError,
    EstimationFailed,
    ModelFunctionError,
    NotConvergedWarning,
    SpecificationError,
)
from estimation.fit import fit  # noqa: E402
from estimation.formula import Design, IVDesign, design, iv_design  # noqa: E402
from estimation.gmm import gmm  # noqa: E402
from estimation.gmm_results import GMMResults  # noqa: E402
from estimation.hypothesis_tests import lr_test, wald_test  # noqa: E402
from estimation.iv import ivreg  # noqa: E402
from estimation.losses import Huber, Squared  # noqa: E402
from estimation.multistart import grid_starts, random_starts, sobol_starts  # noqa: E402
from estimation.parameters import Param, ParamSpec  # noqa: E402
from estimation.results import Results  # noqa: E402
from estimation.solver import SolverOptions  # noqa: E402

__all__ = [
    "Bootstrap",
    "BootstrapResults",
    "CovarianceWarning",
    "Design",
    "EstimationError",
    "EstimationFailed",
    "GMMResults",
    "Huber",
    "IVDesign",
    "ModelFunctionError",
    "NotConvergedWarning",
    "Param",
    "ParamSpec",
    "ResidualDerivatives",
    "Results",
    "SolverOptions",
    "SpecificationError",
    "Squared",
    "design",
    "fit",
    "gmm",
    "grid_starts",
    "iv_design",
    "ivreg",
    "lr_test",
    "random_starts",
    "sobol_starts",
    "wald_test",
]
