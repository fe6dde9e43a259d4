"""Keras `GroupQueryAttention` (grouped-query attention)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers import initializers
from jaxlayers._args import check_bool
from jaxlayers.layers.attention.projected import ProjectedAttention, positive
from jaxlayers.layers.layer import Weight


class GroupedQueryAttention(ProjectedAttention):
    """Keras `GroupQueryAttention(head_dim, num_query_heads, num_key_value_heads, dropout, use_bias, ...)`.

    `gqa(query, value, key=None, *, attention_mask=None, query_mask=None, value_mask=None,
    key_mask=None, return_attention_scores=False, use_causal_mask=False)`: query
    (batch, T, dim_q), value (batch, S, dim_v), key (batch, S, dim_k) (default value),
    attention_mask (batch, T, S), query_mask (batch, T), value_mask and key_mask (batch, S);
    returns (batch, T, dim_q), with the weights (batch, num_query_heads, T, S) when asked.
    Query head n attends with key/value head n // (num_query_heads // num_key_value_heads).
    Weights: `query_kernel` (dim_q, num_query_heads, head_dim), `key_kernel` (dim_k,
    num_key_value_heads, head_dim), `value_kernel` (dim_v, num_key_value_heads, head_dim),
    `attention_output_kernel` (num_query_heads, head_dim, dim_q), with `use_gate`
    `gate_kernel` (dim_q, num_query_heads, head_dim), and (with `use_bias`) their biases.

    Args:
        head_dim: the size of each head.
        num_query_heads: the number of query heads.
        num_key_value_heads: the number of key and value heads (a divisor of `num_query_heads`).
        dropout: the fraction of attention weights dropped in training.
        use_bias: whether the projections have biases.
        sliding_window: query i attends only to positions j with |i - j| < sliding_window (a
            positive int); None: all.
        flash_attention: True: cuDNN's flash attention (a GPU; no dropout, no scores); None or
            False: XLA's.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        use_gate: whether the context is gated by sigmoid(a `gate` projection of the query).
        seed: the dropout's seed (an int, or None).
        deterministic: inference mode (keyword-only).
        rng_collection: the rng stream of the dropout (keyword-only).
    """

    keras_name = "GroupQueryAttention"

    head_dim: int
    num_query_heads: int
    num_key_value_heads: int
    dropout: float = 0.0
    use_bias: bool = True
    sliding_window: int | None = None
    flash_attention: bool | None = None
    kernel_initializer: initializers.Initializer = "glorot_uniform"
    bias_initializer: initializers.Initializer = "zeros"
    use_gate: bool = False
    seed: int | None = None

    def check(self) -> None:
        super().check()
        positive(self.head_dim, "head_dim")
        positive(self.num_query_heads, "num_query_heads")
        positive(self.num_key_value_heads, "num_key_value_heads")
        if self.num_query_heads % self.num_key_value_heads:
            raise ValueError(f"`num_query_heads` must be divisible by `num_key_value_heads`, got "
                             f"num_query_heads={self.num_query_heads} and "
                             f"num_key_value_heads={self.num_key_value_heads}.")
        positive(self.sliding_window, "sliding_window", optional=True)
        check_bool(self.use_gate, "use_gate")
        if self.flash_attention is not None:
            check_bool(self.flash_attention, "flash_attention")
        if self.flash_attention and self.dropout > 0:
            raise ValueError(f"`flash_attention=True` takes no dropout (as Keras's), got dropout={self.dropout!r}.")

    def build(self, query_features: int, value_features: int, key_features: int) -> dict[str, Weight | None]:
        heads, kv_heads, size = self.num_query_heads, self.num_key_value_heads, self.head_dim
        gate = self.projection("gate", heads, size, query_features)
        return {**self.projection("query", heads, size, query_features),
                **self.projection("key", kv_heads, size, key_features),
                **(gate if self.use_gate else dict.fromkeys(gate)),
                **self.projection("value", kv_heads, size, value_features),
                **self.projection("attention_output", heads, size, None, query_features)}

    def call(self, query: jax.Array, value: jax.Array, key: jax.Array | None = None, *,
             training: bool, rng: Callable[[], jax.Array], attention_mask: jax.Array | None = None,
             query_mask: jax.Array | None = None, value_mask: jax.Array | None = None,
             key_mask: jax.Array | None = None, return_attention_scores: bool = False,
             use_causal_mask: bool = False, **weights: jax.Array | None) -> Any:
        (query, value, key), w = self.weights_in_dtype(query, value, key, **weights)
        rng_key = rng() if training and self.dropout > 0 else None
        out, scores = F.grouped_query_attention(
            query, value, key, query_kernel=w["query_kernel"], key_kernel=w["key_kernel"],
            value_kernel=w["value_kernel"], output_kernel=w["attention_output_kernel"], query_bias=w["query_bias"],
            key_bias=w["key_bias"], value_bias=w["value_bias"], output_bias=w["attention_output_bias"],
            gate_kernel=w["gate_kernel"], gate_bias=w["gate_bias"], attention_mask=attention_mask,
            query_mask=query_mask, value_mask=value_mask, key_mask=key_mask, use_causal_mask=use_causal_mask,
            sliding_window=self.sliding_window, dropout=self.dropout, rng_key=rng_key,
            return_attention_scores=return_attention_scores, flash_attention=bool(self.flash_attention))
        return (out, scores) if return_attention_scores else out
