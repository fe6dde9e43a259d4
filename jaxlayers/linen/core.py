"""Keras layers without weights or window math: `Activation`, `ReLU`, `Reshape`, `Dropout`."""
from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import jax

from jaxlayers import activations
from jaxlayers import functional as F
from jaxlayers._args import _is_int, check_bool
from jaxlayers._args import target_shape as check_target_shape
from jaxlayers.functional.dropout import check_noise_shape, check_rate, mask_shape
from jaxlayers.linen._base import Layer


def check_relu(max_value: Any, negative_slope: Any, threshold: Any) -> None:
    """Keras `ReLU`'s arguments: `max_value` None or a number >= 0, the others numbers >= 0.

    Args:
        max_value: the saturation value, or None.
        negative_slope: the slope below `threshold`.
        threshold: the value below which the slope applies.

    Raises:
        TypeError: an argument that is not a real number (bools included).
        ValueError: a negative argument.
    """
    for name, value in (("max_value", max_value), ("negative_slope", negative_slope), ("threshold", threshold)):
        if value is None and name == "max_value":
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            none = "None or " if name == "max_value" else ""
            raise TypeError(f"ReLU `{name}` must be {none}a number >= 0, got {value!r}.")
        if value < 0:
            raise ValueError(f"ReLU `{name}` must be >= 0, got {value!r}.")


class Activation(Layer):
    """Keras `Activation(activation)`: a named activation (or callable) as a layer.

    Args:
        activation: a Keras activation name, a callable or None (linear).
    """

    keeps_grid = True

    activation: activations.Activation = "linear"

    def __call__(self, x: jax.Array) -> jax.Array:
        return activations.get(self.activation)(x)


class ReLU(Layer):
    """Keras `ReLU(max_value, negative_slope, threshold)`, as `jaxlayers.activations.relu`.

    Args:
        max_value: the saturation value (>= 0), or None (no limit).
        negative_slope: the slope below `threshold` (>= 0).
        threshold: values below it are zeroed, or scaled by `negative_slope` (>= 0).
    """

    keeps_grid = True

    max_value: float | None = None
    negative_slope: float = 0.0
    threshold: float = 0.0

    def __call__(self, x: jax.Array) -> jax.Array:
        check_relu(self.max_value, self.negative_slope, self.threshold)
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)


class Reshape(Layer):
    """Keras `Reshape(target_shape)`: (batch, ...) -> (batch, *target_shape).

    Args:
        target_shape: the shape without the batch axis: ints >= 1, one -1 allowed (the
            size that holds the remaining cells).
    """

    target_shape: tuple[int, ...]

    def __call__(self, x: jax.Array) -> jax.Array:
        return x.reshape(x.shape[0], *check_target_shape(self.target_shape, x.shape))


class Dropout(Layer):
    """Keras `Dropout(rate, noise_shape, seed)`: x: any shape -> x's shape.

    `dropout(x, deterministic=None, rng=None)` is the identity unless in training mode,
    `deterministic=False` (the attribute, or the call argument that wins when given; the
    default is inference, as Keras outside `fit`). Then each unit is zeroed with
    probability `rate` and kept ones are scaled by 1 / (1 - rate) (`F.dropout`), with a
    mask from the `rng_collection` rng stream (`apply(..., rngs={"dropout": key})`) or
    the call's `rng`, `seed` folded in.

    Args:
        rate: the fraction of units dropped, in [0, 1].
        noise_shape: the mask's shape, None entries meaning the input's size
            (`(None, 1, 1, None)` drops whole feature maps); None: the input's shape.
        seed: an int folded into the key, or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the masks come from.
    """

    keeps_grid = True

    rate: float = 0.5
    noise_shape: tuple[int | None, ...] | None = None
    seed: int | None = None
    _: dataclasses.KW_ONLY
    deterministic: bool = True
    rng_collection: str = "dropout"

    def __post_init__(self) -> None:
        check_rate(self.rate)
        check_noise_shape(self.noise_shape)
        check_bool(self.deterministic, "deterministic")
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")
        super().__post_init__()

    def __call__(self, x: jax.Array, deterministic: bool | None = None, rng: jax.Array | None = None) -> jax.Array:
        mask_shape(tuple(x.shape), self.noise_shape)
        if check_bool(self.deterministic if deterministic is None else deterministic, "deterministic") or \
                self.rate == 0.0:
            return x
        if rng is None:
            if not (self.has_rng(self.rng_collection) or self.has_rng("params")):
                name = "" if self.name is None else f" {self.name!r}"
                raise ValueError(f"Dropout{name} in training mode (deterministic=False) needs a PRNG key: "
                                 f"apply(..., rngs={{{self.rng_collection!r}: key}}) or call it with `rng=`.")
            rng = self.make_rng(self.rng_collection)
        if self.seed is not None:
            rng = jax.random.fold_in(rng, self.seed)
        return F.dropout(x, self.rate, rng, self.noise_shape)
