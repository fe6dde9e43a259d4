"""Flax linen modules named and argued like Keras layers, over `jaxlayers.functional`.

Every layer derives from `Layer` (which gives them all Keras's `dtype`); those with a
kernel and a bias from `KernelLayer`.
"""
from jaxlayers.linen._base import KernelLayer, Layer
from jaxlayers.linen.conv import (
    Conv, Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, Conv3DTranspose, ConvTranspose,
)
from jaxlayers.linen.core import Activation, Dropout, ReLU, Reshape
from jaxlayers.linen.dense import Dense
from jaxlayers.linen.graph import Graph
from jaxlayers.linen.merging import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract
from jaxlayers.linen.normalization import BatchNormalization, LayerNormalization
from jaxlayers.linen.pooling import (
    AveragePooling, AveragePooling1D, AveragePooling2D, AveragePooling3D,
    GlobalAveragePooling, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
    GlobalMaxPooling, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
    MaxPooling, MaxPooling1D, MaxPooling2D, MaxPooling3D, MaxPoolingWithIndices, MaxUnpooling,
)
from jaxlayers.linen.reshaping import (
    Cropping, Cropping1D, Cropping2D, Cropping3D, Flatten, UpSampling, UpSampling1D, UpSampling2D,
    UpSampling3D, ZeroPadding, ZeroPadding1D, ZeroPadding2D, ZeroPadding3D,
)

__all__ = [name for name in dir() if name[0].isupper()]
