"""Dense (fully connected) layer on the last axis."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers.functional._checks import check_bias, check_kernel, promote


def dense(
    x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None, *, precision: lax.PrecisionLike = None
) -> jax.Array:
    """`x @ kernel + bias` over the last axis, as Keras `Dense`.

    Args:
        x: (..., in_features).
        kernel: (in_features, units).
        bias: (units,), or None.
        precision: passed to the matrix product (`lax.Precision`).

    Returns:
        (..., units), in the dtype `jnp.result_type(x, kernel, bias)` (mixed dtypes
        promoted first, as `conv`).

    Raises:
        ValueError: `x` not ending in `in_features`, or a kernel or bias of the wrong shape.
    """
    check_kernel(kernel, 2, "(in_features, units)")
    if x.ndim < 1 or x.shape[-1] != kernel.shape[0]:
        raise ValueError(
            f"`x` must end in {kernel.shape[0]} features to match `kernel` of shape "
            f"{tuple(kernel.shape)}, got x shape {tuple(x.shape)}."
        )
    check_bias(bias, kernel.shape[1], tuple(kernel.shape))
    x, kernel, bias = promote(x, kernel, bias)
    y = jnp.matmul(x, kernel, precision=precision)
    return y if bias is None else y + bias
