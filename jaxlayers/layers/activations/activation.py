"""Keras `Activation`."""
from __future__ import annotations

import jax

from jaxlayers import activations
from jaxlayers.layers.layer import Layer


class Activation(Layer):
    """Keras `Activation(activation)`: a named activation (or callable) as a layer; x's shape.

    Args:
        activation: a Keras activation name, a callable or None (linear).
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    supports_masking = True  # as Keras's: a mask passes through

    keeps_grid = True

    activation: activations.Activation = "linear"

    def check(self) -> None:
        super().check()
        activations.get(self.activation)

    def call(self, x: jax.Array) -> jax.Array:
        return activations.get(self.activation)(x)
