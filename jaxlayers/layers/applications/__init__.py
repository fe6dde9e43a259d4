"""The layers `keras.applications` defines for its own models (not in `keras.layers`)."""
from jaxlayers.layers.applications.convnext import LayerScale
from jaxlayers.layers.applications.inception_resnet_v2 import CustomScaleLayer

__all__ = ["CustomScaleLayer", "LayerScale"]
