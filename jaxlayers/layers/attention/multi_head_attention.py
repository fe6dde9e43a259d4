"""Keras `MultiHeadAttention`."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers import initializers
from jaxlayers._args import _is_int, check_bool
from jaxlayers.functional.multi_head_attention import normalize_axes
from jaxlayers.layers.attention.projected import ProjectedAttention, positive
from jaxlayers.layers.layer import Weight


class MultiHeadAttention(ProjectedAttention):
    """Keras `MultiHeadAttention(num_heads, key_dim, value_dim, dropout, use_bias, output_shape, attention_axes)`.

    `mha(query, value, key=None, *, attention_mask=None, query_mask=None, value_mask=None,
    key_mask=None, return_attention_scores=False, use_causal_mask=False)`: query
    (batch, T, dim_q), value (batch, S, dim_v), key (batch, S, dim_k) (default value),
    attention_mask (batch, T, S) and Keras's input masks query_mask (batch, T), value_mask
    and key_mask (batch, S); returns (batch, T, output_shape or dim_q), with the weights
    (batch, num_heads, T, S) when asked. Inputs of higher rank, (batch, *axes, features),
    attend over `attention_axes` (the other axes batch-like; `attention_mask` only): the
    weights are then (batch, <other axes>, num_heads, <query's attention axes>, <key's>).
    Weights: Keras's sublayers' `query_kernel` (dim_q, num_heads, key_dim), `key_kernel`
    (dim_k, num_heads, key_dim), `value_kernel` (dim_v, num_heads, value_dim),
    `attention_output_kernel` (num_heads, value_dim, out), with `use_gate` `gate_kernel`
    (dim_q, num_heads, value_dim), and (with `use_bias`) their biases
    (num_heads, key_dim|value_dim), (out,), at any rank.

    Args:
        num_heads: the number of heads.
        key_dim: the size of each head of query and key.
        value_dim: the size of each head of value; None: `key_dim`.
        dropout: the fraction of attention weights dropped in training.
        use_bias: whether the projections have biases.
        output_shape: the output's last size (an int or a 1-tuple); None: dim_q.
        attention_axes: the input axes attended over (an int or a sequence of them, negative
            ones from the end); None: all but batch and features (time, for 3-D inputs).
        sliding_window: query i attends only to positions j with |i - j| < sliding_window (a
            band; with `use_causal_mask`, the causal window), on (batch, time, features) inputs;
            None: all.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        use_gate: whether the context is gated by sigmoid(a `gate` projection of the query,
            (dim_q, num_heads, value_dim)) before the output projection, as Keras's.
        seed: the dropout's seed (an int, or None).
        deterministic: inference mode (keyword-only).
        rng_collection: the rng stream of the dropout (keyword-only).
    """

    clears_masks = True  # Keras's clears its arguments' masks off them when it runs

    num_heads: int
    key_dim: int
    value_dim: int | None = None
    dropout: float = 0.0
    use_bias: bool = True
    output_shape: int | tuple[int] | None = None
    attention_axes: int | tuple[int, ...] | None = None
    sliding_window: int | None = None
    kernel_initializer: initializers.Initializer = "glorot_uniform"
    bias_initializer: initializers.Initializer = "zeros"
    use_gate: bool = False
    seed: int | None = None

    def check(self) -> None:
        super().check()
        positive(self.num_heads, "num_heads")
        positive(self.key_dim, "key_dim")
        positive(self.value_dim, "value_dim", optional=True)
        self._out(1)
        positive(self.sliding_window, "sliding_window", optional=True)
        check_bool(self.use_gate, "use_gate")
        axes = self.attention_axes
        if not (axes is None or _is_int(axes)
                or (isinstance(axes, (tuple, list)) and axes and all(_is_int(a) for a in axes))):
            raise TypeError(f"`attention_axes` must be None, an int or a non-empty list or tuple of ints, "
                            f"got {axes!r}.")

    def _out(self, query_features: int) -> int:
        """The output's last size: `output_shape`'s, else the query's."""
        shape = self.output_shape
        if shape is None:
            return query_features
        if _is_int(shape) and shape > 0:
            return shape
        if isinstance(shape, (tuple, list)) and len(shape) == 1 and _is_int(shape[0]) and shape[0] > 0:
            return shape[0]
        raise ValueError(f"`output_shape` must be None, a positive int or a 1-tuple of one (a (batch, time, out) "
                         f"output), got {shape!r}.")

    def sizes(self, query: Any, value: Any, key: Any = None) -> dict[str, Any]:
        key = value if key is None else key
        rank = len(getattr(query, "shape", ()))
        for name, x in (("query", query), ("value", value), ("key", key)):
            if not hasattr(x, "shape") or len(x.shape) < 3 or len(x.shape) != rank:
                raise ValueError(f"MultiHeadAttention `{name}` must be (batch, time, features) or (batch, *axes, "
                                 f"features) of the query's rank, got {getattr(x, 'shape', type(x).__name__)}.")
        normalize_axes(self.attention_axes, rank)
        return {"query_features": query.shape[-1], "value_features": value.shape[-1],
                "key_features": key.shape[-1]}

    def build(self, query_features: int, value_features: int, key_features: int) -> dict[str, Weight | None]:
        value_dim = self.value_dim or self.key_dim
        gate = self.projection("gate", self.num_heads, value_dim, query_features)
        return {**self.projection("query", self.num_heads, self.key_dim, query_features),
                **self.projection("key", self.num_heads, self.key_dim, key_features),
                **(gate if self.use_gate else dict.fromkeys(gate)),
                **self.projection("value", self.num_heads, value_dim, value_features),
                **self.projection("attention_output", self.num_heads, value_dim, None, self._out(query_features))}

    def call(self, query: jax.Array, value: jax.Array, key: jax.Array | None = None, *,
             training: bool, rng: Callable[[], jax.Array], attention_mask: jax.Array | None = None,
             query_mask: jax.Array | None = None, value_mask: jax.Array | None = None,
             key_mask: jax.Array | None = None, return_attention_scores: bool = False,
             use_causal_mask: bool = False, **weights: jax.Array | None) -> Any:
        (query, value, key), w = self.weights_in_dtype(query, value, key, **weights)
        rng_key = rng() if training and self.dropout > 0 else None
        out, scores = F.multi_head_attention(
            query, value, key, query_kernel=w["query_kernel"], key_kernel=w["key_kernel"],
            value_kernel=w["value_kernel"], output_kernel=w["attention_output_kernel"], query_bias=w["query_bias"],
            key_bias=w["key_bias"], value_bias=w["value_bias"], output_bias=w["attention_output_bias"],
            attention_mask=attention_mask, query_mask=query_mask, value_mask=value_mask, key_mask=key_mask,
            use_causal_mask=use_causal_mask, sliding_window=self.sliding_window, gate_kernel=w["gate_kernel"],
            gate_bias=w["gate_bias"], dropout=self.dropout, rng_key=rng_key,
            return_attention_scores=return_attention_scores, attention_axes=self.attention_axes)
        return (out, scores) if return_attention_scores else out
