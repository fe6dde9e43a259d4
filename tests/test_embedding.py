"""Embedding and Masking against Keras 3 (JAX backend)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
from jaxlayers import linen as L
from jaxlayers import nnx as J


def test_embedding_equals_keras(rng):
    layer = keras.layers.Embedding(9, 4, mask_zero=True)
    layer.build((None, 5))
    table = rng.standard_normal((9, 4)).astype(np.float32)
    layer.set_weights([table])
    ids = rng.integers(0, 9, (3, 5)).astype(np.int32)
    ids[0, 3:] = 0
    module = L.Embedding(9, 4, mask_zero=True)
    np.testing.assert_array_equal(module.apply({"params": {"embeddings": table}}, ids), np.asarray(layer(ids)))
    np.testing.assert_array_equal(module.compute_mask(ids), np.asarray(layer.compute_mask(ids)))
    np.testing.assert_array_equal(module.apply({"params": {"embeddings": table}}, ids.astype(np.float32)),
                                  np.asarray(layer(ids.astype(np.float32))))  # float ids cast, as Keras
    j = J.Embedding(9, 4, rngs=nnx.Rngs(0))
    assert j.embeddings[...].shape == (9, 4) and float(jnp.abs(j.embeddings[...]).max()) <= 0.05  # "uniform"
    assert j.compute_mask(ids) is None
    assert jaxlayers.count_params(j) == layer.count_params() == 36


def test_embedding_gradient_equals_keras(rng):
    layer = keras.layers.Embedding(6, 3)
    layer.build((None, 4))
    table = rng.standard_normal((6, 3)).astype(np.float32)
    ids = rng.integers(0, 6, (2, 4)).astype(np.int32)
    cotangent = rng.standard_normal((2, 4, 3)).astype(np.float32)
    expected = jax.grad(lambda t: jnp.sum(layer.stateless_call([t], [], ids)[0] * cotangent))(jnp.asarray(table))
    got = jax.grad(lambda t: jnp.sum(L.Embedding(6, 3).apply({"params": {"embeddings": t}}, ids) * cotangent))(
        jnp.asarray(table))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_masking_equals_keras(rng):
    x = rng.standard_normal((3, 6, 2)).astype(np.float32)
    x[0, 2:] = -1.0
    x[1, 0, 0] = -1.0  # one feature at the value: not masked
    layer = keras.layers.Masking(-1.0)
    np.testing.assert_array_equal(L.Masking(-1.0).apply({}, x), np.asarray(layer(x)))
    np.testing.assert_array_equal(J.Masking(-1.0).compute_mask(x), np.asarray(layer.compute_mask(x)))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`input_dim` must be an int >= 1, got 0"):
        J.Embedding(0, 3, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="`output_dim` must be an int >= 1, got 2.5"):
        J.Embedding(4, 2.5, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="`mask_zero` must be a bool"):
        J.Embedding(4, 2, mask_zero=1, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="`mask_value` must be a real number"):
        J.Masking("zero")
    with pytest.raises(TypeError, match="`ids` must be integers"):
        L.Embedding(4, 2).init(jax.random.key(0), jnp.zeros((2, 3), bool))
