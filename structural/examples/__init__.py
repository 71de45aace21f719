"""Example inputs shipped with the package: ``pipelines/`` (pipeline TOML files for
``llmecon cost``) and ``scenarios/`` (counterfactual scenarios)."""
