"""Keras `GroupNormalization`."""
from __future__ import annotations

from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers import initializers
from jaxlayers._args import _is_int, check_bool, positive_int
from jaxlayers.functional.normalization import check_epsilon, check_groups, feature_axis
from jaxlayers.layers.layer import Weight, WeightedLayer


class GroupNormalization(WeightedLayer):
    """Keras `GroupNormalization(groups=32, axis=-1, epsilon=1e-3, center, scale, ...)`.

    x: (batch, ..., channels, ...) with the channels on `axis` -> x's shape. The channels
    are split into `groups`; each example's group is normalised over all its other axes.
    Parameters `gamma`, `beta` (channels,) in `params`.

    Args:
        groups: the number of groups, dividing the channels; -1: one per channel
            (instance normalization).
        axis: the channels axis (an int, negatives from the end).
        epsilon: added to the variance.
        center: whether there is an offset `beta`.
        scale: whether there is a scale `gamma`.
        beta_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        gamma_initializer: a Keras initializer name or a callable.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
    """

    input_sizes = {"num_features": "the size of the channels axis (x.shape[axis])."}

    groups: int = 32
    axis: int = -1
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: initializers.Initializer = "zeros"
    gamma_initializer: initializers.Initializer = "ones"

    def check(self) -> None:
        super().check()
        check_groups(self.groups)
        if not _is_int(self.axis):
            raise TypeError(f"`axis` must be an int, got {self.axis!r}.")
        check_epsilon(self.epsilon)
        check_bool(self.center, "center")
        check_bool(self.scale, "scale")
        initializers.get(self.beta_initializer, "beta_initializer")
        initializers.get(self.gamma_initializer, "gamma_initializer")

    def sizes(self, x: Any) -> dict[str, Any]:
        return {"num_features": x.shape[feature_axis(self.axis, x.ndim)]}

    def build(self, num_features: int) -> dict[str, Weight | None]:
        channels = positive_int(num_features, "num_features")
        check_groups(self.groups, channels)
        shape = (channels,)
        return {"gamma": Weight(shape, self.gamma_initializer) if self.scale else None,
                "beta": Weight(shape, self.beta_initializer) if self.center else None}

    def call(self, x: jax.Array, gamma: jax.Array | None, beta: jax.Array | None) -> jax.Array:
        x, gamma, beta = self.promote(x, gamma, beta)
        return F.group_norm(x, gamma, beta, groups=self.groups, axis=self.axis, epsilon=self.epsilon)
