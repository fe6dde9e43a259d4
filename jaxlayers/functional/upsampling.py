"""Upsampling: nearest (Keras `UpSamplingND`), bilinear (`UpSampling2D`), bed of nails."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers._args import IntOrSeq, as_tuple, check_array, spatial_rank
from jaxlayers.functional import _lowering

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
        (batch, *spatial * size, C), x's dtype.

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
    out_shape = (x.shape[0], *(n * s for n, s in zip(x.shape[1:-1], size)), x.shape[-1])
    return jax.image.resize(x, out_shape, method="bilinear", antialias=False).astype(x.dtype)


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
    if not _lowering.use("broadcast_upsample", True):
        for axis, s in enumerate(size, start=1):
            x = jnp.repeat(x, s, axis=axis)
        return x
    expanded = x.reshape([x.shape[0], *(d for n in x.shape[1:-1] for d in (n, 1)), x.shape[-1]])
    tiled = jnp.broadcast_to(
        expanded, [x.shape[0], *(d for n, s in zip(x.shape[1:-1], size) for d in (n, s)), x.shape[-1]]
    )
    return tiled.reshape(x.shape[0], *(n * s for n, s in zip(x.shape[1:-1], size)), x.shape[-1])
