"""Keras `EinsumDense`: an einsum of the input with a kernel, plus a bias on chosen output axes."""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers._args import _is_int
from jaxlayers.functional._checks import add_bias, check_precision, promote

_FORMS = "'X,Y->Z', '...X,Y->...Z' or 'XX...,Y->Z...' (letters a-z, A-Z)"


@dataclasses.dataclass(frozen=True)
class EinsumShapes:
    """What Keras `EinsumDense` derives from its equation, `bias_axes`, input and output shapes.

    Attributes:
        kernel: the kernel's shape (None where `output_shape` leaves a size it needs open).
        bias: the bias's shape, or None without `bias_axes`.
        output: the full output shape (batch first; None where unknown).
        input_axes: the kernel axes taken from the input (its fan-in axes).
        output_axes: the kernel axes taken from the output (its fan-out axes).
        from_input: the input axes the kernel takes its sizes from.
    """

    kernel: tuple[int | None, ...]
    bias: tuple[int | None, ...] | None
    output: tuple[int | None, ...]
    input_axes: tuple[int, ...]
    output_axes: tuple[int, ...]
    from_input: tuple[int, ...]


def _split(equation: str) -> tuple[str, str, str, str]:
    """(input letters, kernel letters, output letters, elision: "" | "left" | "right")."""
    if not isinstance(equation, str):
        raise TypeError(f"`equation` must be a string of the form {_FORMS}, got {equation!r}.")
    for pattern, elided in ((r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", ""),
                            (r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)", "left"),
                            (r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.", "right")):
        match = re.fullmatch(pattern, equation)
        if match:
            return (*match.groups(), elided)
    raise ValueError(f"`equation` must be of the form {_FORMS}, got {equation!r}.")


def einsum_shapes(equation: str, bias_axes: str | None, input_shape: Sequence[int | None],
                  output_shape: int | Sequence[int | None]) -> EinsumShapes:
    """Keras `EinsumDense`'s kernel, bias and output shapes, by Keras's rules.

    Args:
        equation: the einsum of the input and the kernel (`_FORMS`); its first input letter
            (or the ellipsis) is the batch axis.
        bias_axes: output letters the bias varies along (it is broadcast over the others from
            its first letter on), or None (no bias).
        input_shape: the input's shape, batch first; None for an unknown size.
        output_shape: the output's shape without the batch axis (and without the elided
            axes); None for a size the input gives.

    Returns:
        The shapes.

    Raises:
        TypeError: an argument of the wrong type.
        ValueError: an equation Keras refuses, letters that match nothing, output sizes that
            contradict the input's, bias letters not in the output.
    """
    x_spec, w_spec, y_spec, elision = _split(equation)
    partial = (output_shape,) if _is_int(output_shape) else output_shape
    if (not isinstance(partial, Sequence) or isinstance(partial, str)
            or not all(v is None or (_is_int(v) and v >= 1) for v in partial)):
        raise TypeError(f"`output_shape` must be an int or a sequence of ints >= 1 (or None: the input's size), got "
                        f"{output_shape!r}.")
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(x_spec)
    if elided < (1 if elision == "left" else 0) or (elided and not elision):
        raise ValueError(f"`equation` {equation!r} names {len(x_spec)} input axes (and the batch axis, if it "
                         f"starts with '...'); the input has shape {input_shape}.")
    output = [input_shape[0], *partial]
    if elision == "left":
        output[1:1] = input_shape[1:elided]
    elif elision == "right":
        output += input_shape[len(input_shape) - elided:]
    offset = elided if elision == "left" else 0
    x_axis = {c: i + offset for i, c in enumerate(x_spec)}
    y_axis = {c: i + offset for i, c in enumerate(y_spec)}
    if len(output) != len(y_spec) + elided:
        which = "letter" if elision == "left" else "letter after the batch letter"
        raise ValueError(f"`output_shape` {output_shape!r} must give "
                         f"{len(y_spec) - (elision != 'left')} sizes, one per output {which} of {equation!r}.")
    for c in x_spec:
        if c in y_axis and output[y_axis[c]] is not None and input_shape[x_axis[c]] is not None \
                and output[y_axis[c]] != input_shape[x_axis[c]]:
            raise ValueError(f"`output_shape` {output_shape!r} gives axis '{c}' of {equation!r} size "
                             f"{output[y_axis[c]]}, but the input (shape {input_shape}) has {input_shape[x_axis[c]]}.")
    for c in y_spec:
        if c not in x_spec and c not in w_spec:
            raise ValueError(f"Output letter '{c}' of `equation` {equation!r} is in neither the input nor the kernel.")
    kernel, input_axes, output_axes, from_input = [], [], [], []
    for i, c in enumerate(w_spec):
        if c in y_axis:
            kernel.append(output[y_axis[c]])
            output_axes.append(i)
        elif c in x_axis:
            kernel.append(input_shape[x_axis[c]])
            input_axes.append(i)
            from_input.append(x_axis[c])
        else:
            raise ValueError(f"Kernel letter '{c}' of `equation` {equation!r} is in neither the input nor the output.")
    bias = None
    if bias_axes is not None:
        if not isinstance(bias_axes, str) or not bias_axes or any(c not in y_spec for c in bias_axes):
            raise ValueError(f"`bias_axes` must be None or letters of the output '{y_spec}' of {equation!r}, got "
                             f"{bias_axes!r}.")
        first = min(y_spec.index(c) for c in bias_axes)
        bias = tuple(output[y_axis[c]] if c in bias_axes else 1 for c in y_spec[first:])
        if elision == "right":
            bias += (1,) * elided
    return EinsumShapes(tuple(kernel), bias, tuple(output), tuple(input_axes), tuple(output_axes), tuple(from_input))


def einsum_dense(x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None, *, equation: str,
                 precision: lax.PrecisionLike = None) -> jax.Array:
    """Keras `EinsumDense`'s op: `einsum(equation, x, kernel) + bias`.

    Args:
        x: the input, its axes as `equation`'s first operand names them (batch first).
        kernel: the second operand.
        bias: an array broadcast (from the right) to the output, e.g. `einsum_shapes(...).bias`,
            or None.
        equation: `_FORMS`, e.g. "abc,cd->abd" ((batch, seq, in) -> (batch, seq, out)).
        precision: passed to the product (`lax.Precision`).

    Returns:
        The einsum's output, in `jnp.result_type(x, kernel, bias)`.

    Raises:
        TypeError: a bad `equation` or `precision` type.
        ValueError: an equation Keras refuses, or operands that do not fit it.
    """
    x_spec, w_spec, y_spec, elision = _split(equation)
    check_precision(precision)
    if kernel.ndim != len(w_spec) or x.ndim < len(x_spec) or (not elision and x.ndim != len(x_spec)):
        raise ValueError(f"`equation` {equation!r} does not fit x of shape {tuple(x.shape)} and kernel of shape "
                         f"{tuple(kernel.shape)}.")
    offset = x.ndim - len(x_spec) if elision == "left" else 0
    for i, c in enumerate(w_spec):
        if c in x_spec and x.shape[x_spec.index(c) + offset] != kernel.shape[i]:
            raise ValueError(f"`equation` {equation!r}: axis '{c}' has size {x.shape[x_spec.index(c) + offset]} in x "
                             f"(shape {tuple(x.shape)}) but {kernel.shape[i]} in the kernel (shape "
                             f"{tuple(kernel.shape)}).")
    x, kernel, bias = promote(x, kernel, bias)
    y = jnp.einsum(equation, x, kernel, precision=precision)
    if bias is not None:
        if bias.ndim > y.ndim or any(b not in (1, n) for b, n in zip(bias.shape[::-1], y.shape[::-1])):
            raise ValueError(f"`bias` of shape {tuple(bias.shape)} does not broadcast to the output of shape "
                             f"{tuple(y.shape)}.")
    return add_bias(y, bias)
