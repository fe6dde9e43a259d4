"""Keras `ConvND`: `Conv` (rank from `kernel_size` or the input) and `Conv1D`, `Conv2D`, `Conv3D`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq
from jaxlayers.functional.conv import check_arguments
from jaxlayers.layers.layer import KernelLayer, Weight, ranked


class ConvLayer(KernelLayer):
    """The base of the convolutions: a kernel per spatial axis, the rank from the class, the kernel or the input.

    Args:
        filters: output channels.
        kernel_size: an int or one per spatial axis.
    """

    input_sizes = {"in_channels": "the input's channels (x.shape[-1])."}

    filters: int
    kernel_size: IntOrSeq

    def sizes(self, x: Any) -> dict[str, Any]:
        return {"in_channels": x.shape[-1], "rank": self.spatial_rank(x, self.kernel_size)}

    def kernel_rank(self, rank: int | None = None) -> int:
        """The spatial rank: the call's (linen), else the class's or `len(kernel_size)`.

        Args:
            rank: the rank of the call's input, if known.

        Returns:
            The rank.

        Raises:
            ValueError: a rank-generic class with an int `kernel_size` and no input yet (NNX).
        """
        if rank is not None:
            return rank
        if self.rank is not None:
            return self.rank
        if not isinstance(self.kernel_size, Sequence):
            raise ValueError(f"{type(self).__name__}: give `kernel_size` as a sequence (one int per spatial axis) or "
                             f"use the 1D/2D/3D classes, got {self.kernel_size!r}.")
        return len(self.kernel_size)



class Conv(ConvLayer):
    """Keras `ConvND(filters, kernel_size)`: x: (batch, *spatial, in_channels) -> (batch, *out, filters).

    Parameters `kernel` (*kernel_size, in_channels // groups, filters) and `bias`
    (filters,). The rank comes from the class (`Conv2D`, ...), `len(kernel_size)` or
    (linen, an int `kernel_size`) the input. The call runs
    `jaxlayers.functional.conv`, then the activation.

    Keyword-only: `KernelLayer`'s `activation`, `use_bias`, `kernel_initializer`,
    `bias_initializer`, `precision`, and `dtype`, `param_dtype`.

    Args:
        filters: output channels.
        kernel_size: an int or one per spatial axis.
        strides: an int or one per spatial axis.
        padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis.
        dilation_rate: an int or one per spatial axis.
        groups: feature groups, dividing the input channels and `filters`.
    """

    strides: IntOrSeq = 1
    padding: pad.Padding = "valid"
    dilation_rate: IntOrSeq = 1
    groups: int = 1

    def check(self) -> None:
        super().check()
        check_arguments(self.rank, self.filters, self.kernel_size, self.strides, self.padding, self.dilation_rate,
                        groups=self.groups, owner=type(self).__name__)

    def build(self, in_channels: int, rank: int | None = None) -> dict[str, Weight | None]:
        kernel_size, _, groups = check_arguments(
            self.kernel_rank(rank), self.filters, self.kernel_size, self.strides, self.padding, self.dilation_rate,
            groups=self.groups, channels=in_channels, owner=type(self).__name__)
        return self.kernel_and_bias((*kernel_size, in_channels // groups, self.filters), self.filters)

    def call(self, x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> jax.Array:
        x, kernel, bias = self.promote(x, kernel, bias)
        y = F.conv(x, kernel, bias, strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate,
                   groups=self.groups, precision=self.precision)
        return self.activate(y)

    def keras_refusal(self, keras_class: str) -> str | None:
        """Why `to_keras` cannot make this layer, if it cannot.

        Args:
            keras_class: the Keras class it would be.

        Returns:
            The reason (explicit padding), or None.
        """
        if isinstance(self.padding, str):
            return None
        return f"has explicit padding {self.padding!r}; Keras only has 'valid', 'same' and (Conv1D) 'causal'."

    def window_geometry(self) -> tuple[IntOrSeq, IntOrSeq, IntOrSeq]:
        """The window, for `jaxlayers.shapes.receptive_field`.

        Returns:
            `(kernel_size, strides, dilation_rate)`.
        """
        return self.kernel_size, self.strides, self.dilation_rate


Conv1D, Conv2D, Conv3D = ranked(Conv, "Conv{}D", "Keras `{name}`: x: {layout}. Arguments as `Conv`.",
                                aliases="Convolution{}D")
