"""Keras `LayerNormalization`."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers import initializers
from jaxlayers._args import _is_int, check_bool
from jaxlayers.functional.normalization import check_epsilon, normalize_axes
from jaxlayers.layers.layer import Weight, WeightedLayer


def check_sizes(value: Any, name: str) -> tuple[int, ...]:
    """An int or a non-empty sequence of ints >= 1, as a tuple.

    Args:
        value: the sizes given.
        name: the argument named in errors.

    Returns:
        The sizes as a tuple.

    Raises:
        TypeError: not an int or ints.
        ValueError: a size below 1.
    """
    sizes = (value,) if _is_int(value) else value
    if isinstance(sizes, str) or not isinstance(sizes, Sequence) or not sizes or not all(map(_is_int, sizes)):
        raise TypeError(f"`{name}` must be an int or a sequence of ints, got {value!r}.")
    if any(s < 1 for s in sizes):
        raise ValueError(f"`{name}` must be positive, got {value!r}.")
    return tuple(int(s) for s in sizes)


class LayerNormalization(WeightedLayer):
    """Keras `LayerNormalization(axis=-1, epsilon=1e-3, center, scale, ...)`: each example normalised over `axis`.

    x: any shape -> x's shape. Parameters `gamma`, `beta` in `params`, shaped as the
    normalised axes in increasing order (e.g. (features,)).

    Args:
        axis: the axis or axes normalised over (negatives from the end).
        epsilon: added to the variance.
        center: whether there is an offset `beta`.
        scale: whether there is a scale `gamma`.
        beta_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        gamma_initializer: a Keras initializer name or a callable.
        rms_scaling: Keras's (deprecated) `rms_scaling`: x scaled by `gamma` over its
            standard deviation, not centred, no `beta` (keyword-only, as below).
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
    """

    supports_masking = True  # as Keras's: a mask passes through

    keeps_grid = True  # over the channel axis only: `shapes.receptive_field` checks `mixed_axes`
    input_sizes = {"num_features": "the size of the normalised axis (or the sizes of the axes, in increasing axis "
                                   "order): the shape of `gamma` and `beta`."}

    axis: int | Sequence[int] = -1
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: initializers.Initializer = "zeros"
    gamma_initializer: initializers.Initializer = "ones"
    _: dataclasses.KW_ONLY
    rms_scaling: bool = False

    def check(self) -> None:
        super().check()
        if not _is_int(self.axis) and (isinstance(self.axis, str) or not isinstance(self.axis, Sequence)
                                       or not self.axis or not all(map(_is_int, self.axis))):
            raise TypeError(f"`axis` must be an int or a non-empty sequence of ints, got {self.axis!r}.")
        check_epsilon(self.epsilon)
        check_bool(self.center, "center")
        check_bool(self.scale, "scale")
        check_bool(self.rms_scaling, "rms_scaling")
        initializers.get(self.beta_initializer, "beta_initializer")
        initializers.get(self.gamma_initializer, "gamma_initializer")

    def sizes(self, x: Any) -> dict[str, Any]:
        return {"num_features": tuple(x.shape[a] for a in self.normalized_axes(x.ndim))}

    def build(self, num_features: int | Sequence[int]) -> dict[str, Weight | None]:
        shape = check_sizes(num_features, "num_features")
        axes = 1 if _is_int(self.axis) else len(self.axis)
        if len(shape) != axes:
            raise ValueError(f"`num_features` must give one size per axis of `axis`, got num_features="
                             f"{num_features!r} for axis={self.axis!r}.")
        return {"gamma": Weight(shape, self.gamma_initializer) if self.scale or self.rms_scaling else None,
                "beta": Weight(shape, self.beta_initializer) if self.center and not self.rms_scaling else None}

    def call(self, x: jax.Array, gamma: jax.Array | None, beta: jax.Array | None) -> jax.Array:
        x, gamma, beta = self.promote(x, gamma, beta)
        return F.layer_norm(x, gamma, beta, axis=self.normalized_axes(x.ndim), epsilon=self.epsilon,
                            rms_scaling=self.rms_scaling)

    def mixed_axes(self, ndim: int) -> tuple[int, ...]:
        """The axes along which an output cell reads several input cells: `normalized_axes`.

        Args:
            ndim: the input's rank.

        Returns:
            The axes, non-negative and sorted.
        """
        return self.normalized_axes(ndim)

    def normalized_axes(self, ndim: int) -> tuple[int, ...]:
        """The axes this layer normalises over, for an `ndim`-D input.

        Args:
            ndim: the input's rank.

        Returns:
            The axes, non-negative and sorted.

        Raises:
            ValueError, TypeError: an `axis` that does not fit `ndim`.
        """
        return normalize_axes(self.axis, ndim)
