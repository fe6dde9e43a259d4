"""Keras `MultiHeadAttention`'s op on (batch, time, features) inputs (attention over time)."""
from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from jaxlayers._args import check_array
from jaxlayers.functional.dropout import dropout as _dropout
from jaxlayers.functional.einsum_dense import einsum_dense

PROJECT = "abc,cde->abde"  # (batch, time, dim) x (dim, heads, size) -> (batch, time, heads, size)
COMBINE = "abcd,cde->abe"  # (batch, time, heads, value_dim) x (heads, value_dim, out) -> (batch, time, out)


def _mask(mask: jax.Array | None, name: str, shape: tuple[int, ...]) -> jax.Array | None:
    if mask is None:
        return None
    mask = jnp.asarray(mask)
    if mask.ndim != len(shape) or any(m not in (1, n) for m, n in zip(mask.shape, shape)):
        raise ValueError(f"`{name}` must broadcast to shape {shape}, got shape {tuple(mask.shape)}.")
    return mask.astype(bool)


def multi_head_attention(query: jax.Array, value: jax.Array, key: jax.Array | None = None, *,
                         query_kernel: jax.Array, key_kernel: jax.Array, value_kernel: jax.Array,
                         output_kernel: jax.Array, query_bias: jax.Array | None = None,
                         key_bias: jax.Array | None = None, value_bias: jax.Array | None = None,
                         output_bias: jax.Array | None = None, attention_mask: jax.Array | None = None,
                         query_mask: jax.Array | None = None, value_mask: jax.Array | None = None,
                         key_mask: jax.Array | None = None, use_causal_mask: bool = False, dropout: float = 0.0,
                         rng_key: jax.Array | None = None,
                         return_attention_scores: bool = False) -> tuple[jax.Array, jax.Array | None]:
    """Keras `MultiHeadAttention` (default `attention_axes`): projections, scaled dot-product, output projection.

    Without scores and with `dropout` 0 it runs `jax.nn.dot_product_attention` (as Keras's
    JAX backend; fully masked rows get uniform weights), else einsum and a softmax whose
    masked weights are zeros (as Keras's).

    Args:
        query: (batch, T, dim_q).
        value: (batch, S, dim_v).
        key: (batch, S, dim_k); None: `value`.
        query_kernel, key_kernel: (dim_q, heads, key_dim), (dim_k, heads, key_dim).
        value_kernel: (dim_v, heads, value_dim).
        output_kernel: (heads, value_dim, out).
        query_bias, key_bias, value_bias: (heads, key_dim) / (heads, value_dim), or None.
        output_bias: (out,), or None.
        attention_mask: (batch, T, S) bool: False pairs get no weight.
        query_mask: (batch, T) bool, Keras's mask of the query: False rows attend to nothing.
        value_mask: (batch, S) bool, Keras's mask of the value: False positions get no weight.
        key_mask: (batch, S) bool, as `value_mask` (Keras's mask of the key).
        use_causal_mask: whether query i attends only to positions <= i.
        dropout: the fraction of attention weights dropped (with `rng_key` only: training).
        rng_key: a PRNG key for dropout; None: no dropout.
        return_attention_scores: whether to compute the weights (batch, heads, T, S).

    Returns:
        output (batch, T, out) and the weights (batch, heads, T, S), or None unless asked.

    Raises:
        TypeError: a non-array input.
        ValueError: bad shapes.
    """
    key = value if key is None else key
    for name, x in (("query", query), ("value", value), ("key", key)):
        check_array(x, "multi_head_attention", name)
        if x.ndim != 3:
            raise ValueError(f"multi_head_attention `{name}` must be (batch, time, features), got shape "
                             f"{tuple(x.shape)}.")
    if key.shape[:2] != value.shape[:2] or query.shape[0] != value.shape[0]:
        raise ValueError(f"multi_head_attention `query`, `value` and `key` must share batch, and `value` and `key` "
                         f"time, got shapes {tuple(query.shape)}, {tuple(value.shape)} and {tuple(key.shape)}.")
    batch, tq, ts = query.shape[0], query.shape[1], value.shape[1]
    masks = [_mask(attention_mask, "attention_mask", (batch, tq, ts))]
    masks.append(None if query_mask is None else _mask(query_mask, "query_mask", (batch, tq))[:, :, None])
    for name, m in (("value_mask", value_mask), ("key_mask", key_mask)):
        masks.append(None if m is None else _mask(m, name, (batch, ts))[:, None, :])
    if use_causal_mask:
        masks.append(jnp.tril(jnp.ones((tq, ts), bool))[None])
    present = [m for m in masks if m is not None]
    mask = functools.reduce(jnp.logical_and, present) if present else None
    q = einsum_dense(query, query_kernel, query_bias, equation=PROJECT)
    k = einsum_dense(key, key_kernel, key_bias, equation=PROJECT)
    v = einsum_dense(value, value_kernel, value_bias, equation=PROJECT)
    if q.shape[2:] != k.shape[2:] or q.shape[2] != v.shape[2]:
        raise ValueError(f"multi_head_attention: query and key projections must be (heads, key_dim) alike and value's "
                         f"share the heads, got {q.shape[2:]}, {k.shape[2:]} and {v.shape[2:]}.")
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = None
    explicit = dropout > 0 or return_attention_scores  # Keras's einsum path: masked weights are zeros
    if not explicit and k.shape[-1] == v.shape[-1]:
        context = jax.nn.dot_product_attention(q, k, v, mask=None if mask is None else mask[:, None], scale=scale)
    else:
        logits = jnp.einsum("aecd,abcd->acbe", k, q * jnp.asarray(scale, q.dtype))
        if mask is not None:
            big = (-3e4 if logits.dtype == jnp.float16 else -1e9) if explicit else -0.7 * jnp.finfo(logits.dtype).max
            logits = jnp.where(mask[:, None], logits, jnp.asarray(big, logits.dtype))
        weights = jax.nn.softmax(logits, axis=-1)
        if explicit and mask is not None:
            weights = jnp.where(mask[:, None], weights, 0.0)
        scores = weights if return_attention_scores else None
        if dropout and rng_key is not None:
            weights = _dropout(weights, dropout, rng_key)
        context = jnp.einsum("acbe,aecd->abcd", weights, v)
    return einsum_dense(context, output_kernel, output_bias, equation=COMBINE), scores
