"""Dense (fully connected) layer on the last axis."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxlayers.functional._checks import check_bias


def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    """`x @ kernel + bias` over the last axis, as Keras `Dense`.

    x: (..., in_features); kernel: (in_features, units); bias: (units,) -> (..., units).
    """
    if kernel.ndim != 2:
        raise ValueError(f"`kernel` must be (in_features, units), got shape {tuple(kernel.shape)}.")
    if x.ndim < 1 or x.shape[-1] != kernel.shape[0]:
        raise ValueError(
            f"`x` must end in {kernel.shape[0]} features to match `kernel` of shape "
            f"{tuple(kernel.shape)}, got x shape {tuple(x.shape)}."
        )
    check_bias(bias, kernel.shape[1], tuple(kernel.shape))
    y = jnp.matmul(x, kernel)
    return y if bias is None else y + bias
