"""Keras `ConvND` and `ConvNDTranspose` as Flax modules."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxlayers import functional as F
from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq
from jaxlayers.functional.conv import check_arguments
from jaxlayers.linen._base import KernelLayer


class Conv(KernelLayer):
    """Keras `ConvND(filters, kernel_size)`: x: (batch, *spatial, in) -> (batch, *out, filters).

    kernel: (*kernel_size, in // groups, filters). The rank comes from
    `len(kernel_size)` or, for an int, from the input.
    """

    filters: int
    kernel_size: IntOrSeq
    strides: IntOrSeq = 1
    padding: pad.Padding = "valid"
    dilation_rate: IntOrSeq = 1
    groups: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        rank = self.spatial_rank(x, self.kernel_size)
        kernel_size, dilation, groups = check_arguments(
            rank, self.filters, self.kernel_size, self.strides, self.padding, self.dilation_rate, groups=self.groups,
            channels=x.shape[-1], channels_name="x.shape[-1]", owner=type(self).__name__)
        kernel, bias = self.kernel_and_bias((*kernel_size, x.shape[-1] // groups, self.filters), self.filters)
        x, kernel, bias = self.cast(x, kernel, bias)
        y = F.conv(x, kernel, bias, strides=self.strides, padding=self.padding, dilation_rate=dilation, groups=groups,
                   precision=self.precision)
        return self.activate(y)

    def window_geometry(self) -> tuple[IntOrSeq, IntOrSeq, IntOrSeq]:
        return self.kernel_size, self.strides, self.dilation_rate


class Conv1D(Conv):
    """Keras `Conv1D`: x: (batch, width, in); padding may also be "causal"."""

    rank = 1


class Conv2D(Conv):
    """Keras `Conv2D`: x: (batch, height, width, in)."""

    rank = 2


class Conv3D(Conv):
    """Keras `Conv3D`: x: (batch, depth, height, width, in)."""

    rank = 3


class ConvTranspose(KernelLayer):
    """Keras `ConvNDTranspose(filters, kernel_size)`: (batch, *spatial, in) -> (batch, *out, filters).

    kernel: (*kernel_size, filters, in), Keras's layout; output sizes as Keras,
    `output_padding` included.
    """

    filters: int
    kernel_size: IntOrSeq
    strides: IntOrSeq = 1
    padding: pad.Padding = "valid"
    output_padding: IntOrSeq | None = None
    dilation_rate: IntOrSeq = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        rank = self.spatial_rank(x, self.kernel_size)
        kernel_size, dilation, _ = check_arguments(
            rank, self.filters, self.kernel_size, self.strides, self.padding, self.dilation_rate,
            output_padding=self.output_padding, transpose=True, owner=type(self).__name__)
        kernel, bias = self.kernel_and_bias((*kernel_size, self.filters, x.shape[-1]), self.filters)
        x, kernel, bias = self.cast(x, kernel, bias)
        y = F.conv_transpose(x, kernel, bias, strides=self.strides, padding=self.padding,
                             output_padding=self.output_padding, dilation_rate=dilation, precision=self.precision)
        return self.activate(y)


class Conv1DTranspose(ConvTranspose):
    """Keras `Conv1DTranspose`: x: (batch, width, in)."""

    rank = 1


class Conv2DTranspose(ConvTranspose):
    """Keras `Conv2DTranspose`: x: (batch, height, width, in)."""

    rank = 2


class Conv3DTranspose(ConvTranspose):
    """Keras `Conv3DTranspose`: x: (batch, depth, height, width, in)."""

    rank = 3
