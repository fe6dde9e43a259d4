"""Flax linen modules named and argued like Keras layers, over `jaxlayers.functional`.

Each is the linen face of its one definition in `jaxlayers.layers` (`face`), which
`jaxlayers.nnx` presents too. Every layer derives from `Layer` (which gives them all
Keras's `dtype`); those with a kernel and a bias from `KernelLayer`. Keras's other
names for a class (`MaxPool2D`, `Convolution2D`, ...) are the same class.
"""
from jaxlayers import _faces
from jaxlayers.linen._base import Layer, face
from jaxlayers._builder import Input, Tensor
from jaxlayers.linen.graph import Graph, Model

globals().update({_name: face(_definition) for _name, _definition in _faces.names().items()})

__all__ = [name for name in dir() if name[0].isupper()] + ["face"]
