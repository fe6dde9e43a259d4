"""Keras `BatchNormalization` and `LayerNormalization` as Flax NNX modules (the math of `jaxlayers.linen`)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from flax.linen import dtypes

from jaxlayers import functional as F
from jaxlayers import initializers
from jaxlayers._args import _is_int, check_bool
from jaxlayers.functional.normalization import check_epsilon, check_momentum, feature_axis, normalize_axes
from jaxlayers.linen._base import check_dtype
from jaxlayers.linen.normalization import NormalizedAxes
from jaxlayers.nnx._base import Layer


def _sizes(value: Any, name: str) -> tuple[int, ...]:
    sizes = (value,) if _is_int(value) else value
    if isinstance(sizes, str) or not isinstance(sizes, Sequence) or not sizes or not all(map(_is_int, sizes)):
        raise TypeError(f"`{name}` must be an int or a sequence of ints, got {value!r}.")
    if any(s < 1 for s in sizes):
        raise ValueError(f"`{name}` must be positive, got {value!r}.")
    return tuple(int(s) for s in sizes)


class _Normalization(Layer):
    keeps_grid = True  # BatchNormalization: elementwise at inference; LayerNormalization: see `normalized_axes`

    def init_gamma_beta(self, shape: tuple[int, ...], *, center: bool, scale: bool,
                        beta_initializer: initializers.Initializer, gamma_initializer: initializers.Initializer,
                        dtype: Any, param_dtype: Any, rngs: nnx.Rngs) -> None:
        """Check the arguments, keep them as attributes and create `gamma` and `beta` (`nnx.Param`, else None).

        Args:
            shape: the parameters' shape.
            center: whether there is an offset `beta`.
            scale: whether there is a scale `gamma`.
            beta_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
            gamma_initializer: a Keras initializer name or a callable.
            dtype: the computation's dtype.
            param_dtype: the parameters' dtype.
            rngs: the `params` stream draws the initial values.

        Raises:
            TypeError: a `dtype` or `param_dtype` that is not a floating dtype.
        """
        Layer.__init__(self, dtype=dtype)
        self.center, self.scale = center, scale
        self.param_dtype = check_dtype(param_dtype, "param_dtype")
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.gamma = nnx.data(None)
        self.beta = nnx.data(None)
        if scale:
            init = initializers.get(gamma_initializer, "gamma_initializer")
            self.gamma = nnx.Param(init(rngs.params(), shape, param_dtype))
        if center:
            init = initializers.get(beta_initializer, "beta_initializer")
            self.beta = nnx.Param(init(rngs.params(), shape, param_dtype))

    def check_sizes(self, x: jax.Array, axes: tuple[int, ...], expected: tuple[int, ...]) -> None:
        """Raise unless x has the sizes the layer was built for on `axes`.

        Args:
            x: the call's input.
            axes: the normalised axes, non-negative.
            expected: their sizes (`num_features`).

        Raises:
            ValueError: other sizes, with x's shape.
        """
        if tuple(x.shape[a] for a in axes) != expected:
            raise ValueError(f"{type(self).__name__} was built for sizes {expected} on axis {self.axis!r}, "
                             f"got x shape {tuple(x.shape)}.")

    def gamma_beta(self, x: jax.Array) -> tuple[jax.Array, jax.Array | None, jax.Array | None]:
        """x, gamma, beta in the computation dtype (`dtype`, else promoted as Flax does).

        Args:
            x: the call's input.

        Returns:
            `(x, gamma, beta)`, gamma or beta None without `scale` or `center`.
        """
        gamma = None if self.gamma is None else self.gamma[...]
        beta = None if self.beta is None else self.beta[...]
        return dtypes.promote_dtype(x, gamma, beta, dtype=self.dtype)


class BatchNormalization(_Normalization):
    """Keras `BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center, scale, ...)`.

    `BatchNormalization(num_features, ..., rngs=rngs)`: x: (..., num_features, ...) with the
    features on `axis`. Parameters `gamma`, `beta` (`nnx.Param`) and `moving_mean`,
    `moving_variance` (`nnx.BatchStat`), all (num_features,). Inference by default (as Keras
    outside `fit`); training mode, `use_running_average=False` (`model.train()`, `nnx.view`,
    the constructor, or the call's keyword argument that wins when given), normalises with
    the batch's statistics and updates the moving ones in place.

    Args:
        num_features: the size of the features axis.
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
        rngs: the `params` stream draws the initial values.

    Raises:
        ValueError, TypeError: a bad argument, named, at construction.
    """

    def __init__(
        self, num_features: int, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
        scale: bool = True, beta_initializer: initializers.Initializer = "zeros",
        gamma_initializer: initializers.Initializer = "ones",
        moving_mean_initializer: initializers.Initializer = "zeros",
        moving_variance_initializer: initializers.Initializer = "ones", *, use_running_average: bool = True,
        dtype: Any = None, param_dtype: Any = jnp.float32, rngs: nnx.Rngs,
    ):
        (self.num_features,) = _sizes(num_features, "num_features")
        if not _is_int(axis):
            raise TypeError(f"`axis` must be an int, got {axis!r}.")
        self.axis, self.momentum, self.epsilon = axis, check_momentum(momentum), check_epsilon(epsilon)
        self.use_running_average = check_bool(use_running_average, "use_running_average")
        shape = (self.num_features,)
        self.init_gamma_beta(shape, center=center, scale=scale, beta_initializer=beta_initializer,
                             gamma_initializer=gamma_initializer, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        init = initializers.get(moving_mean_initializer, "moving_mean_initializer")
        self.moving_mean = nnx.BatchStat(init(rngs.params(), shape, param_dtype))
        init = initializers.get(moving_variance_initializer, "moving_variance_initializer")
        self.moving_variance = nnx.BatchStat(init(rngs.params(), shape, param_dtype))

    def __call__(self, x: jax.Array, *, use_running_average: bool | None = None) -> jax.Array:
        training = not check_bool(self.use_running_average if use_running_average is None else use_running_average,
                                  "use_running_average")
        axis = feature_axis(self.axis, x.ndim)
        self.check_sizes(x, (axis,), (self.num_features,))
        x, gamma, beta = self.gamma_beta(x)
        y, mean, variance = F.batch_norm(x, self.moving_mean[...], self.moving_variance[...], gamma, beta,
                                         training=training, axis=axis, momentum=self.momentum, epsilon=self.epsilon)
        if training:
            self.moving_mean.set_value(mean)
            self.moving_variance.set_value(variance)
        return y

    def set_view(self, use_running_average: bool | None = None) -> None:
        """What `nnx.view(model, use_running_average=...)` calls.

        Args:
            use_running_average: the new mode; None keeps it.
        """
        if use_running_average is not None:
            self.use_running_average = check_bool(use_running_average, "use_running_average")


class LayerNormalization(_Normalization, NormalizedAxes):
    """Keras `LayerNormalization(axis=-1, epsilon=1e-3, center, scale, ...)`: each example normalised over `axis`.

    x: any shape -> x's shape. Parameters `gamma`, `beta` (`nnx.Param`) of shape
    `num_features`.

    Args:
        num_features: the size of the normalised axis (or the sizes of the axes, in
            increasing axis order): the shape of `gamma` and `beta`.
        axis: the axis or axes normalised over (negatives from the end), one per size.
        epsilon: added to the variance.
        center: whether there is an offset `beta`.
        scale: whether there is a scale `gamma`.
        beta_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        gamma_initializer: a Keras initializer name or a callable.
        dtype: the computation's dtype (keyword-only, as the arguments below); None:
            promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        rngs: the `params` stream draws the initial values.

    Raises:
        ValueError, TypeError: a bad argument, named, at construction.
    """

    def __init__(
        self, num_features: int | Sequence[int], axis: int | Sequence[int] = -1, epsilon: float = 1e-3,
        center: bool = True, scale: bool = True, beta_initializer: initializers.Initializer = "zeros",
        gamma_initializer: initializers.Initializer = "ones", *, dtype: Any = None, param_dtype: Any = jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.num_features = _sizes(num_features, "num_features")
        count = 1 if _is_int(axis) else len(axis) if isinstance(axis, Sequence) and not isinstance(axis, str) else None
        if count != len(self.num_features):
            raise ValueError(f"`num_features` must give one size per axis of `axis`, got num_features="
                             f"{num_features!r} for axis={axis!r}.")
        self.axis, self.epsilon = axis, check_epsilon(epsilon)
        self.init_gamma_beta(self.num_features, center=center, scale=scale, beta_initializer=beta_initializer,
                             gamma_initializer=gamma_initializer, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        axes = normalize_axes(self.axis, x.ndim)
        self.check_sizes(x, axes, self.num_features)
        x, gamma, beta = self.gamma_beta(x)
        return F.layer_norm(x, gamma, beta, axis=axes, epsilon=self.epsilon)
