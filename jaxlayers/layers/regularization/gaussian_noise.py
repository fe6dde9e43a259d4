"""Keras `GaussianNoise`."""
from __future__ import annotations

from collections.abc import Callable

import jax

from jaxlayers import functional as F
from jaxlayers.functional.dropout import check_stddev
from jaxlayers.layers.regularization.dropout import StochasticLayer


class GaussianNoise(StochasticLayer):
    """Keras `GaussianNoise(stddev, seed)`: x: any shape -> x's shape.

    The identity unless in training mode; then x plus Gaussian noise of mean 0 and
    standard deviation `stddev` (`jaxlayers.functional.gaussian_noise`).

    Args:
        stddev: the noise's standard deviation, in [0, 1] (as Keras).
        seed: an int folded into the key (NNX: the layer's own stream), or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the noise comes from.
        dtype: the computation's dtype; None: the input's.
    """

    keeps_grid = True

    stddev: float
    seed: int | None = None

    def check(self) -> None:
        super().check()
        check_stddev(self.stddev)

    def call(self, x: jax.Array, training: bool, rng: Callable[[], jax.Array]) -> jax.Array:
        if not training or self.stddev == 0.0:
            return x
        return F.gaussian_noise(x, self.stddev, rng())
