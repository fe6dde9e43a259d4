"""Keras `GaussianNoise`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.functional.dropout import check_fraction
from jaxlayers.layers.regularization.dropout import StochasticLayer, stochastic_args


class GaussianNoise(StochasticLayer):
    __doc__ = """Keras `GaussianNoise(stddev, seed)`: x: any shape -> x's shape.

    The identity unless in training mode; then x plus Gaussian noise of mean 0 and
    standard deviation `stddev` (`jaxlayers.functional.gaussian_noise`).

    Args:
        stddev: the noise's standard deviation, in [0, 1] (as Keras).
""" + stochastic_args("noise")

    strength = "stddev"

    stddev: float
    seed: int | None = None

    def check(self) -> None:
        super().check()
        check_fraction(self.stddev, "stddev", "as Keras's GaussianNoise")

    def noise(self, x: jax.Array, key: jax.Array) -> jax.Array:
        return F.gaussian_noise(x, self.stddev, key)
