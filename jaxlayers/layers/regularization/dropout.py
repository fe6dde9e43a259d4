"""Keras `Dropout`."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import ClassVar

import jax

from jaxlayers import functional as F
from jaxlayers._args import _is_int, check_bool
from jaxlayers.functional.dropout import check_noise_shape, check_fraction, mask_shape
from jaxlayers.layers.layer import Layer


def stochastic_args(draws: str = "masks") -> str:
    """The entries every stochastic layer's docstring ends its Args section with.

    Args:
        draws: what the stream gives ("masks", "noise").

    Returns:
        The entries, indented as a class docstring's.
    """
    return f"""        seed: an int folded into the key (NNX: the layer's own stream), or None.
        deterministic: inference mode (keyword-only, as `rng_collection`).
        rng_collection: the rng stream the {draws} come from.
        dtype: the computation's dtype; None: the input's.
"""


class Stochastic(Layer):
    """The arguments and checks of every layer that draws random numbers in training mode.

    Inference is the default, as Keras outside `fit`; training (`deterministic=False`, the
    attribute or the call's) draws from the `rng_collection` stream: linen's
    `apply(..., rngs={"dropout": key})` (or the call's `rng=`), with `seed` folded in; NNX's
    own stream (`seed`, or a fork of the constructor's `rngs`), or the call's `rngs=`.
    `StochasticLayer` (Dropout, the noises) and the attention layers derive from it.

    Subclasses have Keras's `seed` (an int, or None) among their arguments, and name in
    `fraction` the argument that must lie in [0, 1], if any (`rate`, `dropout`).

    Args:
        deterministic: inference mode (keyword-only, as the argument below).
        rng_collection: the name of the rng stream.
    """

    mode = "deterministic"
    stochastic = True
    fraction: ClassVar[str | None] = None  # the argument checked to be a fraction (`rate`, `dropout`)

    _: dataclasses.KW_ONLY
    deterministic: bool = True
    rng_collection: str = "dropout"

    def check(self) -> None:
        super().check()
        check_bool(self.deterministic, "deterministic")
        if self.fraction is not None:
            check_fraction(getattr(self, self.fraction), self.fraction)
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")


class StochasticLayer(Stochastic):
    """The base of the one-input layers that draw random numbers in training mode (`Stochastic`).

    The layer is the identity in inference, as it is in training when its `strength`
    argument (`rate`, `stddev`) is 0; otherwise `noise(x, key)` gives the output.

    Args:
        deterministic: inference mode (keyword-only, as the argument below).
        rng_collection: the name of the rng stream.
    """

    supports_masking = True  # as Keras's: a mask passes through

    keeps_grid = True
    strength: ClassVar[str] = "rate"  # the argument whose 0 makes training the identity too

    def check_input(self, x: jax.Array) -> None:
        """Raise for an input the layer cannot take, in inference too (by default, none).

        Args:
            x: the layer's input.
        """

    def noise(self, x: jax.Array, key: jax.Array) -> jax.Array:
        """The output in training mode.

        Args:
            x: the layer's input.
            key: the PRNG key of the draws.

        Returns:
            x's shape and dtype.
        """
        raise NotImplementedError

    def call(self, x: jax.Array, training: bool, rng: Callable[[], jax.Array]) -> jax.Array:
        self.check_input(x)
        if not training or getattr(self, self.strength) == 0.0:
            return x
        return self.noise(x, rng())


class Dropout(StochasticLayer):
    __doc__ = """Keras `Dropout(rate, noise_shape, seed)`: x: any shape -> x's shape.

    The identity unless in training mode; then each unit is zeroed with probability
    `rate` and kept ones are scaled by 1 / (1 - rate) (`jaxlayers.functional.dropout`).

    Args:
        rate: the fraction of units dropped, in [0, 1].
        noise_shape: the mask's shape, None entries meaning the input's size
            (`(None, 1, 1, None)` drops whole feature maps); None: the input's shape.
""" + stochastic_args()

    rate: float = 0.5
    noise_shape: tuple[int | None, ...] | None = None
    seed: int | None = None

    fraction = "rate"

    def check(self) -> None:
        super().check()
        check_noise_shape(self.noise_shape)

    def check_input(self, x: jax.Array) -> None:
        mask_shape(tuple(x.shape), self.noise_shape)

    def noise(self, x: jax.Array, key: jax.Array) -> jax.Array:
        return F.dropout(x, self.rate, key, self.noise_shape)
