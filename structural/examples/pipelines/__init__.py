"""Example pipeline specifications: read them with ``structural.pipeline.Pipeline.from_toml``."""

__all__: list[str] = []  # data files only
