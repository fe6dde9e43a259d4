"""Keras `Dropout`."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax

from jaxlayers import functional as F
from jaxlayers._args import _is_int, check_bool
from jaxlayers.functional.dropout import check_noise_shape, check_rate, mask_shape
from jaxlayers.layers.layer import Layer


class StochasticLayer(Layer):
    """The base of the layers that draw random numbers in training mode (`deterministic=False`).

    Inference is the default, as Keras outside `fit`. In training the draws come from the
    `rng_collection` stream: linen's `apply(..., rngs={"dropout": key})` (or the call's
    `rng=`), with `seed` folded in; NNX's own stream (`seed`, or a fork of the
    constructor's `rngs`), or the call's `rngs=`.

    Subclasses have Keras's `seed` (an int, or None) among their arguments.

    Args:
        deterministic: inference mode (keyword-only, as the argument below).
        rng_collection: the name of the rng stream.
    """

    mode = "deterministic"
    stochastic = True

    _: dataclasses.KW_ONLY
    deterministic: bool = True
    rng_collection: str = "dropout"

    def check(self) -> None:
        super().check()
        check_bool(self.deterministic, "deterministic")
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")


class Dropout(StochasticLayer):
    """Keras `Dropout(rate, noise_shape, seed)`: x: any shape -> x's shape.

    The identity unless in training mode; then each unit is zeroed with probability
    `rate` and kept ones are scaled by 1 / (1 - rate) (`jaxlayers.functional.dropout`).

    Args:
        rate: the fraction of units dropped, in [0, 1].
        noise_shape: the mask's shape, None entries meaning the input's size
            (`(None, 1, 1, None)` drops whole feature maps); None: the input's shape.
        seed: an int folded into the key (NNX: the layer's own stream), or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the masks come from.
        dtype: the computation's dtype; None: the input's.
    """

    keeps_grid = True

    rate: float = 0.5
    noise_shape: tuple[int | None, ...] | None = None
    seed: int | None = None

    def check(self) -> None:
        super().check()
        check_rate(self.rate)
        check_noise_shape(self.noise_shape)

    def call(self, x: jax.Array, training: bool, rng: Callable[[], jax.Array]) -> jax.Array:
        mask_shape(tuple(x.shape), self.noise_shape)
        if not training or self.rate == 0.0:
            return x
        return F.dropout(x, self.rate, rng(), self.noise_shape)
