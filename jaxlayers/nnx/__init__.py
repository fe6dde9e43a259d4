"""Flax NNX modules named and argued like Keras layers, over `jaxlayers.functional`.

The NNX twins of `jaxlayers.linen`, faces of the same definitions (`jaxlayers.layers`):
the same math and Keras arguments, with eager parameters. Layers with weights take
their input size first and `rngs=`: `Dense(in_features, units, ..., rngs=rngs)`,
`Conv2D(in_channels, filters, kernel_size, ..., rngs=rngs)`,
`BatchNormalization(num_features, ..., rngs=rngs)`. They work inside
`flax.nnx.Sequential`, and with `jaxlayers.summary` / `jaxlayers.count_params`.
"""
from jaxlayers import layers as _layers
from jaxlayers.nnx._base import Layer, face
from jaxlayers._builder import Input, Tensor
from jaxlayers.nnx.graph import Graph, Model

WeightedLayer = face(_layers.WeightedLayer)
KernelLayer = face(_layers.KernelLayer)
for _definition in _layers.LAYERS:
    for _name in (_definition.__name__, *_definition.keras_aliases):
        globals()[_name] = face(_definition)

__all__ = [name for name in dir() if name[0].isupper()] + ["face"]
