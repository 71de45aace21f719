"""Example counterfactual scenarios (TOML), run with ``llmecon counterfactual FILE --out DIR``."""
