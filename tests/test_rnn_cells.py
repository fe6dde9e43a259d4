"""Keras's recurrent cells (`SimpleRNNCell`, `LSTMCell`, `GRUCell`) called alone, against Keras 3."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

from jaxlayers import linen as L
from jaxlayers import nnx as J

TOL = dict(rtol=1e-5, atol=1e-5)
KINDS = [("SimpleRNNCell", {}), ("LSTMCell", {}), ("GRUCell", {}), ("GRUCell", {"reset_after": False})]
IDS = ["SimpleRNNCell", "LSTMCell", "GRUCell", "GRUCell-reset_before"]
BATCH, FEATURES, UNITS = 3, 5, 4


def keras_cell(name: str, rng: np.random.Generator, **kwargs):
    """A built Keras cell with random normal weights, and those weights by name."""
    cell = getattr(keras.layers, name)(UNITS, **kwargs)
    cell.build((BATCH, FEATURES))
    weights = [0.5 * rng.standard_normal(w.shape).astype(np.float32) for w in cell.trainable_weights]
    for w, v in zip(cell.trainable_weights, weights):
        w.assign(v)
    return cell, {w.name: v for w, v in zip(cell.trainable_weights, weights)}


def states_for(name: str, rng: np.random.Generator, nested: bool):
    h = rng.standard_normal((BATCH, UNITS)).astype(np.float32)
    if name == "LSTMCell":
        return [h, rng.standard_normal((BATCH, UNITS)).astype(np.float32)]
    return [h] if nested else h


def close(got, expected, tol=TOL):
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol), got, expected)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
@pytest.mark.parametrize("nested", [True, pytest.param(False, marks=pytest.mark.slow)])
def test_cell_equals_keras_in_both_faces(kind, nested, rng):
    name, kwargs = kind
    cell, weights = keras_cell(name, rng, **kwargs)
    x = rng.standard_normal((BATCH, FEATURES)).astype(np.float32)
    states = states_for(name, rng, nested)
    expected = cell(x, states)
    close(L.__dict__[name](UNITS, **kwargs).apply({"params": weights}, x, states), expected)
    layer = J.__dict__[name](FEATURES, UNITS, **kwargs, rngs=nnx.Rngs(0))
    for key, value in weights.items():
        getattr(layer, key).value = jnp.asarray(value)
    close(layer(x, states), expected)


def keras_grads(cell, x, states):
    """Gradients of sum(h * 1.3) + sum(new states) wrt x, the states and the weights, by Keras's own call."""
    def loss(weights, x, states):
        (h, new), _ = cell.stateless_call(weights, seeds, x, states)
        return jnp.sum(h * 1.3) + sum(jnp.sum(s) for s in jax.tree.leaves(new))
    weights = [jnp.asarray(w.value) for w in cell.trainable_variables]
    seeds = [jnp.asarray(w.value) for w in cell.non_trainable_variables]
    grads = jax.grad(loss, argnums=(0, 1, 2))(weights, jnp.asarray(x), jax.tree.map(jnp.asarray, states))
    return {w.name: g for w, g in zip(cell.trainable_variables, grads[0])}, grads[1], grads[2]


# the default run: the LSTM cell's gradients (the others under -m slow; their layers' are in test_recurrent)
@pytest.mark.parametrize("kind", [pytest.param(k, marks=() if k[0] == "LSTM" else pytest.mark.slow, id=i)
                                  for k, i in zip(KINDS, IDS)])
def test_cell_gradients_equal_keras(kind, rng):
    name, kwargs = kind
    cell, weights = keras_cell(name, rng, **kwargs)
    x = rng.standard_normal((BATCH, FEATURES)).astype(np.float32)
    states = states_for(name, rng, True)
    module = L.__dict__[name](UNITS, **kwargs)

    def loss(params, x, states):
        h, new = module.apply({"params": params}, x, states)
        return jnp.sum(h * 1.3) + sum(jnp.sum(s) for s in jax.tree.leaves(new))

    got = jax.grad(loss, argnums=(0, 1, 2))(jax.tree.map(jnp.asarray, weights), jnp.asarray(x),
                                            jax.tree.map(jnp.asarray, states))
    close(got, keras_grads(cell, x, states), dict(rtol=1e-4, atol=1e-5))


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_cell_stepped_over_time_equals_keras_layer(kind, rng):
    """The cell run step by step is Keras's layer (`SimpleRNN`, ...) over the sequence."""
    name, kwargs = kind
    layer = getattr(keras.layers, name[:-4])(UNITS, return_sequences=True, return_state=True, **kwargs)
    x = rng.standard_normal((BATCH, 6, FEATURES)).astype(np.float32)
    layer.build(x.shape)
    layer.set_weights([0.5 * rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights])
    expected = layer(x)
    module = L.__dict__[name](UNITS, **kwargs)
    params = {w.name: jnp.asarray(w.value) for w in layer.weights}
    states = [jnp.zeros((BATCH, UNITS))] * (2 if name == "LSTMCell" else 1)
    outputs = []
    for t in range(x.shape[1]):
        h, states = module.apply({"params": params}, x[:, t], states)
        outputs.append(h)
    close((jnp.stack(outputs, 1), *states), tuple(expected))


def test_lstm_cell_initial_weights_are_keras_s():
    params = L.LSTMCell(3).init(jax.random.key(0), jnp.ones((2, 4)), [jnp.zeros((2, 3))] * 2)["params"]
    assert {k: v.shape for k, v in params.items()} == {"kernel": (4, 12), "recurrent_kernel": (3, 12), "bias": (12,)}
    np.testing.assert_array_equal(params["bias"], np.r_[np.zeros(3), np.ones(3), np.zeros(6)])
    r = np.asarray(params["recurrent_kernel"])
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-5)  # orthogonal, as Keras's default
    gru = L.GRUCell(3, reset_after=False).init(jax.random.key(0), jnp.ones((2, 4)), jnp.zeros((2, 3)))
    assert gru["params"]["bias"].shape == (9,)


def test_cell_training_dropout_drops(rng):
    x = jnp.ones((64, FEATURES))
    module = L.SimpleRNNCell(UNITS, dropout=0.5, kernel_initializer="ones", recurrent_initializer="zeros",
                             activation=None, use_bias=False)
    params = module.init(jax.random.key(0), x, jnp.zeros((64, UNITS)))
    h, _ = module.apply(params, x, jnp.zeros((64, UNITS)), deterministic=False, rngs={"dropout": jax.random.key(1)})
    deterministic, _ = module.apply(params, x, jnp.zeros((64, UNITS)))
    np.testing.assert_allclose(deterministic, FEATURES)
    assert not np.allclose(h, FEATURES)
    assert abs(float(h.mean()) - FEATURES) < 0.5  # inverted dropout keeps the mean


def test_bad_cell_inputs_are_named():
    with pytest.raises(ValueError, match=r"LSTMCell expects a 2-D input x_t \(batch, features\), got shape \(2, 5, 3\)"):
        L.LSTMCell(2).init(jax.random.key(0), jnp.ones((2, 5, 3)), [jnp.zeros((2, 2))] * 2)
    with pytest.raises(TypeError, match=r"LSTMCell expects `states` as a list of 2 \(batch, units\) arrays, got"):
        J.LSTMCell(3, 2, rngs=nnx.Rngs(0))(jnp.ones((2, 3)), jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"`initial_state` must be 1 array\(s\) of shape \(2, 2\)"):
        J.GRUCell(3, 2, rngs=nnx.Rngs(0))(jnp.ones((2, 3)), jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match="`units` must be an int >= 1, got 0"):
        J.SimpleRNNCell(3, 0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`dropout` must be in"):
        J.GRUCell(3, 2, dropout=2.0, rngs=nnx.Rngs(0))
