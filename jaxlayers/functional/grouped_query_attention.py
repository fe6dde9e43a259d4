"""Keras `GroupQueryAttention`'s op: query heads in groups sharing key/value heads."""
from __future__ import annotations

import jax

from jaxlayers._args import check_array
from jaxlayers.functional.einsum_dense import einsum_dense
from jaxlayers.functional.multi_head_attention import COMBINE, PROJECT, attend, check_weights, sequence_mask


def grouped_query_attention(query: jax.Array, value: jax.Array, key: jax.Array | None = None, *,
                            query_kernel: jax.Array, key_kernel: jax.Array, value_kernel: jax.Array,
                            output_kernel: jax.Array, query_bias: jax.Array | None = None,
                            key_bias: jax.Array | None = None, value_bias: jax.Array | None = None,
                            output_bias: jax.Array | None = None, gate_kernel: jax.Array | None = None,
                            gate_bias: jax.Array | None = None, attention_mask: jax.Array | None = None,
                            query_mask: jax.Array | None = None, value_mask: jax.Array | None = None,
                            key_mask: jax.Array | None = None, use_causal_mask: bool = False,
                            sliding_window: int | None = None, dropout: float = 0.0,
                            rng_key: jax.Array | None = None, return_attention_scores: bool = False,
                            flash_attention: bool = False) -> tuple[jax.Array, jax.Array | None]:
    """Keras `GroupQueryAttention`: projections, key/value heads shared by groups of query heads, output projection.

    Query head n attends with key/value head n // (heads // kv_heads), as Keras's `repeat`.
    Without scores and dropout it runs `jax.nn.dot_product_attention` on the grouped heads (as
    Keras's JAX backend; fully masked rows get uniform weights), else einsum and a softmax
    whose masked weights are zeros (as Keras's).

    Args:
        query: (batch, T, dim_q).
        value: (batch, S, dim_v).
        key: (batch, S, dim_k); None: `value`.
        query_kernel: (dim_q, heads, head_dim).
        key_kernel, value_kernel: (dim_k, kv_heads, head_dim), (dim_v, kv_heads, head_dim); `heads`
            a multiple of `kv_heads`.
        output_kernel: (heads, head_dim, out).
        query_bias: (heads, head_dim), or None.
        key_bias, value_bias: (kv_heads, head_dim), or None.
        output_bias: (out,), or None.
        gate_kernel, gate_bias: (dim_q, heads, head_dim), (heads, head_dim): Keras's `use_gate`, the
            context times sigmoid(query's gate projection) before the output projection; None: no gate.
        attention_mask: (batch, T, S) bool: False pairs get no weight.
        query_mask: (batch, T) bool: False rows attend to nothing.
        value_mask, key_mask: (batch, S) bool: False positions get no weight.
        use_causal_mask: whether query i attends only to positions <= i.
        sliding_window: query i attends only to positions j with |i - j| < sliding_window; None: all.
        dropout: the fraction of attention weights dropped (with `rng_key` only: training).
        rng_key: a PRNG key for dropout; None: no dropout.
        return_attention_scores: whether to compute the weights (batch, heads, T, S).
        flash_attention: whether to run cuDNN's flash attention (a GPU; no scores, no dropout).

    Returns:
        output (batch, T, out) and the weights (batch, heads, T, S), or None unless asked.

    Raises:
        TypeError: a non-array input.
        ValueError: bad shapes, `heads` not a multiple of `kv_heads`, or flash attention with
            scores or dropout.
    """
    key = value if key is None else key
    check_weights("grouped_query_attention", query_kernel=query_kernel, key_kernel=key_kernel,
                  value_kernel=value_kernel, output_kernel=output_kernel, query_bias=query_bias, key_bias=key_bias,
                  value_bias=value_bias, output_bias=output_bias, gate_kernel=gate_kernel, gate_bias=gate_bias)
    for name, x in (("query", query), ("value", value), ("key", key)):
        check_array(x, "grouped_query_attention", name)
        if x.ndim != 3:
            raise ValueError(f"grouped_query_attention `{name}` must be (batch, time, features), got shape "
                             f"{tuple(x.shape)}.")
    if key.shape[:2] != value.shape[:2] or query.shape[0] != value.shape[0]:
        raise ValueError(f"grouped_query_attention `query`, `value` and `key` must share batch, and `value` and "
                         f"`key` time, got shapes {tuple(query.shape)}, {tuple(value.shape)} and {tuple(key.shape)}.")
    if flash_attention and (dropout > 0 or return_attention_scores):
        raise ValueError("grouped_query_attention: `flash_attention` gives neither attention scores nor dropout "
                         f"(as Keras's), got dropout={dropout!r}, return_attention_scores={return_attention_scores!r}.")
    if flash_attention and jax.default_backend() != "gpu":
        raise ValueError(f"grouped_query_attention: `flash_attention=True` needs a GPU (cuDNN's kernel), got the "
                         f"{jax.default_backend()!r} backend; pass False or None for XLA's attention.")
    q = einsum_dense(query, query_kernel, query_bias, equation=PROJECT)
    k = einsum_dense(key, key_kernel, key_bias, equation=PROJECT)
    v = einsum_dense(value, value_kernel, value_bias, equation=PROJECT)
    heads, kv_heads = q.shape[2], k.shape[2]
    if k.shape[2:] != v.shape[2:] or q.shape[3] != k.shape[3] or heads % kv_heads:
        raise ValueError(f"grouped_query_attention: the query projection must be (heads, head_dim) and the key's and "
                         f"value's (kv_heads, head_dim), heads a multiple of kv_heads, got {q.shape[2:]}, "
                         f"{k.shape[2:]} and {v.shape[2:]}.")
    mask = sequence_mask(query.shape[0], query.shape[1], value.shape[1], attention_mask, query_mask, value_mask,
                         key_mask, use_causal_mask, sliding_window)
    context, scores = attend(q, k, v, mask, dropout=dropout, rng_key=rng_key,
                             return_attention_scores=return_attention_scores,
                             implementation="cudnn" if flash_attention else None)
    if gate_kernel is not None:
        context = context * jax.nn.sigmoid(einsum_dense(query, gate_kernel, gate_bias, equation=PROJECT))
    return einsum_dense(context, output_kernel, output_bias, equation=COMBINE), scores
