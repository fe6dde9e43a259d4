"""Flax NNX modules named and argued like Keras layers, over `jaxlayers.functional`.

The NNX twins of `jaxlayers.linen`, faces of the same definitions (`jaxlayers.layers`):
the same math and Keras arguments, with eager parameters. Layers with weights take
their input size first and `rngs=`: `Dense(in_features, units, ..., rngs=rngs)`,
`Conv2D(in_channels, filters, kernel_size, ..., rngs=rngs)`,
`BatchNormalization(num_features, ..., rngs=rngs)`. They work inside
`flax.nnx.Sequential`, and with `jaxlayers.summary` / `jaxlayers.count_params`.
"""
from jaxlayers import _faces
from jaxlayers.nnx._base import Layer, face
from jaxlayers._builder import Input, Tensor
from jaxlayers.nnx.graph import Graph, Model

globals().update({_name: face(_definition) for _name, _definition in _faces.names().items()})

__all__ = [name for name in dir() if name[0].isupper()] + ["face"]
