"""Max, average and global pooling (Keras `MaxPoolingND`, `AveragePoolingND`, `Global*`)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, spatial_rank
from jaxlayers.functional import _lowering
from jaxlayers.functional._windows import Windows, block_max


def max_pool(
    x: jax.Array, pool_size: IntOrSeq = 2, strides: IntOrSeq | None = None, padding: pad.Padding = "valid"
) -> jax.Array:
    """Max over windows. x: (batch, *spatial, channels); strides default to pool_size.

    Padded cells never win. On ties the gradient goes to the first maximum in
    row-major order, as with `lax.reduce_window` (and so Keras).
    """
    w = Windows.resolve(x, pool_size, strides, padding)
    if _lowering.use("block_pool", True, applicable=w.non_overlapping):
        return block_max(w.blocks(x, -jnp.inf), w.block_axes)
    return lax.reduce_window(x, -jnp.inf, lax.max, *w.lax_args())


def avg_pool(
    x: jax.Array, pool_size: IntOrSeq = 2, strides: IntOrSeq | None = None, padding: pad.Padding = "valid"
) -> jax.Array:
    """Mean over windows; with "same", padded cells are left out of the count (as Keras).

    x: (batch, *spatial, channels); strides default to pool_size.
    """
    w = Windows.resolve(x, pool_size, strides, padding)
    if _lowering.use("block_pool", True, applicable=w.non_overlapping):
        total = jnp.sum(w.blocks(x, 0), axis=w.block_axes)
    else:
        # A NumPy init value stays a constant under jit, which reduce_window's gradient needs.
        total = lax.reduce_window(x, np.zeros((), x.dtype), lax.add, *w.lax_args())
    return (total / w.counts()).astype(x.dtype)


def global_max_pool(x: jax.Array, keepdims: bool = False) -> jax.Array:
    """Max over all spatial axes: (batch, *spatial, channels) -> (batch, channels)."""
    return jnp.max(x, axis=tuple(range(1, spatial_rank(x) + 1)), keepdims=keepdims)


def global_avg_pool(x: jax.Array, keepdims: bool = False) -> jax.Array:
    """Mean over all spatial axes: (batch, *spatial, channels) -> (batch, channels)."""
    return jnp.mean(x, axis=tuple(range(1, spatial_rank(x) + 1)), keepdims=keepdims)
