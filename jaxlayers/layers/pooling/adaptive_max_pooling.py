"""Keras `AdaptiveMaxPoolingND`: `AdaptiveMaxPooling` and `AdaptiveMaxPooling1D/2D/3D`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.layers.layer import ranked
from jaxlayers.layers.pooling.adaptive_pooling import BaseAdaptivePooling


class AdaptiveMaxPooling(BaseAdaptivePooling):
    """Keras `AdaptiveMaxPoolingND(output_size)`: the max over each adaptive window.

    (batch, *spatial, C) -> (batch, *output_size, C); output cell i of an axis of size n
    covers cells floor(i * n / out) to ceil((i + 1) * n / out). NaN where a window holds
    one; the gradient is Keras's (`jaxlayers.functional.adaptive_max_pool`).

    Args:
        output_size: the output's spatial sizes: an int (every axis) or one per axis.
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    def call(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x, self.output_size)
        return F.adaptive_max_pool(x, self.output_size)


AdaptiveMaxPooling1D, AdaptiveMaxPooling2D, AdaptiveMaxPooling3D = ranked(
    AdaptiveMaxPooling, "AdaptiveMaxPooling{}D", "Keras `{name}`: x: {layout} -> (batch, *output_size, channels). "
    "Arguments as `AdaptiveMaxPooling`.")
