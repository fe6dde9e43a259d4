"""Keras `LeakyReLU`."""
from __future__ import annotations

import numbers

import jax

from jaxlayers import activations
from jaxlayers.layers.layer import Layer


class LeakyReLU(Layer):
    """Keras `LeakyReLU(negative_slope)`: x for x >= 0, `negative_slope * x` below; x's shape.

    Args:
        negative_slope: the slope below 0 (>= 0; Keras's default 0.3, not the 0.2 of the
            "leaky_relu" activation name).
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    keeps_grid = True

    negative_slope: float = 0.3

    def check(self) -> None:
        super().check()
        if isinstance(self.negative_slope, bool) or not isinstance(self.negative_slope, numbers.Real):
            raise TypeError(f"LeakyReLU `negative_slope` must be a number >= 0, got {self.negative_slope!r}.")
        if self.negative_slope < 0:
            raise ValueError(f"LeakyReLU `negative_slope` must be >= 0, got {self.negative_slope!r}.")

    def call(self, x: jax.Array) -> jax.Array:
        return activations.leaky_relu(x, negative_slope=self.negative_slope)
