"""Keras `Normalization`: fixed or adapted means and variances."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import functional as F
from jaxlayers._args import _is_int, check_bool
from jaxlayers.functional.preprocessing import check_normalization_axis, check_numbers, float_dtype
from jaxlayers.functional.preprocessing import normalization_shape
from jaxlayers.layers.layer import Weight, WeightedLayer


class Normalization(WeightedLayer):
    """Keras `Normalization(axis=-1, mean=None, variance=None, invert=False)`: `(x - mean) / sqrt(variance)`.

    x: any shape -> x's shape; each index of the kept `axis` axes has its own mean and
    variance (the standard deviation floored at 1e-7, as Keras). Given `mean` and
    `variance` (numbers, or arrays laid on the kept axes right to left), the layer has no
    variables. Without them it is Keras's "adapted" layer: `adapt_mean`, `adapt_variance`
    (the kept axes' sizes, e.g. (channels,); Keras's weights `mean` and `variance`, named
    as Keras's attributes since the arguments have those names) and Keras's unused `count`
    (int32, ()) are non-trainable variables in `batch_stats` (NNX: `nnx.BatchStat`), set from data with
    `jaxlayers.functional.normalization_statistics` or copied by `from_keras` from a
    Keras layer's `adapt` (EfficientNet's stem). Integer inputs give float32.

    Args:
        axis: the kept axes: an int, a sequence of ints, or None (one mean and variance
            for all).
        mean: the means, or None (adapted: variables).
        variance: the variances; given with `mean` or not at all, of its shape.
        invert: un-normalise: `mean + x * sqrt(variance)`.
        dtype: the computation's dtype (keyword-only); None: the input's if floating, else
            float32 (promoted with the variables' when adapted).
        param_dtype: the adapted `mean` and `variance`'s dtype.
    """

    keeps_grid = True
    keras_weights = ("adapt_mean", "adapt_variance", "count")  # Keras's mean, variance, count: those names are arguments
    input_sizes = {"num_features": "the sizes of the kept `axis` axes in increasing axis order (an int for one): "
                                   "the shape of the adapted `mean` and `variance`; () with axis=None."}

    axis: int | Sequence[int] | None = -1
    mean: Any = None
    variance: Any = None
    invert: bool = False

    def check(self) -> None:
        super().check()
        axes = check_normalization_axis(self.axis)
        check_bool(self.invert, "invert")
        if (self.mean is None) != (self.variance is None):
            raise ValueError(f"`mean` and `variance` must be given together (or neither: adapted), got "
                             f"mean={self.mean!r} and variance={self.variance!r}.")
        if self.mean is not None:
            mean, variance = check_numbers(self.mean, "mean"), check_numbers(self.variance, "variance")
            if mean.shape != variance.shape:
                raise ValueError(f"`mean` and `variance` must have the same shape, got {mean.shape} and "
                                 f"{variance.shape}.")
            if mean.ndim > len(axes):
                raise ValueError(f"`mean` of shape {mean.shape} has more axes than `axis`={self.axis!r} keeps "
                                 f"({len(axes)}).")

    def sizes(self, x: Any) -> dict[str, Any]:
        return {"num_features": normalization_shape(x.shape, self.axis)}

    def build(self, num_features: Any) -> dict[str, Weight | None]:
        shape = (num_features,) if _is_int(num_features) else num_features
        if (isinstance(shape, str) or not isinstance(shape, Sequence) or not all(map(_is_int, shape))
                or any(s < 1 for s in shape)):
            raise ValueError(f"`num_features` must be an int >= 1 or a sequence of them, got {num_features!r}.")
        if self.mean is not None:
            return {}
        shape = tuple(int(s) for s in shape)
        return {"adapt_mean": Weight(shape, "zeros", "batch_stats"),
                "adapt_variance": Weight(shape, "ones", "batch_stats"),
                "count": Weight((), "zeros", "batch_stats", dtype=jnp.int32)}

    def call(self, x: jax.Array, adapt_mean: jax.Array | None = None, adapt_variance: jax.Array | None = None,
             count: jax.Array | None = None) -> jax.Array:
        if self.mean is not None:
            return F.normalize(x, jnp.asarray(self.mean, jnp.float32), jnp.asarray(self.variance, jnp.float32),
                               self.axis, self.invert, self.dtype)
        dtype = self.dtype or jnp.promote_types(float_dtype(x), adapt_mean.dtype)
        return F.normalize(x, adapt_mean, adapt_variance, self.axis, self.invert, dtype)
