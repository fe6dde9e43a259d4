"""Keras `AdaptiveAveragePoolingND`: `AdaptiveAveragePooling` and `AdaptiveAveragePooling1D/2D/3D`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.layers.layer import ranked
from jaxlayers.layers.pooling.adaptive_pooling import BaseAdaptivePooling


class AdaptiveAveragePooling(BaseAdaptivePooling):
    """Keras `AdaptiveAveragePoolingND(output_size)`: the mean over each adaptive window.

    (batch, *spatial, C) -> (batch, *output_size, C); output cell i of an axis of size n
    covers cells floor(i * n / out) to ceil((i + 1) * n / out), so windows overlap when out
    does not divide n (`jaxlayers.functional.adaptive_avg_pool`).

    Args:
        output_size: the output's spatial sizes: an int (every axis) or one per axis.
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    def call(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x, self.output_size)
        return F.adaptive_avg_pool(x, self.output_size)


AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D = ranked(
    AdaptiveAveragePooling, "AdaptiveAveragePooling{}D", "Keras `{name}`: x: {layout} -> (batch, *output_size, "
    "channels). Arguments as `AdaptiveAveragePooling`.")
