"""Keras's regularization in training mode: dropout (inverted scaling, optional broadcast mask), gaussian
dropout and noise, alpha dropout; and the activity regularization penalty."""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers._args import _is_int, check_array

NoiseShape = Sequence[int | None] | None


def check_fraction(value: Any, name: str = "rate", meaning: str = "the fraction of units dropped") -> float:
    """`value` as a float in [0, 1], as Keras accepts it (a rate of 1 drops every unit).

    Args:
        value: a real number (not a bool).
        name: the argument, for errors (`rate`, `stddev`, `dropout`).
        meaning: what it is, for errors.

    Returns:
        `value` as a Python float.

    Raises:
        TypeError: `value` is not a real number.
        ValueError: `value` is outside [0, 1].
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a Python float in [0, 1], got {value!r}.")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1] ({meaning}), got {value}.")
    return float(value)


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
    rate = check_fraction(rate)
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


def _below_one(rate: Any, what: str) -> float:
    """`rate` in [0, 1): 1 would divide by zero in Keras's formula."""
    rate = check_fraction(rate)
    if rate == 1.0:
        raise ValueError(f"`rate` must be in [0, 1) for {what} (its scaling divides by 1 - rate), got 1.0.")
    return rate


def _floating(x: jax.Array, what: str) -> None:
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        raise TypeError(f"`x` must be floating for {what}, got dtype {x.dtype}.")


def gaussian_dropout(x: jax.Array, rate: float, key: jax.Array) -> jax.Array:
    """Keras `GaussianDropout` in training mode: x times noise of mean 1 and stddev sqrt(rate / (1 - rate)).

    Args:
        x: any shape, floating.
        rate: in [0, 1): 0 returns x.
        key: one PRNG key.

    Returns:
        An array of x's shape and dtype.

    Raises:
        TypeError: `x` is not floating, `rate` not a number, or `key` not one PRNG key.
        ValueError: `rate` outside [0, 1).
    """
    rate = _below_one(rate, "gaussian dropout")
    check_key(key)
    _floating(x, "gaussian dropout")
    if rate == 0.0:
        return x
    stddev = math.sqrt(rate / (1.0 - rate))
    return x * (1.0 + stddev * jax.random.normal(key, x.shape, x.dtype))


def gaussian_noise(x: jax.Array, stddev: float, key: jax.Array) -> jax.Array:
    """Keras `GaussianNoise` in training mode: x plus noise of mean 0 and standard deviation `stddev`.

    Args:
        x: any shape, floating.
        stddev: in [0, 1]: 0 returns x.
        key: one PRNG key.

    Returns:
        An array of x's shape and dtype.

    Raises:
        TypeError: `x` is not floating, `stddev` not a number, or `key` not one PRNG key.
        ValueError: `stddev` outside [0, 1].
    """
    stddev = check_fraction(stddev, "stddev", "as Keras's GaussianNoise")
    check_key(key)
    _floating(x, "gaussian noise")
    if stddev == 0.0:
        return x
    return x + stddev * jax.random.normal(key, x.shape, x.dtype)


# SELU's constants, as Keras's AlphaDropout writes them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def alpha_dropout(x: jax.Array, rate: float, key: jax.Array, noise_shape: NoiseShape = None) -> jax.Array:
    """Keras `AlphaDropout` in training mode: SELU-preserving dropout.

    Dropped units are set to `alpha_p = -alpha * scale` (SELU's negative saturation),
    then all are mapped by `a * x + b` with `a = ((1 - rate) * (1 + rate * alpha_p**2))
    ** -0.5` and `b = -a * alpha_p * rate`, so that zero-mean unit-variance inputs keep
    their mean and variance.

    Args:
        x: any shape, floating.
        rate: the fraction of units dropped, in [0, 1): 0 returns x.
        key: one PRNG key.
        noise_shape: the mask's shape, as `dropout`'s.

    Returns:
        An array of x's shape and dtype.

    Raises:
        TypeError: `x` is not floating, `rate` not a number, or `key` not one PRNG key.
        ValueError: `rate` outside [0, 1), or a `noise_shape` that does not fit x.
    """
    rate = _below_one(rate, "alpha dropout")
    check_key(key)
    shape = mask_shape(tuple(x.shape), noise_shape)
    _floating(x, "alpha dropout")
    if rate == 0.0:
        return x
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    a = ((1.0 - rate) * (1.0 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    keep = jnp.broadcast_to(jax.random.bernoulli(key, 1.0 - rate, shape), x.shape)
    return a * lax.select(keep, x, jnp.full_like(x, alpha_p)) + jnp.asarray(b, x.dtype)


def check_penalty(value: Any, name: str) -> float:
    """`ActivityRegularization`'s `l1` or `l2`: a finite real number >= 0.

    Args:
        value: the factor given.
        name: "l1" or "l2".

    Returns:
        The factor as a Python float.

    Raises:
        TypeError: not a real number.
        ValueError: negative, infinite or NaN.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a non-negative float, got {value!r}.")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"`{name}` must be a finite non-negative float, got {value}.")
    return float(value)


def activity_regularization(x: jax.Array, l1: float = 0.0, l2: float = 0.0) -> jax.Array:
    """The loss Keras's `ActivityRegularization` adds: `(l1 * sum(|x|) + l2 * sum(x**2)) / batch`.

    Keras divides the `L1L2` penalty of a layer's output by its batch size (x.shape[0]);
    a scalar x is not divided.

    Args:
        x: the layer's output: (batch, ...), or a scalar.
        l1: the L1 factor, >= 0.
        l2: the L2 factor, >= 0.

    Returns:
        A scalar in x's dtype.

    Raises:
        TypeError: a factor that is not a real number.
        ValueError: a negative or non-finite factor.
    """
    l1, l2 = check_penalty(l1, "l1"), check_penalty(l2, "l2")
    penalty = jnp.zeros((), x.dtype)
    if l1:
        penalty = penalty + jnp.asarray(l1, x.dtype) * jnp.sum(jnp.abs(x))
    if l2:
        penalty = penalty + jnp.asarray(l2, x.dtype) * jnp.sum(jnp.square(x))
    return penalty / x.shape[0] if x.ndim and x.shape[0] else penalty
