"""Keras `BatchNormalization` and `LayerNormalization` as Flax modules, over `jaxlayers.functional`."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxlayers import functional as F
from jaxlayers import initializers
from jaxlayers.functional.normalization import feature_axis, normalize_axes
from jaxlayers._args import check_bool
from jaxlayers.linen._base import Layer


class NormalizedAxes:
    """What `shapes.receptive_field` asks `LayerNormalization` (linen or NNX), from its `axis`."""

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


class BatchNormalization(Layer):
    """Keras `BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center, scale, ...)`.

    x: (..., features, ...) with features on `axis` -> x's shape. Parameters `gamma`, `beta`
    (features,) in `params`; `moving_mean`, `moving_variance` (features,) in `batch_stats`.
    Inference (the default, as Keras outside `fit`) normalises with the moving statistics.
    Training mode, `use_running_average=False` (an attribute, or a call argument that wins
    when given), normalises with the batch's statistics and updates the moving ones:
    `y, updates = bn.apply(variables, x, use_running_average=False, mutable=["batch_stats"])`.

    Args:
        axis: the features axis (an int, negatives from the end).
        momentum: the moving statistics' decay in training.
        epsilon: added to the variance.
        center: whether there is an offset `beta`.
        scale: whether there is a scale `gamma`.
        beta_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        gamma_initializer: a Keras initializer name or a callable.
        moving_mean_initializer: a Keras initializer name or a callable.
        moving_variance_initializer: a Keras initializer name or a callable.
        use_running_average: inference mode (keyword-only, as the arguments below).
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' and statistics' dtype.
    """

    keeps_grid = True  # at inference it is elementwise, whatever its axis

    axis: int = -1
    momentum: float = 0.99
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: initializers.Initializer = "zeros"
    gamma_initializer: initializers.Initializer = "ones"
    moving_mean_initializer: initializers.Initializer = "zeros"
    moving_variance_initializer: initializers.Initializer = "ones"
    _: dataclasses.KW_ONLY
    use_running_average: bool = True
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, use_running_average: bool | None = None) -> jax.Array:
        training = not check_bool(self.use_running_average if use_running_average is None else use_running_average,
                                  "use_running_average")
        axis = feature_axis(self.axis, x.ndim)
        shape = (x.shape[axis],)
        gamma, beta = _gamma_beta(self, shape)

        def stat(name: str, initializer: initializers.Initializer) -> nn.Variable:
            init = initializers.get(initializer, f"{name}_initializer")
            return self.variable("batch_stats", name, lambda: init(self.make_rng("params"), shape, self.param_dtype))

        moving_mean = stat("moving_mean", self.moving_mean_initializer)
        moving_variance = stat("moving_variance", self.moving_variance_initializer)
        update = training and not self.is_initializing()
        if update and not self.is_mutable_collection("batch_stats"):
            raise ValueError("BatchNormalization in training mode (use_running_average=False) updates its moving "
                             "statistics: apply with mutable=['batch_stats'].")
        x, gamma, beta = nn.dtypes.promote_dtype(x, gamma, beta, dtype=self.dtype)
        y, mean, variance = F.batch_norm(x, moving_mean.value, moving_variance.value, gamma, beta, training=training,
                                         axis=axis, momentum=self.momentum, epsilon=self.epsilon)
        if update:
            moving_mean.value, moving_variance.value = mean, variance
        return y


class LayerNormalization(Layer, NormalizedAxes):
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
        dtype: the computation's dtype (keyword-only, as `param_dtype`); None: promoted
            from the input and parameters.
        param_dtype: the parameters' dtype.
    """

    keeps_grid = True  # over the channel axis only: `shapes.receptive_field` checks `normalized_axes`

    axis: int | Sequence[int] = -1
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: initializers.Initializer = "zeros"
    gamma_initializer: initializers.Initializer = "ones"
    _: dataclasses.KW_ONLY
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        axes = normalize_axes(self.axis, x.ndim)
        gamma, beta = _gamma_beta(self, tuple(x.shape[a] for a in axes))
        x, gamma, beta = nn.dtypes.promote_dtype(x, gamma, beta, dtype=self.dtype)
        return F.layer_norm(x, gamma, beta, axis=axes, epsilon=self.epsilon)


def _gamma_beta(module: BatchNormalization | LayerNormalization,
                shape: tuple[int, ...]) -> tuple[jax.Array | None, jax.Array | None]:
    """`gamma` (with `scale`) and `beta` (with `center`) of `shape`, else None."""
    gamma = beta = None
    if module.scale:
        init = initializers.get(module.gamma_initializer, "gamma_initializer")
        gamma = module.param("gamma", init, shape, module.param_dtype)
    if module.center:
        init = initializers.get(module.beta_initializer, "beta_initializer")
        beta = module.param("beta", init, shape, module.param_dtype)
    return gamma, beta
