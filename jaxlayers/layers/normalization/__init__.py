"""Keras's normalization layers (`keras/src/layers/normalization/`)."""
from jaxlayers.layers.normalization.batch_normalization import BatchNormalization
from jaxlayers.layers.normalization.layer_normalization import LayerNormalization

__all__ = ["BatchNormalization", "LayerNormalization"]
