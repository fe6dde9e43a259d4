"""Keras `RMSNormalization`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers._args import _is_int
from jaxlayers.functional.normalization import check_epsilon, normalize_axes
from jaxlayers.layers.layer import Weight, WeightedLayer
from jaxlayers.layers.normalization.layer_normalization import check_sizes


def check_axis(axis: Any) -> None:
    """Raise unless `axis` is an int or a non-empty sequence of ints.

    Args:
        axis: the value given.

    Raises:
        TypeError: anything else.
    """
    if not _is_int(axis) and (isinstance(axis, str) or not isinstance(axis, Sequence) or not axis
                              or not all(map(_is_int, axis))):
        raise TypeError(f"`axis` must be an int or a non-empty sequence of ints, got {axis!r}.")


class RMSNormalization(WeightedLayer):
    """Keras `RMSNormalization(axis=-1, epsilon=1e-6)`: `x * rsqrt(mean(x**2, axis) + epsilon) * scale`.

    x: any shape -> x's shape. Parameter `scale` in `params` (initialised to ones), shaped
    as the normalised axes in increasing order (e.g. (features,)).

    Args:
        axis: the axis or axes normalised over (negatives from the end).
        epsilon: added to the mean of squares.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
    """

    keeps_grid = True  # over the channel axis only: `shapes.receptive_field` checks `mixed_axes`
    input_sizes = {"num_features": "the size of the normalised axis (or the sizes of the axes, in increasing axis "
                                   "order): the shape of `scale`."}

    axis: int | Sequence[int] = -1
    epsilon: float = 1e-6

    def check(self) -> None:
        super().check()
        check_axis(self.axis)
        check_epsilon(self.epsilon)

    def sizes(self, x: Any) -> dict[str, Any]:
        return {"num_features": tuple(x.shape[a] for a in self.mixed_axes(x.ndim))}

    def build(self, num_features: int | Sequence[int]) -> dict[str, Weight | None]:
        shape = check_sizes(num_features, "num_features")
        if len(shape) != (1 if _is_int(self.axis) else len(self.axis)):
            raise ValueError(f"`num_features` must give one size per axis of `axis`, got num_features="
                             f"{num_features!r} for axis={self.axis!r}.")
        return {"scale": Weight(shape, "ones")}

    def call(self, x: jax.Array, scale: jax.Array) -> jax.Array:
        x, scale = self.promote(x, scale)
        return F.rms_norm(x, scale, axis=self.mixed_axes(x.ndim), epsilon=self.epsilon)

    def mixed_axes(self, ndim: int) -> tuple[int, ...]:
        """The axes along which an output cell reads several input cells: the normalised ones.

        Args:
            ndim: the input's rank.

        Returns:
            The axes, non-negative and sorted.
        """
        return normalize_axes(self.axis, ndim)
