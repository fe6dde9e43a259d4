"""Keras `RepeatVector`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers._args import positive_int
from jaxlayers.layers.layer import Layer


class RepeatVector(Layer):
    """Keras `RepeatVector(n)`: (batch, features) -> (batch, n, features).

    Args:
        n: the number of repetitions (>= 1).
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    n: int

    def check(self) -> None:
        super().check()
        positive_int(self.n, "n")

    def call(self, x: jax.Array) -> jax.Array:
        return F.repeat_vector(x, self.n)
