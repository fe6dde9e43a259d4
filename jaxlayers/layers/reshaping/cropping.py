"""Keras `CroppingND`: `Cropping` and `Cropping1D/2D/3D`."""
from __future__ import annotations

from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers._args import as_pairs
from jaxlayers.layers.layer import Layer, ranked


class Cropping(Layer):
    """Keras `CroppingND(cropping)`: cells removed from both ends of each spatial axis.

    Args:
        cropping: an int, one int per axis (symmetric), or one (lo, hi) pair per axis
            (Keras's defaults: `Cropping1D` (1, 1), `2D` ((0, 0), (0, 0)), `3D`
            ((1, 1), (1, 1), (1, 1))).
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    keeps_grid = True

    cropping: Any = 1

    def check(self) -> None:
        super().check()
        as_pairs(self.cropping, self.rank, "cropping")

    def call(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.crop(x, self.cropping)


Cropping1D, Cropping2D, Cropping3D = ranked(
    Cropping, "Cropping{}D", "Keras `{name}`: x: {layout}. Arguments as `Cropping`.",
    cropping={1: (1, 1), 2: ((0, 0), (0, 0)), 3: ((1, 1), (1, 1), (1, 1))})
