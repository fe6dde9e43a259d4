"""Max pooling that remembers where each maximum came from, and its inverse."""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, _is_int, check_array
from jaxlayers.functional import _lowering
from jaxlayers.functional._checks import batch_sharded_at_most, explicit_sharding
from jaxlayers.functional._windows import (
    Windows, block_max_at, can_be_nan, flat_index_of, index_position, lowest, nan_max,
)

_NO_INDEX = np.iinfo(np.int32).max


def max_pool_with_indices(
    x: jax.Array, pool_size: IntOrSeq = 2, strides: IntOrSeq | None = None, padding: pad.Padding = "valid"
) -> tuple[jax.Array, jax.Array]:
    """`max_pool` plus where each maximum was.

    y is differentiable in x, its gradient going to `indices` (which is where
    `max_pool`'s goes too, except in windows holding a NaN, or only padding's value with
    padding).

    Args:
        x: (batch, *spatial, channels).
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".

    Returns:
        `(y, indices)`, both (batch, *out_spatial, channels). y is `max_pool(x)` (NaN
        where a window holds one; the dtype of x, as `max_pool`). indices are int32
        row-major flat positions in the (batch, channel) spatial map of x: always a real
        cell holding y's value, the first in row-major order on ties, the first NaN if
        any (as `jnp.argmax`); padding never wins.

    Raises:
        TypeError: a size or stride that is not an int or ints.
        ValueError: an argument out of range, or a window larger than the (padded) input.
    """
    check_array(x, "max_pool_with_indices")
    w = Windows.resolve(x, pool_size, strides, padding)
    if _lowering.use("block_pool", True, applicable=w.non_overlapping and batch_sharded_at_most(x)):
        blocks = w.blocks(x, lowest(x.dtype))
        stopped = lax.stop_gradient(blocks)
        position = index_position(stopped, nan_max(stopped, w.block_axes), w.block_axes, w.real_cells())
        return block_max_at(blocks, position, w.block_axes), flat_index_of(w, position)
    indices = _reduce_window_argmax(lax.stop_gradient(x), w)
    return jnp.asarray(x).at[_cells(indices, w.sizes)].get(out_sharding=explicit_sharding(indices)), indices


def _reduce_window_argmax(x: jax.Array, w: Windows) -> jax.Array:
    """`index_position`'s rule for (possibly overlapping) windows: flat index of each window's pick.

    A total order (NaN largest, then the lower index), so XLA may reduce in any order;
    padding enters as (lowest value, no index) and loses every tie.
    """
    spatial = x.shape[1:-1]
    iota = jnp.arange(math.prod(spatial), dtype=jnp.int32).reshape(1, *spatial, 1)
    iota = jnp.broadcast_to(iota, x.shape, out_sharding=explicit_sharding(x))  # reduce_window: one sharding
    nan = can_be_nan(x.dtype)

    def pick(a, b):
        # lax primitives only: a jitted jnp function (jnp.where, jnp.isnan) in the reducer
        # does not lower with symbolic sizes (jax 0.10: "using value defined outside the region").
        (va, ia), (vb, ib) = a, b
        larger, tie = lax.gt(vb, va), lax.eq(vb, va)
        if nan:
            na, nb = lax.ne(va, va), lax.ne(vb, vb)
            larger, tie = larger | (nb & ~na), tie | (na & nb)
        take_b = larger | (tie & lax.lt(ib, ia))
        return lax.select(take_b, vb, va), lax.select(take_b, ib, ia)

    init = (jnp.asarray(lowest(x.dtype)), jnp.array(_NO_INDEX, jnp.int32))
    _, indices = lax.reduce_window((x, iota), init, pick, *w.lax_args())
    return indices


def max_unpool(y: jax.Array, indices: jax.Array, output_shape: Sequence[int]) -> jax.Array:
    """Zeros of `output_shape` with each `y` value put back at its `indices`.

    Differentiable in y.

    Args:
        y: (batch, *pooled, channels) from `max_pool_with_indices`.
        indices: integers of y's shape, from `max_pool_with_indices`. Concrete indices
            must lie in the output (checked); under `jit`, out-of-range ones are dropped.
        output_shape: the full shape of the pooled input, (batch, *spatial, channels), as
            ints (a sequence or a 1-D NumPy array) or `x.shape` under `jax.export` (symbolic
            sizes), each spatial size at least y's.

    Returns:
        An array of `output_shape` and y's dtype.

    Raises:
        TypeError: `indices` are not integers, or `output_shape` is not a sequence of ints.
        ValueError: shapes that do not match, or concrete indices out of range.
    """
    check_array(y, "max_unpool", "y")
    check_array(indices, "max_unpool", "indices")
    if isinstance(output_shape, str) or not isinstance(output_shape, (Sequence, np.ndarray)) or not all(
            _is_int(d) or jax.export.is_symbolic_dim(d) for d in output_shape):
        raise TypeError(f"`output_shape` must be a sequence of ints (batch, *spatial, channels), got {output_shape!r}.")
    output_shape = tuple(int(d) if _is_int(d) else d for d in output_shape)
    if tuple(indices.shape) != tuple(y.shape):
        raise ValueError(f"`indices` must have the shape of `y` {tuple(y.shape)}, got {tuple(indices.shape)}.")
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise TypeError(f"`indices` must be integers, got dtype {indices.dtype}.")
    if len(output_shape) != y.ndim or output_shape[0] != y.shape[0] or output_shape[-1] != y.shape[-1]:
        raise ValueError(
            f"`output_shape` must be (batch, *spatial, channels) with y's batch and channels "
            f"and {y.ndim - 2} spatial axes, got {output_shape} for y of shape {tuple(y.shape)}."
        )
    if any(pad.surely(lambda: n < m) for n, m in zip(output_shape[1:-1], y.shape[1:-1])):
        raise ValueError(
            f"`output_shape` {output_shape} cannot be the input pooled into y of shape {tuple(y.shape)}: "
            f"pooling never enlarges, so each spatial size must be at least y's."
        )
    cells = math.prod(output_shape[1:-1])
    _check_index_range(indices, cells, output_shape)
    indices = jnp.where(indices < 0, cells, indices)  # dropped below, not wrapped around
    cells_of = _cells(indices, output_shape[1:-1])
    return jnp.zeros(output_shape, y.dtype).at[cells_of].set(jnp.asarray(y), mode="drop", out_sharding=explicit_sharding(y))


def _cells(indices: jax.Array, sizes: Sequence[int]) -> tuple[jax.Array, ...]:
    """`(batch, *spatial, channel)` coordinates of row-major flat spatial `indices`
    (batch, *out, channels) into a map of `sizes`; one at or past the end has a first
    coordinate past its axis. No reshape, so symbolic sizes (`jax.export`) work too."""
    coords, rest = [], indices
    for n in reversed(sizes[1:]):
        coords.append(rest % n)
        rest = rest // n
    iota = functools.partial(lax.broadcasted_iota, jnp.int32, indices.shape, out_sharding=explicit_sharding(indices))
    return iota(0), rest, *reversed(coords), iota(indices.ndim - 1)


def _check_index_range(indices: jax.Array, cells: int, output_shape: tuple[int, ...]) -> None:
    """Concrete `indices` must lie in `[0, cells)`; traced ones cannot be checked."""
    if isinstance(indices, jax.core.Tracer) or indices.size == 0:
        return
    values = np.asarray(indices)
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= cells:
        raise ValueError(
            f"`indices` must lie in [0, {cells}) (the {cells} spatial cells of `output_shape` "
            f"{output_shape}), got values in [{low}, {high}]."
        )
