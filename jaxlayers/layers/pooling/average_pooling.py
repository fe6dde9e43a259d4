"""Keras `AveragePoolingND`: `AveragePooling` and `AveragePooling1D/2D/3D`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.layers.layer import ranked
from jaxlayers.layers.pooling.base_pooling import BasePooling


class AveragePooling(BasePooling):
    """Keras `AveragePoolingND`: mean over windows, padded cells left out of the count.

    x: (batch, *spatial, channels) -> (batch, *out, channels); float32 for integer x.

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    def call(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.avg_pool(x, self.pool_size, self.strides, self.padding)


AveragePooling1D, AveragePooling2D, AveragePooling3D = ranked(
    AveragePooling, "AveragePooling{}D", "Keras `{name}`: x: {layout}. Arguments as `AveragePooling`.",
    aliases="AvgPool{}D")
