"""Keras `GlobalAveragePoolingND`: `GlobalAveragePooling` and `GlobalAveragePooling1D/2D/3D`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.layers.layer import ranked
from jaxlayers.layers.pooling.base_pooling import BaseGlobalPooling


class GlobalAveragePooling(BaseGlobalPooling):
    """Keras `GlobalAveragePoolingND`: (batch, *spatial, C) -> (batch, C), the mean over all spatial cells.

    The call takes `mask=` (batch, *spatial): the mean is then over the cells where it is
    True; in a Graph, `GlobalAveragePooling1D` gets its input's mask, as Keras's does.

    Args:
        keepdims: keep the spatial axes, of size 1.
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    def call(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        self.spatial_rank(x)
        return F.global_avg_pool(x, self.keepdims, mask)


GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D = ranked(
    GlobalAveragePooling, "GlobalAveragePooling{}D", "Keras `{name}`: x: {layout} -> (batch, channels). Arguments "
    "as `GlobalAveragePooling`.", aliases="GlobalAvgPool{}D",
    takes_mask={1: True, 2: False, 3: False})  # Keras's 1-D layer alone averages over its input's mask
