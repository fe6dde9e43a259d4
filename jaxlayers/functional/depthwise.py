"""Depthwise and depthwise-separable convolutions, channels-last, Keras kernel layouts."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, as_tuple, positive_int
from jaxlayers._args import dilation_rate as resolve_dilation
from jaxlayers.functional import _depthwise_shift, _lowering
from jaxlayers.functional._checks import (
    add_bias, batch_sharded_at_most, check_bias, check_channels, check_input, check_kernel, check_precision, promote,
)
from jaxlayers.functional.conv import PADDINGS, _direct, conv

_DEPTHWISE = "(*kernel_size, in_channels, depth_multiplier) with at least one spatial axis"


def check_arguments(
    rank: int | None, kernel_size: IntOrSeq, strides: IntOrSeq, padding: pad.Padding, dilation_rate: IntOrSeq,
    depth_multiplier: int = 1,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Every Keras `DepthwiseConvND` / `SeparableConvND` window argument, before any weight exists.

    Args:
        rank: the number of spatial axes, or None (not known yet).
        kernel_size: an int or one per spatial axis.
        strides: an int or one per spatial axis.
        padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis.
        dilation_rate: an int or one per spatial axis.
        depth_multiplier: output channels per input channel, a positive int.

    Returns:
        `(kernel_size, dilation_rate)` as ints.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: an argument out of range (named, with its value).
    """
    positive_int(depth_multiplier, "depth_multiplier")
    kernel = as_tuple(kernel_size, rank, "kernel_size")
    as_tuple(strides, rank, "strides")
    dilation = as_tuple(dilation_rate, rank, "dilation_rate")
    pad.resolve(padding, PADDINGS, rank)
    return kernel, dilation


def depthwise_conv(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None = None,
    *,
    strides: IntOrSeq = 1,
    padding: pad.Padding = "valid",
    dilation_rate: IntOrSeq = 1,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """Keras `DepthwiseConvND`: x: (batch, *spatial, C) * kernel: (*kernel_size, C, m) -> (batch, *out, C*m).

    Each input channel `c` is convolved with its own `m` filters, giving output channels
    `c*m .. c*m + m - 1` (Keras's order). The general path is one grouped
    `lax.conv_general_dilated` (a group per channel); on the backends where it measured
    faster (`_lowering`, "depthwise_shift") the equivalent sum of the taps' shifted input
    slices times their kernel rows runs instead (`_depthwise_shift`), unless `x` has
    symbolic spatial sizes or is explicitly sharded off its batch axis.

    Args:
        x: (batch, *spatial, C).
        kernel: (*kernel_size, C, depth_multiplier); its rank gives the spatial rank.
        bias: (C * depth_multiplier,), or None.
        strides: an int or one per spatial axis.
        padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis.
        dilation_rate: an int or one per spatial axis.
        precision: passed to `lax.conv_general_dilated` on its path (`conv`'s values);
            the shifted sum is elementwise and exact in its accumulation dtype.

    Returns:
        (batch, *out_spatial, C * depth_multiplier), in `jnp.result_type(x, kernel, bias)`.

    Raises:
        TypeError: a `precision` of the wrong type.
        ValueError: shapes that do not match (channels, bias), a window larger than the
            padded input, or an unknown `precision` name.
    """
    check_kernel(kernel, None, _DEPTHWISE)
    rank = kernel.ndim - 2
    check_input(x, rank)
    check_precision(precision)
    shape = tuple(kernel.shape)
    *kernel_size, channels, multiplier = shape
    check_channels(x, channels, shape, " (depthwise kernels are (*kernel_size, in_channels, depth_multiplier))")
    check_bias(bias, channels * multiplier, shape)
    pairs, strides, dilation = _window(x, shape, strides, padding, dilation_rate)
    x, kernel, bias = promote(x, kernel, bias)
    sliced = pad.static(x.shape[1:-1]) and batch_sharded_at_most(x)
    if _lowering.use("depthwise_shift", _depthwise_shift.worthwhile(kernel_size), applicable=sliced):
        y = _depthwise_shift.depthwise_shift_sum(x, kernel, strides, dilation, pairs)
    else:
        y = _direct(x, kernel.reshape(*kernel_size, 1, channels * multiplier),
                    windows=pad.effective_window(kernel_size, dilation), strides=strides, dilation=dilation,
                    pairs=pairs, groups=channels, precision=precision)
    return add_bias(y, bias)


def separable_conv(
    x: jax.Array,
    depthwise_kernel: jax.Array,
    pointwise_kernel: jax.Array,
    bias: jax.Array | None = None,
    *,
    strides: IntOrSeq = 1,
    padding: pad.Padding = "valid",
    dilation_rate: IntOrSeq = 1,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """Keras `SeparableConvND`: `depthwise_conv`, then a 1x1 `conv` to `filters` channels, then the bias.

    Args:
        x: (batch, *spatial, C).
        depthwise_kernel: (*kernel_size, C, depth_multiplier).
        pointwise_kernel: (1, ..., 1, C * depth_multiplier, filters), one 1 per spatial axis.
        bias: (filters,), or None.
        strides: the depthwise conv's, an int or one per spatial axis.
        padding: the depthwise conv's: "valid" | "same" | "causal" (1-D) | explicit pairs.
        dilation_rate: the depthwise conv's, an int or one per spatial axis.
        precision: passed to `lax` (both convs).

    Returns:
        (batch, *out_spatial, filters), in the dtype promoted from all the arrays.

    Raises:
        TypeError: a `precision` of the wrong type.
        ValueError: shapes that do not match, or a window larger than the padded input.
    """
    check_kernel(depthwise_kernel, None, _DEPTHWISE)
    rank = depthwise_kernel.ndim - 2
    expected = (1,) * rank + (depthwise_kernel.shape[-2] * depthwise_kernel.shape[-1],)
    if pointwise_kernel.ndim != rank + 2 or tuple(pointwise_kernel.shape[:-1]) != expected:
        raise ValueError(f"`pointwise_kernel` must have shape {(*expected, 'filters')} to follow `depthwise_kernel` "
                         f"of shape {tuple(depthwise_kernel.shape)}, got {tuple(pointwise_kernel.shape)}.")
    check_kernel(pointwise_kernel, rank + 2, f"{(*expected, 'filters')}")
    check_bias(bias, pointwise_kernel.shape[-1], tuple(pointwise_kernel.shape))
    dtype = jnp.result_type(*(a for a in (x, depthwise_kernel, pointwise_kernel, bias) if a is not None))
    y = depthwise_conv(x.astype(dtype), depthwise_kernel.astype(dtype), strides=strides, padding=padding,
                       dilation_rate=dilation_rate, precision=precision)
    return conv(y, pointwise_kernel.astype(dtype), None if bias is None else bias.astype(dtype), precision=precision)


def _window(x: jax.Array, shape: tuple[int, ...], strides: IntOrSeq, padding: pad.Padding,
            dilation_rate: IntOrSeq) -> tuple[pad.Pairs, tuple[int, ...], tuple[int, ...]]:
    """`(pairs, strides, dilation)` of a depthwise kernel of `shape` over `x`, checked to fit."""
    rank = len(shape) - 2
    strides = as_tuple(strides, rank, "strides")
    dilation = resolve_dilation(dilation_rate, None, rank)
    windows = pad.effective_window(shape[:-2], dilation)
    pairs = pad.forward_pairs(padding, x.shape[1:-1], windows, strides, allowed=PADDINGS)
    pad.check_window_fits(x.shape[1:-1], windows, pairs, x.shape, f"`kernel` (dilated to {windows})")
    return pairs, strides, dilation

