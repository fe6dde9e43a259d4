"""NNX twins of Keras's weightless core layers: `Activation`, `ReLU`, `Reshape`, `Dropout`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
from flax import nnx

from jaxlayers import activations
from jaxlayers import functional as F
from jaxlayers._args import _is_int, check_bool
from jaxlayers._args import target_shape as check_target_shape
from jaxlayers.functional.dropout import check_noise_shape, check_rate, mask_shape
from jaxlayers.linen.core import check_relu
from jaxlayers.nnx._base import Layer


class Activation(Layer):
    """Keras `Activation(activation)`: a named activation (or callable) as a layer.

    Args:
        activation: a Keras activation name, a callable or None (linear).
    """

    keeps_grid = True

    def __init__(self, activation: activations.Activation = "linear", *, dtype: Any = None):
        super().__init__(dtype=dtype)
        self.activation = activation
        self._fn = activations.get(activation)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._fn(x)


class ReLU(Layer):
    """Keras `ReLU(max_value, negative_slope, threshold)`, as `jaxlayers.activations.relu`.

    Args:
        max_value: the saturation value (>= 0), or None (no limit).
        negative_slope: the slope below `threshold` (>= 0).
        threshold: values below it are zeroed, or scaled by `negative_slope` (>= 0).

    Raises:
        TypeError: an argument that is not a number.
        ValueError: a negative argument.
    """

    keeps_grid = True

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0, *,
                 dtype: Any = None):
        super().__init__(dtype=dtype)
        check_relu(max_value, negative_slope, threshold)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def __call__(self, x: jax.Array) -> jax.Array:
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)


class Reshape(Layer):
    """Keras `Reshape(target_shape)`: (batch, ...) -> (batch, *target_shape).

    Args:
        target_shape: the shape without the batch axis: ints >= 1, one -1 allowed (the
            size that holds the remaining cells).
    """

    def __init__(self, target_shape: Sequence[int], *, dtype: Any = None):
        super().__init__(dtype=dtype)
        self.target_shape = check_target_shape(target_shape)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0], *check_target_shape(self.target_shape, x.shape))


class Dropout(Layer):
    """Keras `Dropout(rate, noise_shape, seed)`: x: any shape -> x's shape.

    `dropout(x, *, deterministic=None, rngs=None)` is the identity unless in training
    mode, `deterministic=False` (set by `model.train()`, `nnx.view(model,
    deterministic=False)`, the constructor, or the call argument that wins when given;
    the default is inference, as Keras outside `fit`). Then each unit is zeroed with
    probability `rate` and kept ones are scaled by 1 / (1 - rate) (`F.dropout`). Masks
    come from the layer's own stream: `seed` or a fork of `rngs`'s `rng_collection`
    stream; a call's `rngs` (Rngs, stream or key) wins when given.

    Args:
        rate: the fraction of units dropped, in [0, 1].
        noise_shape: the mask's shape, None entries meaning the input's size
            (`(None, 1, 1, None)` drops whole feature maps); None: the input's shape.
        seed: an int, Keras's per-layer seed: the layer's own stream (not with `rngs`).
        deterministic: inference mode (keyword-only, as the arguments below).
        rng_collection: the name of the rng stream.
        rngs: an `nnx.Rngs` whose `rng_collection` stream is forked for the masks, or None.

    Raises:
        TypeError: a `seed` that is not an int, a `rate` that is not a number, or a
            `deterministic` that is not a bool.
        ValueError: `rate` outside [0, 1], a bad `noise_shape`, or both `seed` and `rngs`.
    """

    keeps_grid = True

    def __init__(self, rate: float = 0.5, noise_shape: Sequence[int | None] | None = None, seed: int | None = None,
                 *, deterministic: bool = True, rng_collection: str = "dropout", rngs: nnx.Rngs | None = None,
                 dtype: Any = None):
        super().__init__(dtype=dtype)
        self.rate = check_rate(rate)
        self.noise_shape = check_noise_shape(noise_shape)
        if seed is not None and not _is_int(seed):
            raise TypeError(f"`seed` must be None or an int, got {seed!r}.")
        if seed is not None and rngs is not None:
            raise ValueError("Dropout takes `seed` (its own stream) or `rngs`, not both.")
        self.seed, self.rng_collection = seed, rng_collection
        self.deterministic = check_bool(deterministic, "deterministic")
        if seed is not None:
            self.rngs = nnx.Rngs(**{rng_collection: seed})[rng_collection]
        elif rngs is not None:
            self.rngs = rngs[rng_collection].fork()
        else:
            self.rngs = nnx.data(None)

    def __call__(self, x: jax.Array, *, deterministic: bool | None = None,
                 rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None) -> jax.Array:
        mask_shape(tuple(x.shape), self.noise_shape)
        if check_bool(self.deterministic if deterministic is None else deterministic, "deterministic") or \
                self.rate == 0.0:
            return x
        rngs = self.rngs if rngs is None else rngs
        if rngs is None:
            raise ValueError("Dropout in training mode (deterministic=False) needs random keys: build it with "
                             "`rngs=` or `seed=`, or call it with `rngs=`.")
        key = rngs[self.rng_collection]() if isinstance(rngs, nnx.Rngs) else rngs() if isinstance(
            rngs, nnx.RngStream) else rngs
        return F.dropout(x, self.rate, key, self.noise_shape)

    def set_view(self, deterministic: bool | None = None) -> None:
        """What `nnx.view(model, deterministic=...)` calls.

        Args:
            deterministic: the new mode; None keeps it.
        """
        if deterministic is not None:
            self.deterministic = check_bool(deterministic, "deterministic")
