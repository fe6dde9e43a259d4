"""Keras `Dot`."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
from jax import lax

from jaxlayers import functional as F
from jaxlayers._args import _is_int, check_bool
from jaxlayers.functional._checks import check_precision
from jaxlayers.layers.merging.elementwise import Merge


class Dot(Merge):
    """Keras `Dot(axes, normalize)`: [x, y] -> per-example dot products along one axis of each.

    x (batch, *a, d, *b) and y (batch, *c, d, *e) -> (batch, *a, *b, *c, *e); two 2-D
    inputs give (batch, 1). With `normalize`, both are L2-normalised along their axis first
    (cosine similarity).

    Args:
        axes: the contracted axis of both (an int) or of each (two ints); negative counts
            from the end; never the batch axis.
        normalize: whether to L2-normalise the inputs along `axes` first.
        dtype: the computation's dtype (keyword-only); None: the inputs'.
        precision: passed to the product (keyword-only; `lax.Precision`).
    """

    keeps_grid = False

    axes: int | tuple[int, int]
    normalize: bool = False
    _: dataclasses.KW_ONLY
    precision: lax.PrecisionLike = None

    def check(self) -> None:
        super().check()
        axes = self.axes
        if not _is_int(axes) and not (isinstance(axes, Sequence) and not isinstance(axes, str) and len(axes) == 2
                                      and all(map(_is_int, axes))):
            raise TypeError(f"Dot `axes` must be an int or two ints, got {axes!r}.")
        check_bool(self.normalize, "normalize")
        check_precision(self.precision)

    def compute_mask(self, inputs: Sequence[jax.Array], mask: Sequence[jax.Array] | None = None) -> None:
        """None, as Keras's: the products have no steps to mask.

        Args:
            inputs: [x, y].
            mask: their masks, or None.

        Returns:
            None.
        """
        return None

    def call(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.dot(inputs, self.axes, self.normalize, precision=self.precision)
