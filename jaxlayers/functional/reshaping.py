"""Flatten, zero padding and cropping (Keras `Flatten`, `ZeroPaddingND`, `CroppingND`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import padding as pad
from jaxlayers._args import _is_int, as_pairs, check_array, positive_int, spatial_rank


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


def permute(x: jax.Array, dims: Sequence[int]) -> jax.Array:
    """Keras `Permute(dims)`: the axes after the batch axis reordered; the batch axis stays first.

    Args:
        x: (batch, d1, ..., dn).
        dims: a permutation of 1..n: output axis i + 1 is input axis `dims[i]`.

    Returns:
        (batch, d_dims[0], ..., d_dims[n-1]).

    Raises:
        TypeError: `dims` is not a sequence of ints.
        ValueError: `dims` is not a permutation of 1..n for x's n axes after the batch axis.
    """
    dims = check_dims(dims)
    if x.ndim != len(dims) + 1:
        raise ValueError(f"`x` must have {len(dims) + 1} dimensions (batch and the {len(dims)} axes `dims` "
                         f"{dims} permutes), got shape {tuple(x.shape)}.")
    return jnp.transpose(x, (0, *dims))


def check_dims(dims: Any) -> tuple[int, ...]:
    """Keras `Permute`'s `dims`: a permutation of 1..n.

    Args:
        dims: the argument.

    Returns:
        `dims` as a tuple of ints.

    Raises:
        TypeError: not a sequence of ints.
        ValueError: not a permutation of 1..n.
    """
    if not isinstance(dims, Sequence) or isinstance(dims, str) or not all(map(_is_int, dims)):
        raise TypeError(f"`dims` must be a sequence of ints (a permutation of 1..n), got {dims!r}.")
    if sorted(dims) != list(range(1, len(dims) + 1)):
        raise ValueError(f"`dims` must be a permutation of 1..{len(dims)} (the batch axis 0 stays first), got "
                         f"{tuple(dims)!r}.")
    return tuple(int(d) for d in dims)


def repeat_vector(x: jax.Array, n: int) -> jax.Array:
    """Keras `RepeatVector(n)`: (batch, features) -> (batch, n, features), each row repeated n times.

    Args:
        x: (batch, features).
        n: the number of repetitions (>= 1).

    Returns:
        (batch, n, features).

    Raises:
        TypeError: `n` is not an int.
        ValueError: `n` < 1, or x not 2-D.
    """
    n = positive_int(n, "n")
    if x.ndim != 2:
        raise ValueError(f"`x` must have 2 dimensions (batch, features), as Keras `RepeatVector`, got shape "
                         f"{tuple(x.shape)}.")
    return jnp.repeat(x[:, None, :], n, axis=1)
