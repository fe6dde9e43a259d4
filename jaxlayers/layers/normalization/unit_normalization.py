"""Keras `UnitNormalization`."""
from __future__ import annotations

from collections.abc import Sequence

import jax

from jaxlayers import functional as F
from jaxlayers.functional.normalization import normalize_axes
from jaxlayers.layers.layer import Layer
from jaxlayers.layers.normalization.rms_normalization import check_axis


class UnitNormalization(Layer):
    """Keras `UnitNormalization(axis=-1)`: x: any shape -> x over its L2 norm along `axis`.

    `x * min(rsqrt(sum(x**2, axis)), 1e12)` (`jaxlayers.functional.unit_norm`), in x's
    dtype.

    Args:
        axis: the axis or axes normalised over (negatives from the end).
        dtype: the computation's dtype; None: the input's.
    """

    keeps_grid = True  # over the channel axis only: `shapes.receptive_field` checks `mixed_axes`

    axis: int | Sequence[int] = -1

    def check(self) -> None:
        super().check()
        check_axis(self.axis)

    def call(self, x: jax.Array) -> jax.Array:
        return F.unit_norm(x, axis=self.mixed_axes(x.ndim))

    def mixed_axes(self, ndim: int) -> tuple[int, ...]:
        """The axes along which an output cell reads several input cells: the normalised ones.

        Args:
            ndim: the input's rank.

        Returns:
            The axes, non-negative and sorted.
        """
        return normalize_axes(self.axis, ndim)
