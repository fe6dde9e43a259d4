"""Dense (fully connected) layer on the last axis."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers.functional._checks import add_bias, check_arrays, check_bias, check_kernel, check_precision, promote


def dense(
    x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None, *, precision: lax.PrecisionLike = None
) -> jax.Array:
    """`x @ kernel + bias` over the last axis, as Keras `Dense`.

    Args:
        x: (batch, ..., in_features): at least 2 dimensions, as Keras `Dense`.
        kernel: (in_features, units).
        bias: (units,), or None.
        precision: passed to the matrix product: None, a `lax.Precision` or its name
            ("highest", "float32", ...), a tuple of two of those, a `lax.DotAlgorithm`,
            or a `lax.DotAlgorithmPreset` or its name.

    Returns:
        (..., units), in the dtype `jnp.result_type(x, kernel, bias)` (mixed dtypes
        promoted first, as `conv`).

    Raises:
        TypeError: a `precision` of the wrong type.
        ValueError: `x` with fewer than 2 dimensions or not ending in `in_features`, a
            kernel or bias of the wrong shape, or an unknown `precision` name.
    """
    check_arrays("dense", x=x, kernel=kernel, bias=bias)
    check_kernel(kernel, 2, "(in_features, units)")
    check_precision(precision)
    if x.ndim < 2:
        raise ValueError(
            f"`x` must have at least 2 dimensions (batch, ..., in_features), as Keras `Dense`, "
            f"got shape {tuple(x.shape)}."
        )
    if x.shape[-1] != kernel.shape[0]:
        raise ValueError(
            f"`x` must end in {kernel.shape[0]} features to match `kernel` of shape "
            f"{tuple(kernel.shape)}, got x shape {tuple(x.shape)}."
        )
    check_bias(bias, kernel.shape[1], tuple(kernel.shape))
    x, kernel, bias = promote(x, kernel, bias)
    y = jnp.matmul(x, kernel, precision=precision)
    return add_bias(y, bias)
