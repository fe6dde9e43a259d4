"""Keras `Permute`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.functional.reshaping import check_dims
from jaxlayers.layers.layer import Layer


class Permute(Layer):
    """Keras `Permute(dims)`: (batch, d1, ..., dn) -> (batch, d_dims[0], ..., d_dims[n-1]).

    Args:
        dims: a permutation of 1..n (the batch axis 0 stays first), e.g. (2, 1) swaps the
            two axes after the batch axis.
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    dims: tuple[int, ...]

    def check(self) -> None:
        super().check()
        check_dims(self.dims)

    def call(self, x: jax.Array) -> jax.Array:
        return F.permute(x, self.dims)
