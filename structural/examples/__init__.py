"""Example inputs shipped with the package (pipeline TOML files)."""
