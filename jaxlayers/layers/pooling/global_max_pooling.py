"""Keras `GlobalMaxPoolingND`: `GlobalMaxPooling` and `GlobalMaxPooling1D/2D/3D`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.layers.layer import ranked
from jaxlayers.layers.pooling.base_pooling import BaseGlobalPooling


class GlobalMaxPooling(BaseGlobalPooling):
    """Keras `GlobalMaxPoolingND`: (batch, *spatial, C) -> (batch, C), the max over all spatial cells.

    Args:
        keepdims: keep the spatial axes, of size 1.
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    def call(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.global_max_pool(x, self.keepdims)


GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D = ranked(
    GlobalMaxPooling, "GlobalMaxPooling{}D", "Keras `{name}`: x: {layout} -> (batch, channels). Arguments as "
    "`GlobalMaxPooling`.", aliases="GlobalMaxPool{}D")
