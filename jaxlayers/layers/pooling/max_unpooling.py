"""Max pooling that remembers where each maximum was, and max unpooling (no Keras twins)."""
from __future__ import annotations

from collections.abc import Sequence

import jax

from jaxlayers import functional as F
from jaxlayers.layers.layer import Layer
from jaxlayers.layers.pooling.base_pooling import BasePooling


class MaxPoolingWithIndices(BasePooling):
    """Max pooling that also returns int32 flat indices of the maxima, for `MaxUnpooling`.

    `layer(x)` gives `(y, indices)`, as `jaxlayers.functional.max_pool_with_indices`.

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    def call(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        self.spatial_rank(x)
        return F.max_pool_with_indices(x, self.pool_size, self.strides, self.padding)


class MaxUnpooling(Layer):
    """Put pooled values back where their maxima were: `(y, indices, output_shape) -> x-shaped`.

    `layer(y, indices, output_shape)`, as `jaxlayers.functional.max_unpool`.

    Args:
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    def call(self, y: jax.Array, indices: jax.Array, output_shape: Sequence[int]) -> jax.Array:
        self.spatial_rank(y)
        return F.max_unpool(y, indices, output_shape)
