"""Keras `UpSamplingND`, `Flatten`, `ZeroPaddingND` and `CroppingND` as Flax modules."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers._args import IntOrSeq, as_tuple
from jaxlayers.functional.upsampling import check_method
from jaxlayers.linen._base import Layer


def check_upsampling(rank: int | None, size: IntOrSeq, interpolation: str) -> str:
    """Keras `UpSamplingND` arguments; "bilinear" needs 2 spatial axes, as in Keras.

    Args:
        rank: the spatial rank (the class's, or the input's), or None: `len(size)` for a
            sequence, else not known yet.
        size: the factor, an int or one per spatial axis.
        interpolation: "nearest", "bilinear" or "bed_of_nails", in any case.

    Returns:
        The interpolation, lower-cased.

    Raises:
        ValueError: an unknown interpolation, or "bilinear" with a rank other than 2.
        TypeError: a bad `size`.
    """
    if rank is None and isinstance(size, Sequence) and not isinstance(size, str):
        rank = len(size)
    as_tuple(size, rank, "size")
    interpolation = check_method(interpolation, "interpolation")
    if interpolation == "bilinear" and rank not in (None, 2):
        raise ValueError(f"`interpolation='bilinear'` needs 2 spatial axes (Keras `UpSampling2D`), got {rank} "
                         f"(size={size!r}).")
    return interpolation


class UpSampling(Layer):
    """Keras `UpSamplingND(size)`: each spatial axis times `size` (`jaxlayers.functional.upsample`).

    Args:
        size: the factor, an int or one per spatial axis.
        interpolation: "nearest" (Keras), "bilinear" (2-D, Keras) or "bed_of_nails".
    """

    size: IntOrSeq = 2
    interpolation: str = "nearest"

    def __call__(self, x: jax.Array) -> jax.Array:
        interpolation = check_upsampling(self.spatial_rank(x), self.size, self.interpolation)
        return F.upsample(x, self.size, interpolation)


class UpSampling1D(UpSampling):
    """Keras `UpSampling1D`: x: (batch, width, channels). Arguments as `UpSampling`."""

    rank = 1


class UpSampling2D(UpSampling):
    """Keras `UpSampling2D`: x: (batch, height, width, channels). Arguments as `UpSampling`."""

    rank = 2


class UpSampling3D(UpSampling):
    """Keras `UpSampling3D`: x: (batch, depth, height, width, channels). Arguments as `UpSampling`."""

    rank = 3


class Flatten(Layer):
    """Keras `Flatten`: (batch, ...) -> (batch, prod(...))."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.flatten(x)


class ZeroPadding(Layer):
    """Keras `ZeroPaddingND(padding)`: zeros around each spatial axis.

    Args:
        padding: an int, one int per axis (symmetric), or one (lo, hi) pair per axis.
    """

    keeps_grid = True

    padding: Any = 1

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.zero_pad(x, self.padding)


class Cropping(Layer):
    """Keras `CroppingND(cropping)`: cells removed from both ends of each spatial axis.

    Args:
        cropping: an int, one int per axis (symmetric), or one (lo, hi) pair per axis.
    """

    keeps_grid = True

    cropping: Any = 1

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.crop(x, self.cropping)


class ZeroPadding1D(ZeroPadding):
    """Keras `ZeroPadding1D`: padding int or (left, right). Arguments as `ZeroPadding`."""

    rank = 1


class ZeroPadding2D(ZeroPadding):
    """Keras `ZeroPadding2D`: padding int, (h, w) or ((top, bottom), (left, right)). Arguments as `ZeroPadding`."""

    rank = 2
    padding: Any = (1, 1)


class ZeroPadding3D(ZeroPadding):
    """Keras `ZeroPadding3D`: padding int, (d, h, w) or three (lo, hi) pairs. Arguments as `ZeroPadding`."""

    rank = 3
    padding: Any = ((1, 1), (1, 1), (1, 1))


class Cropping1D(Cropping):
    """Keras `Cropping1D`: cropping int or (left, right). Arguments as `Cropping`."""

    rank = 1
    cropping: Any = (1, 1)


class Cropping2D(Cropping):
    """Keras `Cropping2D`: cropping int, (h, w) or ((top, bottom), (left, right)). Arguments as `Cropping`."""

    rank = 2
    cropping: Any = ((0, 0), (0, 0))


class Cropping3D(Cropping):
    """Keras `Cropping3D`: cropping int, (d, h, w) or three (lo, hi) pairs. Arguments as `Cropping`."""

    rank = 3
    cropping: Any = ((1, 1), (1, 1), (1, 1))
