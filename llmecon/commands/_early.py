"""Reading a command's kept compiled programs back from the library's import on.

A command line that knows which run it starts names it in :data:`PREFETCH_ENV` before it imports
the library; the import (:func:`estimation.compilation.prefetch_from_env`) then starts reading that
run's kept programs on background threads, beside the rest of the imports and the data's loading.
"""

from __future__ import annotations

import os
import sys

#: The variable :func:`estimation.compilation.prefetch_from_env` reads (spelled here: importing
#: ``estimation.compilation`` imports JAX; a test checks the two spellings agree).
PREFETCH_ENV = "_LLMECON_PREFETCH"


def read_back_from_import(name: str) -> bool:
    """Name the run ``name`` (with this process's id, so a child ignores it) in
    :data:`PREFETCH_ENV` if the library is not imported yet; return whether it was named (a
    Python caller that imported the library first gets nothing read ahead, and nothing changes)."""
    if "estimation" in sys.modules:
        return False
    os.environ[PREFETCH_ENV] = f"{os.getpid()}:{name}"
    return True
