"""Dropout in training mode, as Keras `Dropout`: inverted scaling, optional broadcast mask."""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers._args import _is_int, check_array

NoiseShape = Sequence[int | None] | None


def check_rate(rate: Any) -> float:
    """`rate` as a float in [0, 1], as Keras accepts it (1 drops every unit).

    Args:
        rate: the fraction of units dropped, a real number (not a bool).

    Returns:
        `rate` as a Python float.

    Raises:
        TypeError: `rate` is not a real number.
        ValueError: `rate` is outside [0, 1].
    """
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise TypeError(f"`rate` must be a Python float in [0, 1], got {rate!r}.")
    if not 0.0 <= float(rate) <= 1.0:
        raise ValueError(f"`rate` must be in [0, 1] (the fraction of units dropped), got {rate}.")
    return float(rate)


def check_noise_shape(noise_shape: Any) -> tuple[int | None, ...] | None:
    """`noise_shape` as a tuple of positive ints and Nones (None: the input's size), or None.

    Args:
        noise_shape: None, or a sequence of positive ints and Nones.

    Returns:
        A tuple of ints and Nones, or None.

    Raises:
        TypeError: not None or a sequence of ints and Nones.
        ValueError: an entry below 1.
    """
    if noise_shape is None:
        return None
    if isinstance(noise_shape, str) or not isinstance(noise_shape, Sequence) or not all(
            d is None or _is_int(d) for d in noise_shape):
        raise TypeError(f"`noise_shape` must be None or a sequence of ints and Nones, got {noise_shape!r}.")
    if any(d is not None and d < 1 for d in noise_shape):
        raise ValueError(f"`noise_shape` entries must be positive ints or None, got {noise_shape!r}.")
    return tuple(None if d is None else int(d) for d in noise_shape)


def check_key(key: Any) -> jax.Array:
    """`key` must be one PRNG key: `jax.random.key(seed)` or `jax.random.PRNGKey(seed)`.

    That is a typed key array of shape (), or a raw uint32 key (shape (2,) with JAX's
    default implementation).

    Args:
        key: the value given as a key.

    Returns:
        `key`, unchanged.

    Raises:
        TypeError: anything else (None, an int, a key array of several keys, ...).
    """
    raw = jax.eval_shape(lambda: jax.random.PRNGKey(0))
    shape, dtype = getattr(key, "shape", None), getattr(key, "dtype", None)
    typed = dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)
    if (shape == () and typed) or (not typed and dtype == raw.dtype and tuple(shape) == raw.shape):
        return key
    got = f"an array of dtype {dtype} and shape {tuple(shape)}" if dtype is not None else repr(key)
    raise TypeError(
        f"`key` must be one PRNG key: jax.random.key(seed) (a typed key of shape ()) or "
        f"jax.random.PRNGKey(seed) (uint32 of shape {raw.shape}), got {got}."
    )


def mask_shape(shape: tuple[int, ...], noise_shape: NoiseShape) -> tuple[int, ...]:
    """The concrete mask shape for an input of `shape`: None entries take the input's size.

    Args:
        shape: the input's shape.
        noise_shape: None (the mask has the input's shape), or one entry per axis of
            the input: 1 (the mask is shared along that axis), None or the input's size.

    Returns:
        The mask's shape, ints only.

    Raises:
        TypeError: `noise_shape` is not None or a sequence of ints and Nones.
        ValueError: `noise_shape` has the wrong length or an entry that is not 1, None or
            the input's size.
    """
    noise_shape = check_noise_shape(noise_shape)
    if noise_shape is None:
        return tuple(shape)
    if len(noise_shape) != len(shape):
        raise ValueError(f"`noise_shape` must have one entry per axis of `x` ({len(shape)}), got "
                         f"{noise_shape!r} for x shape {tuple(shape)}.")
    concrete = tuple(n if d is None else d for d, n in zip(noise_shape, shape))
    if any(d not in (1, n) for d, n in zip(concrete, shape)):
        raise ValueError(f"`noise_shape` entries must be 1, None or the input's size, got {noise_shape!r} "
                         f"for x shape {tuple(shape)}.")
    return concrete


def dropout(x: jax.Array, rate: float, key: jax.Array, noise_shape: NoiseShape = None) -> jax.Array:
    """Keras `Dropout` in training mode: each unit is zeroed with probability `rate`, kept ones are x / (1 - rate).

    Args:
        x: any shape, floating.
        rate: the fraction of units dropped, in [0, 1]: 0 returns x, 1 zeros.
        key: one PRNG key (`jax.random.key` or `jax.random.PRNGKey`).
        noise_shape: the mask's shape (default x.shape), with None entries meaning x's
            size and 1s sharing one draw along that axis (e.g. `(batch, 1, 1, channels)`
            drops whole feature maps).

    Returns:
        An array of x's shape and dtype.

    Raises:
        TypeError: `x` is not floating, `rate` is not a number, or `key` is not one PRNG key.
        ValueError: `rate` outside [0, 1], or a `noise_shape` that does not fit x.
    """
    check_array(x, "dropout")
    rate = check_rate(rate)
    check_key(key)
    shape = mask_shape(tuple(x.shape), noise_shape)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise TypeError(f"`x` must be floating for dropout, got dtype {x.dtype}.")
    if rate == 0.0:
        return x
    if rate == 1.0:
        return jnp.zeros_like(x)
    keep = 1.0 - rate
    mask = jnp.broadcast_to(jax.random.bernoulli(key, keep, shape), x.shape)
    return lax.select(mask, x / jnp.asarray(keep, x.dtype), jnp.zeros_like(x))
