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

    Parameters `kernel` (*kernel_size, in // groups, filters) and `bias` (filters,). The
    rank comes from `len(kernel_size)` or, for an int, from the input. `conv(x)` runs
    `jaxlayers.functional.conv`, then the activation.

    Args:
        filters: output channels.
        kernel_size: an int or one per spatial axis.
        strides: an int or one per spatial axis.
        padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis.
        dilation_rate: an int or one per spatial axis.
        groups: feature groups, dividing the input channels and `filters`.
        activation: a Keras activation name, a callable or None (linear), applied last
            (keyword-only, as all the arguments below).
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
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
        """The window, for `jaxlayers.shapes.receptive_field`.

        Returns:
            `(kernel_size, strides, dilation_rate)`.
        """
        return self.kernel_size, self.strides, self.dilation_rate


class Conv1D(Conv):
    """Keras `Conv1D`: x: (batch, width, in); padding may also be "causal". Arguments as `Conv`."""

    rank = 1


class Conv2D(Conv):
    """Keras `Conv2D`: x: (batch, height, width, in). Arguments as `Conv`."""

    rank = 2


class Conv3D(Conv):
    """Keras `Conv3D`: x: (batch, depth, height, width, in). Arguments as `Conv`."""

    rank = 3


class ConvTranspose(KernelLayer):
    """Keras `ConvNDTranspose(filters, kernel_size)`: (batch, *spatial, in) -> (batch, *out, filters).

    Parameters `kernel` (*kernel_size, filters, in), Keras's layout, and `bias` (filters,);
    output sizes as Keras, `output_padding` included. `conv_transpose(x)` runs
    `jaxlayers.functional.conv_transpose`, then the activation.

    Args:
        filters: output channels.
        kernel_size: an int or one per spatial axis.
        strides: an int or one per spatial axis.
        padding: "valid" or "same".
        output_padding: None, or an int or one per axis, each smaller than its stride.
        dilation_rate: an int or one per spatial axis.
        activation: a Keras activation name, a callable or None (linear), applied last
            (keyword-only, as all the arguments below).
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
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
    """Keras `Conv1DTranspose`: x: (batch, width, in). Arguments as `ConvTranspose`."""

    rank = 1


class Conv2DTranspose(ConvTranspose):
    """Keras `Conv2DTranspose`: x: (batch, height, width, in). Arguments as `ConvTranspose`."""

    rank = 2


class Conv3DTranspose(ConvTranspose):
    """Keras `Conv3DTranspose`: x: (batch, depth, height, width, in). Arguments as `ConvTranspose`."""

    rank = 3
