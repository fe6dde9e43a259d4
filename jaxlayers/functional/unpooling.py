"""Max pooling that remembers where each maximum came from, and its inverse."""
from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq
from jaxlayers.functional import _lowering
from jaxlayers.functional._windows import Windows, block_max, first_max_position, flat_index_of

_NO_INDEX = np.iinfo(np.int32).max


def max_pool_with_indices(
    x: jax.Array, pool_size: IntOrSeq = 2, strides: IntOrSeq | None = None, padding: pad.Padding = "valid"
) -> tuple[jax.Array, jax.Array]:
    """`max_pool` plus where each maximum was.

    x: (batch, *spatial, channels) -> (y, indices), both (batch, *out_spatial, channels);
    indices are int32 row-major flat positions in the (batch, channel) spatial map of x,
    the first maximum on ties. Differentiable in x (the gradient goes to `indices`).
    """
    w = Windows.resolve(x, pool_size, strides, padding)
    if _lowering.use("block_pool", True, applicable=w.non_overlapping):
        blocks = w.blocks(x, -jnp.inf)
        y = block_max(blocks, w.block_axes)
        position = first_max_position(lax.stop_gradient(blocks), lax.stop_gradient(y), w.block_axes)
        return y, flat_index_of(w, position)
    indices = _reduce_window_argmax(lax.stop_gradient(x), w)
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    y = jnp.take_along_axis(flat, indices.reshape(x.shape[0], -1, x.shape[-1]), axis=1)
    return y.reshape(indices.shape), indices


def _reduce_window_argmax(x: jax.Array, w: Windows) -> jax.Array:
    """Flat index of the first maximum of each (possibly overlapping) window."""
    spatial = x.shape[1:-1]
    iota = jnp.arange(math.prod(spatial), dtype=jnp.int32).reshape(1, *spatial, 1)
    iota = jnp.broadcast_to(iota, x.shape)

    def pick(a, b):
        (va, ia), (vb, ib) = a, b
        take_b = (vb > va) | ((vb == va) & (ib < ia))
        return jnp.where(take_b, vb, va), jnp.where(take_b, ib, ia)

    init = (jnp.array(-jnp.inf, x.dtype), jnp.array(_NO_INDEX, jnp.int32))
    _, indices = lax.reduce_window((x, iota), init, pick, *w.lax_args())
    return indices


def max_unpool(y: jax.Array, indices: jax.Array, output_shape: Sequence[int]) -> jax.Array:
    """Zeros of `output_shape` with each `y` value put back at its `indices`.

    y, indices: (batch, *pooled, channels) from `max_pool_with_indices`;
    output_shape: the full shape of the pooled input, (batch, *spatial, channels).
    Differentiable in y.
    """
    output_shape = tuple(int(d) for d in output_shape)
    if tuple(indices.shape) != tuple(y.shape):
        raise ValueError(f"`indices` must have the shape of `y` {tuple(y.shape)}, got {tuple(indices.shape)}.")
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise TypeError(f"`indices` must be integers, got dtype {indices.dtype}.")
    if len(output_shape) != y.ndim or output_shape[0] != y.shape[0] or output_shape[-1] != y.shape[-1]:
        raise ValueError(
            f"`output_shape` must be (batch, *spatial, channels) with y's batch and channels "
            f"and {y.ndim - 2} spatial axes, got {output_shape} for y of shape {tuple(y.shape)}."
        )
    batch, channels = y.shape[0], y.shape[-1]
    cells = math.prod(output_shape[1:-1])
    flat_y = y.reshape(batch, -1, channels)
    flat_i = indices.reshape(batch, -1, channels)
    b = jnp.arange(batch)[:, None, None]
    c = jnp.arange(channels)[None, None, :]
    out = jnp.zeros((batch, cells, channels), y.dtype).at[b, flat_i, c].set(flat_y, mode="drop")
    return out.reshape(output_shape)
