"""ConvNeXt's `LayerScale` (`keras.applications.convnext`)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxlayers._args import positive_int
from jaxlayers.layers.layer import Weight, WeightedLayer


def _constant(value: float, key: jax.Array, shape: tuple[int, ...], dtype: object) -> jax.Array:
    del key
    return jnp.full(shape, value, dtype)


class LayerScale(WeightedLayer):
    """ConvNeXt's `LayerScale(init_values, projection_dim)`: x: (batch, ..., projection_dim) -> x * gamma.

    Args:
        init_values: gamma's initial value (every entry).
        projection_dim: the channels, gamma's size.
        dtype: the computation's dtype (keyword-only, as `param_dtype`); None: the input's.
        param_dtype: gamma's dtype.
    """

    keeps_grid = True
    keras_module = "keras.src.applications.convnext"
    keras_weights = ("gamma",)  # Keras's add_weight without a name

    init_values: float = 1e-6
    projection_dim: int = 1

    def check(self) -> None:
        super().check()
        positive_int(self.projection_dim, "projection_dim")
        if isinstance(self.init_values, bool) or not isinstance(self.init_values, (int, float)):
            raise TypeError(f"`init_values` must be a number, got {self.init_values!r}.")

    def sizes(self, x: jax.Array) -> dict[str, int]:
        if x.shape[-1] != self.projection_dim:
            raise ValueError(f"LayerScale has `projection_dim`={self.projection_dim}, got an input of shape "
                             f"{tuple(x.shape)} (channels last).")
        return {}

    def build(self) -> dict[str, Weight]:
        return {"gamma": Weight((self.projection_dim,), functools.partial(_constant, float(self.init_values)),
                                argument="init_values")}

    def call(self, x: jax.Array, gamma: jax.Array) -> jax.Array:
        x, gamma = self.promote(x, gamma)
        return x * gamma
