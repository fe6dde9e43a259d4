"""Keras `Dense` as a Flax module."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxlayers import functional as F
from jaxlayers._args import positive_int
from jaxlayers.linen._base import KernelLayer


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
        units = positive_int(self.units, "units")
        kernel, bias = self.kernel_and_bias((x.shape[-1], units), units)
        x, kernel, bias = self.cast(x, kernel, bias)
        return self.activate(F.dense(x, kernel, bias, precision=self.precision))
