"""Keras `AlphaDropout`."""
from __future__ import annotations

from collections.abc import Callable

import jax

from jaxlayers import functional as F
from jaxlayers.functional.dropout import _below_one, check_noise_shape, mask_shape
from jaxlayers.layers.regularization.dropout import StochasticLayer


class AlphaDropout(StochasticLayer):
    """Keras `AlphaDropout(rate, noise_shape, seed)`: x: any shape -> x's shape.

    The identity unless in training mode; then SELU-preserving dropout: dropped units
    take SELU's saturation value `alpha_p`, and all are mapped by Keras's `a * x + b`
    (`jaxlayers.functional.alpha_dropout`), keeping zero-mean unit-variance inputs so.

    Args:
        rate: the fraction of units dropped, in [0, 1).
        noise_shape: the mask's shape, None entries meaning the input's size; None: the
            input's shape.
        seed: an int folded into the key (NNX: the layer's own stream), or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the masks come from.
        dtype: the computation's dtype; None: the input's.
    """

    keeps_grid = True

    rate: float
    noise_shape: tuple[int | None, ...] | None = None
    seed: int | None = None

    def check(self) -> None:
        super().check()
        _below_one(self.rate, "AlphaDropout")
        check_noise_shape(self.noise_shape)

    def call(self, x: jax.Array, training: bool, rng: Callable[[], jax.Array]) -> jax.Array:
        mask_shape(tuple(x.shape), self.noise_shape)
        if not training or self.rate == 0.0:
            return x
        return F.alpha_dropout(x, self.rate, rng(), self.noise_shape)
