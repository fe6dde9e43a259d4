"""Keras `SeparableConvND`: `SeparableConv` (rank from `kernel_size` or the input), `SeparableConv1D`, `SeparableConv2D`."""
from __future__ import annotations

import dataclasses

import jax

from jaxlayers import activations, initializers
from jaxlayers import functional as F
from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, positive_int
from jaxlayers.layers.convolutional.depthwise_conv import DepthwiseLayer
from jaxlayers.layers.layer import Weight, ranked


class SeparableConv(DepthwiseLayer):
    """Keras `SeparableConvND(filters, kernel_size)`: x: (batch, *spatial, C) -> (batch, *out, filters).

    A depthwise conv (`depth_multiplier` filters per input channel), then a 1x1 conv
    mixing its C * depth_multiplier channels into `filters`. Parameters
    `depthwise_kernel` (*kernel_size, C, depth_multiplier), `pointwise_kernel`
    (1, ..., 1, C * depth_multiplier, filters) and `bias` (filters,), Keras's names and
    layouts. The rank comes from the class (`SeparableConv2D`, ...), `len(kernel_size)`
    or (linen, an int `kernel_size`) the input. The call runs
    `jaxlayers.functional.separable_conv`, then the activation.

    Args:
        filters: output channels.
        kernel_size: an int or one per spatial axis.
        strides: an int or one per spatial axis.
        padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis
            (Keras: "valid" or "same").
        dilation_rate: an int or one per spatial axis.
        depth_multiplier: the depthwise conv's output channels per input channel.
        activation: a Keras activation name, a callable or None (linear), applied last
            (keyword-only, as all the arguments below).
        use_bias: whether the layer has a `bias`.
        depthwise_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        pointwise_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
    """

    filters: int
    kernel_size: IntOrSeq
    strides: IntOrSeq = 1
    padding: pad.Padding = "valid"
    dilation_rate: IntOrSeq = 1
    depth_multiplier: int = 1
    _: dataclasses.KW_ONLY
    pointwise_initializer: initializers.Initializer = "glorot_uniform"

    def check(self) -> None:
        super().check()
        positive_int(self.filters, "filters")
        initializers.get(self.pointwise_initializer, "pointwise_initializer")

    def build(self, in_channels: int, rank: int | None = None) -> dict[str, Weight | None]:
        depthwise = self.depthwise_weight(in_channels, rank)
        spatial = len(depthwise.shape) - 2
        pointwise = Weight((*(1,) * spatial, in_channels * self.depth_multiplier, self.filters),
                           self.pointwise_initializer, argument="pointwise_initializer")
        return {"depthwise_kernel": depthwise, "pointwise_kernel": pointwise, "bias": self.bias_weight(self.filters)}

    def call(self, x: jax.Array, depthwise_kernel: jax.Array, pointwise_kernel: jax.Array,
             bias: jax.Array | None) -> jax.Array:
        x, depthwise_kernel, pointwise_kernel, bias = self.promote(x, depthwise_kernel, pointwise_kernel, bias)
        y = F.separable_conv(x, depthwise_kernel, pointwise_kernel, bias, strides=self.strides, padding=self.padding,
                             dilation_rate=self.dilation_rate, precision=self.precision)
        return activations.get(self.activation)(y)


SeparableConv1D, SeparableConv2D = ranked(
    SeparableConv, "SeparableConv{}D", "Keras `{name}`: x: {layout}. Arguments as `SeparableConv`.",
    aliases="SeparableConvolution{}D", ranks=(1, 2))
