"""Keras's normalization layers (`keras/src/layers/normalization/`)."""
from jaxlayers.layers.normalization.batch_normalization import BatchNormalization
from jaxlayers.layers.normalization.group_normalization import GroupNormalization
from jaxlayers.layers.normalization.layer_normalization import LayerNormalization
from jaxlayers.layers.normalization.rms_normalization import RMSNormalization
from jaxlayers.layers.normalization.spectral_normalization import SpectralNormalization
from jaxlayers.layers.normalization.unit_normalization import UnitNormalization

__all__ = ["BatchNormalization", "GroupNormalization", "LayerNormalization", "RMSNormalization",
           "SpectralNormalization", "UnitNormalization"]
