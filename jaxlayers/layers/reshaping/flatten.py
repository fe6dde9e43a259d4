"""Keras `Flatten`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.layers.layer import Layer


class Flatten(Layer):
    """Keras `Flatten`: (batch, ...) -> (batch, prod(...)).

    Args:
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    def call(self, x: jax.Array) -> jax.Array:
        return F.flatten(x)
