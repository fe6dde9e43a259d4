"""Keras `Concatenate`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import functional as F
from jaxlayers._args import _is_int
from jaxlayers.layers.merging.elementwise import Merge


class Concatenate(Merge):
    """Keras `Concatenate(axis=-1)`: arrays equal but on `axis` -> joined along it.

    Args:
        axis: the axis to join along (negative counts from the end).
        dtype: the computation's dtype (keyword-only); None: the inputs'.
    """

    axis: int = -1

    def check(self) -> None:
        super().check()
        if not _is_int(self.axis):
            raise TypeError(f"`axis` must be an int, got {self.axis!r}.")

    def call(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.concatenate(inputs, self.axis)

    def compute_mask(self, inputs: Sequence[Any], mask: Sequence[Any] | None = None) -> Any:
        """The output's mask, as Keras's: the inputs' masks (all True for an unmasked input) joined
        along `axis`, then reduced by OR over the last axis.

        Args:
            inputs: the list of (batch, ..., features) arrays.
            mask: their masks (batch, ...) (one axis fewer than the input) or of the input's shape,
                None for an unmasked one; or None.

        Returns:
            The joined mask, or None where no input is masked.
        """
        if mask is None or all(m is None for m in mask):
            return None
        full = [jnp.ones(x.shape, bool) if m is None
                else jnp.broadcast_to(m[..., None], x.shape) if m.ndim < len(x.shape) else m
                for x, m in zip(inputs, mask)]
        return jnp.any(jnp.concatenate(full, axis=self.axis), axis=-1)

    def mixed_axes(self, ndim: int) -> tuple[int, ...]:
        """The axis joined along, for `ndim`-D inputs (`shapes.receptive_field` keeps the grid on the last).

        Args:
            ndim: the inputs' rank.

        Returns:
            The joined axis, non-negative, as a 1-tuple.

        Raises:
            ValueError: an `axis` outside [-ndim, ndim).
        """
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"`axis` must be in [-{ndim}, {ndim}), got {self.axis}.")
        return (self.axis % ndim,)
