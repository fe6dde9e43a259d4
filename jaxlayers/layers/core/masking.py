"""Keras `Masking`."""
from __future__ import annotations

import numbers
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers.layers.layer import Layer


class Masking(Layer):
    """Keras `Masking(mask_value)`: x (batch, time, ..., features) -> x's shape, padded steps zeroed.

    A step whose features all equal `mask_value` is padding: its output is zeros and
    `compute_mask(x)` (batch, time, ...) is False there, the `mask=` the recurrent layers take.

    Args:
        mask_value: the padding value.
        dtype: the computation's dtype; None: the input's (keyword-only).
    """

    keeps_grid = True

    mask_value: float = 0.0

    def check(self) -> None:
        super().check()
        if isinstance(self.mask_value, bool) or not isinstance(self.mask_value, numbers.Real):
            raise TypeError(f"`mask_value` must be a real number, got {self.mask_value!r}.")

    def call(self, x: jax.Array) -> jax.Array:
        return F.masking(x, self.mask_value)[0]

    def compute_mask(self, x: jax.Array, mask: Any = None) -> jax.Array:
        """The mask of the steps that are not padding, as Keras's.

        Args:
            x: the layer's input, (batch, time, ..., features).
            mask: the input's mask (ignored, as Keras).

        Returns:
            (batch, time, ...): False where every feature equals `mask_value`.
        """
        self.check()
        return F.masking(x, self.mask_value)[1]
