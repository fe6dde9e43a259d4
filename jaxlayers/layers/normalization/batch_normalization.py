"""Keras `BatchNormalization`, with Flax's `axis_name` for statistics over several devices."""
from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers import initializers
from jaxlayers._args import _is_int, check_bool, positive_int
from jaxlayers.functional.normalization import check_axis_name, check_epsilon, check_momentum, feature_axis
from jaxlayers.layers.layer import Weight, WeightedLayer


class BatchNormalization(WeightedLayer):
    """Keras `BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center, scale, ...)`.

    x: (..., num_features, ...) with the features on `axis` -> x's shape. Parameters
    `gamma`, `beta` (num_features,) in `params`; `moving_mean`, `moving_variance`
    (num_features,) in `batch_stats` (NNX: `nnx.BatchStat`). Inference (the default, as
    Keras outside `fit`) normalises with the moving statistics. Training mode,
    `use_running_average=False`, normalises with the batch's statistics and updates the
    moving ones: linen `y, updates = bn.apply(variables, x, use_running_average=False,
    mutable=["batch_stats"])`; NNX in place (`model.train()`). With `axis_name` the
    batch's statistics are those of the whole batch over that mapped axis (`shard_map`,
    `pmap`, `vmap`), as Flax's `BatchNorm(axis_name=)`.

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
        axis_name: the mapped axis (or axes) over which training averages the batch's
            statistics, or None: this device's batch alone.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' and statistics' dtype.
    """

    supports_masking = True  # as Keras's: a mask passes through
    takes_mask = True  # training statistics over the unmasked steps

    keeps_grid = True  # at inference it is elementwise, whatever its axis
    input_sizes = {"num_features": "the size of the features axis (x.shape[axis])."}
    mode = "use_running_average"
    stateful = True

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
    axis_name: Hashable | None = None

    def check(self) -> None:
        super().check()
        if not _is_int(self.axis):
            raise TypeError(f"`axis` must be an int, got {self.axis!r}.")
        check_momentum(self.momentum)
        check_epsilon(self.epsilon)
        check_bool(self.center, "center")
        check_bool(self.scale, "scale")
        check_bool(self.use_running_average, "use_running_average")
        check_axis_name(self.axis_name)
        for name in ("beta", "gamma", "moving_mean", "moving_variance"):
            initializers.get(getattr(self, f"{name}_initializer"), f"{name}_initializer")

    def sizes(self, x: Any) -> dict[str, Any]:
        return {"num_features": x.shape[feature_axis(self.axis, x.ndim)]}

    def build(self, num_features: int) -> dict[str, Weight | None]:
        shape = (positive_int(num_features, "num_features"),)
        return {"gamma": Weight(shape, self.gamma_initializer) if self.scale else None,
                "beta": Weight(shape, self.beta_initializer) if self.center else None,
                "moving_mean": Weight(shape, self.moving_mean_initializer, "batch_stats"),
                "moving_variance": Weight(shape, self.moving_variance_initializer, "batch_stats")}

    def call(self, x: jax.Array, gamma: jax.Array | None, beta: jax.Array | None, moving_mean: jax.Array,
             moving_variance: jax.Array, training: bool, mask: jax.Array | None = None
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
        x, gamma, beta = self.promote(x, gamma, beta)
        y, mean, variance = F.batch_norm(x, moving_mean, moving_variance, gamma, beta, training=training,
                                         axis=feature_axis(self.axis, x.ndim), momentum=self.momentum,
                                         epsilon=self.epsilon, axis_name=self.axis_name, mask=mask)
        return y, ({"moving_mean": mean, "moving_variance": variance} if training else {})
