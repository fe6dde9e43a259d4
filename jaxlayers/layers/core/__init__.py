"""Keras's core layers (`keras/src/layers/core/`)."""
from jaxlayers.layers.core.arithmetic import Arithmetic
from jaxlayers.layers.core.dense import Dense
from jaxlayers.layers.core.einsum_dense import EinsumDense
from jaxlayers.layers.core.embedding import Embedding
from jaxlayers.layers.core.identity import Identity
from jaxlayers.layers.core.masking import Masking

__all__ = ["Arithmetic", "Dense", "EinsumDense", "Embedding", "Identity", "Masking"]
