"""Experiments built on jaxlayers."""
