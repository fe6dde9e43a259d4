"""Keras activation names as JAX functions."""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Activation = str | Callable[[jax.Array], jax.Array] | None


def _linear(x: jax.Array) -> jax.Array:
    return x


def _gelu(x: jax.Array) -> jax.Array:
    return jax.nn.gelu(x, approximate=False)


def _leaky_relu(x: jax.Array) -> jax.Array:
    return jax.nn.leaky_relu(x, negative_slope=0.2)


def _softmax(x: jax.Array) -> jax.Array:
    return jax.nn.softmax(x, axis=-1)


def relu(x: jax.Array, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> jax.Array:
    """Keras `activations.relu` with its three arguments, step for step.

    Args:
        x: any array.
        negative_slope: the slope below `threshold`.
        max_value: the saturation value, or None (no limit).
        threshold: values below it are zeroed (or scaled by `negative_slope`).

    Returns:
        An array of x's shape and dtype.
    """
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return jax.nn.leaky_relu(x, negative_slope)
        negative_part = jax.nn.relu(-x + threshold) if threshold != 0 else jax.nn.relu(-x)
    else:
        negative_part = 1
    clip = max_value is not None
    if threshold != 0:
        x = jnp.where(x > jnp.asarray(threshold, x.dtype), x, 0).astype(x.dtype)
    elif max_value == 6:
        x, clip = jax.nn.relu6(x), False
    else:
        x = jax.nn.relu(x)
    if clip:
        x = jnp.clip(x, jnp.asarray(0, x.dtype), jnp.asarray(max_value, x.dtype))
    if negative_slope != 0.0:
        x = x - negative_slope * negative_part
    return x


BY_NAME: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": _linear,
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "softmax": _softmax,
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "softplus": jax.nn.softplus,
    "softsign": jax.nn.soft_sign,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "gelu": _gelu,
    "leaky_relu": _leaky_relu,
    "exponential": jnp.exp,
}


def get(activation: Activation) -> Callable[[jax.Array], jax.Array]:
    """A callable for a Keras activation name, a callable, or None (identity).

    Args:
        activation: a name of `BY_NAME` (any case), a callable (returned as is) or None.

    Returns:
        A function of one array.

    Raises:
        ValueError: an unknown name.
    """
    if activation is None:
        return _linear
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation.lower() in BY_NAME:
        return BY_NAME[activation.lower()]
    raise ValueError(f"`activation` must be a callable, None or one of {sorted(BY_NAME)}, got {activation!r}.")
