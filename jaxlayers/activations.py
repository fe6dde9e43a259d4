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
    """A callable for a Keras activation name, a callable, or None (identity)."""
    if activation is None:
        return _linear
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation.lower() in BY_NAME:
        return BY_NAME[activation.lower()]
    raise ValueError(f"`activation` must be a callable, None or one of {sorted(BY_NAME)}, got {activation!r}.")
