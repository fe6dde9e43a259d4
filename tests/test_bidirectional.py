"""Bidirectional over SimpleRNN, LSTM, GRU against Keras 3 (JAX backend) on identical weights."""
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

try:
    from keras_oracle import padded_mask, random_weights
except ImportError:  # tests/ imported as a package
    from tests.keras_oracle import padded_mask, random_weights

TOL = dict(rtol=1e-5, atol=1e-5)
DIRECTIONS = ("forward", "backward")


def keras_bidirectional(name: str, x_shape: tuple, rng: np.random.Generator, merge_mode="concat",
                        backward: dict | None = None, **kwargs):
    """A built Keras Bidirectional with random normal weights, and those weights by jaxlayers's names."""
    backward_layer = None if backward is None else getattr(keras.layers, name)(**kwargs, **backward)
    layer = keras.layers.Bidirectional(getattr(keras.layers, name)(**kwargs), merge_mode=merge_mode,
                                       backward_layer=backward_layer)
    layer.build(x_shape)
    weights = random_weights(layer, rng, 0.5)
    names = [f"{prefix}_{w.name}" for prefix, sub in zip(DIRECTIONS, (layer.forward_layer, layer.backward_layer))
             for w in sub.weights]
    return layer, dict(zip(names, weights, strict=True))


def close(got, expected):
    assert len(jax.tree.leaves(got)) == len(jax.tree.leaves(expected))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


CASES = [("LSTM", "concat", dict(return_sequences=True), True),
         ("GRU", "sum", dict(), True),
         ("SimpleRNN", "mul", dict(return_sequences=True, return_state=True), False),
         ("LSTM", "ave", dict(return_state=True), True),
         ("GRU", None, dict(return_sequences=True, reset_after=False), True),
         ("LSTM", None, dict(return_state=True), False),
         # Keras's unrolled loop gives the previous output at a masked step, whatever zero_output_for_mask
         ("GRU", "concat", dict(return_sequences=True, unroll=True), True),
         ("SimpleRNN", "ave", dict(return_sequences=True, return_state=True, unroll=True), True)]


@pytest.mark.parametrize("name,merge_mode,kwargs,masked", CASES,
                         ids=[f"{c[0]}-{c[1]}-{'-'.join(c[2])}{'-masked' if c[3] else ''}" for c in CASES])
def test_bidirectional_equals_keras(name, merge_mode, kwargs, masked, rng):
    batch, time, features, units = 3, 6, 3, 4
    layer, weights = keras_bidirectional(name, (batch, time, features), rng, merge_mode, units=units, **kwargs)
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    mask = padded_mask(rng, batch, time) if masked else None
    expected = layer(x, mask=mask)
    module = L.Bidirectional(getattr(L, name)(units, **kwargs), merge_mode=merge_mode)
    close(module.apply({"params": weights}, x, mask=mask), expected)
    expected_mask, got_mask = layer.compute_mask(x, mask), module.compute_mask(x, mask)
    assert jax.tree.structure(got_mask) == jax.tree.structure(expected_mask)
    close(got_mask, expected_mask)
    if merge_mode not in ("concat", "mul", None):
        return  # the NNX face on half the cases: the same definition
    nnx_layer = J.Bidirectional(features, getattr(J, name)(features, units, **kwargs, rngs=nnx.Rngs(0)),
                                merge_mode=merge_mode, rngs=nnx.Rngs(0))
    for key, value in weights.items():
        getattr(nnx_layer, key).set_value(jnp.asarray(value))
    close(nnx_layer(x, mask=mask), expected)
    assert jaxlayers.count_params(nnx_layer) == layer.count_params()


def test_initial_state_and_backward_layer_equal_keras(rng):
    batch, time, features = 2, 5, 3
    layer, weights = keras_bidirectional("LSTM", (batch, time, features), rng, units=4, return_sequences=True,
                                         backward=dict(go_backwards=True, activation="relu"))
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    states = [rng.standard_normal((batch, 4)).astype(np.float32) for _ in range(4)]
    expected = layer(x, initial_state=states)
    module = L.Bidirectional(L.LSTM(4, return_sequences=True),
                             backward_layer=L.LSTM(4, return_sequences=True, go_backwards=True, activation="relu"))
    close(module.apply({"params": weights}, x, initial_state=states), expected)


def test_gradients_equal_keras(rng):
    batch, time, features, units = 3, 5, 3, 4
    layer, weights = keras_bidirectional("GRU", (batch, time, features), rng, units=units, return_sequences=True)
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    mask = padded_mask(rng, batch, time)
    cotangent = rng.standard_normal((batch, time, 2 * units)).astype(np.float32)
    order = list(weights)

    def keras_loss(values, x):
        out, _ = layer.stateless_call(list(values), [v.value for v in layer.non_trainable_variables], x, mask=mask)
        return jnp.sum(out * cotangent)

    expected = jax.grad(keras_loss, argnums=(0, 1))([jnp.asarray(weights[k]) for k in order], jnp.asarray(x))
    module = L.Bidirectional(L.GRU(units, return_sequences=True))
    got = jax.grad(lambda p, x: jnp.sum(module.apply({"params": p}, x, mask=mask) * cotangent),
                   argnums=(0, 1))(weights, jnp.asarray(x))
    close(([got[0][k] for k in order], got[1]), expected)


def test_init_matches_keras_shapes():
    x = jnp.ones((2, 4, 3))
    variables = L.Bidirectional(L.LSTM(5)).init(jax.random.key(0), x)
    keras_layer = keras.layers.Bidirectional(keras.layers.LSTM(5))
    keras_layer.build(x.shape)
    shapes = {f"{p}_{w.name}": tuple(w.shape) for p, sub in zip(DIRECTIONS, (keras_layer.forward_layer,
                                                                          keras_layer.backward_layer))
              for w in sub.weights}
    assert jax.tree.map(jnp.shape, variables["params"]) == shapes
    assert not np.array_equal(variables["params"]["forward_kernel"], variables["params"]["backward_kernel"])


@pytest.mark.parametrize("kwargs,match", [
    (dict(merge_mode="max"), "merge_mode"),
    (dict(layer=L.LSTM(3, go_backwards=True)), "go_backwards"),
    (dict(backward_layer=L.LSTM(3)), "go_backwards"),
    (dict(backward_layer=L.LSTM(3, go_backwards=True, return_sequences=True)), "return_sequences"),
])
def test_bad_arguments_raise(kwargs, match):
    kwargs = {"layer": L.LSTM(3), **kwargs}
    with pytest.raises(ValueError, match=match):
        L.Bidirectional(**kwargs).init(jax.random.key(0), jnp.ones((1, 2, 3)))
    with pytest.raises(TypeError, match="layer"):
        L.Bidirectional(L.Dense(3)).init(jax.random.key(0), jnp.ones((1, 2, 3)))


def test_from_keras_to_keras_with_masks(rng, tmp_path):
    from jaxlayers.keras import from_keras, to_keras

    ids_in = keras.Input((7,), dtype="int32")
    h = keras.layers.Embedding(12, 4, mask_zero=True)(ids_in)
    h = keras.layers.Bidirectional(keras.layers.LSTM(5, return_sequences=True), merge_mode="sum")(h)
    h = keras.layers.Bidirectional(keras.layers.GRU(3))(h)
    model = keras.Model(ids_in, keras.layers.Dense(2)(h))
    random_weights(model, rng, 0.5)
    path = tmp_path / "bidirectional.keras"
    model.save(path)
    ids = rng.integers(1, 12, (5, 7)).astype(np.int32) * padded_mask(rng, 5, 7)
    expected = model(ids)
    module, variables = from_keras(str(path))
    close(module.apply(variables, ids), expected)
    close(from_keras(model, api="nnx")(ids), expected)
    back = to_keras(module, variables, (None, 7))
    close(back(ids), expected)
    assert back.count_params() == model.count_params()
    assert [type(layer).__name__ for layer in back.layers[-3:-1]] == ["Bidirectional", "Bidirectional"]


def test_training_drops_in_both_directions():
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 5, 3)), jnp.float32)
    module = L.Bidirectional(L.GRU(4, dropout=0.5, return_sequences=True), merge_mode=None)
    variables = module.init(jax.random.key(0), x)
    inference = module.apply(variables, x)
    first = module.apply(variables, x, deterministic=False, rngs={"dropout": jax.random.key(1)})
    again = module.apply(variables, x, deterministic=False, rngs={"dropout": jax.random.key(1)})
    close(first, again)
    for dropped, kept in zip(first, inference):
        assert np.abs(np.asarray(dropped) - np.asarray(kept)).max() > 1e-3
