"""Keras `Embedding`."""
from __future__ import annotations

from typing import Any

import jax

from jaxlayers import functional as F
from jaxlayers import initializers
from jaxlayers._args import check_bool, positive_int
from jaxlayers.layers.layer import Weight, WeightedLayer


class Embedding(WeightedLayer):
    """Keras `Embedding(input_dim, output_dim)`: ids (batch, ...) -> (batch, ..., output_dim); embeddings (input_dim, output_dim).

    Integer ids index the rows (floating ones are cast to int32, as Keras does); with
    `mask_zero`, `compute_mask(ids)` gives the (batch, ...) mask of non-zero ids that the
    recurrent layers take as `mask=`.

    Args:
        input_dim: the vocabulary size (ids in [0, input_dim)).
        output_dim: the embedding size.
        embeddings_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        mask_zero: whether id 0 is padding (then `input_dim` should count it).
        dtype: the output's dtype; None: the embeddings' (keyword-only).
        param_dtype: the embeddings' dtype (keyword-only).
    """

    input_dim: int
    output_dim: int
    embeddings_initializer: initializers.Initializer = "uniform"
    mask_zero: bool = False

    def check(self) -> None:
        super().check()
        positive_int(self.input_dim, "input_dim")
        positive_int(self.output_dim, "output_dim")
        initializers.get(self.embeddings_initializer, "embeddings_initializer")
        check_bool(self.mask_zero, "mask_zero")

    def build(self) -> dict[str, Weight | None]:
        return {"embeddings": Weight((self.input_dim, self.output_dim), self.embeddings_initializer)}

    def call(self, ids: jax.Array, embeddings: jax.Array) -> jax.Array:
        (embeddings,) = self.promote(embeddings)
        return F.embedding(ids, embeddings)

    def compute_mask(self, ids: Any, mask: Any = None) -> jax.Array | None:
        """The mask of the ids that are not padding, as Keras's.

        Args:
            ids: the layer's input, (batch, ...).
            mask: the input's mask (ignored, as Keras).

        Returns:
            `ids != 0` with `mask_zero`, else None.
        """
        self.check()
        return (jax.numpy.asarray(ids) != 0) if self.mask_zero else None
