"""Flatten, zero padding and cropping (Keras `Flatten`, `ZeroPaddingND`, `CroppingND`)."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import padding as pad
from jaxlayers._args import as_pairs, check_array, spatial_rank


def flatten(x: jax.Array) -> jax.Array:
    """Keras `Flatten`: (batch, ...) -> (batch, prod(...)).

    Args:
        x: (batch, ...), at least one axis.

    Returns:
        (batch, prod(...)); a (batch,) input becomes (batch, 1) as in Keras.

    Raises:
        ValueError: `x` is a scalar.
    """
    check_array(x, "flatten")
    if x.ndim < 1:
        raise ValueError(f"`x` must have a batch axis, got a scalar of shape {tuple(x.shape)}.")
    return x.reshape(x.shape[0], -1)


def zero_pad(x: jax.Array, padding: Any = 1) -> jax.Array:
    """Keras `ZeroPaddingND`: zeros around each spatial axis.

    Args:
        x: (batch, *spatial, channels).
        padding: an int, one int per axis (symmetric), or one (lo, hi) pair per axis;
            for 1-D a pair of ints is (left, right), as Keras `ZeroPadding1D`.

    Returns:
        (batch, *(size + lo + hi), channels).
    """
    check_array(x, "zero_pad")
    pairs = as_pairs(padding, spatial_rank(x), "padding")
    return jnp.pad(x, [(0, 0), *pairs, (0, 0)])


def crop(x: jax.Array, cropping: Any = 1) -> jax.Array:
    """Keras `CroppingND`: cells removed from both ends of each spatial axis.

    Args:
        x: (batch, *spatial, channels).
        cropping: the same forms as `zero_pad`'s `padding`: an int, one int per axis, or
            one (lo, hi) pair per axis.

    Returns:
        (batch, *(size - lo - hi), channels).

    Raises:
        ValueError: a cropping that removes every cell of an axis.
    """
    check_array(x, "crop")
    pairs = as_pairs(cropping, spatial_rank(x), "cropping")
    for axis, (n, (lo, hi)) in enumerate(zip(x.shape[1:-1], pairs)):
        if pad.surely(lambda: lo + hi >= n):
            raise ValueError(
                f"`cropping` {pairs[axis]} removes all {n} cells of spatial axis {axis} of x "
                f"with shape {tuple(x.shape)}."
            )
    return x[(slice(None), *(slice(lo, n - hi) for n, (lo, hi) in zip(x.shape[1:-1], pairs)))]
