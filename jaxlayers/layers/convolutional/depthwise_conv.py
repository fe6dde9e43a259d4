"""Keras `DepthwiseConvND`: `DepthwiseConv` (rank from `kernel_size` or the input), `DepthwiseConv1D`, `DepthwiseConv2D`."""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
from jax import lax

from jaxlayers import activations, initializers
from jaxlayers import functional as F
from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, positive_int
from jaxlayers.functional._checks import check_precision
from jaxlayers.functional.depthwise import check_arguments
from jaxlayers.layers.convolutional.conv import Conv, ConvLayer
from jaxlayers.layers.layer import Weight, WeightedLayer, ranked


class DepthwiseLayer(WeightedLayer):
    """The base of the depthwise convolutions: `depth_multiplier` filters per input channel.

    The window arguments (`kernel_size`, `strides`, `padding`, `depth_multiplier`,
    `dilation_rate`) are the subclasses' own fields, in their Keras positions.

    Args:
        activation: a Keras activation name, a callable or None (linear), applied last
            (keyword-only, as all the arguments below).
        use_bias: whether the layer has a `bias`.
        depthwise_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        precision: passed to `lax` (`lax.Precision`).
    """

    input_sizes = {"in_channels": "the input's channels (x.shape[-1])."}
    _KERAS_PADDINGS = ("valid", "same")

    _: dataclasses.KW_ONLY
    activation: activations.Activation = None
    use_bias: bool = True
    depthwise_initializer: initializers.Initializer = "glorot_uniform"
    bias_initializer: initializers.Initializer = "zeros"
    precision: lax.PrecisionLike = None

    def check(self) -> None:
        super().check()
        activations.get(self.activation)
        initializers.get(self.depthwise_initializer, "depthwise_initializer")
        initializers.get(self.bias_initializer, "bias_initializer")
        check_precision(self.precision)
        check_arguments(self.rank, self.kernel_size, self.strides, self.padding, self.dilation_rate,
                        self.depth_multiplier)

    def sizes(self, x: Any) -> dict[str, Any]:
        return {"in_channels": x.shape[-1], "rank": self.spatial_rank(x, self.kernel_size)}

    kernel_rank = ConvLayer.kernel_rank
    window_geometry = Conv.window_geometry

    def depthwise_weight(self, in_channels: int, rank: int | None) -> Weight:
        """The depthwise kernel, (*kernel_size, in_channels, depth_multiplier), Keras's layout.

        Args:
            in_channels: the input's channels.
            rank: the call's spatial rank, if known.

        Returns:
            Its declaration, initialized by `depthwise_initializer`.
        """
        kernel_size, _ = check_arguments(self.kernel_rank(rank), self.kernel_size, self.strides, self.padding,
                                         self.dilation_rate, self.depth_multiplier)
        shape = (*kernel_size, positive_int(in_channels, "in_channels"), self.depth_multiplier)
        return Weight(shape, self.depthwise_initializer, argument="depthwise_initializer")

    def bias_weight(self, units: int) -> Weight | None:
        """The bias, with `use_bias`.

        Args:
            units: its size (the output channels).

        Returns:
            Its declaration (units,), or None without `use_bias`.
        """
        return Weight((units,), self.bias_initializer) if self.use_bias else None

    def keras_refusal(self, keras_class: str) -> str | None:
        """Why `to_keras` cannot make this layer, if it cannot.

        Args:
            keras_class: the Keras class it would be.

        Returns:
            The reason (a padding Keras's depthwise layers lack), or None.
        """
        if isinstance(self.padding, str) and self.padding.lower() in self._KERAS_PADDINGS:
            return None
        return f"has padding {self.padding!r}; Keras's {keras_class} only has 'valid' and 'same'."


class DepthwiseConv(DepthwiseLayer):
    """Keras `DepthwiseConvND(kernel_size)`: x: (batch, *spatial, C) -> (batch, *out, C * depth_multiplier).

    Parameters `kernel` (*kernel_size, C, depth_multiplier) and `bias`
    (C * depth_multiplier,), Keras's names and layouts; output channel `c * m + j` is
    input channel `c`'s filter `j`. The rank comes from the class (`DepthwiseConv2D`,
    ...), `len(kernel_size)` or (linen, an int `kernel_size`) the input. The call runs
    `jaxlayers.functional.depthwise_conv`, then the activation.

    Args:
        kernel_size: an int or one per spatial axis.
        strides: an int or one per spatial axis.
        padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis
            (Keras: "valid" or "same").
        depth_multiplier: output channels per input channel.
        dilation_rate: an int or one per spatial axis.
        activation: a Keras activation name, a callable or None (linear), applied last
            (keyword-only, as all the arguments below).
        use_bias: whether the layer has a `bias`.
        depthwise_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
    """

    kernel_size: IntOrSeq
    strides: IntOrSeq = 1
    padding: pad.Padding = "valid"
    depth_multiplier: int = 1
    dilation_rate: IntOrSeq = 1

    def build(self, in_channels: int, rank: int | None = None) -> dict[str, Weight | None]:
        kernel = self.depthwise_weight(in_channels, rank)
        return {"kernel": kernel, "bias": self.bias_weight(in_channels * self.depth_multiplier)}

    def call(self, x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> jax.Array:
        x, kernel, bias = self.promote(x, kernel, bias)
        y = F.depthwise_conv(x, kernel, bias, strides=self.strides, padding=self.padding,
                             dilation_rate=self.dilation_rate, precision=self.precision)
        return activations.get(self.activation)(y)


DepthwiseConv1D, DepthwiseConv2D = ranked(
    DepthwiseConv, "DepthwiseConv{}D", "Keras `{name}`: x: {layout}. Arguments as `DepthwiseConv`.", ranks=(1, 2))
