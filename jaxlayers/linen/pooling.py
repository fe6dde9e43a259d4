"""Keras pooling layers, plus max pooling with indices and max unpooling."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from jaxlayers import functional as F
from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq
from jaxlayers.linen._base import Layer


class _Pooling(Layer):
    pool_size: IntOrSeq = 2
    strides: IntOrSeq | None = None
    padding: pad.Padding = "valid"

    def window_geometry(self) -> tuple[IntOrSeq, IntOrSeq, int]:
        return self.pool_size, self.pool_size if self.strides is None else self.strides, 1


class MaxPooling(_Pooling):
    """Keras `MaxPoolingND`: max over `pool_size` windows; strides default to pool_size."""

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.max_pool(x, self.pool_size, self.strides, self.padding)


class AveragePooling(_Pooling):
    """Keras `AveragePoolingND`: mean over windows, padded cells left out of the count."""

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.avg_pool(x, self.pool_size, self.strides, self.padding)


class MaxPoolingWithIndices(_Pooling):
    """Max pooling that also returns int32 flat indices of the maxima, for `MaxUnpooling`."""

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        self.spatial_rank(x)
        return F.max_pool_with_indices(x, self.pool_size, self.strides, self.padding)


class MaxUnpooling(Layer):
    """Put pooled values back where their maxima were: `(y, indices, output_shape) -> x-shaped`."""

    def __call__(self, y: jax.Array, indices: jax.Array, output_shape: Sequence[int]) -> jax.Array:
        self.spatial_rank(y)
        return F.max_unpool(y, indices, output_shape)


class _GlobalPooling(Layer):
    keepdims: bool = False


class GlobalMaxPooling(_GlobalPooling):
    """Keras `GlobalMaxPoolingND`: (batch, *spatial, C) -> (batch, C)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.global_max_pool(x, self.keepdims)


class GlobalAveragePooling(_GlobalPooling):
    """Keras `GlobalAveragePoolingND`: (batch, *spatial, C) -> (batch, C)."""

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.global_avg_pool(x, self.keepdims)


class MaxPooling1D(MaxPooling):
    """Keras `MaxPooling1D`: x: (batch, width, channels)."""

    rank = 1


class MaxPooling2D(MaxPooling):
    """Keras `MaxPooling2D`: x: (batch, height, width, channels)."""

    rank = 2


class MaxPooling3D(MaxPooling):
    """Keras `MaxPooling3D`: x: (batch, depth, height, width, channels)."""

    rank = 3


class AveragePooling1D(AveragePooling):
    """Keras `AveragePooling1D`: x: (batch, width, channels)."""

    rank = 1


class AveragePooling2D(AveragePooling):
    """Keras `AveragePooling2D`: x: (batch, height, width, channels)."""

    rank = 2


class AveragePooling3D(AveragePooling):
    """Keras `AveragePooling3D`: x: (batch, depth, height, width, channels)."""

    rank = 3


class GlobalMaxPooling1D(GlobalMaxPooling):
    """Keras `GlobalMaxPooling1D`: (batch, width, C) -> (batch, C)."""

    rank = 1


class GlobalMaxPooling2D(GlobalMaxPooling):
    """Keras `GlobalMaxPooling2D`: (batch, height, width, C) -> (batch, C)."""

    rank = 2


class GlobalMaxPooling3D(GlobalMaxPooling):
    """Keras `GlobalMaxPooling3D`: (batch, depth, height, width, C) -> (batch, C)."""

    rank = 3


class GlobalAveragePooling1D(GlobalAveragePooling):
    """Keras `GlobalAveragePooling1D`: (batch, width, C) -> (batch, C)."""

    rank = 1


class GlobalAveragePooling2D(GlobalAveragePooling):
    """Keras `GlobalAveragePooling2D`: (batch, height, width, C) -> (batch, C)."""

    rank = 2


class GlobalAveragePooling3D(GlobalAveragePooling):
    """Keras `GlobalAveragePooling3D`: (batch, depth, height, width, C) -> (batch, C)."""

    rank = 3
