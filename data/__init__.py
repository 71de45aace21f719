"""Curated datasets shipped with llmecon, each a CSV with a datasheet and a validating loader."""
