"""Keras merge layers as functions of a list of arrays: add, subtract, multiply, average, maximum, minimum, concatenate.

Elementwise merges follow Keras: every input is `(batch, ...)` with the same batch size;
inputs of lower rank get size-1 axes inserted after the batch axis, then shapes broadcast.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp

from jaxlayers._args import _is_int


def _check_list(inputs: Sequence[jax.Array], what: str, count: int | None = None, *,
                same_batch: bool = True) -> list[jax.Array]:
    if not isinstance(inputs, (list, tuple)) or not all(hasattr(x, "shape") and hasattr(x, "dtype") for x in inputs):
        raise TypeError(f"{what} expects a list of arrays, got {type(inputs).__name__}.")
    if count is not None and len(inputs) != count:
        raise ValueError(f"{what} expects exactly {count} inputs, got {len(inputs)}: shapes "
                         f"{[tuple(x.shape) for x in inputs]}.")
    if not inputs:
        raise ValueError(f"{what} expects at least one input, got an empty list.")
    shapes = [tuple(x.shape) for x in inputs]
    if any(len(s) < 1 for s in shapes) or same_batch and len({s[0] for s in shapes}) > 1:
        raise ValueError(f"{what} expects inputs (batch, ...) with one batch size, got shapes {shapes}.")
    return list(inputs)


def _elementwise(op: Callable[[jax.Array, jax.Array], jax.Array], inputs: Sequence[jax.Array], what: str,
                 count: int | None = None) -> jax.Array:
    xs = _check_list(inputs, what, count)
    rank = max(x.ndim for x in xs)
    xs = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]
    try:
        jnp.broadcast_shapes(*(x.shape for x in xs))
    except ValueError:
        raise ValueError(f"{what} expects inputs of broadcastable shapes, got "
                         f"{[tuple(x.shape) for x in inputs]}.") from None
    return functools.reduce(op, xs)


def add(inputs: Sequence[jax.Array]) -> jax.Array:
    """Keras `Add`: the elementwise sum of a list of (batch, ...) arrays.

    Args:
        inputs: a list (or tuple) of at least one array, each (batch, ...) with one batch
            size; lower-rank inputs get size-1 axes after the batch axis, then broadcast.

    Returns:
        Their elementwise sum, of the inputs' broadcast shape.

    Raises:
        TypeError: `inputs` is not a list of arrays.
        ValueError: no inputs, different batch sizes or shapes that do not broadcast.
    """
    return _elementwise(jnp.add, inputs, "add")


def subtract(inputs: Sequence[jax.Array]) -> jax.Array:
    """Keras `Subtract`: `inputs[0] - inputs[1]` for a list of exactly two (batch, ...) arrays.

    Args:
        inputs: a list (or tuple) of two arrays, (batch, ...) with one batch size,
            broadcast as `add`'s.

    Returns:
        `inputs[0] - inputs[1]`, of the inputs' broadcast shape.

    Raises:
        TypeError: `inputs` is not a list of arrays.
        ValueError: not exactly two inputs, different batch sizes or shapes that do not
            broadcast.
    """
    return _elementwise(jnp.subtract, inputs, "subtract", count=2)


def multiply(inputs: Sequence[jax.Array]) -> jax.Array:
    """Keras `Multiply`: the elementwise product of a list of (batch, ...) arrays.

    Args:
        inputs: a list (or tuple) of at least one array, each (batch, ...) with one batch
            size; lower-rank inputs get size-1 axes after the batch axis, then broadcast.

    Returns:
        Their elementwise product, of the inputs' broadcast shape.

    Raises:
        TypeError: `inputs` is not a list of arrays.
        ValueError: no inputs, different batch sizes or shapes that do not broadcast.
    """
    return _elementwise(jnp.multiply, inputs, "multiply")


def average(inputs: Sequence[jax.Array]) -> jax.Array:
    """Keras `Average`: the elementwise mean of a list of (batch, ...) arrays.

    Args:
        inputs: a list (or tuple) of at least one array, each (batch, ...) with one batch
            size; lower-rank inputs get size-1 axes after the batch axis, then broadcast.

    Returns:
        Their elementwise mean, of the inputs' broadcast shape.

    Raises:
        TypeError: `inputs` is not a list of arrays.
        ValueError: no inputs, different batch sizes or shapes that do not broadcast.
    """
    return _elementwise(jnp.add, inputs, "average") / len(inputs)


def maximum(inputs: Sequence[jax.Array]) -> jax.Array:
    """Keras `Maximum`: the elementwise maximum of a list of (batch, ...) arrays.

    Args:
        inputs: a list (or tuple) of at least one array, each (batch, ...) with one batch
            size; lower-rank inputs get size-1 axes after the batch axis, then broadcast.

    Returns:
        Their elementwise maximum, of the inputs' broadcast shape.

    Raises:
        TypeError: `inputs` is not a list of arrays.
        ValueError: no inputs, different batch sizes or shapes that do not broadcast.
    """
    return _elementwise(jnp.maximum, inputs, "maximum")


def minimum(inputs: Sequence[jax.Array]) -> jax.Array:
    """Keras `Minimum`: the elementwise minimum of a list of (batch, ...) arrays.

    Args:
        inputs: a list (or tuple) of at least one array, each (batch, ...) with one batch
            size; lower-rank inputs get size-1 axes after the batch axis, then broadcast.

    Returns:
        Their elementwise minimum, of the inputs' broadcast shape.

    Raises:
        TypeError: `inputs` is not a list of arrays.
        ValueError: no inputs, different batch sizes or shapes that do not broadcast.
    """
    return _elementwise(jnp.minimum, inputs, "minimum")


def concatenate(inputs: Sequence[jax.Array], axis: int = -1) -> jax.Array:
    """Keras `Concatenate(axis)`: arrays of one rank, equal except on `axis`, joined along it.

    Args:
        inputs: a list (or tuple) of arrays of one rank, equal except on `axis`, e.g.
            (batch, h, w, c1), (batch, h, w, c2).
        axis: the axis to join along (negative counts from the end).

    Returns:
        The joined array, e.g. (batch, h, w, c1 + c2) for axis=-1.

    Raises:
        TypeError: `inputs` is not a list of arrays, or `axis` not an int.
        ValueError: no inputs, ranks that differ, `axis` out of range or shapes that differ
            off `axis`.
    """
    xs = _check_list(inputs, "concatenate", same_batch=False)
    if not _is_int(axis):
        raise TypeError(f"`axis` must be an int, got {axis!r}.")
    shapes = [tuple(x.shape) for x in xs]
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes) or not -rank <= axis < rank:
        raise ValueError(f"concatenate expects inputs of one rank with `axis` in [-{rank}, {rank}), got "
                         f"axis={axis} and shapes {shapes}.")
    others = {s[:axis % rank] + s[axis % rank + 1:] for s in shapes}
    if len(others) > 1:
        raise ValueError(f"concatenate expects inputs with equal shapes except on axis {axis}, got {shapes}.")
    return jnp.concatenate(xs, axis=axis)
