"""Keras's core layers (`keras/src/layers/core/`)."""
from jaxlayers.layers.core.arithmetic import Arithmetic
from jaxlayers.layers.core.dense import Dense

__all__ = ["Arithmetic", "Dense"]
