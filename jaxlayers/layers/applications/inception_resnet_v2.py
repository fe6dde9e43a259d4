"""InceptionResNetV2's `CustomScaleLayer` (`keras.applications.inception_resnet_v2`)."""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import jax

from jaxlayers.layers.layer import Layer


class CustomScaleLayer(Layer):
    """InceptionResNetV2's `CustomScaleLayer(scale)`: [x, r] -> x + r * scale (its residual blocks).

    Args:
        scale: the residual's factor.
        dtype: the computation's dtype (keyword-only); None: the inputs'.
    """

    keeps_grid = True
    single_input = False
    keras_module = "keras.src.applications.inception_resnet_v2"

    scale: float = 1.0

    def check(self) -> None:
        super().check()
        if isinstance(self.scale, bool) or not isinstance(self.scale, numbers.Real):
            raise TypeError(f"`scale` must be a number, got {self.scale!r}.")

    def call(self, inputs: Sequence[jax.Array]) -> jax.Array:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise TypeError(f"CustomScaleLayer takes a list [x, residual], got {type(inputs).__name__}"
                            f"{'' if not isinstance(inputs, (list, tuple)) else f' of {len(inputs)}'}.")
        x, residual = inputs
        return x + residual * self.scale
