"""Keras's convolution layers (`keras/src/layers/convolutional/`)."""
from jaxlayers.layers.convolutional.conv import Conv, Conv1D, Conv2D, Conv3D
from jaxlayers.layers.convolutional.conv_transpose import (
    Conv1DTranspose, Conv2DTranspose, Conv3DTranspose, ConvTranspose,
)
from jaxlayers.layers.convolutional.depthwise_conv import DepthwiseConv, DepthwiseConv1D, DepthwiseConv2D
from jaxlayers.layers.convolutional.separable_conv import SeparableConv, SeparableConv1D, SeparableConv2D

__all__ = ["Conv", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose", "Conv3D", "Conv3DTranspose",
           "ConvTranspose", "DepthwiseConv", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv", "SeparableConv1D",
           "SeparableConv2D"]
