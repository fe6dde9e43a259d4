"""Keras's `Attention` (Luong) and `AdditiveAttention` (Bahdanau) as pure functions.

query: (batch, Tq, dim), value: (batch, Tv, dim_v), key: (batch, Tv, dim) (default value).
Both return `(output (batch, Tq, dim_v), weights (batch, Tq, Tv))`, the softmax weights
being Keras's `return_attention_scores`.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers._args import check_array
from jaxlayers.functional.dropout import dropout as _dropout

SCORE_MODES = ("dot", "concat")


def _check_inputs(op: str, query: Any, value: Any, key: Any) -> jax.Array:
    for name, x in (("query", query), ("value", value), ("key", key)):
        check_array(x, op, name)
        if x.ndim != 3:
            raise ValueError(f"{op} `{name}` must be (batch, time, features), got shape {tuple(x.shape)}.")
    if key.shape[:2] != value.shape[:2]:
        raise ValueError(f"{op} `key` and `value` must share (batch, Tv), got shapes "
                         f"{tuple(key.shape)} and {tuple(value.shape)}.")
    if query.shape[0] != key.shape[0] or query.shape[-1] != key.shape[-1]:
        raise ValueError(f"{op} `query` (batch, Tq, dim) and `key` (batch, Tv, dim) must share batch and dim, got "
                         f"shapes {tuple(query.shape)} and {tuple(key.shape)}.")
    return key


def _check_mask(mask: Any, name: str, shape: tuple[int, int]) -> jax.Array | None:
    if mask is None:
        return None
    mask = jnp.asarray(mask)
    if tuple(mask.shape) != shape:
        raise ValueError(f"`{name}` must be a (batch, time) mask of shape {shape}, got shape {tuple(mask.shape)}.")
    return mask.astype(bool)


def _apply(scores: jax.Array, value: jax.Array, query_mask: Any, value_mask: Any, use_causal_mask: bool,
           dropout: float, rng_key: jax.Array | None, batch_tq: tuple[int, int]) -> tuple[jax.Array, jax.Array]:
    """Masks, softmax over Tv, optional dropout of the weights, weights @ value, query mask."""
    batch, tq = batch_tq
    tv = value.shape[1]
    query_mask = _check_mask(query_mask, "query_mask", (batch, tq))
    mask = _check_mask(value_mask, "value_mask", (batch, tv))
    mask = None if mask is None else mask[:, None, :]
    if use_causal_mask:
        causal = jnp.tril(jnp.ones((tq, tv), bool))[None]
        mask = causal if mask is None else mask & causal
    if mask is not None:  # Keras subtracts a large number where masked
        big = 65504.0 if scores.dtype == jnp.float16 else 1.0e9
        scores = jnp.where(mask, scores, scores - big)
    weights = jax.nn.softmax(scores, axis=-1)
    if dropout and rng_key is not None:
        weights = _dropout(weights, dropout, rng_key)
    out = jnp.einsum("bqv,bvd->bqd", weights, value)
    if query_mask is not None:
        out = jnp.where(query_mask[..., None], out, 0)
    return out, weights


def attention(query: jax.Array, value: jax.Array, key: jax.Array | None = None, *, score_mode: str = "dot",
              scale: jax.Array | None = None, concat_score_weight: jax.Array | None = None,
              query_mask: jax.Array | None = None, value_mask: jax.Array | None = None,
              use_causal_mask: bool = False, dropout: float = 0.0,
              rng_key: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Keras `Attention`: dot-product ("dot") or tanh-sum ("concat") scores, softmax over Tv.

    Args:
        query: (batch, Tq, dim).
        value: (batch, Tv, dim_v).
        key: (batch, Tv, dim); None: `value`.
        score_mode: "dot" (q . k, times `scale`) or "concat" (`concat_score_weight` *
            sum(tanh(scale * (q + k)))).
        scale: the scalar `scale` weight (Keras's `use_scale`); None: no scaling.
        concat_score_weight: the scalar weight of "concat" scores (required there).
        query_mask: (batch, Tq) bool; False rows of the output are zeros.
        value_mask: (batch, Tv) bool; False positions get no weight.
        use_causal_mask: whether query i attends only to positions <= i.
        dropout: the fraction of weights dropped (with `rng_key` only: training).
        rng_key: a PRNG key for dropout; None: no dropout (inference).

    Returns:
        output (batch, Tq, dim_v) and weights (batch, Tq, Tv).

    Raises:
        TypeError: a non-array input.
        ValueError: bad shapes, `score_mode`, or a missing `concat_score_weight`.
    """
    if score_mode not in SCORE_MODES:
        raise ValueError(f"`score_mode` must be one of {SCORE_MODES}, got {score_mode!r}.")
    key = _check_inputs("attention", query, value, value if key is None else key)
    if score_mode == "dot":
        scores = jnp.einsum("bqd,bvd->bqv", query, key)
        if scale is not None:
            scores = scores * scale
    else:
        if concat_score_weight is None:
            raise ValueError("`concat_score_weight` is required with score_mode='concat', got None.")
        summed = query[:, :, None, :] + key[:, None, :, :]
        if scale is not None:
            summed = scale * summed
        scores = concat_score_weight * jnp.sum(jnp.tanh(summed), axis=-1)
    return _apply(scores, value, query_mask, value_mask, use_causal_mask, dropout, rng_key, query.shape[:2])


def additive_attention(query: jax.Array, value: jax.Array, key: jax.Array | None = None, *,
                       scale: jax.Array | None = None, query_mask: jax.Array | None = None,
                       value_mask: jax.Array | None = None, use_causal_mask: bool = False, dropout: float = 0.0,
                       rng_key: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
    """Keras `AdditiveAttention`: scores sum(scale * tanh(q + k)) over dim, softmax over Tv.

    Args:
        query: (batch, Tq, dim).
        value: (batch, Tv, dim_v).
        key: (batch, Tv, dim); None: `value`.
        scale: (dim,), Keras's `use_scale` weight; None: ones.
        query_mask, value_mask, use_causal_mask, dropout, rng_key: as in `attention`.

    Returns:
        output (batch, Tq, dim_v) and weights (batch, Tq, Tv).

    Raises:
        TypeError: a non-array input.
        ValueError: bad shapes, or a `scale` not of shape (dim,).
    """
    key = _check_inputs("additive_attention", query, value, value if key is None else key)
    tanh = jnp.tanh(query[:, :, None, :] + key[:, None, :, :])
    if scale is not None:
        if tuple(jnp.shape(scale)) != (query.shape[-1],):
            raise ValueError(f"`scale` must have shape ({query.shape[-1]},), got {tuple(jnp.shape(scale))}.")
        tanh = scale * tanh
    scores = jnp.sum(tanh, axis=-1)
    return _apply(scores, value, query_mask, value_mask, use_causal_mask, dropout, rng_key, query.shape[:2])
