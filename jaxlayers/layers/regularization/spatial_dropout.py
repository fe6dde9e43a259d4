"""Keras `SpatialDropout1D`, `SpatialDropout2D`, `SpatialDropout3D`: dropout of whole feature maps."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.functional.dropout import check_fraction
from jaxlayers.layers.layer import ranked
from jaxlayers.layers.regularization.dropout import StochasticLayer, stochastic_args


class SpatialDropout(StochasticLayer):
    __doc__ = """The base of Keras's `SpatialDropoutND(rate, seed)`: x: (batch, *spatial, channels) -> x's shape.

    The identity unless in training mode; then each (example, channel) feature map is
    zeroed with probability `rate` and kept ones are scaled by 1 / (1 - rate): dropout with
    the mask shape (batch, 1, ..., 1, channels).

    Args:
        rate: the fraction of feature maps dropped (per example), in [0, 1].
""" + stochastic_args()

    rate: float
    seed: int | None = None

    def check(self) -> None:
        super().check()
        check_fraction(self.rate)

    def check_input(self, x: jax.Array) -> None:
        self.spatial_rank(x)

    def noise(self, x: jax.Array, key: jax.Array) -> jax.Array:
        return F.dropout(x, self.rate, key, (x.shape[0], *[1] * (x.ndim - 2), x.shape[-1]))


_DOC = """Keras `{name}(rate, seed)`: x: {layout} -> x's shape; whole feature maps dropped.

    Args:
        rate: the fraction of feature maps dropped (per example), in [0, 1].
""" + stochastic_args()

SpatialDropout1D, SpatialDropout2D, SpatialDropout3D = ranked(SpatialDropout, "SpatialDropout{}D", _DOC)
