"""Upsampling: nearest (Keras `UpSamplingND`), bilinear (`UpSampling2D`), bed of nails."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlayers._args import IntOrSeq, as_tuple, check_array, spatial_rank
from jaxlayers.functional import _lowering
from jaxlayers.functional._checks import batch_sharded_at_most, reshape

METHODS = ("nearest", "bilinear", "bed_of_nails")


def upsample(x: jax.Array, size: IntOrSeq = 2, method: str = "nearest") -> jax.Array:
    """Keras `UpSamplingND`: each spatial axis i enlarged `size[i]` times.

    Args:
        x: (batch, *spatial, C).
        size: the factor, an int or one per spatial axis.
        method: "nearest" repeats each cell; "bilinear" (2-D) interpolates with
            half-pixel centres as Keras does; "bed_of_nails" puts each value at the
            top-left of its block and zeros elsewhere.

    Returns:
        (batch, *spatial * size, C), x's dtype (bilinear integers rounded and
        saturated as Keras, `saturate_cast`).

    Raises:
        ValueError: an unknown method, or "bilinear" on other than 2 spatial axes.
    """
    check_array(x, "upsample")
    rank = spatial_rank(x)
    size = as_tuple(size, rank, "size")
    method = check_method(method, "method")
    if method == "nearest":
        return _repeat_cells(x, size)
    if method == "bed_of_nails":
        zero = jnp.zeros((), x.dtype)
        return lax.pad(x, zero, [(0, 0, 0), *((0, s - 1, s - 1) for s in size), (0, 0, 0)])
    if rank != 2:
        raise ValueError(f"`method='bilinear'` needs 2 spatial axes (batch, height, width, channels), got shape {tuple(x.shape)}.")
    x = jnp.asarray(x)
    out_shape = (x.shape[0], *(n * s for n, s in zip(x.shape[1:-1], size)), x.shape[-1])
    return saturate_cast(jax.image.resize(x, out_shape, method="bilinear", antialias=False), x.dtype)


def saturate_cast(y: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """`keras.ops.image.resize`'s cast of a resized image back to the input's dtype.

    Floats resize in their own dtype (unchanged here). Integers and bool resize in
    float32: integers are rounded (half to even); then, as `keras.ops.saturate_cast`,
    clipped to the dtype's range as float32 holds it (int32's top rounds to 2**31) and
    cast, the cast saturating (2**31 becomes 2147483647); bool is clipped to [0, 1]
    (any positive value is True).

    Args:
        y: the resized image, as `jax.image.resize` returns it.
        dtype: the input's dtype.

    Returns:
        y in `dtype`.
    """
    if y.dtype == dtype:
        return y
    if jnp.issubdtype(dtype, jnp.integer):
        y = jnp.round(y)
        low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
    else:
        low, high = 0, 1
    return jnp.clip(y, np.asarray(low, y.dtype), np.asarray(high, y.dtype)).astype(dtype)


def check_method(method: str, name: str) -> str:
    """The lower-cased upsampling method.

    Args:
        method: "nearest", "bilinear" or "bed_of_nails", in any case.
        name: the caller's argument name, for errors.

    Returns:
        The method, lower-cased.

    Raises:
        ValueError: an unknown method.
    """
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(f"`{name}` must be one of {METHODS}, got {method!r}.")
    return method.lower()


def _repeat_cells(x: jax.Array, size: tuple[int, ...]) -> jax.Array:
    """Nearest upsampling by broadcast and reshape (no gather), or `jnp.repeat` (`_lowering`)."""
    if all(s == 1 for s in size):
        return x
    if not _lowering.use("broadcast_upsample", True, applicable=batch_sharded_at_most(x)):
        for axis, s in enumerate(size, start=1):
            x = jnp.repeat(x, s, axis=axis)
        return x
    expanded = reshape(x, [x.shape[0], *(d for n in x.shape[1:-1] for d in (n, 1)), x.shape[-1]])
    tiled = jnp.broadcast_to(
        expanded, [x.shape[0], *(d for n, s in zip(x.shape[1:-1], size) for d in (n, s)), x.shape[-1]]
    )
    return reshape(tiled, (x.shape[0], *(n * s for n, s in zip(x.shape[1:-1], size)), x.shape[-1]))
