"""Keras's core layers (`keras/src/layers/core/`)."""
from jaxlayers.layers.core.arithmetic import Arithmetic
from jaxlayers.layers.core.dense import Dense
from jaxlayers.layers.core.einsum_dense import EinsumDense
from jaxlayers.layers.core.identity import Identity

__all__ = ["Arithmetic", "Dense", "EinsumDense", "Identity"]
