"""Keras `Dense`."""
from __future__ import annotations

from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers._args import positive_int
from jaxlayers.layers.layer import KernelLayer, Weight


class Dense(KernelLayer):
    """Keras `Dense(units)`: x: (..., in_features) -> (..., units); kernel (in_features, units), bias (units,).

    Keyword-only: `KernelLayer`'s `activation`, `use_bias`, `kernel_initializer`,
    `bias_initializer`, `precision`, and `dtype`, `param_dtype`.

    Args:
        units: output features.
    """

    supports_masking = True  # as Keras's: a mask passes through

    keeps_grid = True
    input_sizes = {"in_features": "the input's last axis."}

    units: int

    def check(self) -> None:
        super().check()
        positive_int(self.units, "units")

    def sizes(self, x: Any) -> dict[str, Any]:
        if x.ndim < 2:
            raise ValueError(f"`x` must have at least 2 dimensions (batch, ..., in_features), as Keras `Dense`, "
                             f"got shape {tuple(x.shape)}.")
        return {"in_features": x.shape[-1]}

    def build(self, in_features: int) -> dict[str, Weight | None]:
        return self.kernel_and_bias((positive_int(in_features, "in_features"), self.units), self.units)

    def call(self, x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> jax.Array:
        x, kernel, bias = self.promote(x, kernel, bias)
        return self.activate(F.dense(x, kernel, bias, precision=self.precision))
