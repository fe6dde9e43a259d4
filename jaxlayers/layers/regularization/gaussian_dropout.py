"""Keras `GaussianDropout`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.functional.dropout import _below_one
from jaxlayers.layers.regularization.dropout import StochasticLayer, stochastic_args


class GaussianDropout(StochasticLayer):
    __doc__ = """Keras `GaussianDropout(rate, seed)`: x: any shape -> x's shape.

    The identity unless in training mode; then x times Gaussian noise of mean 1 and
    standard deviation sqrt(rate / (1 - rate)) (`jaxlayers.functional.gaussian_dropout`).

    Args:
        rate: the equivalent dropout rate, in [0, 1).
""" + stochastic_args("noise")

    rate: float
    seed: int | None = None

    def check(self) -> None:
        super().check()
        _below_one(self.rate, "GaussianDropout")

    def noise(self, x: jax.Array, key: jax.Array) -> jax.Array:
        return F.gaussian_dropout(x, self.rate, key)
