"""Keras merge layers as functions of a list of arrays: add, subtract, multiply, average, maximum, minimum, concatenate.

Elementwise merges follow Keras: every input is `(batch, ...)` with the same batch size;
inputs of lower rank get size-1 axes inserted after the batch axis, then shapes broadcast.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers._args import _is_int
from jaxlayers.functional._checks import check_precision


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


def _step_masks(xs: list[jax.Array], masks: Sequence[jax.Array | None] | None, what: str
                ) -> list[jax.Array | None]:
    """Each input's mask (batch, ...) (its shape but the last axis) broadcast over the last axis, or None
    (all None for `masks=None`)."""
    if masks is None:
        return [None] * len(xs)
    if not isinstance(masks, (list, tuple)) or len(masks) != len(xs):
        raise ValueError(f"{what} `masks` must be a list of one mask (or None) per input ({len(xs)}), got "
                         f"{masks!r}.")
    out = []
    for x, m in zip(xs, masks):
        if m is not None and tuple(jnp.shape(m)) != x.shape[:-1]:
            raise ValueError(f"{what} `masks` must be (batch, ...) of the inputs' shapes but the last axis, got mask "
                             f"shape {tuple(jnp.shape(m))} for an input of shape {x.shape}.")
        out.append(None if m is None else jnp.broadcast_to(jnp.asarray(m, bool)[..., None], x.shape))
    return out


def _masked_extreme(op: Callable[[jax.Array, jax.Array], jax.Array], inputs: Sequence[jax.Array],
                    masks: Sequence[jax.Array | None] | None, what: str) -> jax.Array:
    """Keras's (masked) `Maximum`/`Minimum`: a masked operand takes the value so far, a masked value so far the
    operand's, while every input so far has a mask; without masks, the plain elementwise op."""
    xs = _check_list(inputs, what)
    steps = _step_masks(xs, masks, what)
    if all(m is None for m in steps):
        return _elementwise(op, xs, what)
    out, out_mask = xs[0], steps[0]
    for x, m in zip(xs[1:], steps[1:]):
        if m is not None:
            x = jnp.where(m, x, out)
        if out_mask is not None:
            out = jnp.where(out_mask, out, x)
        out_mask = out_mask | m if m is not None and out_mask is not None else None
        out = op(out, x)
    return out


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


def multiply(inputs: Sequence[jax.Array], masks: Sequence[jax.Array | None] | None = None) -> jax.Array:
    """Keras `Multiply`: the elementwise product of a list of (batch, ...) arrays.

    Args:
        inputs: a list (or tuple) of at least one array, each (batch, ...) with one batch
            size; lower-rank inputs get size-1 axes after the batch axis, then broadcast.
        masks: Keras's masks of the inputs, one per input: (batch, ...) bool (the input's
            shape but the last axis) or None; masked steps count as 1, and where every input
            has a mask, steps masked in all give 0. None: no masks.

    Returns:
        Their elementwise product, of the inputs' broadcast shape.

    Raises:
        TypeError: `inputs` is not a list of arrays.
        ValueError: no inputs, different batch sizes, shapes that do not broadcast, or masks
            not one per input of its shape.
    """
    xs = _check_list(inputs, "multiply")
    steps = _step_masks(xs, masks, "multiply")
    if all(m is None for m in steps):
        return _elementwise(jnp.multiply, xs, "multiply")
    out = functools.reduce(jnp.multiply, [x if m is None else jnp.where(m, x, jnp.ones((), x.dtype))
                                          for x, m in zip(xs, steps)])
    if all(m is not None for m in steps):
        out = jnp.where(functools.reduce(jnp.logical_or, steps), out, jnp.zeros((), out.dtype))
    return out


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


def maximum(inputs: Sequence[jax.Array], masks: Sequence[jax.Array | None] | None = None) -> jax.Array:
    """Keras `Maximum`: the elementwise maximum of a list of (batch, ...) arrays.

    Args:
        inputs: a list (or tuple) of at least one array, each (batch, ...) with one batch
            size; lower-rank inputs get size-1 axes after the batch axis, then broadcast.
        masks: Keras's masks of the inputs, one per input: (batch, ...) bool (the input's
            shape but the last axis) or None; as Keras's, a masked operand takes the maximum
            so far, and a masked maximum so far the operand, while every input so far has a
            mask. None: no masks.

    Returns:
        Their elementwise maximum, of the inputs' broadcast shape.

    Raises:
        TypeError: `inputs` is not a list of arrays.
        ValueError: no inputs, different batch sizes, shapes that do not broadcast, or masks
            not one per input of its shape.
    """
    return _masked_extreme(jnp.maximum, inputs, masks, "maximum")


def minimum(inputs: Sequence[jax.Array], masks: Sequence[jax.Array | None] | None = None) -> jax.Array:
    """Keras `Minimum`: the elementwise minimum of a list of (batch, ...) arrays.

    Args:
        inputs: a list (or tuple) of at least one array, each (batch, ...) with one batch
            size; lower-rank inputs get size-1 axes after the batch axis, then broadcast.
        masks: Keras's masks of the inputs, one per input: (batch, ...) bool (the input's
            shape but the last axis) or None; as Keras's, a masked operand takes the minimum
            so far, and a masked minimum so far the operand, while every input so far has a
            mask. None: no masks.

    Returns:
        Their elementwise minimum, of the inputs' broadcast shape.

    Raises:
        TypeError: `inputs` is not a list of arrays.
        ValueError: no inputs, different batch sizes, shapes that do not broadcast, or masks
            not one per input of its shape.
    """
    return _masked_extreme(jnp.minimum, inputs, masks, "minimum")


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


def dot(inputs: Sequence[jax.Array], axes: int | Sequence[int] = -1, normalize: bool = False, *,
        precision: lax.PrecisionLike = None) -> jax.Array:
    """Keras `Dot(axes, normalize)`: per example, the dot product of two arrays along one axis of each.

    Args:
        inputs: a list (or tuple) of two arrays (batch, ...), rank >= 2, one batch size.
        axes: the contracted axis of both (an int) or of each (two ints); negative counts
            from the end; never the batch axis 0.
        normalize: whether to L2-normalise both along their axis first (cosine similarity),
            as Keras: `x * min(rsqrt(sum(x**2)), 1e7)`.
        precision: passed to the product (`lax.Precision`).

    Returns:
        (batch, *x's other axes, *y's other axes) in that order; (batch, 1) for two 2-D inputs.

    Raises:
        TypeError: `inputs` not a list of arrays, `axes` not an int or two ints.
        ValueError: not two inputs, a rank < 2, different batch sizes, a batch axis in
            `axes` or contracted sizes that differ.
    """
    x, y = _check_list(inputs, "dot", 2)
    check_precision(precision)
    dtype = jnp.result_type(x, y)
    x, y = x.astype(dtype), y.astype(dtype)
    a0, a1 = dot_axes(axes, x.ndim, y.ndim)
    if x.shape[a0] != y.shape[a1]:
        raise ValueError(f"dot contracts axes ({a0}, {a1}) of different sizes {x.shape[a0]} != {y.shape[a1]}: "
                         f"shapes {tuple(x.shape)}, {tuple(y.shape)}.")
    if normalize:
        x, y = (v * jnp.minimum(lax.rsqrt(jnp.sum(jnp.square(v), axis=a, keepdims=True)), 1e7)
                for v, a in ((x, a0), (y, a1)))
    out = lax.dot_general(x, y, (((a0,), (a1,)), ((0,), (0,))), precision=precision)
    return out[:, None] if out.ndim == 1 else out


def dot_axes(axes: int | Sequence[int], x_ndim: int, y_ndim: int) -> tuple[int, int]:
    """Keras `Dot`'s `axes` as two non-negative axes, for inputs of ranks `x_ndim`, `y_ndim`.

    Args:
        axes: an int (both inputs) or two ints (one each); negative counts from the end.
        x_ndim: the first input's rank.
        y_ndim: the second's.

    Returns:
        `(axis of x, axis of y)`.

    Raises:
        TypeError: not an int or two ints.
        ValueError: a rank < 2, or an axis out of range or on the batch axis.
    """
    pair = (axes, axes) if _is_int(axes) else axes
    if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2 or not all(map(_is_int, pair)):
        raise TypeError(f"`axes` must be an int or two ints, got {axes!r}.")
    if min(x_ndim, y_ndim) < 2:
        raise ValueError(f"dot needs inputs of rank >= 2 (batch, ...), got ranks {x_ndim} and {y_ndim}.")
    if not all(-n <= a < n for a, n in zip(pair, (x_ndim, y_ndim))) or 0 in (pair[0] % x_ndim, pair[1] % y_ndim):
        raise ValueError(f"`axes` {axes!r} must name an axis other than the batch axis 0 of each input, for ranks "
                         f"{x_ndim} and {y_ndim}.")
    return pair[0] % x_ndim, pair[1] % y_ndim
