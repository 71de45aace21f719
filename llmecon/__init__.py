"""llmecon: the command-line front end over the ``data``, ``estimation``, ``structural`` and
``papers`` packages. The CLI is thin: every command calls a library function."""

__version__ = "0.1.0"
