"""Example inputs shipped with the package: ``pipelines/`` (pipeline TOML files for
``llmecon cost``) and ``scenarios/`` (counterfactual scenarios)."""

__all__: list[str] = []  # data files only
