"""SimpleRNN, LSTM, GRU against Keras 3 (JAX backend) on identical weights."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
from jaxlayers import functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.keras import from_keras, to_keras

try:
    from keras_oracle import padded_mask, random_weights
except ImportError:  # tests/ imported as a package
    from tests.keras_oracle import padded_mask, random_weights

TOL = dict(rtol=1e-5, atol=1e-5)
KINDS = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False})]
IDS = ["SimpleRNN", "LSTM", "GRU", "GRU-reset_before"]


def keras_rnn(name: str, x_shape: tuple, rng: np.random.Generator, **kwargs):
    """A built Keras layer with random normal weights (scaled to keep tanh out of saturation)."""
    layer = getattr(keras.layers, name)(kernel_initializer="zeros", recurrent_initializer="zeros", **kwargs)
    layer.build(x_shape)
    weights = random_weights(layer, rng, 0.5)
    return layer, {w.name: v for w, v in zip(layer.weights, weights)}


def close(got, expected, tol=TOL):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol), got, expected)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
@pytest.mark.parametrize("config", range(4))
def test_layer_equals_keras(kind, config, rng):
    name, extra = kind
    cfg = [dict(),
           dict(return_sequences=True, go_backwards=True, masked=True),
           dict(return_state=True, use_bias=False, masked=True, initial=True),
           dict(return_sequences=True, return_state=True, go_backwards=True, initial=True, unroll=True,
                activation="relu")][config]
    masked, initial = cfg.pop("masked", False), cfg.pop("initial", False)
    batch, time, features, units = 3, 6, int(rng.integers(2, 5)), int(rng.integers(2, 5))
    layer, weights = keras_rnn(name, (batch, time, features), rng, units=units, **extra, **cfg)
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    mask = padded_mask(rng, batch, time) if masked else None
    count = 2 if name == "LSTM" else 1
    states = [rng.standard_normal((batch, units)).astype(np.float32) for _ in range(count)] if initial else None
    expected = layer(x, mask=mask, initial_state=states)
    module = getattr(L, name)(units, **extra, **cfg)
    kwargs = {"mask": mask, "initial_state": states}
    got = module.apply({"params": weights}, x, **kwargs)
    close(got, expected)
    nnx_layer = nnx.eval_shape(lambda: getattr(J, name)(features, units, **extra, **cfg, rngs=nnx.Rngs(0)))
    for key, value in weights.items():
        getattr(nnx_layer, key).set_value(jnp.asarray(value))
    close(nnx_layer(x, **kwargs), expected)
    assert jaxlayers.count_params(nnx_layer) == layer.count_params()


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_gradients_equal_keras(kind, rng):
    name, extra = kind
    batch, time, features, units = 3, 5, 3, 4
    layer, weights = keras_rnn(name, (batch, time, features), rng, units=units, return_sequences=True, **extra)
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    mask = padded_mask(rng, batch, time)
    cotangent = rng.standard_normal((batch, time, units)).astype(np.float32)

    def keras_loss(values, x):
        out, _ = layer.stateless_call(values, [v.value for v in layer.non_trainable_variables], x, mask=mask)
        return jnp.sum(out * cotangent)

    def our_loss(params, x):
        return jnp.sum(getattr(L, name)(units, return_sequences=True, **extra).apply(
            {"params": params}, x, mask=mask) * cotangent)

    names = [w.name for w in layer.trainable_variables]
    expected = jax.grad(keras_loss, argnums=(0, 1))([jnp.asarray(weights[n]) for n in names], x)
    got = jax.grad(our_loss, argnums=(0, 1))({n: jnp.asarray(v) for n, v in weights.items()}, x)
    close(got[1], expected[1], dict(rtol=1e-4, atol=1e-5))
    for n, g in zip(names, expected[0]):
        close(got[0][n], g, dict(rtol=1e-4, atol=1e-5))


def test_functional_loop_is_one_scan():
    x, k, r = jnp.ones((2, 4, 3)), jnp.ones((3, 8)), jnp.ones((2, 8))
    text = str(jax.make_jaxpr(lambda x: F.lstm(x, k, r)[0])(x))
    assert text.count("scan[") == 1 and text.count("dot_general") == 2  # the projection, the recurrent product


@pytest.mark.parametrize("name, gates", [("LSTM", 4), ("GRU", 3), ("SimpleRNN", 1)])
def test_initial_weights_are_keras_s(name, gates):
    layer = getattr(J, name)(3, 5, rngs=nnx.Rngs(0))
    kernel, recurrent = np.asarray(layer.kernel[...]), np.asarray(layer.recurrent_kernel[...])
    assert kernel.shape == (3, gates * 5) and recurrent.shape == (5, gates * 5)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(5), atol=1e-5)  # Keras's Orthogonal: orthonormal rows
    bias = np.asarray(layer.bias[...])
    if name == "LSTM":  # unit_forget_bias: i, f, c, o = 0, 1, 0, 0
        np.testing.assert_array_equal(bias, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    else:
        assert bias.shape == ((2, 15) if name == "GRU" else (5,)) and not bias.any()
    keras_layer = getattr(keras.layers, name)(5)
    keras_layer.build((1, 2, 3))
    assert [tuple(w.shape) for w in keras_layer.weights] == [kernel.shape, recurrent.shape, bias.shape]
    assert [w.name for w in keras_layer.weights] == ["kernel", "recurrent_kernel", "bias"]


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_training_dropout_statistics_match_keras(name, rng):
    """Dropout in training: the outputs' mean and spread over a large batch match Keras's (coarse)."""
    batch, time, features, units = 2000, 4, 3, 3
    kwargs = dict(units=units, dropout=0.4, recurrent_dropout=0.3, return_sequences=True)
    layer, weights = keras_rnn(name, (batch, time, features), rng, **kwargs)
    x = np.ones((batch, time, features), np.float32)
    expected = np.asarray(layer(x, training=True))
    module = getattr(L, name)(**kwargs)
    got = np.asarray(module.apply({"params": weights}, x, deterministic=False, rngs={"dropout": jax.random.key(0)}))
    # Both sides are random: 5 standard errors of a difference of means.
    np.testing.assert_allclose(got.mean(0), expected.mean(0), atol=5 * np.sqrt(2 / batch) * expected.std(0).max())
    np.testing.assert_allclose(got.std(0), expected.std(0), rtol=0.1, atol=0.01)
    assert got.std(0).max() > 0.1  # it did drop
    np.testing.assert_array_equal(module.apply({"params": weights}, x), np.asarray(layer(x)))  # inference: none


def test_input_dropout_mask_is_the_same_at_every_step(rng):
    layer = L.SimpleRNN(4, activation=None, use_bias=False, dropout=0.5, return_sequences=True)
    params = {"kernel": jnp.eye(4), "recurrent_kernel": jnp.zeros((4, 4))}
    y = layer.apply({"params": params}, jnp.ones((50, 3, 4)), deterministic=False, rng=jax.random.key(1))
    assert set(np.unique(np.asarray(y)).tolist()) == {0.0, 2.0}
    np.testing.assert_array_equal(y[:, 0], y[:, 2])
    assert 0.3 < float((y == 0).mean()) < 0.7


def test_bad_arguments_are_named(rng):
    x = jnp.ones((2, 5, 3))
    with pytest.raises(ValueError, match="`units` must be an int >= 1, got 0"):
        J.LSTM(3, 0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"LSTM expects a 3-D input \(batch, time, features\), got shape \(2, 5\)"):
        L.LSTM(2).init(jax.random.key(0), jnp.ones((2, 5)))
    with pytest.raises(ValueError, match=r"`mask` must be \(batch, time\) = \(2, 5\), got \(2, 4\)"):
        L.GRU(2).init(jax.random.key(0), x, mask=jnp.ones((2, 4), bool))
    with pytest.raises(ValueError, match="stateful=True"):
        J.SimpleRNN(3, 2, stateful=True, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`recurrent_dropout` must be in"):
        J.GRU(3, 2, recurrent_dropout=1.5, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`initial_state` must be 2 array\(s\) of shape \(2, 2\)"):
        L.LSTM(2).init(jax.random.key(0), x, initial_state=[jnp.zeros((2, 2))])
    with pytest.raises(ValueError, match="recurrent_initializer"):
        J.LSTM(3, 2, recurrent_initializer="nope", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="was built for `in_features`=3"):
        J.LSTM(3, 2, rngs=nnx.Rngs(0))(jnp.ones((2, 5, 4)))
    with pytest.raises(TypeError, match="`go_backwards` must be a bool"):
        J.GRU(3, 2, go_backwards="yes", rngs=nnx.Rngs(0))


def test_keras_refuses_our_refusals_too():
    with pytest.raises(ValueError, match="units"):
        keras.layers.LSTM(0)


def keras_model(layers, shape, dtype="float32"):
    return keras.Sequential([keras.Input(shape, dtype=dtype), *layers])


def test_from_keras_to_keras_with_masks(rng):
    model = keras_model([keras.layers.Embedding(12, 4, mask_zero=True),
                         keras.layers.LSTM(5, return_sequences=True, go_backwards=True),
                         keras.layers.GRU(3, reset_after=False), keras.layers.Dense(2)], (7,), "int32")
    random_weights(model, rng, 0.5)
    ids = rng.integers(1, 12, (5, 7)).astype(np.int32) * padded_mask(rng, 5, 7)
    expected = model(ids)
    unmasked = keras_model([keras.layers.Embedding(12, 4), keras.layers.LSTM(5, return_sequences=True,
                                                                                go_backwards=True),
                            keras.layers.GRU(3, reset_after=False), keras.layers.Dense(2)], (7,), "int32")
    unmasked.set_weights(model.get_weights())
    assert np.abs(unmasked(ids) - expected).max() > 1e-3  # the masks matter here
    module, variables = from_keras(model)
    close(module.apply(variables, ids), expected)
    nnx_module = from_keras(model, api="nnx")
    close(nnx_module(ids), expected)
    close(to_keras(nnx_module, None, (None, 7))(ids), expected)
    back = to_keras(module, variables, (None, 7))
    close(back.predict(ids, verbose=0), expected)
    assert back.count_params() == model.count_params()
    assert [type(layer).__name__ for layer in back.layers] == ["Embedding", "LSTM", "GRU", "Dense"]
    assert back.layers[0].mask_zero and back.layers[1].go_backwards and not back.layers[2].reset_after


def test_from_keras_masking_and_simple_rnn(rng):
    model = keras_model([keras.layers.Masking(0.0), keras.layers.SimpleRNN(4, return_sequences=True, seed=3),
                         keras.layers.LSTM(2, unit_forget_bias=False, recurrent_activation="tanh")], (6, 3))
    x = rng.standard_normal((4, 6, 3)).astype(np.float32) * padded_mask(rng, 4, 6)[..., None]
    module, variables = from_keras(model)
    assert module.layers[1].seed == 3 and module.layers[2].recurrent_activation == "tanh"
    expected = model(x)
    close(module.apply(variables, x), expected)
    close(to_keras(module, variables, (None, 6, 3))(x), expected)


def test_from_keras_masked_batch_normalization_converts_and_stateful_is_refused(rng):
    """A masked BatchNormalization before an LSTM converts (its masked training statistics: tests/test_masks.py);
    a stateful LSTM is refused."""
    model = keras_model([keras.layers.Embedding(12, 4, mask_zero=True), keras.layers.Dense(3),
                         keras.layers.BatchNormalization(), keras.layers.LSTM(5)], (7,), "int32")
    ids = rng.integers(1, 12, (4, 7)).astype(np.int32)
    ids[:, 5:], ids[1, 2:] = 0, 0
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, ids)), model.predict(ids, verbose=0),
                               rtol=1e-5, atol=1e-5)
    model = keras.Sequential([keras.Input(batch_shape=(2, 4, 2)), keras.layers.LSTM(3, stateful=True)])
    with pytest.raises(ValueError, match="stateful"):
        from_keras(model)
