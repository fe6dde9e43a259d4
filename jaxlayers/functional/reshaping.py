"""Flatten, zero padding and cropping (Keras `Flatten`, `ZeroPaddingND`, `CroppingND`)."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers._args import as_pairs, spatial_rank


def flatten(x: jax.Array) -> jax.Array:
    """(batch, ...) -> (batch, prod(...)); a (batch,) input becomes (batch, 1) as in Keras."""
    if x.ndim < 1:
        raise ValueError(f"`x` must have a batch axis, got a scalar of shape {tuple(x.shape)}.")
    return x.reshape(x.shape[0], -1)


def zero_pad(x: jax.Array, padding: Any = 1) -> jax.Array:
    """Zeros around each spatial axis. x: (batch, *spatial, channels).

    padding: int, one int per axis (symmetric), or one (lo, hi) pair per axis; for
    1-D a pair of ints is (left, right), as Keras `ZeroPadding1D`.
    """
    pairs = as_pairs(padding, spatial_rank(x), "padding")
    return jnp.pad(x, [(0, 0), *pairs, (0, 0)])


def crop(x: jax.Array, cropping: Any = 1) -> jax.Array:
    """Remove cells from both ends of each spatial axis; same forms as `zero_pad`."""
    pairs = as_pairs(cropping, spatial_rank(x), "cropping")
    for axis, (n, (lo, hi)) in enumerate(zip(x.shape[1:-1], pairs)):
        if lo + hi >= n:
            raise ValueError(
                f"`cropping` {pairs[axis]} removes all {n} cells of spatial axis {axis} of x "
                f"with shape {tuple(x.shape)}."
            )
    return x[(slice(None), *(slice(lo, n - hi) for n, (lo, hi) in zip(x.shape[1:-1], pairs)))]
