"""Keras `ELU`."""
from __future__ import annotations

import numbers

import jax

from jaxlayers import activations
from jaxlayers.layers.layer import Layer


class ELU(Layer):
    """Keras `ELU(alpha)`: x for x > 0, `alpha * (exp(x) - 1)` below; x's shape.

    Args:
        alpha: the scale of the negative part.
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    keeps_grid = True

    alpha: float = 1.0

    def check(self) -> None:
        super().check()
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, numbers.Real):
            raise TypeError(f"ELU `alpha` must be a number, got {self.alpha!r}.")

    def call(self, x: jax.Array) -> jax.Array:
        return activations.elu(x, alpha=self.alpha)
