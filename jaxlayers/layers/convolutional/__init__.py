"""Keras's convolution layers (`keras/src/layers/convolutional/`)."""
from jaxlayers.layers.convolutional.conv import Conv, Conv1D, Conv2D, Conv3D
from jaxlayers.layers.convolutional.conv_transpose import (
    Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, ConvTranspose,
)

__all__ = ["Conv", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose",
           "ConvTranspose"]
