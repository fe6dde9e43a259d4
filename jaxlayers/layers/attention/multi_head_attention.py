"""Keras `MultiHeadAttention`."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers import initializers
from jaxlayers._args import _is_int, check_bool
from jaxlayers.functional.dropout import check_fraction
from jaxlayers.functional.multi_head_attention import COMBINE, PROJECT
from jaxlayers.layers.core.einsum_dense import einsum_weights
from jaxlayers.layers.layer import Weight, WeightedLayer

_PROJECTIONS = ("query", "key", "value", "attention_output")


def _positive(value: Any, name: str, optional: bool = False) -> None:
    if (value is None and optional) or (_is_int(value) and value > 0):
        return
    raise ValueError(f"`{name}` must be a positive int{' or None' if optional else ''}, got {value!r}.")


class MultiHeadAttention(WeightedLayer):
    """Keras `MultiHeadAttention(num_heads, key_dim, value_dim, dropout, use_bias, output_shape)`.

    `mha(query, value, key=None, *, attention_mask=None, query_mask=None, value_mask=None,
    key_mask=None, return_attention_scores=False, use_causal_mask=False)`: query
    (batch, T, dim_q), value (batch, S, dim_v), key (batch, S, dim_k) (default value),
    attention_mask (batch, T, S) and Keras's input masks query_mask (batch, T), value_mask
    and key_mask (batch, S); returns (batch, T, output_shape or dim_q), with the weights
    (batch, num_heads, T, S) when asked. Weights: Keras's sublayers' `query_kernel`
    (dim_q, num_heads, key_dim), `key_kernel` (dim_k, num_heads, key_dim), `value_kernel`
    (dim_v, num_heads, value_dim), `attention_output_kernel` (num_heads, value_dim, out) and
    (with `use_bias`) their biases (num_heads, key_dim|value_dim), (out,). Only Keras's
    default `attention_axes` (time) is supported.

    Args:
        num_heads: the number of heads.
        key_dim: the size of each head of query and key.
        value_dim: the size of each head of value; None: `key_dim`.
        dropout: the fraction of attention weights dropped in training.
        use_bias: whether the projections have biases.
        output_shape: the output's last size (an int or a 1-tuple); None: dim_q.
        attention_axes: None only (attention over time).
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        seed: the dropout's seed (an int, or None).
        deterministic: inference mode (keyword-only).
        rng_collection: the rng stream of the dropout (keyword-only).
    """

    mode = "deterministic"
    stochastic = True
    single_input = False
    input_sizes = {"query_features": "the query's last axis (dim_q).",
                   "value_features": "the value's last axis (dim_v).",
                   "key_features": "the key's last axis (dim_k; the value's when there is no key)."}
    keras_weights = tuple(f"{p}_{w}" for p in _PROJECTIONS for w in ("kernel", "bias"))

    num_heads: int
    key_dim: int
    value_dim: int | None = None
    dropout: float = 0.0
    use_bias: bool = True
    output_shape: int | tuple[int] | None = None
    attention_axes: Any = None
    kernel_initializer: initializers.Initializer = "glorot_uniform"
    bias_initializer: initializers.Initializer = "zeros"
    seed: int | None = None
    _: dataclasses.KW_ONLY
    deterministic: bool = True
    rng_collection: str = "dropout"

    def check(self) -> None:
        super().check()
        _positive(self.num_heads, "num_heads")
        _positive(self.key_dim, "key_dim")
        _positive(self.value_dim, "value_dim", optional=True)
        check_fraction(self.dropout, "dropout")
        check_bool(self.use_bias, "use_bias")
        check_bool(self.deterministic, "deterministic")
        self._out(1)
        if self.attention_axes is not None:
            raise ValueError("MultiHeadAttention supports only `attention_axes=None` (attention over the time axis "
                             f"of (batch, time, features) inputs), got {self.attention_axes!r}.")
        initializers.get(self.kernel_initializer, "kernel_initializer")
        initializers.get(self.bias_initializer, "bias_initializer")
        if self.seed is not None and not _is_int(self.seed):
            raise TypeError(f"`seed` must be None or an int, got {self.seed!r}.")

    @classmethod
    def from_keras_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """A built Keras layer's `attention_axes` (1,), the time axis of 3-D inputs, as None (the default).

        Args:
            config: the Keras layer's `get_config()`.

        Returns:
            `{"attention_axes": None}` for (1,), else nothing.
        """
        axes = config.get("attention_axes")
        return {"attention_axes": None} if axes is not None and tuple(axes) == (1,) else {}

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
        for name, x in (("query", query), ("value", value), ("key", key)):
            if not hasattr(x, "shape") or len(x.shape) != 3:
                raise ValueError(f"MultiHeadAttention `{name}` must be (batch, time, features), got "
                                 f"{getattr(x, 'shape', type(x).__name__)}.")
        return {"query_features": query.shape[-1], "value_features": value.shape[-1],
                "key_features": key.shape[-1]}

    def build(self, query_features: int, value_features: int, key_features: int) -> dict[str, Weight | None]:
        for name, n in (("query_features", query_features), ("value_features", value_features),
                        ("key_features", key_features)):
            _positive(n, name)
        value_dim = self.value_dim or self.key_dim
        bias = "de" if self.use_bias else None
        specs = {"query": (PROJECT, (None, self.num_heads, self.key_dim), bias, query_features),
                 "key": (PROJECT, (None, self.num_heads, self.key_dim), bias, key_features),
                 "value": (PROJECT, (None, self.num_heads, value_dim), bias, value_features),
                 "attention_output": (COMBINE, (None, self._out(query_features)), "e" if self.use_bias else None,
                                      None)}
        weights: dict[str, Weight | None] = {}
        for name, (equation, output_shape, bias_axes, features) in specs.items():
            input_shape = (None, None, features) if features else (None, None, self.num_heads, value_dim)
            for weight, declared in einsum_weights(equation, output_shape, bias_axes, input_shape,
                                                   self.kernel_initializer, self.bias_initializer).items():
                weights[f"{name}_{weight}"] = declared
        return weights

    def call(self, query: jax.Array, value: jax.Array, key: jax.Array | None = None, *,
             training: bool, rng: Callable[[], jax.Array], attention_mask: jax.Array | None = None,
             query_mask: jax.Array | None = None, value_mask: jax.Array | None = None,
             key_mask: jax.Array | None = None, return_attention_scores: bool = False,
             use_causal_mask: bool = False, **weights: jax.Array | None) -> Any:
        names = sorted(weights)
        query, value, key, *values = self.promote(query, value, key, *(weights[n] for n in names))
        weights = dict(zip(names, values))
        rng_key = rng() if training and self.dropout > 0 else None
        out, scores = F.multi_head_attention(
            query, value, key, query_kernel=weights["query_kernel"], key_kernel=weights["key_kernel"],
            value_kernel=weights["value_kernel"], output_kernel=weights["attention_output_kernel"],
            query_bias=weights["query_bias"], key_bias=weights["key_bias"], value_bias=weights["value_bias"],
            output_bias=weights["attention_output_bias"], attention_mask=attention_mask, query_mask=query_mask,
            value_mask=value_mask, key_mask=key_mask, use_causal_mask=use_causal_mask, dropout=self.dropout,
            rng_key=rng_key, return_attention_scores=return_attention_scores)
        return (out, scores) if return_attention_scores else out
