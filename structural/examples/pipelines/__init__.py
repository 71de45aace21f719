"""Example pipeline specifications: read them with ``structural.pipeline.Pipeline.from_toml``."""
