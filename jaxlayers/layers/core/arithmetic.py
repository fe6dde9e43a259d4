"""Elementwise `keras.ops` arithmetic on symbolic tensors (`x + 3.0`, `inputs + x`) as a layer.

Keras records such a call in a functional model as an operation node, not a layer;
`jaxlayers.keras` converts it to `Arithmetic` and back.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers.layers.layer import Layer

# keras.ops (and jax.numpy) function name -> number of operands
OPS: dict[str, int] = {"add": 2, "subtract": 2, "multiply": 2, "divide": 2, "true_divide": 2, "power": 2,
                       "maximum": 2, "minimum": 2, "negative": 1, "absolute": 1, "square": 1, "sqrt": 1}


class Arithmetic(Layer):
    """`keras.ops.<op>` of tensors and constants, elementwise with NumPy broadcasting.

    `layer(inputs)` takes a list of the tensor operands (one or two); they fill the None
    slots of `operands` in order, e.g. `Arithmetic("add", (None, 3.0))([x])` is `x + 3.0`
    and `Arithmetic("multiply")([x, y])` is `x * y`. Python numbers are weakly typed, as
    in Keras and JAX: `x + 3.0` keeps x's dtype.

    Args:
        op: the operation: "add", "subtract", "multiply", "divide", "true_divide",
            "power", "maximum", "minimum", "negative", "absolute", "square" or "sqrt".
        operands: one entry per operand of `op`: None for a tensor input, or a number.
        dtype: the computation's dtype (keyword-only); None: the inputs'.
    """

    keeps_grid = True
    single_input = False
    keras_name = ""  # a keras.ops call, not a Keras layer

    op: str = "add"
    operands: tuple[float | None, ...] = (None, None)

    def check(self) -> None:
        super().check()
        if self.op not in OPS:
            raise ValueError(f"`op` must be one of {sorted(OPS)}, got {self.op!r}.")
        operands = self.operands
        if (not isinstance(operands, Sequence) or len(operands) != OPS[self.op]
                or not all(v is None or (isinstance(v, numbers.Number) and not isinstance(v, bool)) for v in operands)
                or None not in operands):
            raise ValueError(f"`operands` must give {OPS[self.op]} entries for {self.op!r}: None for each tensor "
                             f"(at least one) or a number, got {operands!r}.")

    def call(self, inputs: Sequence[jax.Array]) -> jax.Array:
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        wanted = sum(v is None for v in self.operands)
        if len(tensors) != wanted:
            raise ValueError(f"Arithmetic({self.op!r}, {self.operands!r}) takes {wanted} tensor(s), got "
                             f"{len(tensors)}.")
        filled = iter(tensors)
        args: list[Any] = [next(filled) if v is None else v for v in self.operands]
        return getattr(jnp, self.op)(*args)
