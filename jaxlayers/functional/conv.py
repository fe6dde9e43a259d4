"""N-D convolution and transposed convolution, channels-last, Keras kernel layouts."""
from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, as_tuple, check_groups, positive_int
from jaxlayers._args import dilation_rate as resolve_dilation
from jaxlayers.functional import _lowering, _shift_sum, _subpixel
from jaxlayers.functional._checks import check_bias, check_channels, check_input, check_kernel, promote


def _dimension_numbers(rank: int) -> lax.ConvDimensionNumbers:
    """Channels-last activations, kernel `(*spatial, in, out)` (NHWC / HWIO for rank 2)."""
    activations = (0, rank + 1, *range(1, rank + 1))
    return lax.ConvDimensionNumbers(activations, (rank + 1, rank, *range(rank)), activations)


PADDINGS = ("valid", "same", "causal", "explicit")
TRANSPOSE_PADDINGS = ("valid", "same")


def _kernel_rank(kernel: jax.Array) -> int:
    check_kernel(kernel, None, "(*kernel_size, in, out) with at least one spatial axis")
    return kernel.ndim - 2


def check_arguments(
    rank: int,
    filters: int,
    kernel_size: IntOrSeq,
    strides: IntOrSeq,
    padding: pad.Padding,
    dilation_rate: IntOrSeq,
    *,
    groups: int = 1,
    output_padding: IntOrSeq | None = None,
    transpose: bool = False,
    channels: int | None = None,
    channels_name: str = "in_channels",
    owner: str = "",
) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Every Keras `ConvND` (`transpose`: `ConvNDTranspose`) argument, before any weight exists.

    channels: the input channels when known (named `channels_name` in errors).
    Returns `(kernel_size, dilation_rate, groups)` as ints (`rank` of the tuples).
    """
    filters = positive_int(filters, "filters")
    kernel_size = as_tuple(kernel_size, rank, "kernel_size")
    strides = as_tuple(strides, rank, "strides")
    dilation = as_tuple(dilation_rate, rank, "dilation_rate")
    groups = positive_int(groups, "groups")
    if channels is not None:
        positive_int(channels, channels_name)
    check_groups(filters, groups, channels, channels_name, owner)
    pad.resolve(padding, TRANSPOSE_PADDINGS if transpose else PADDINGS, rank)
    output_padding_tuple(output_padding, strides)
    return kernel_size, dilation, groups


def conv(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None = None,
    *,
    strides: IntOrSeq = 1,
    padding: pad.Padding = "valid",
    dilation_rate: IntOrSeq | None = None,
    groups: int = 1,
    precision: lax.PrecisionLike = None,
    dilation: IntOrSeq | None = None,
) -> jax.Array:
    """Keras `ConvND`: x: (batch, *spatial, in) * kernel: (*kernel_size, in // groups, filters).

    padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis.
    dilation_rate: int or one per axis (default 1). Strides and dilation rates may both
    exceed 1 (Keras refuses that combination).
    Returns (batch, *out_spatial, filters), in the dtype `jnp.result_type(x, kernel, bias)`:
    mixed dtypes are promoted to it before the op, whichever lowering runs.

    With few filters (taps * filters <= in, e.g. 3x3 from 16 channels to 1) this may be
    computed by the equivalent `_shift_sum` lowering (a matrix product over channels,
    then shifted slices added), on the backends where it measured faster (`_lowering`).
    """
    rank = _kernel_rank(kernel)
    check_input(x, rank)
    shape = tuple(kernel.shape)
    groups = positive_int(groups, "groups")
    check_groups(shape[-1], groups, filters_name="kernel.shape[-1]")
    check_channels(x, shape[-2] * groups, shape, f" ({shape[-2]} per group x groups={groups})")
    check_bias(bias, shape[-1], shape)
    strides = as_tuple(strides, rank, "strides")
    dilation = resolve_dilation(dilation_rate, dilation, rank)
    windows = pad.effective_window(shape[:-2], dilation)
    pairs = pad.forward_pairs(padding, x.shape[1:-1], windows, strides, allowed=PADDINGS)
    pad.check_window_fits(x.shape[1:-1], windows, pairs, x.shape, f"`kernel` (dilated to {windows})")
    x, kernel, bias = promote(x, kernel, bias)
    if _lowering.use("shift_sum", _shift_sum.worthwhile(shape, groups), applicable=groups == 1):
        y = _shift_sum.conv_shift_sum(x, kernel, strides, dilation, pairs, precision)
    else:
        y = lax.conv_general_dilated(
            x, kernel, strides, pairs,
            rhs_dilation=dilation,
            dimension_numbers=_dimension_numbers(rank),
            feature_group_count=groups,
            precision=precision,
        )
    return y if bias is None else y + bias


def conv_transpose(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array | None = None,
    *,
    strides: IntOrSeq = 1,
    padding: pad.Padding = "valid",
    output_padding: IntOrSeq | None = None,
    dilation_rate: IntOrSeq | None = None,
    precision: lax.PrecisionLike = None,
    dilation: IntOrSeq | None = None,
) -> jax.Array:
    """Keras `ConvNDTranspose`: x: (batch, *spatial, in) with kernel: (*kernel_size, filters, in).

    The gradient of `conv` with respect to its input: the input is dilated by `strides`,
    padded per `jaxlayers.padding.transpose_pairs` and convolved with the flipped kernel
    (dilated by `dilation_rate`, default 1). `output_padding` (each value < its stride)
    adds cells at the end of each axis. Returns (batch, *out_spatial, filters), in the
    dtype `jnp.result_type(x, kernel, bias)` (mixed dtypes promoted first, as `conv`).

    With a stride > 1 this may be computed, when it does fewer multiply-adds, by the
    equivalent sub-pixel lowering (`_subpixel`: one stride-1 conv of the undilated
    input, then depth-to-space); with stride 1 and few filters, by `conv`'s
    `_shift_sum` lowering; each on the backends where it measured faster (`_lowering`).
    """
    rank = _kernel_rank(kernel)
    check_input(x, rank)
    shape = tuple(kernel.shape)
    check_channels(x, shape[-1], shape, " (transposed kernels are (*kernel_size, filters, in))")
    check_bias(bias, shape[-2], shape)
    strides = as_tuple(strides, rank, "strides")
    dilation = resolve_dilation(dilation_rate, dilation, rank)
    extra = output_padding_tuple(output_padding, strides)
    windows = pad.effective_window(shape[:-2], dilation)
    pairs = pad.transpose_pairs(padding, windows, strides, extra)
    x, kernel, bias = promote(x, kernel, bias)
    stride_one = all(s == 1 for s in strides)
    if _lowering.use("shift_sum", _shift_sum.worthwhile((*shape[:-2], shape[-1], shape[-2])), applicable=stride_one):
        y = _shift_sum.conv_shift_sum(x, _flipped(kernel), strides, dilation, pairs, precision)
    elif _lowering.use("subpixel", _subpixel.worthwhile(x.shape[1:-1], shape[:-2], strides, dilation, pairs)):
        y = _subpixel.conv_transpose_subpixel(x, kernel, strides, dilation, pairs, precision)
    else:
        y = _conv_transpose_dilated(x, kernel, strides, dilation, pairs, precision)
    return y if bias is None else y + bias


def _conv_transpose_dilated(
    x: jax.Array, kernel: jax.Array, strides: tuple[int, ...], dilation: tuple[int, ...],
    pairs: pad.Pairs, precision: lax.PrecisionLike,
) -> jax.Array:
    """The general lowering: stride-dilated input, padded by `pairs`, * flipped kernel.

    The kernel is flipped and laid out `(*K, in, filters)` as `conv`'s: with the same
    dimension numbers XLA:GPU picks the same (faster) cuDNN layouts for both.
    """
    rank = kernel.ndim - 2
    return lax.conv_general_dilated(
        x, _flipped(kernel), (1,) * rank, pairs,
        lhs_dilation=strides,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(rank),
        precision=precision,
    )


def _flipped(kernel: jax.Array) -> jax.Array:
    """A transposed-conv kernel `(*K, filters, in)` as the conv kernel `(*K, in, filters)` it is the gradient of."""
    return jnp.swapaxes(lax.rev(kernel, tuple(range(kernel.ndim - 2))), -1, -2)


def output_padding_tuple(
    output_padding: IntOrSeq | None, strides: Sequence[int]
) -> tuple[int, ...] | None:
    """Validated `output_padding`: each value must be smaller than its stride (as Keras)."""
    if output_padding is None:
        return None
    values = as_tuple(output_padding, len(strides), "output_padding", minimum=0)
    for axis, (op, s) in enumerate(zip(values, strides)):
        if op >= s:
            raise ValueError(
                f"`output_padding` must be smaller than `strides` on every axis, got "
                f"output_padding={values} with strides={tuple(strides)} (axis {axis})."
            )
    return values
