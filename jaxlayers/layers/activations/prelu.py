"""Keras `PReLU`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from jaxlayers import initializers
from jaxlayers._args import _is_int
from jaxlayers.layers.layer import Weight, WeightedLayer


def shared(shared_axes: Any) -> tuple[int, ...]:
    """Keras `PReLU`'s `shared_axes` (None, an int or ints >= 1, counting the batch axis as 0) as a tuple.

    Args:
        shared_axes: the argument.

    Returns:
        The axes, () for None.

    Raises:
        TypeError: not None, an int or a sequence of ints.
        ValueError: an axis < 1.
    """
    axes = (shared_axes,) if _is_int(shared_axes) else shared_axes
    if axes is None:
        return ()
    if not isinstance(axes, Sequence) or isinstance(axes, str) or not all(map(_is_int, axes)):
        raise TypeError(f"PReLU `shared_axes` must be None, an int or a sequence of ints, got {shared_axes!r}.")
    if any(a < 1 for a in axes):
        raise ValueError(f"PReLU `shared_axes` must be axes >= 1 (0 is the batch axis), got {shared_axes!r}.")
    return tuple(int(a) for a in axes)


class PReLU(WeightedLayer):
    """Keras `PReLU(alpha_initializer, shared_axes)`: `relu(x) - alpha * relu(-x)` with a learned `alpha`; x's shape.

    `alpha` has x's shape without the batch axis, size 1 on `shared_axes`.

    Args:
        alpha_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        shared_axes: input axes (>= 1; 0 is the batch axis) sharing one slope, e.g. (1, 2)
            for one slope per channel of (batch, height, width, channels); None: none.
        dtype: the computation's dtype (keyword-only); None: promoted from the input and `alpha`.
        param_dtype: `alpha`'s dtype (keyword-only).
    """

    keeps_grid = True
    input_sizes = {"input_shape": "the input's shape, None on the batch axis and on `shared_axes` (any size there), "
                                  "e.g. (None, None, None, 16) with shared_axes=(1, 2)."}

    alpha_initializer: initializers.Initializer = "zeros"
    shared_axes: int | tuple[int, ...] | None = None

    def check(self) -> None:
        super().check()
        initializers.get(self.alpha_initializer, "alpha_initializer")
        shared(self.shared_axes)

    def sizes(self, x: Any) -> dict[str, Any]:
        axes = shared(self.shared_axes)
        if x.ndim < 2 or any(a >= x.ndim for a in axes):
            raise ValueError(f"PReLU expects an input (batch, ...) with axes {axes} (`shared_axes`), got shape "
                             f"{tuple(x.shape)}.")
        return {"input_shape": (None, *(None if a in axes else n for a, n in enumerate(x.shape) if a))}

    def build(self, input_shape: Sequence[int | None]) -> dict[str, Weight | None]:
        axes = shared(self.shared_axes)
        shape = tuple(input_shape)[1:]
        if any(a > len(shape) for a in axes) or any((n is None) != (a in axes) for a, n in enumerate(shape, 1)):
            raise ValueError(f"PReLU `input_shape` must give every size off the batch axis and None on `shared_axes` "
                             f"{axes}, got {tuple(input_shape)!r}.")
        return {"alpha": Weight(tuple(1 if a in axes else n for a, n in enumerate(shape, 1)),
                                self.alpha_initializer)}

    def call(self, x: jax.Array, alpha: jax.Array) -> jax.Array:
        x, alpha = self.promote(x, alpha)
        return jax.nn.relu(x) - alpha * jax.nn.relu(-x)
