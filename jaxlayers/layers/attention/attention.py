"""Keras `Attention` (dot-product or concat scores) and `AdditiveAttention`."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers._args import check_bool
from jaxlayers.functional.attention import SCORE_MODES
from jaxlayers.layers.layer import Weight, WeightedLayer
from jaxlayers.layers.regularization.dropout import Stochastic


def _glorot_uniform_1d(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    """Keras's glorot_uniform of a vector (fan_in = fan_out = its size): U(-sqrt(3 / n), sqrt(3 / n))."""
    limit = (3.0 / shape[0]) ** 0.5
    return jax.random.uniform(key, shape, dtype, -limit, limit)


class BaseAttention(Stochastic, WeightedLayer):
    """The base of `Attention` and `AdditiveAttention`: Keras's call on [query, value(, key)].

    The call takes `inputs` [query (batch, Tq, dim), value (batch, Tv, dim_v), optional key
    (batch, Tv, dim)], `mask=` [query_mask (batch, Tq), value_mask (batch, Tv)] (either may
    be None), `return_attention_scores` and `use_causal_mask`, as Keras's; it returns
    (batch, Tq, dim_v), with the softmax weights (batch, Tq, Tv) when asked.

    Subclasses take Keras's `use_scale`, `dropout` and `seed`.

    Args:
        deterministic: inference mode (keyword-only).
        rng_collection: the rng stream of the dropout (keyword-only).
    """

    single_input = False
    takes_mask = True  # a Graph gives it [query's mask, value's mask], as Keras's call
    fraction = "dropout"

    def check(self) -> None:
        super().check()
        check_bool(self.use_scale, "use_scale")

    def compute_mask(self, inputs: Any, mask: Sequence[Any] | None = None) -> Any:
        """The output's mask, as Keras's: the query's.

        Args:
            inputs: [query, value(, key)].
            mask: [query_mask (batch, Tq), value_mask (batch, Tv)(, key_mask)], either None, or None.

        Returns:
            query_mask, or None.
        """
        return mask[0] if mask else None

    def split(self, inputs: Any) -> tuple[jax.Array, jax.Array, jax.Array | None]:
        """[query, value(, key)] -> (query, value, key or None).

        Args:
            inputs: the call's list.

        Returns:
            query, value and key (None when absent).

        Raises:
            TypeError: not a list or tuple of 2 or 3 arrays.
        """
        if not isinstance(inputs, Sequence) or isinstance(inputs, str) or len(inputs) not in (2, 3):
            raise TypeError(f"{type(self).__name__} `inputs` must be a list [query, value] or [query, value, key], "
                            f"got {type(inputs).__name__}{'' if not isinstance(inputs, Sequence) else len(inputs)}.")
        return inputs[0], inputs[1], inputs[2] if len(inputs) == 3 else None

    def sizes(self, inputs: Any) -> dict[str, Any]:
        query, _, _ = self.split(inputs)
        return {"dim": query.shape[-1]} if hasattr(query, "shape") else {"dim": None}

    def run(self, op: Callable[..., Any], inputs: Any, training: bool, rng: Callable[[], jax.Array],
            mask: Sequence[Any] | None, return_attention_scores: bool, use_causal_mask: bool,
            **weights: Any) -> Any:
        """The op on the split inputs and masks, dropout in training only.

        Args:
            op: `F.attention` or `F.additive_attention`.
            inputs: [query, value(, key)].
            training: training mode (dropout).
            rng: gives the dropout's PRNG key.
            mask: [query_mask, value_mask], either None, or None.
            return_attention_scores: whether to return the weights too.
            use_causal_mask: whether query i attends only to positions <= i.
            **weights: the op's other keyword arguments (the layer's weights).

        Returns:
            output (batch, Tq, dim_v), with the weights (batch, Tq, Tv) when asked.
        """
        query, value, key = self.split(inputs)
        query_mask, value_mask = (list(mask) + [None, None])[:2] if mask else (None, None)
        key_rng = rng() if training and self.dropout > 0 else None
        out, scores = op(query, value, key, query_mask=query_mask, value_mask=value_mask,
                         use_causal_mask=use_causal_mask, dropout=self.dropout, rng_key=key_rng, **weights)
        return (out, scores) if return_attention_scores else out


class Attention(BaseAttention):
    """Keras `Attention(use_scale, score_mode, dropout, seed)`: Luong-style attention.

    Scores are query . key ("dot", times `scale`), or `concat_score_weight` *
    sum(tanh(scale * (query + key))) ("concat"); weights: scalars `scale` (with
    `use_scale`) and `concat_score_weight` ("concat"). The call is `BaseAttention`'s.

    Args:
        use_scale: whether the layer has a trained scalar `scale` (initially 1).
        score_mode: "dot" or "concat".
        dropout: the fraction of attention weights dropped in training.
        seed: the dropout's seed (an int, or None).
        deterministic: inference mode (keyword-only).
        rng_collection: the rng stream of the dropout (keyword-only).
    """

    use_scale: bool = False
    score_mode: str = "dot"
    dropout: float = 0.0
    seed: int | None = None

    def check(self) -> None:
        super().check()
        if self.score_mode not in SCORE_MODES:
            raise ValueError(f"`score_mode` must be one of {SCORE_MODES}, got {self.score_mode!r}.")

    def sizes(self, inputs: Any) -> dict[str, Any]:
        self.split(inputs)
        return {}

    def build(self) -> dict[str, Weight | None]:
        return {"scale": Weight((), "ones") if self.use_scale else None,
                "concat_score_weight": Weight((), "ones") if self.score_mode == "concat" else None}

    def call(self, inputs: Sequence[jax.Array], scale: jax.Array | None, concat_score_weight: jax.Array | None,
             training: bool, rng: Callable[[], jax.Array], mask: Sequence[Any] | None = None,
             return_attention_scores: bool = False, use_causal_mask: bool = False) -> Any:
        return self.run(F.attention, inputs, training, rng, mask, return_attention_scores, use_causal_mask,
                        score_mode=self.score_mode, scale=scale, concat_score_weight=concat_score_weight)


class AdditiveAttention(BaseAttention):
    """Keras `AdditiveAttention(use_scale, dropout, seed)`: Bahdanau-style attention.

    Scores are sum(scale * tanh(query + key)) over dim; weight `scale` (dim,) (glorot
    uniform, with `use_scale`). The call is `BaseAttention`'s.

    Args:
        use_scale: whether the layer has a trained `scale` (dim,).
        dropout: the fraction of attention weights dropped in training.
        seed: the dropout's seed (an int, or None).
        deterministic: inference mode (keyword-only).
        rng_collection: the rng stream of the dropout (keyword-only).
    """

    input_sizes = {"dim": "the query's last axis (features)."}

    use_scale: bool = True
    dropout: float = 0.0
    seed: int | None = None

    def build(self, dim: int) -> dict[str, Weight | None]:
        return {"scale": Weight((dim,), _glorot_uniform_1d, argument="use_scale") if self.use_scale else None}

    def call(self, inputs: Sequence[jax.Array], scale: jax.Array | None, training: bool,
             rng: Callable[[], jax.Array], mask: Sequence[Any] | None = None,
             return_attention_scores: bool = False, use_causal_mask: bool = False) -> Any:
        return self.run(F.additive_attention, inputs, training, rng, mask, return_attention_scores,
                        use_causal_mask, scale=scale)
