"""Keras merge layers as Flax NNX modules: each takes a list of arrays, as in Keras (`Add()([a, b])`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers._args import _is_int
from jaxlayers.nnx._base import Layer


class Add(Layer):
    """Keras `Add`: a list of (batch, ...) arrays -> their elementwise sum (Keras broadcasting)."""

    def __call__(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.add(inputs)


class Subtract(Layer):
    """Keras `Subtract`: [a, b] -> a - b."""

    def __call__(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.subtract(inputs)


class Multiply(Layer):
    """Keras `Multiply`: a list of (batch, ...) arrays -> their elementwise product."""

    def __call__(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.multiply(inputs)


class Average(Layer):
    """Keras `Average`: a list of (batch, ...) arrays -> their elementwise mean."""

    def __call__(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.average(inputs)


class Maximum(Layer):
    """Keras `Maximum`: a list of (batch, ...) arrays -> their elementwise maximum."""

    def __call__(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.maximum(inputs)


class Minimum(Layer):
    """Keras `Minimum`: a list of (batch, ...) arrays -> their elementwise minimum."""

    def __call__(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.minimum(inputs)


class Concatenate(Layer):
    """Keras `Concatenate(axis=-1)`: arrays equal but on `axis` -> joined along it.

    Args:
        axis: the axis to join along (negative counts from the end).
    """

    def __init__(self, axis: int = -1, *, dtype: Any = None):
        super().__init__(dtype=dtype)
        if not _is_int(axis):
            raise TypeError(f"`axis` must be an int, got {axis!r}.")
        self.axis = axis

    def __call__(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.concatenate(inputs, self.axis)
