"""Keras's preprocessing layers (`keras/src/layers/preprocessing/`): rescaling, normalization, resizing, cropping."""
from jaxlayers.layers.preprocessing.center_crop import CenterCrop
from jaxlayers.layers.preprocessing.normalization import Normalization
from jaxlayers.layers.preprocessing.rescaling import Rescaling
from jaxlayers.layers.preprocessing.resizing import Resizing

__all__ = ["CenterCrop", "Normalization", "Rescaling", "Resizing"]
