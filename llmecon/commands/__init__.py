"""Subcommands of ``llmecon``; each module defines ``register(subparsers)``."""
