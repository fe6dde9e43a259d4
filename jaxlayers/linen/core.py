"""Keras layers without weights or window math: `Activation`, `ReLU`, `Reshape`, `Dropout`."""
from __future__ import annotations

import jax

from jaxlayers import activations
from jaxlayers.linen._base import Layer


class Activation(Layer):
    """Keras `Activation(activation)`: a named activation (or callable) as a layer."""

    keeps_grid = True

    activation: activations.Activation = "linear"

    def __call__(self, x: jax.Array) -> jax.Array:
        return activations.get(self.activation)(x)


class ReLU(Layer):
    """Keras `ReLU(max_value, negative_slope, threshold)`."""

    keeps_grid = True

    max_value: float | None = None
    negative_slope: float = 0.0
    threshold: float = 0.0

    def __call__(self, x: jax.Array) -> jax.Array:
        if (self.max_value is not None and self.max_value < 0) or self.negative_slope < 0 or self.threshold < 0:
            raise ValueError(f"ReLU arguments must be non-negative, got max_value={self.max_value}, "
                             f"negative_slope={self.negative_slope}, threshold={self.threshold}.")
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)


class Reshape(Layer):
    """Keras `Reshape(target_shape)`: (batch, ...) -> (batch, *target_shape); one -1 allowed."""

    target_shape: tuple[int, ...]

    def __call__(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0], *self.target_shape)


class Dropout(Layer):
    """Keras `Dropout(rate)` at inference: the identity (no training-mode dropout here)."""

    keeps_grid = True

    rate: float = 0.5

    def __call__(self, x: jax.Array) -> jax.Array:
        return x
