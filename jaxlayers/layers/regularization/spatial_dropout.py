"""Keras `SpatialDropout1D`, `SpatialDropout2D`, `SpatialDropout3D`: dropout of whole feature maps."""
from __future__ import annotations

from collections.abc import Callable

import jax

from jaxlayers import functional as F
from jaxlayers.functional.dropout import check_rate
from jaxlayers.layers.regularization.dropout import StochasticLayer


class SpatialDropout(StochasticLayer):
    """The base of Keras's `SpatialDropoutND(rate, seed)`: x: (batch, *spatial, channels) -> x's shape.

    The identity unless in training mode; then each (example, channel) feature map is
    zeroed with probability `rate` and kept ones are scaled by 1 / (1 - rate): dropout with
    the mask shape (batch, 1, ..., 1, channels).

    Args:
        rate: the fraction of feature maps dropped, in [0, 1].
        seed: an int folded into the key (NNX: the layer's own stream), or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the masks come from.
        dtype: the computation's dtype; None: the input's.
    """

    keeps_grid = True

    rate: float
    seed: int | None = None

    def check(self) -> None:
        super().check()
        check_rate(self.rate)

    def call(self, x: jax.Array, training: bool, rng: Callable[[], jax.Array]) -> jax.Array:
        rank = self.spatial_rank(x)
        if not training or self.rate == 0.0:
            return x
        return F.dropout(x, self.rate, rng(), (x.shape[0], *[1] * rank, x.shape[-1]))


class SpatialDropout1D(SpatialDropout):
    """Keras `SpatialDropout1D(rate, seed)`: x: (batch, steps, channels) -> x's shape; whole channels dropped.

    Args:
        rate: the fraction of channels dropped (per example), in [0, 1].
        seed: an int folded into the key (NNX: the layer's own stream), or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the masks come from.
        dtype: the computation's dtype; None: the input's.
    """

    rank = 1


class SpatialDropout2D(SpatialDropout):
    """Keras `SpatialDropout2D(rate, seed)`: x: (batch, height, width, channels) -> x's shape; whole maps dropped.

    Args:
        rate: the fraction of feature maps dropped (per example), in [0, 1].
        seed: an int folded into the key (NNX: the layer's own stream), or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the masks come from.
        dtype: the computation's dtype; None: the input's.
    """

    rank = 2


class SpatialDropout3D(SpatialDropout):
    """Keras `SpatialDropout3D(rate, seed)`: x: (batch, depth, height, width, channels) -> x's shape.

    Whole feature maps are dropped.

    Args:
        rate: the fraction of feature maps dropped (per example), in [0, 1].
        seed: an int folded into the key (NNX: the layer's own stream), or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the masks come from.
        dtype: the computation's dtype; None: the input's.
    """

    rank = 3
