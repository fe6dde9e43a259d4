"""Keras initializer names as Flax initializers (same distributions and fan rules).

Keras and Flax both take fan-in from axis -2 and fan-out from axis -1 times the
receptive field, so kernels in Keras layouts get Keras's scale.
"""
from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax.linen import initializers as init

Initializer = str | Callable

def _keras_uniform(key: jax.Array, shape: tuple[int, ...], dtype: jnp.dtype = jnp.float32) -> jax.Array:
    """Keras `RandomUniform()`: uniform on [-0.05, 0.05]."""
    return jax.random.uniform(key, shape, dtype, -0.05, 0.05)


BY_NAME: dict[str, Callable] = {
    "glorot_uniform": init.glorot_uniform(),
    "glorot_normal": init.glorot_normal(),
    "he_uniform": init.he_uniform(),
    "he_normal": init.he_normal(),
    "lecun_uniform": init.lecun_uniform(),
    "lecun_normal": init.lecun_normal(),
    "zeros": init.zeros_init(),
    "ones": init.ones_init(),
    "random_normal": init.normal(stddev=0.05),
    "random_uniform": _keras_uniform,
    "uniform": _keras_uniform,
    "truncated_normal": init.truncated_normal(stddev=0.05),
    "orthogonal": init.orthogonal(),
}


def get(initializer: Initializer, name: str) -> Callable:
    """A Flax initializer for a Keras name or a callable `(key, shape, dtype) -> array`.

    Args:
        initializer: a name of `BY_NAME` (any case), or a callable (returned as is).
        name: the argument named in errors (e.g. "kernel_initializer").

    Returns:
        A callable `(key, shape, dtype) -> array`.

    Raises:
        ValueError: an unknown name.
    """
    if callable(initializer):
        return initializer
    if isinstance(initializer, str) and initializer.lower() in BY_NAME:
        return BY_NAME[initializer.lower()]
    raise ValueError(f"`{name}` must be a callable or one of {sorted(BY_NAME)}, got {initializer!r}.")
