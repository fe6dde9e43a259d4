"""Keras `MaxPoolingND`: `MaxPooling` (rank from the arguments or the input) and `MaxPooling1D/2D/3D`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.layers.layer import ranked
from jaxlayers.layers.pooling.base_pooling import BasePooling


class MaxPooling(BasePooling):
    """Keras `MaxPoolingND`: max over `pool_size` windows (`jaxlayers.functional.max_pool`).

    x: (batch, *spatial, channels) -> (batch, *out, channels), x's dtype.

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    def call(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.max_pool(x, self.pool_size, self.strides, self.padding)


MaxPooling1D, MaxPooling2D, MaxPooling3D = ranked(
    MaxPooling, "MaxPooling{}D", "Keras `{name}`: x: {layout}. Arguments as `MaxPooling`.", aliases="MaxPool{}D")
