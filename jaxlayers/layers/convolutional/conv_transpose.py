"""Keras `ConvNDTranspose`: `ConvTranspose` and `Conv1DTranspose`, `Conv2DTranspose`, `Conv3DTranspose`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, positive_int
from jaxlayers.functional.conv import check_arguments
from jaxlayers.layers.convolutional.conv import ConvLayer
from jaxlayers.layers.layer import Weight, ranked


class ConvTranspose(ConvLayer):
    """Keras `ConvNDTranspose(filters, kernel_size)`: (batch, *spatial, in_channels) -> (batch, *out, filters).

    Parameters `kernel` (*kernel_size, filters, in_channels), Keras's layout, and `bias`
    (filters,); output sizes as Keras, `output_padding` included. The call runs
    `jaxlayers.functional.conv_transpose`, then the activation.

    Keyword-only: `KernelLayer`'s `activation`, `use_bias`, `kernel_initializer`,
    `bias_initializer`, `precision`, and `dtype`, `param_dtype`.

    Args:
        filters: output channels.
        kernel_size: an int or one per spatial axis.
        strides: an int or one per spatial axis.
        padding: "valid" or "same".
        output_padding: None, or an int or one per axis, each smaller than its stride.
        dilation_rate: an int or one per spatial axis.
    """

    strides: IntOrSeq = 1
    padding: pad.Padding = "valid"
    output_padding: IntOrSeq | None = None
    dilation_rate: IntOrSeq = 1

    def check(self) -> None:
        super().check()
        check_arguments(self.rank, self.filters, self.kernel_size, self.strides, self.padding, self.dilation_rate,
                        output_padding=self.output_padding, transpose=True, owner=type(self).__name__)

    def build(self, in_channels: int, rank: int | None = None) -> dict[str, Weight | None]:
        kernel_size, _, _ = check_arguments(
            self.kernel_rank(rank), self.filters, self.kernel_size, self.strides, self.padding, self.dilation_rate,
            output_padding=self.output_padding, transpose=True, owner=type(self).__name__)
        return self.kernel_and_bias((*kernel_size, self.filters, positive_int(in_channels, "in_channels")),
                                    self.filters)

    def call(self, x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> jax.Array:
        x, kernel, bias = self.promote(x, kernel, bias)
        y = F.conv_transpose(x, kernel, bias, strides=self.strides, padding=self.padding,
                             output_padding=self.output_padding, dilation_rate=self.dilation_rate,
                             precision=self.precision)
        return self.activate(y)


Conv1DTranspose, Conv2DTranspose, Conv3DTranspose = ranked(
    ConvTranspose, "Conv{}DTranspose", "Keras `{name}`: x: {layout}. Arguments as `ConvTranspose`.",
    aliases="Convolution{}DTranspose")
