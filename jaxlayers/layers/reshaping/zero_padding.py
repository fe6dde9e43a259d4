"""Keras `ZeroPaddingND`: `ZeroPadding` and `ZeroPadding1D/2D/3D`."""
from __future__ import annotations

from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers._args import as_pairs
from jaxlayers.layers.layer import Layer, ranked


class ZeroPadding(Layer):
    """Keras `ZeroPaddingND(padding)`: zeros around each spatial axis.

    Args:
        padding: an int, one int per axis (symmetric), or one (lo, hi) pair per axis
            (Keras's defaults: `ZeroPadding1D` 1, `2D` (1, 1), `3D` ((1, 1), (1, 1), (1, 1))).
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    keeps_grid = True

    padding: Any = 1

    def check(self) -> None:
        super().check()
        as_pairs(self.padding, self.rank, "padding")

    def call(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.zero_pad(x, self.padding)


ZeroPadding1D, ZeroPadding2D, ZeroPadding3D = ranked(
    ZeroPadding, "ZeroPadding{}D", "Keras `{name}`: x: {layout}. Arguments as `ZeroPadding`.",
    padding={1: 1, 2: (1, 1), 3: ((1, 1), (1, 1), (1, 1))})
