"""Keras `GaussianDropout`."""
from __future__ import annotations

from collections.abc import Callable

import jax

from jaxlayers import functional as F
from jaxlayers.functional.dropout import _below_one
from jaxlayers.layers.regularization.dropout import StochasticLayer


class GaussianDropout(StochasticLayer):
    """Keras `GaussianDropout(rate, seed)`: x: any shape -> x's shape.

    The identity unless in training mode; then x times Gaussian noise of mean 1 and
    standard deviation sqrt(rate / (1 - rate)) (`jaxlayers.functional.gaussian_dropout`).

    Args:
        rate: the equivalent dropout rate, in [0, 1).
        seed: an int folded into the key (NNX: the layer's own stream), or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the noise comes from.
        dtype: the computation's dtype; None: the input's.
    """

    keeps_grid = True

    rate: float
    seed: int | None = None

    def check(self) -> None:
        super().check()
        _below_one(self.rate, "GaussianDropout")

    def call(self, x: jax.Array, training: bool, rng: Callable[[], jax.Array]) -> jax.Array:
        if not training or self.rate == 0.0:
            return x
        return F.gaussian_dropout(x, self.rate, rng())
