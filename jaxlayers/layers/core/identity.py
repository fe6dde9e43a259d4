"""Keras `Identity`."""
from __future__ import annotations

import jax

from jaxlayers.layers.layer import Layer


class Identity(Layer):
    """Keras `Identity`: x unchanged (cast to `dtype` if given); x's shape.

    Args:
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    keeps_grid = True

    def call(self, x: jax.Array) -> jax.Array:
        return x
