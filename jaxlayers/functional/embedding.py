"""Embedding lookups and the masks of padded sequences, as Keras `Embedding` and `Masking`."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def embedding(ids: jax.Array, embeddings: jax.Array) -> jax.Array:
    """Keras `Embedding`: the rows of `embeddings` at `ids`.

    Args:
        ids: integer indices, any shape (floating ones are cast to int32, as Keras does);
            indices outside [-input_dim, input_dim) give NaN rows (`jnp.take`, as Keras on JAX).
        embeddings: (input_dim, output_dim).

    Returns:
        (*ids.shape, output_dim), in the dtype of `embeddings`.

    Raises:
        ValueError: `embeddings` that is not 2-D.
        TypeError: `ids` that are neither integers nor floats.
    """
    if embeddings.ndim != 2:
        raise ValueError(f"`embeddings` must be (input_dim, output_dim), got shape {tuple(embeddings.shape)}.")
    ids = jnp.asarray(ids)
    if jnp.issubdtype(ids.dtype, jnp.floating):
        ids = ids.astype(jnp.int32)
    elif not jnp.issubdtype(ids.dtype, jnp.integer):
        raise TypeError(f"`ids` must be integers (or floats, cast to int32), got dtype {ids.dtype}.")
    return jnp.take(embeddings, ids, axis=0)


def masking(x: jax.Array, mask_value: Any = 0.0) -> tuple[jax.Array, jax.Array]:
    """Keras `Masking`: the steps whose features all equal `mask_value` zeroed, and the mask.

    Args:
        x: (batch, time, ..., features).
        mask_value: the padding value.

    Returns:
        `(outputs, mask)`: x with those steps zeroed, and the mask (batch, time, ...),
        False at those steps.
    """
    mask = jnp.any(x != mask_value, axis=-1)
    return jnp.where(mask[..., None], x, jnp.zeros((), x.dtype)), mask
