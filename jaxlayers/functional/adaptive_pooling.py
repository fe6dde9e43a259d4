"""Adaptive average and max pooling (Keras `AdaptiveAveragePoolingND`, `AdaptiveMaxPoolingND`).

Output cell `i` of an axis of size `n` pooled to `out` covers the input cells
`floor(i * n / out)` to `ceil((i + 1) * n / out)` (exclusive), so the windows have at
most two sizes and overlap where `n` is not a multiple of `out` (each input cell
repeats when `out > n`). As Keras's JAX backend, the pooling is separable: one spatial
axis after another, in order, each by `max_pool`/`avg_pool` windows along that axis
alone. So a max's gradient goes where Keras's does: per axis, to the window's first
maximum (`lax.reduce_window`'s rule, NaN included), summed over overlapping windows.
"""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxlayers._args import IntOrSeq, as_tuple, spatial_rank
from jaxlayers.functional.pooling import avg_pool, max_pool


def adaptive_bins(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """The windows of one axis: where each output cell's window starts and how long it is.

    Args:
        size: the input axis's size.
        out: the output axis's size.

    Returns:
        `(starts, lengths)`, int arrays of `out` entries.
    """
    i = np.arange(out)
    starts = i * size // out
    ends = -(-(i + 1) * size // out)
    return starts, ends - starts


def _pool_axis(x: jax.Array, axis: int, out: int, pool: Callable[..., jax.Array]) -> jax.Array:
    """`pool` over the adaptive windows of one spatial axis (1-based among x's axes)."""
    size = x.shape[axis]
    window = [1] * (x.ndim - 2)

    def along(k: int, stride: int) -> jax.Array:
        window[axis - 1] = k
        strides = [1] * len(window)
        strides[axis - 1] = stride
        return pool(x, tuple(window), tuple(strides), "valid")

    if size % out == 0:  # equal, disjoint windows: one pooling
        return along(size // out, size // out)
    starts, lengths = adaptive_bins(size, out)
    parts, index, offset = [], np.empty(out, np.int32), 0
    for k in np.unique(lengths):  # two window lengths; each pooled at every position, then taken
        pooled = along(int(k), 1)
        chosen = lengths == k
        index[chosen] = starts[chosen] + offset
        offset += pooled.shape[axis]
        parts.append(pooled)
    return jnp.take(jnp.concatenate(parts, axis=axis), index, axis=axis)


def _adaptive(x: jax.Array, output_size: IntOrSeq, pool: Callable[..., jax.Array]) -> jax.Array:
    sizes = as_tuple(output_size, spatial_rank(x), "output_size")
    for axis, out in enumerate(sizes, start=1):
        x = _pool_axis(x, axis, out, pool)
    return x


def adaptive_max_pool(x: jax.Array, output_size: IntOrSeq) -> jax.Array:
    """Keras `AdaptiveMaxPoolingND`: the max over each adaptive window (module docstring).

    A NaN in a window makes it NaN; the dtype is kept (integers and bool included, as
    `max_pool`). The gradient is Keras's (module docstring).

    Args:
        x: (batch, *spatial, channels).
        output_size: the output's spatial sizes, an int (every axis) or one per axis.

    Returns:
        (batch, *output_size, channels), x's dtype.

    Raises:
        TypeError: `output_size` is not an int or ints.
        ValueError: a size below 1, or not one per spatial axis.
    """
    return _adaptive(x, output_size, max_pool)


def adaptive_avg_pool(x: jax.Array, output_size: IntOrSeq) -> jax.Array:
    """Keras `AdaptiveAveragePoolingND`: the mean over each adaptive window (module docstring).

    Floats keep their dtype; integers give float32 and bool is refused, as `avg_pool`.

    Args:
        x: (batch, *spatial, channels), numeric.
        output_size: the output's spatial sizes, an int (every axis) or one per axis.

    Returns:
        (batch, *output_size, channels).

    Raises:
        TypeError: `x` is bool, or `output_size` is not an int or ints.
        ValueError: a size below 1, or not one per spatial axis.
    """
    if x.dtype == jnp.bool_:
        raise TypeError("`x` of adaptive_avg_pool must be numeric (as keras.ops.adaptive_average_pool), got dtype "
                        "bool.")
    return _adaptive(x, output_size, avg_pool)
