"""Flax linen modules named and argued like Keras layers, over `jaxlayers.functional`.

Each is the linen face of its one definition in `jaxlayers.layers` (`face`), which
`jaxlayers.nnx` presents too. Every layer derives from `Layer` (which gives them all
Keras's `dtype`); those with a kernel and a bias from `KernelLayer`. Keras's other
names for a class (`MaxPool2D`, `Convolution2D`, ...) are the same class.
"""
from jaxlayers import layers as _layers
from jaxlayers.linen._base import Layer, face
from jaxlayers._builder import Input, Tensor
from jaxlayers.linen.graph import Graph, Model

WeightedLayer = face(_layers.WeightedLayer)
KernelLayer = face(_layers.KernelLayer)
for _definition in _layers.LAYERS:
    for _name in (_definition.__name__, *_definition.keras_aliases):
        globals()[_name] = face(_definition)

__all__ = [name for name in dir() if name[0].isupper()] + ["face"]
