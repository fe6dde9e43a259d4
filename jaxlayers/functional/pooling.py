"""Max, average and global pooling (Keras `MaxPoolingND`, `AveragePoolingND`, `Global*`)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, check_array, check_bool, spatial_rank
from jaxlayers.functional import _lowering
from jaxlayers.functional._checks import batch_sharded_at_most
from jaxlayers.functional._windows import Windows, block_max, can_be_nan, lowest, max_keep_ties, window_max


def max_pool(
    x: jax.Array, pool_size: IntOrSeq = 2, strides: IntOrSeq | None = None, padding: pad.Padding = "valid"
) -> jax.Array:
    """Keras `MaxPoolingND`: the max over each window.

    Keeps the dtype of x, integers and bool included (as `keras.ops.max_pool`); padded
    cells hold its lowest value (-inf), so they never change a maximum, and a NaN in a
    window makes it NaN on every backend (`_windows`). The gradient is `lax.reduce_window`'s (so Keras's) in every
    case: all of it to the first maximum in row-major order, with its own rule for
    NaN (`_windows.gradient_position`).

    Args:
        x: (batch, *spatial, channels).
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".

    Returns:
        (batch, *out_spatial, channels), x's dtype.

    Raises:
        TypeError: a size or stride that is not an int or ints.
        ValueError: an argument out of range, or a window larger than the (padded) input.
    """
    check_array(x, "max_pool")
    w = Windows.resolve(x, pool_size, strides, padding)
    if _lowering.use("block_pool", True, applicable=w.non_overlapping and batch_sharded_at_most(x)):
        return block_max(w.blocks(x, lowest(x.dtype)), w.block_axes)
    return window_max(x, w)


def avg_pool(
    x: jax.Array, pool_size: IntOrSeq = 2, strides: IntOrSeq | None = None, padding: pad.Padding = "valid"
) -> jax.Array:
    """Keras `AveragePoolingND`: the mean over each window, padded cells left out of the count.

    Floats keep their dtype (bfloat16 and float16 are summed in float32); integers give
    float32 and bool is refused, as `keras.ops.average_pool`.

    Args:
        x: (batch, *spatial, channels), numeric.
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".

    Returns:
        (batch, *out_spatial, channels), x's dtype (float32 for integer x).

    Raises:
        TypeError: `x` is bool, or a size or stride is not an int or ints.
        ValueError: an argument out of range, or a window larger than the (padded) input.
    """
    check_array(x, "avg_pool")
    if x.dtype == jnp.bool_:
        raise TypeError("`x` of avg_pool must be numeric (as keras.ops.average_pool), got dtype bool.")
    w = Windows.resolve(x, pool_size, strides, padding)
    dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.float32
    x = x.astype(jnp.promote_types(dtype, jnp.float32))
    if _lowering.use("block_pool", True, applicable=w.non_overlapping and batch_sharded_at_most(x)):
        total = jnp.sum(w.blocks(x, 0), axis=w.block_axes)
    else:
        # A NumPy init value stays a constant under jit, which reduce_window's gradient needs.
        total = lax.reduce_window(x, np.zeros((), x.dtype), lax.add, *w.lax_args())
    return (total / w.counts()).astype(dtype)


def global_max_pool(x: jax.Array, keepdims: bool = False) -> jax.Array:
    """Keras `GlobalMaxPoolingND`: the max over all spatial axes.

    NaN where the spatial cells of a channel hold one; the gradient is `jnp.max`'s
    (Keras's): shared by the cells equal to the max.

    Args:
        x: (batch, *spatial, channels).
        keepdims: keep the spatial axes, of size 1 (a bool).

    Returns:
        (batch, channels), or (batch, 1, ..., 1, channels) with `keepdims`.

    Raises:
        TypeError: `keepdims` is not a bool.
        ValueError: `x` without a spatial axis.
    """
    check_array(x, "global_max_pool")
    keepdims = check_bool(keepdims, "keepdims")
    axes = tuple(range(1, spatial_rank(x) + 1))
    if not can_be_nan(x.dtype):
        return jnp.max(x, axis=axes, keepdims=keepdims)
    return max_keep_ties(x, axes, keepdims)


def global_avg_pool(x: jax.Array, keepdims: bool = False) -> jax.Array:
    """Keras `GlobalAveragePoolingND`: the mean over all spatial axes.

    Args:
        x: (batch, *spatial, channels).
        keepdims: keep the spatial axes, of size 1 (a bool).

    Returns:
        (batch, channels), or (batch, 1, ..., 1, channels) with `keepdims`.

    Raises:
        TypeError: `keepdims` is not a bool.
        ValueError: `x` without a spatial axis.
    """
    check_array(x, "global_avg_pool")
    keepdims = check_bool(keepdims, "keepdims")
    return jnp.mean(x, axis=tuple(range(1, spatial_rank(x) + 1)), keepdims=keepdims)
