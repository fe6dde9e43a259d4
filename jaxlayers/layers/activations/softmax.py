"""Keras `Softmax`."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import activations
from jaxlayers._args import _is_int
from jaxlayers.layers.layer import Layer


def _axes(axis: Any) -> tuple[int, ...]:
    """Keras `Softmax`'s `axis` (an int or a sequence of ints) as a tuple."""
    axes = (axis,) if _is_int(axis) else axis
    if not isinstance(axes, Sequence) or isinstance(axes, str) or not axes or not all(map(_is_int, axes)):
        raise TypeError(f"Softmax `axis` must be an int or a non-empty sequence of ints, got {axis!r}.")
    return tuple(int(a) for a in axes)


class Softmax(Layer):
    """Keras `Softmax(axis)`: x -> softmax over `axis`; `layer(x, mask=m)` as Keras's call; x's shape.

    With a mask (bool, or numbers compared > 0.5, broadcastable to x from the right),
    masked cells get a large negative logit (-1e9; -3e4 in float16) and output 0.

    Args:
        axis: the axis, or axes, the outputs sum to 1 over.
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    keeps_grid = True

    axis: int | tuple[int, ...] = -1

    def check(self) -> None:
        super().check()
        _axes(self.axis)

    def mixed_axes(self, ndim: int) -> tuple[int, ...]:
        """The axes normalised over, for `ndim`-D inputs (`shapes.receptive_field` keeps the grid on the last).

        Args:
            ndim: the input's rank.

        Returns:
            The axes, non-negative.

        Raises:
            ValueError: an axis outside [-ndim, ndim).
        """
        axes = _axes(self.axis)
        if not all(-ndim <= a < ndim for a in axes):
            raise ValueError(f"Softmax `axis` must be in [-{ndim}, {ndim}), got {self.axis!r}.")
        return tuple(sorted({a % ndim for a in axes}))

    def call(self, x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        axes = self.mixed_axes(x.ndim)
        if mask is not None:
            mask = jnp.asarray(mask)
            if mask.ndim > x.ndim or any(m not in (1, n) for m, n in zip(mask.shape[::-1], x.shape[::-1])):
                raise ValueError(f"Softmax `mask` must broadcast to x from the right, with no more axes; got mask "
                                 f"shape {tuple(mask.shape)} for x of shape {tuple(x.shape)}.")
            if mask.dtype != jnp.bool_:
                mask = mask > jnp.asarray(0.5, mask.dtype)
            x = jnp.where(mask, x, -3e4 if x.dtype == jnp.float16 else -1e9)
        if len(axes) > 1:
            y = jnp.exp(x - jax.scipy.special.logsumexp(x, axis=axes, keepdims=True))
        else:
            y = activations.softmax(x, axis=axes[0])
        return y if mask is None else jnp.where(mask, y, 0.0)
