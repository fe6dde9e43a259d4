"""Keras `Reshape`."""
from __future__ import annotations

import jax

from jaxlayers._args import target_shape as check_target_shape
from jaxlayers.layers.layer import Layer


class Reshape(Layer):
    """Keras `Reshape(target_shape)`: (batch, ...) -> (batch, *target_shape).

    Args:
        target_shape: the shape without the batch axis: ints >= 1, one -1 allowed (the
            size that holds the remaining cells).
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    target_shape: tuple[int, ...]

    def check(self) -> None:
        super().check()
        check_target_shape(self.target_shape)

    def call(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0], *check_target_shape(self.target_shape, x.shape))
