"""Example counterfactual scenarios (TOML), run with ``llmecon counterfactual FILE --out DIR``."""

__all__: list[str] = []  # data files only
