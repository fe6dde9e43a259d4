"""Keras pooling layers, plus max pooling with indices and max unpooling."""
from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from jaxlayers import functional as F
from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq
from jaxlayers.functional import _windows
from jaxlayers.linen._base import Layer


def check_arguments(rank: int | None, pool_size: IntOrSeq, strides: IntOrSeq | None, padding: pad.Padding) -> None:
    """Keras pooling arguments; `pool_size` and `strides` give one int per axis alike.

    Args:
        rank: the class's spatial rank, or None (rank-generic): then the length of
            `pool_size` or `strides`, where one is a sequence.
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis, or None.
        padding: "valid" or "same".

    Raises:
        ValueError, TypeError: a bad argument, or sequences of different lengths, named.
    """
    if rank is None:
        rank = next((len(v) for v in (pool_size, strides) if isinstance(v, Sequence) and not isinstance(v, str)),
                    None)
    _windows.check_arguments(rank, pool_size, strides, padding)


class _Pooling(Layer):
    pool_size: IntOrSeq = 2
    strides: IntOrSeq | None = None
    padding: pad.Padding = "valid"

    def check(self, x: jax.Array) -> None:
        """Check the arguments and the input's rank before the op.

        Args:
            x: the call's input, (batch, *spatial, channels).

        Raises:
            ValueError, TypeError: a bad argument or input, named.
        """
        check_arguments(self.rank, self.pool_size, self.strides, self.padding)
        self.spatial_rank(x)

    def window_geometry(self) -> tuple[IntOrSeq, IntOrSeq, int]:
        """The window, for `jaxlayers.shapes.receptive_field`.

        Returns:
            `(pool_size, strides, 1)`, strides defaulting to `pool_size`.
        """
        return self.pool_size, self.pool_size if self.strides is None else self.strides, 1


class MaxPooling(_Pooling):
    """Keras `MaxPoolingND`: max over `pool_size` windows (`jaxlayers.functional.max_pool`).

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        self.check(x)
        return F.max_pool(x, self.pool_size, self.strides, self.padding)


class AveragePooling(_Pooling):
    """Keras `AveragePoolingND`: mean over windows, padded cells left out of the count.

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        self.check(x)
        return F.avg_pool(x, self.pool_size, self.strides, self.padding)


class MaxPoolingWithIndices(_Pooling):
    """Max pooling that also returns int32 flat indices of the maxima, for `MaxUnpooling`.

    `layer(x)` gives `(y, indices)`, as `jaxlayers.functional.max_pool_with_indices`.

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
    """

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        self.check(x)
        return F.max_pool_with_indices(x, self.pool_size, self.strides, self.padding)


class MaxUnpooling(Layer):
    """Put pooled values back where their maxima were: `(y, indices, output_shape) -> x-shaped`.

    `layer(y, indices, output_shape)`, as `jaxlayers.functional.max_unpool`; no arguments.
    """

    def __call__(self, y: jax.Array, indices: jax.Array, output_shape: Sequence[int]) -> jax.Array:
        self.spatial_rank(y)
        return F.max_unpool(y, indices, output_shape)


class _GlobalPooling(Layer):
    keepdims: bool = False


class GlobalMaxPooling(_GlobalPooling):
    """Keras `GlobalMaxPoolingND`: (batch, *spatial, C) -> (batch, C).

    Args:
        keepdims: keep the spatial axes, of size 1.
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.global_max_pool(x, self.keepdims)


class GlobalAveragePooling(_GlobalPooling):
    """Keras `GlobalAveragePoolingND`: (batch, *spatial, C) -> (batch, C).

    Args:
        keepdims: keep the spatial axes, of size 1.
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.global_avg_pool(x, self.keepdims)


class MaxPooling1D(MaxPooling):
    """Keras `MaxPooling1D`: x: (batch, width, channels). Arguments as `MaxPooling`."""

    rank = 1


class MaxPooling2D(MaxPooling):
    """Keras `MaxPooling2D`: x: (batch, height, width, channels). Arguments as `MaxPooling`."""

    rank = 2


class MaxPooling3D(MaxPooling):
    """Keras `MaxPooling3D`: x: (batch, depth, height, width, channels). Arguments as `MaxPooling`."""

    rank = 3


class AveragePooling1D(AveragePooling):
    """Keras `AveragePooling1D`: x: (batch, width, channels). Arguments as `AveragePooling`."""

    rank = 1


class AveragePooling2D(AveragePooling):
    """Keras `AveragePooling2D`: x: (batch, height, width, channels). Arguments as `AveragePooling`."""

    rank = 2


class AveragePooling3D(AveragePooling):
    """Keras `AveragePooling3D`: x: (batch, depth, height, width, channels). Arguments as `AveragePooling`."""

    rank = 3


class GlobalMaxPooling1D(GlobalMaxPooling):
    """Keras `GlobalMaxPooling1D`: (batch, width, C) -> (batch, C). Arguments as `GlobalMaxPooling`."""

    rank = 1


class GlobalMaxPooling2D(GlobalMaxPooling):
    """Keras `GlobalMaxPooling2D`: (batch, height, width, C) -> (batch, C). Arguments as `GlobalMaxPooling`."""

    rank = 2


class GlobalMaxPooling3D(GlobalMaxPooling):
    """Keras `GlobalMaxPooling3D`: (batch, depth, height, width, C) -> (batch, C). Arguments as `GlobalMaxPooling`."""

    rank = 3


class GlobalAveragePooling1D(GlobalAveragePooling):
    """Keras `GlobalAveragePooling1D`: (batch, width, C) -> (batch, C). Arguments as `GlobalAveragePooling`."""

    rank = 1


class GlobalAveragePooling2D(GlobalAveragePooling):
    """Keras `GlobalAveragePooling2D`: (batch, height, width, C) -> (batch, C). Arguments as `GlobalAveragePooling`."""

    rank = 2


class GlobalAveragePooling3D(GlobalAveragePooling):
    """Keras `GlobalAveragePooling3D`: (batch, depth, height, width, C) -> (batch, C).

    Arguments as `GlobalAveragePooling`.
    """

    rank = 3
