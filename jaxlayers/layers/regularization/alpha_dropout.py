"""Keras `AlphaDropout`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.functional.dropout import _below_one
from jaxlayers.layers.regularization.dropout import Dropout, stochastic_args


class AlphaDropout(Dropout):
    __doc__ = """Keras `AlphaDropout(rate, noise_shape, seed)`: x: any shape -> x's shape.

    The identity unless in training mode; then SELU-preserving dropout: dropped units
    take SELU's saturation value `alpha_p`, and all are mapped by Keras's `a * x + b`
    (`jaxlayers.functional.alpha_dropout`), keeping zero-mean unit-variance inputs so.

    Args:
        rate: the fraction of units dropped, in [0, 1).
        noise_shape: the mask's shape, None entries meaning the input's size; None: the
            input's shape.
""" + stochastic_args()

    rate: float
    noise_shape: tuple[int | None, ...] | None = None
    seed: int | None = None

    def check(self) -> None:
        super().check()
        _below_one(self.rate, "AlphaDropout")

    def noise(self, x: jax.Array, key: jax.Array) -> jax.Array:
        return F.alpha_dropout(x, self.rate, key, self.noise_shape)
