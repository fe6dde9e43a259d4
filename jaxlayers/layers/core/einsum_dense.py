"""Keras `EinsumDense`."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
from flax.linen import initializers as flax_init
from jax import lax

from jaxlayers import activations, initializers
from jaxlayers.functional._checks import check_precision
from jaxlayers.functional.einsum_dense import einsum_dense, einsum_shapes
from jaxlayers.layers.layer import Weight, WeightedLayer

# Keras's VarianceScaling initializers: EinsumDense gives them the kernel's fan axes.
_FANNED = {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal"}


def einsum_weights(equation: str, output_shape: int | tuple[int | None, ...], bias_axes: str | None,
                   input_shape: Sequence[int | None], kernel_initializer: initializers.Initializer,
                   bias_initializer: initializers.Initializer) -> dict[str, Weight | None]:
    """Keras `EinsumDense`'s `kernel` and `bias` (None without `bias_axes`) for this input.

    Args:
        equation, output_shape, bias_axes, kernel_initializer, bias_initializer: as `EinsumDense`'s.
        input_shape: the input's shape, None on the axes the kernel takes no size from.

    Returns:
        Their declarations for `build`.

    Raises:
        ValueError: sizes the kernel or bias needs are missing, or given where none is taken.
    """
    shapes = einsum_shapes(equation, bias_axes, tuple(input_shape), output_shape)
    wanted = tuple(n if a in shapes.from_input else None for a, n in enumerate(input_shape))
    if tuple(input_shape) != wanted or None in shapes.kernel or None in (shapes.bias or ()):
        raise ValueError(f"EinsumDense({equation!r}, output_shape={output_shape!r}) needs the sizes of "
                         f"input axes {shapes.from_input} (`input_shape` {wanted} for this input, None on the "
                         f"others) and an `output_shape` giving the sizes of the kernel's and bias's output "
                         f"letters; got input_shape {tuple(input_shape)}, kernel {shapes.kernel}, bias "
                         f"{shapes.bias}.")
    kernel_init = kernel_initializer
    if isinstance(kernel_init, str) and kernel_init.lower() in _FANNED:
        kernel_init = getattr(flax_init, kernel_init.lower())(in_axis=shapes.input_axes, out_axis=shapes.output_axes)
    return {"kernel": Weight(shapes.kernel, kernel_init, argument="kernel_initializer"),
            "bias": None if shapes.bias is None else Weight(shapes.bias, bias_initializer)}


class EinsumDense(WeightedLayer):
    """Keras `EinsumDense(equation, output_shape, activation, bias_axes)`: `einsum(equation, x, kernel) + bias`.

    Kernel and bias shapes follow from the equation as in Keras: a kernel letter takes its
    size from `output_shape` if the output has it, else from the input; the bias runs
    along the output letters from the first of `bias_axes` on (size 1 off `bias_axes`).
    E.g. "abc,cd->abd", output_shape (None, 64): x (batch, seq, in) -> (batch, seq, 64),
    kernel (in, 64). Glorot, He and LeCun kernel initializers take the kernel's input and
    output letters as fan-in and fan-out axes, as Keras.

    Args:
        equation: "X,Y->Z", "...X,Y->...Z" or "XX...,Y->Z..." (letters), the input first.
        output_shape: the output's shape without the batch (and elided) axes, or an int;
            None for a size the input gives.
        activation: a Keras activation name, a callable or None (linear), applied last.
        bias_axes: output letters the bias varies along, or None (no bias).
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        dtype: the computation's dtype (keyword-only); None: promoted from the input and weights.
        param_dtype: the weights' dtype (keyword-only).
        precision: passed to the product (keyword-only; `lax.Precision`).
    """

    input_sizes = {"input_shape": "the input's shape, None on the axes the kernel takes no size from (the batch "
                                  "axis, ...), e.g. (None, None, 16) for 'abc,cd->abd'."}

    equation: str
    output_shape: int | tuple[int | None, ...]
    activation: activations.Activation = None
    bias_axes: str | None = None
    kernel_initializer: initializers.Initializer = "glorot_uniform"
    bias_initializer: initializers.Initializer = "zeros"
    _: dataclasses.KW_ONLY
    precision: lax.PrecisionLike = None

    def check(self) -> None:
        super().check()
        activations.get(self.activation)
        initializers.get(self.kernel_initializer, "kernel_initializer")
        initializers.get(self.bias_initializer, "bias_initializer")
        check_precision(self.precision)
        einsum_shapes(self.equation, self.bias_axes, (None,) * self._rank(), self.output_shape)

    def _rank(self) -> int:
        """The smallest input rank `equation` takes (its input letters, plus one axis for an ellipsis)."""
        if not isinstance(self.equation, str):
            return 0
        spec = self.equation.split(",")[0]
        return len(spec.replace("...", "")) + ("..." in spec)

    def sizes(self, x: Any) -> dict[str, Any]:
        shapes = einsum_shapes(self.equation, self.bias_axes, x.shape, self.output_shape)
        return {"input_shape": tuple(n if a in shapes.from_input else None for a, n in enumerate(x.shape))}

    def build(self, input_shape: Sequence[int | None]) -> dict[str, Weight | None]:
        return einsum_weights(self.equation, self.output_shape, self.bias_axes, input_shape,
                              self.kernel_initializer, self.bias_initializer)

    def call(self, x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> jax.Array:
        einsum_shapes(self.equation, self.bias_axes, x.shape, self.output_shape)  # Keras's checks on this input
        x, kernel, bias = self.promote(x, kernel, bias)
        return activations.get(self.activation)(einsum_dense(x, kernel, bias, equation=self.equation,
                                                             precision=self.precision))
