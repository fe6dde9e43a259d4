"""NNX twins of Keras's weightless core layers: `Activation`, `ReLU`, `Reshape`, `Dropout`."""
from __future__ import annotations

from collections.abc import Sequence

import jax

from jaxlayers import activations
from jaxlayers.nnx._base import Layer


class Activation(Layer):
    """Keras `Activation(activation)`: a named activation (or callable) as a layer."""

    def __init__(self, activation: activations.Activation = "linear"):
        self.activation = activation
        self._fn = activations.get(activation)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._fn(x)


class ReLU(Layer):
    """Keras `ReLU(max_value, negative_slope, threshold)`."""

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0):
        if (max_value is not None and max_value < 0) or negative_slope < 0 or threshold < 0:
            raise ValueError(f"ReLU arguments must be non-negative, got max_value={max_value}, "
                             f"negative_slope={negative_slope}, threshold={threshold}.")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def __call__(self, x: jax.Array) -> jax.Array:
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)


class Reshape(Layer):
    """Keras `Reshape(target_shape)`: (batch, ...) -> (batch, *target_shape); one -1 allowed."""

    def __init__(self, target_shape: Sequence[int]):
        self.target_shape = tuple(target_shape)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0], *self.target_shape)


class Dropout(Layer):
    """Keras `Dropout(rate)` at inference: the identity."""

    def __init__(self, rate: float = 0.5):
        self.rate = rate

    def __call__(self, x: jax.Array) -> jax.Array:
        return x
