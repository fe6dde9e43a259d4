"""Keras `Rescaling`."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from jaxlayers import functional as F
from jaxlayers.functional.preprocessing import check_numbers
from jaxlayers.layers.layer import Layer


def keras_value(value: Any) -> Any:
    """A number or list from a Keras config, its NumPy arrays (`{"class_name": "__numpy__", ...}`) as lists.

    Args:
        value: what the config holds.

    Returns:
        The value, arrays as (nested) lists.
    """
    if isinstance(value, Mapping) and value.get("class_name") == "__numpy__":
        return np.asarray(value["config"]["value"]).tolist()
    return value


class Rescaling(Layer):
    """Keras `Rescaling(scale, offset=0.0)`: x: any shape -> `x * scale + offset`.

    Integer inputs give float32 (Keras's compute dtype), floating ones keep their dtype
    (or `dtype`). `scale` and `offset` broadcast against the input's trailing axes, so a
    list of one value per channel scales each channel (as EfficientNet's stem).

    Args:
        scale: a number, or (nested) sequence of numbers.
        offset: a number, or (nested) sequence of numbers.
        dtype: the computation's dtype (keyword-only); None: the input's if floating,
            else float32.
    """

    keeps_grid = True

    scale: Any
    offset: Any = 0.0

    def check(self) -> None:
        super().check()
        check_numbers(self.scale, "scale")
        check_numbers(self.offset, "offset")

    def call(self, x: jax.Array) -> jax.Array:
        return F.rescale(x, self.scale, self.offset, self.dtype)

    @classmethod
    def from_keras_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments of a Keras `Rescaling` config, NumPy arrays decoded.

        Args:
            config: the Keras layer's `get_config()`.

        Returns:
            `scale` and `offset`.
        """
        return {name: _tuples(keras_value(config[name])) for name in ("scale", "offset") if name in config}


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
