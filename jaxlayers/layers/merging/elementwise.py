"""Keras's elementwise merge layers: `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum`.

Each takes a list of arrays, as in Keras (`Add()([a, b])`): (batch, ...) arrays with one
batch size; lower-rank inputs get size-1 axes after the batch axis, then broadcast.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import functional as F
from jaxlayers.layers.layer import Layer


class Merge(Layer):
    """The base of the merge layers: one list of arrays in.

    Args:
        dtype: the computation's dtype (keyword-only); None: the inputs'.
    """

    single_input = False
    keeps_grid = True  # elementwise; Concatenate checks its axis (`mixed_axes`)

    def compute_mask(self, inputs: Sequence[Any], mask: Sequence[Any] | None = None) -> Any:
        """The output's mask, as Keras's merges: the OR of the inputs' masks if every input has one.

        Args:
            inputs: the list of arrays.
            mask: their masks (batch, time), None for an unmasked one; or None.

        Returns:
            The OR of the masks, or None where any input is unmasked.
        """
        if mask is None or any(m is None for m in mask):
            return None
        return functools.reduce(jnp.logical_or, mask)


class Add(Merge):
    """Keras `Add`: a list of (batch, ...) arrays -> their elementwise sum."""

    def call(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.add(inputs)


class Subtract(Merge):
    """Keras `Subtract`: [a, b] -> a - b."""

    def call(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.subtract(inputs)


class Multiply(Merge):
    """Keras `Multiply`: a list of (batch, ...) arrays -> their elementwise product."""

    takes_mask = True  # Keras's replaces masked operands' values

    def call(self, inputs: Sequence[jax.Array], mask: Sequence[jax.Array | None] | None = None) -> jax.Array:
        return F.multiply(inputs, mask)


class Average(Merge):
    """Keras `Average`: a list of (batch, ...) arrays -> their elementwise mean."""

    def call(self, inputs: Sequence[jax.Array]) -> jax.Array:
        return F.average(inputs)


class Maximum(Merge):
    """Keras `Maximum`: a list of (batch, ...) arrays -> their elementwise maximum."""

    takes_mask = True  # Keras's replaces masked operands' values

    def call(self, inputs: Sequence[jax.Array], mask: Sequence[jax.Array | None] | None = None) -> jax.Array:
        return F.maximum(inputs, mask)


class Minimum(Merge):
    """Keras `Minimum`: a list of (batch, ...) arrays -> their elementwise minimum."""

    takes_mask = True  # Keras's replaces masked operands' values

    def call(self, inputs: Sequence[jax.Array], mask: Sequence[jax.Array | None] | None = None) -> jax.Array:
        return F.minimum(inputs, mask)
