"""Flax NNX modules named and argued like Keras layers, over `jaxlayers.functional`.

The NNX twins of `jaxlayers.linen`: the same math and Keras arguments, with eager
parameters. Layers with weights take their input size first and `rngs=`:
`Dense(in_features, units, ..., rngs=rngs)`, `Conv2D(in_channels, filters, kernel_size,
..., rngs=rngs)`, `Conv2DTranspose(in_channels, filters, kernel_size, ...)`. They work
inside `flax.nnx.Sequential`, and with `jaxlayers.summary` / `jaxlayers.count_params`.
"""
from jaxlayers.nnx._base import KernelLayer, Layer
from jaxlayers.nnx.core import Activation, Dropout, ReLU, Reshape
from jaxlayers.nnx.graph import Graph
from jaxlayers.nnx.layers import (
    AveragePooling, AveragePooling1D, AveragePooling2D, AveragePooling3D, Conv, Conv1D, Conv1DTranspose, Conv2D,
    Conv2DTranspose, Conv3D, Conv3DTranspose, ConvTranspose, Cropping, Cropping1D, Cropping2D, Cropping3D, Dense,
    Flatten, GlobalAveragePooling, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
    GlobalMaxPooling, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling, MaxPooling1D,
    MaxPooling2D, MaxPooling3D, MaxPoolingWithIndices, MaxUnpooling, UpSampling, UpSampling1D, UpSampling2D,
    UpSampling3D, ZeroPadding, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D,
)
from jaxlayers.nnx.merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from jaxlayers.nnx.normalization import BatchNormalization, LayerNormalization

__all__ = [name for name in dir() if name[0].isupper()]
