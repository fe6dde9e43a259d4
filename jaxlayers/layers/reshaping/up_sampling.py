"""Keras `UpSamplingND`: `UpSampling` and `UpSampling1D/2D/3D` (plus bed of nails)."""
from __future__ import annotations

from collections.abc import Sequence

import jax

from jaxlayers import functional as F
from jaxlayers._args import IntOrSeq, as_tuple
from jaxlayers.functional.upsampling import check_method
from jaxlayers.layers.layer import Layer, ranked


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
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    size: IntOrSeq = 2
    interpolation: str = "nearest"

    def check(self) -> None:
        super().check()
        check_upsampling(self.rank, self.size, self.interpolation)

    def keras_refusal(self, keras_class: str) -> str | None:
        """Why `to_keras` cannot make this layer, if it cannot.

        Args:
            keras_class: the Keras class it would be.

        Returns:
            The reason (an interpolation Keras lacks), or None.
        """
        interpolation = check_method(self.interpolation, "interpolation")
        if interpolation not in ("nearest", "bilinear"):
            return f"has interpolation={interpolation!r}, which Keras lacks."
        if interpolation == "bilinear" and keras_class != "UpSampling2D":
            return f"has interpolation={interpolation!r}; Keras {keras_class} only has 'nearest'."
        return None

    def call(self, x: jax.Array) -> jax.Array:
        return F.upsample(x, self.size, check_upsampling(self.spatial_rank(x), self.size, self.interpolation))


UpSampling1D, UpSampling2D, UpSampling3D = ranked(
    UpSampling, "UpSampling{}D", "Keras `{name}`: x: {layout}. Arguments as `UpSampling`.")
