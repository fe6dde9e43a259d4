"""Keras `ReLU`."""
from __future__ import annotations

import numbers
from typing import Any

import jax

from jaxlayers import activations
from jaxlayers.layers.layer import Layer


def check_relu(max_value: Any, negative_slope: Any, threshold: Any) -> None:
    """Keras `ReLU`'s arguments: `max_value` None or a number >= 0, the others numbers >= 0.

    Args:
        max_value: the saturation value, or None.
        negative_slope: the slope below `threshold`.
        threshold: the value below which the slope applies.

    Raises:
        TypeError: an argument that is not a real number (bools included).
        ValueError: a negative argument.
    """
    for name, value in (("max_value", max_value), ("negative_slope", negative_slope), ("threshold", threshold)):
        if value is None and name == "max_value":
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            none = "None or " if name == "max_value" else ""
            raise TypeError(f"ReLU `{name}` must be {none}a number >= 0, got {value!r}.")
        if value < 0:
            raise ValueError(f"ReLU `{name}` must be >= 0, got {value!r}.")


class ReLU(Layer):
    """Keras `ReLU(max_value, negative_slope, threshold)`, as `jaxlayers.activations.relu`; x's shape.

    Args:
        max_value: the saturation value (>= 0), or None (no limit).
        negative_slope: the slope below `threshold` (>= 0).
        threshold: values below it are zeroed, or scaled by `negative_slope` (>= 0).
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    supports_masking = True  # as Keras's: a mask passes through

    keeps_grid = True

    max_value: float | None = None
    negative_slope: float = 0.0
    threshold: float = 0.0

    def check(self) -> None:
        super().check()
        check_relu(self.max_value, self.negative_slope, self.threshold)

    def call(self, x: jax.Array) -> jax.Array:
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)
