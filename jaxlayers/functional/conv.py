"""N-D convolution and transposed convolution, channels-last, Keras kernel layouts."""
from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, as_tuple, check_groups, positive_int
from jaxlayers._args import dilation_rate as resolve_dilation
from jaxlayers.functional import _lowering, _shift_sum, _subpixel, _tap_sum
from jaxlayers.functional._checks import (
    add_bias, batch_sharded_at_most, check_arrays, check_bias, check_channels, check_input, check_kernel,
    check_precision, explicit_sharding, promote,
)


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
    rank: int | None,
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

    Args:
        rank: the number of spatial axes; None (a rank-generic layer before its input):
            the length of any per-axis sequence given.
        filters: output channels, a positive int.
        kernel_size: an int or one per spatial axis.
        strides: an int or one per spatial axis.
        padding: as `conv` takes it; with `transpose`, "valid" or "same" only.
        dilation_rate: an int or one per spatial axis.
        groups: a positive int dividing `filters` (and `channels` when known).
        output_padding: None, or an int or one per axis, each smaller than its stride.
        transpose: check `ConvNDTranspose`'s arguments instead of `ConvND`'s.
        channels: the input channels when known (named `channels_name` in errors).
        channels_name: the name errors give `channels`.
        owner: the layer named in errors (e.g. "Conv2D"), or "".

    Returns:
        `(kernel_size, dilation_rate, groups)` as ints (`rank` of the tuples).

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: an argument out of range (named, with its value).
    """
    if rank is None:  # a rank-generic layer before its input: the rank of any per-axis sequence given
        rank = next((len(v) for v in (kernel_size, strides, dilation_rate, output_padding)
                     if isinstance(v, Sequence) and not isinstance(v, str)), None)
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

    Strides and dilation rates may both exceed 1 (Keras refuses that combination).
    With few filters (taps * filters <= in, e.g. 3x3 from 16 channels to 1), or a 1x1
    kernel (any stride), this may be computed by the equivalent `_shift_sum` lowering (a
    matrix product over channels, then shifted slices added), with few input channels
    (taps * in <= 27 and filters <= 64, e.g. 3x3 from 3 channels to 32) by `_tap_sum`
    (the taps' shifted input slices times their kernel rows, added), on the backends
    where they measured faster (`_lowering`).

    Args:
        x: (batch, *spatial, in).
        kernel: (*kernel_size, in // groups, filters); its rank gives the spatial rank.
        bias: (filters,), or None.
        strides: an int or one per spatial axis.
        padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis.
        dilation_rate: an int or one per axis (default 1).
        groups: feature groups: `in` and `filters` split into `groups` independent convs.
        precision: passed to `lax.conv_general_dilated`: None, a `lax.Precision` or its name
            ("highest", "float32", ...), a tuple of two of those, a `lax.DotAlgorithm`,
            or a `lax.DotAlgorithmPreset` or its name.
        dilation: the old alias of `dilation_rate` (give one of them).

    Returns:
        (batch, *out_spatial, filters), in the dtype `jnp.result_type(x, kernel, bias)`:
        mixed dtypes are promoted to it before the op, whichever lowering runs.

    Raises:
        TypeError: a `precision` of the wrong type.
        ValueError: shapes that do not match (channels, groups, bias), a window larger
            than the padded input, with the shapes named, or an unknown `precision` name.
    """
    check_arrays("conv", x=x, kernel=kernel, bias=bias)
    rank = _kernel_rank(kernel)
    check_input(x, rank)
    check_precision(precision)
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
    direct = functools.partial(_direct, windows=windows, strides=strides, dilation=dilation, pairs=pairs,
                               groups=groups, precision=precision)
    # The sums slice by concrete sizes; the shift sum's contraction merges the batch axis, the
    # tap sum's contracts the channels (lax's conv refuses them sharded too).
    sliced = groups == 1 and pad.static(x.shape[1:-1])
    if _lowering.use("shift_sum", _shift_sum.worthwhile(shape, groups), applicable=sliced and not explicit_sharding(x)):
        y = _shift_sum.conv_shift_sum(x, kernel, strides, dilation, pairs, precision)
    elif _lowering.use("tap_sum", _tap_sum.worthwhile(shape, groups), applicable=sliced and batch_sharded_at_most(x)):
        y = _tap_sum.conv_tap_sum(x, kernel, strides, dilation, pairs, direct, precision)
    else:
        y = direct(x, kernel)
    return add_bias(y, bias)


def _direct(
    x: jax.Array, kernel: jax.Array, *, windows: Sequence[int], strides: Sequence[int], dilation: Sequence[int],
    pairs: pad.Pairs, groups: int, precision: lax.PrecisionLike,
) -> jax.Array:
    """`conv` without bias on its direct path: one `lax.conv_general_dilated`."""
    x, pairs = _padded_outside(x, windows, strides, pairs)
    return lax.conv_general_dilated(
        x, kernel, strides, pairs,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(x.ndim - 2),
        feature_group_count=groups,
        precision=precision,
    )


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
    (dilated by `dilation_rate`, default 1).

    With a stride > 1 this may be computed, when it does fewer multiply-adds, by the
    equivalent sub-pixel lowering (`_subpixel`: one stride-1 conv of the undilated
    input, then depth-to-space); with stride 1 and few filters, by `conv`'s
    `_shift_sum` lowering; each on the backends where it measured faster (`_lowering`).

    Args:
        x: (batch, *spatial, in).
        kernel: (*kernel_size, filters, in), Keras's layout; its rank gives the spatial rank.
        bias: (filters,), or None.
        strides: an int or one per spatial axis.
        padding: "valid" or "same" (Keras's output sizes).
        output_padding: None, or an int or one per axis, each smaller than its stride:
            cells added at the end of each axis.
        dilation_rate: an int or one per axis (default 1).
        precision: passed to `lax.conv_general_dilated`: None, a `lax.Precision` or its name
            ("highest", "float32", ...), a tuple of two of those, a `lax.DotAlgorithm`,
            or a `lax.DotAlgorithmPreset` or its name.
        dilation: the old alias of `dilation_rate` (give one of them).

    Returns:
        (batch, *out_spatial, filters), in the dtype `jnp.result_type(x, kernel, bias)`
        (mixed dtypes promoted first, as `conv`).

    Raises:
        TypeError: a `precision` of the wrong type.
        ValueError: shapes that do not match (channels, bias), an `output_padding` not
            smaller than its stride, or an unknown `precision` name.
    """
    check_arrays("conv_transpose", x=x, kernel=kernel, bias=bias)
    rank = _kernel_rank(kernel)
    check_input(x, rank)
    check_precision(precision)
    shape = tuple(kernel.shape)
    check_channels(x, shape[-1], shape, " (transposed kernels are (*kernel_size, filters, in))")
    check_bias(bias, shape[-2], shape)
    strides = as_tuple(strides, rank, "strides")
    dilation = resolve_dilation(dilation_rate, dilation, rank)
    extra = output_padding_tuple(output_padding, strides)
    windows = pad.effective_window(shape[:-2], dilation)
    pairs = pad.transpose_pairs(padding, windows, strides, extra)
    x, kernel, bias = promote(x, kernel, bias)
    stride_one = all(s == 1 for s in strides) and pad.static(x.shape[1:-1]) and not explicit_sharding(x)
    if _lowering.use("shift_sum", _shift_sum.worthwhile((*shape[:-2], shape[-1], shape[-2])), applicable=stride_one):
        y = _shift_sum.conv_shift_sum(x, _flipped(kernel), strides, dilation, pairs, precision)
    elif _lowering.use("subpixel", _subpixel.worthwhile(x.shape[1:-1], shape[:-2], strides, dilation, pairs),
                       applicable=batch_sharded_at_most(x)):
        y = _subpixel.conv_transpose_subpixel(x, kernel, strides, dilation, pairs, precision)
    else:
        y = _conv_transpose_dilated(x, kernel, strides, dilation, pairs, precision)
    return add_bias(y, bias)


def _conv_transpose_dilated(
    x: jax.Array, kernel: jax.Array, strides: tuple[int, ...], dilation: tuple[int, ...],
    pairs: pad.Pairs, precision: lax.PrecisionLike,
) -> jax.Array:
    """The general lowering: stride-dilated input, padded by `pairs`, * flipped kernel.

    The kernel is flipped and laid out `(*K, in, filters)` as `conv`'s: with the same
    dimension numbers XLA:GPU picks the same (faster) cuDNN layouts for both.
    """
    rank = kernel.ndim - 2
    if all(s == 1 for s in strides):
        x, pairs = _padded_outside(x, pad.effective_window(kernel.shape[:rank], dilation), strides, pairs)
    return lax.conv_general_dilated(
        x, _flipped(kernel), (1,) * rank, pairs,
        lhs_dilation=strides,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(rank),
        precision=precision,
    )


def _padded_outside(
    x: jax.Array, windows: Sequence[int], strides: Sequence[int], pairs: pad.Pairs
) -> tuple[jax.Array, pad.Pairs]:
    """`(x, pairs)`, or x zero-padded by `pairs` and no padding left, for a conv over x.

    The "explicit_pad" lowering (`_lowering`): taken when the conv's output, dilated by
    its strides, spans more cells than x on some axis (the kernel gradient's window
    would be larger than its input); always when `pairs` are symbolic (`lax`'s conv
    takes int padding only). `pairs` are non-negative (as `jaxlayers.padding` gives them).
    """
    sizes = pad.output_sizes(x.shape[1:-1], windows, strides, pairs)
    wider = any(pad.surely(lambda: (out - 1) * s + 1 > n) for out, s, n in zip(sizes, strides, x.shape[1:-1]))
    if pad.static([v for pair in pairs for v in pair]) and not _lowering.use("explicit_pad", wider):
        return x, pairs
    config = [(0, 0, 0), *((lo, hi, 0) for lo, hi in pairs), (0, 0, 0)]
    return lax.pad(x, jnp.zeros((), x.dtype), config), tuple((0, 0) for _ in pairs)


def _flipped(kernel: jax.Array) -> jax.Array:
    """A transposed-conv kernel `(*K, filters, in)` as the conv kernel `(*K, in, filters)` it is the gradient of."""
    return jnp.swapaxes(lax.rev(kernel, tuple(range(kernel.ndim - 2))), -1, -2)


def output_padding_tuple(
    output_padding: IntOrSeq | None, strides: Sequence[int]
) -> tuple[int, ...] | None:
    """Validated `output_padding`: each value must be smaller than its stride (as Keras).

    Args:
        output_padding: None, or an int or one non-negative int per axis.
        strides: the strides, one per spatial axis.

    Returns:
        One int per axis, or None when `output_padding` is None.

    Raises:
        ValueError: a value not smaller than its stride.
    """
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
