"""Keras `Dense` as a Flax module."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxlayers import functional as F
from jaxlayers._args import positive_int
from jaxlayers.linen._base import KernelLayer


def check_input(x: jax.Array) -> None:
    """Raise unless `x` is (batch, ..., features), as `functional.dense` does, before a kernel is made.

    Args:
        x: the layer's input.

    Raises:
        ValueError: `x` has fewer than 2 dimensions, with its shape.
    """
    if x.ndim < 2:
        raise ValueError(f"`x` must have at least 2 dimensions (batch, ..., in_features), as Keras `Dense`, "
                         f"got shape {tuple(x.shape)}.")


class Dense(KernelLayer):
    """Keras `Dense(units)`: x: (..., in) -> (..., units); kernel (in, units), bias (units,).

    Args:
        units: output features.
        activation: a Keras activation name, a callable or None (linear), applied last
            (keyword-only, as all the arguments below).
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
    """

    keeps_grid = True

    units: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        check_input(x)
        units = positive_int(self.units, "units")
        kernel, bias = self.kernel_and_bias((x.shape[-1], units), units)
        x, kernel, bias = self.cast(x, kernel, bias)
        return self.activate(F.dense(x, kernel, bias, precision=self.precision))
