"""ConvLSTM1D/2D/3D against Keras 3 on identical weights."""
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
    from keras_oracle import random_weights
except ImportError:  # tests/ imported as a package
    from tests.keras_oracle import random_weights

TOL = dict(rtol=1e-4, atol=1e-5)
SPATIAL = {1: (7,), 2: (6, 5), 3: (4, 5, 3)}


def keras_conv_lstm(rank: int, x_shape: tuple, rng: np.random.Generator, **kwargs):
    """A built Keras ConvLSTM with random normal weights (scaled to keep tanh out of saturation)."""
    layer = getattr(keras.layers, f"ConvLSTM{rank}D")(kernel_initializer="zeros", recurrent_initializer="zeros",
                                                      **kwargs)
    layer.build(x_shape)
    weights = random_weights(layer, rng, 0.3)
    return layer, {w.name: v for w, v in zip(layer.weights, weights)}


def close(got, expected, tol=TOL):
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol), got, expected)


CONFIGS = [dict(),
           dict(return_sequences=True, go_backwards=True, padding="same"),
           dict(return_state=True, use_bias=False, strides=2, initial=True),
           dict(return_sequences=True, return_state=True, dilation_rate=2, unit_forget_bias=False,
                activation="relu")]


# the default run: every configuration in 2-D, the defaults in 1-D and 3-D (the rest under -m slow)
@pytest.mark.parametrize("rank,config", [
    pytest.param(rank, config, marks=() if rank == 2 or config == 0 else pytest.mark.slow, id=f"{rank}d-{config}")
    for rank in (1, 2, 3) for config in range(4)])
def test_layer_equals_keras(rank, config, rng):
    cfg = dict(CONFIGS[config])
    initial = cfg.pop("initial", False)
    if rank == 3 and cfg.get("dilation_rate"):
        cfg["dilation_rate"] = (2, 1, 1)
    batch, time, channels, filters = 2, 4, 3, 2
    x_shape = (batch, time, *SPATIAL[rank], channels)
    layer, weights = keras_conv_lstm(rank, x_shape, rng, filters=filters, kernel_size=2, **cfg)
    x = rng.standard_normal(x_shape).astype(np.float32)
    states = None
    if initial:
        out_shape = layer.compute_output_shape(x_shape)[0][1:] if cfg.get("return_state") else None
        states = [rng.standard_normal((batch, *out_shape)).astype(np.float32) for _ in range(2)]
    expected = layer(x, initial_state=states)
    module = getattr(L, f"ConvLSTM{rank}D")(filters, 2, **cfg)
    kwargs = {"initial_state": states}
    close(module.apply({"params": weights}, x, **kwargs), expected)
    nnx_layer = nnx.eval_shape(lambda: getattr(J, f"ConvLSTM{rank}D")(channels, filters, 2, **cfg,
                                                                      rngs=nnx.Rngs(0)))
    for key, value in weights.items():
        getattr(nnx_layer, key).set_value(jnp.asarray(value))
    close(nnx_layer(x, **kwargs), expected)
    assert jaxlayers.count_params(nnx_layer) == layer.count_params()


@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_steps_are_skipped(go_backwards, rng):
    # Keras 3's ConvLSTM fails on a mask (its state is broadcast against a (batch, 1) mask), so
    # the oracle is Keras on each row's unmasked steps only: a masked step carries the state over.
    x_shape = (3, 5, 6, 2)
    layer, weights = keras_conv_lstm(1, x_shape, rng, filters=2, kernel_size=3, go_backwards=go_backwards)
    x = rng.standard_normal(x_shape).astype(np.float32)
    mask = np.array([[True, True, False, True, False], [False, True, True, True, True], [True] * 5])
    got = L.ConvLSTM1D(2, 3, go_backwards=go_backwards, return_state=True).apply({"params": weights}, x, mask=mask)
    for row in range(3):
        kept = x[row:row + 1, mask[row]]
        close(got[0][row], np.asarray(layer(kept))[0])
    full = L.ConvLSTM1D(2, 3, go_backwards=go_backwards).apply({"params": weights}, x)
    assert np.abs(np.asarray(full[0] - got[0][0])).max() > 1e-4  # the mask matters


def test_gradients_equal_keras(rng):
    x_shape = (2, 3, 5, 4, 2)
    layer, weights = keras_conv_lstm(2, x_shape, rng, filters=3, kernel_size=3, padding="same",
                                     return_sequences=True)
    x = rng.standard_normal(x_shape).astype(np.float32)
    cotangent = rng.standard_normal((2, 3, 5, 4, 3)).astype(np.float32)

    def keras_loss(values, x):
        out, _ = layer.stateless_call(values, [v.value for v in layer.non_trainable_variables], x)
        return jnp.sum(out * cotangent)

    def our_loss(params, x):
        return jnp.sum(L.ConvLSTM2D(3, 3, padding="same", return_sequences=True).apply({"params": params}, x)
                       * cotangent)

    names = [w.name for w in layer.trainable_variables]
    expected = jax.grad(keras_loss, argnums=(0, 1))([jnp.asarray(weights[n]) for n in names], x)
    got = jax.grad(our_loss, argnums=(0, 1))({n: jnp.asarray(v) for n, v in weights.items()}, x)
    close(got[1], expected[1])
    for n, g in zip(names, expected[0]):
        close(got[0][n], g)


def test_input_convolution_is_one_conv_before_one_scan():
    x, k, r = jnp.ones((2, 5, 6, 3)), jnp.ones((3, 3, 8)), jnp.ones((3, 2, 8))
    text = str(jax.make_jaxpr(lambda x: F.conv_lstm(x, k, r, padding="same")[0])(x))
    assert text.count("scan[") == 1
    assert "f32[5,2,6,8]" in text.split("scan[")[0]  # every step's input convolution, time-major, before the scan


def test_initial_weights_are_keras_s():
    layer = L.ConvLSTM1D(3, 2)
    params = layer.init(jax.random.key(0), jnp.ones((1, 2, 5, 4)))["params"]
    assert params["kernel"].shape == (2, 4, 12) and params["recurrent_kernel"].shape == (2, 3, 12)
    np.testing.assert_array_equal(params["bias"], np.r_[np.zeros(3), np.ones(3), np.zeros(6)])


def test_training_dropout_drops_and_is_deterministic_off(rng):
    x = jnp.asarray(rng.standard_normal((4, 3, 6, 2)).astype(np.float32))
    layer = L.ConvLSTM1D(3, 2, dropout=0.5, recurrent_dropout=0.5, deterministic=False)
    params = layer.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, x)
    a = layer.apply(params, x, rngs={"dropout": jax.random.key(2)})
    b = layer.apply(params, x, rngs={"dropout": jax.random.key(3)})
    plain = L.ConvLSTM1D(3, 2).apply(params, x)
    assert np.abs(np.asarray(a - b)).max() > 1e-3 and np.abs(np.asarray(a - plain)).max() > 1e-3


def test_bad_arguments_are_named():
    x = jnp.ones((1, 2, 5, 3))
    for kwargs, word in [(dict(data_format="channels_first"), "data_format"), (dict(stateful=True), "stateful"),
                         (dict(padding="causal"), "padding"), (dict(dropout=2.0), "dropout"),
                         (dict(strides=0), "strides")]:
        with pytest.raises((ValueError, TypeError), match=word):
            L.ConvLSTM1D(2, 3, **kwargs).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="4-D input"):
        L.ConvLSTM1D(2, 3).init(jax.random.key(0), jnp.ones((1, 5, 3)))
    with pytest.raises(ValueError, match="recurrent_kernel"):
        F.conv_lstm(x, jnp.ones((3, 3, 8)), jnp.ones((3, 3, 8)))
    with pytest.raises(ValueError, match="initial_state"):
        F.conv_lstm(x, jnp.ones((3, 3, 8)), jnp.ones((3, 2, 8)), initial_state=[jnp.ones((1, 5, 2))] * 2)


def test_from_keras_to_keras_round_trip(rng, tmp_path):
    model = keras.Sequential([keras.Input((4, 6, 5, 2)),
                              keras.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
                              keras.layers.ConvLSTM2D(2, 2, strides=2, go_backwards=True)])
    random_weights(model, rng, 0.3)
    x = rng.standard_normal((2, 4, 6, 5, 2)).astype(np.float32)
    expected = model(x)
    module, variables = from_keras(model)
    close(module.apply(variables, x), expected)
    back = to_keras(module, variables, (None, 4, 6, 5, 2))
    assert [type(layer).__name__ for layer in back.layers] == ["ConvLSTM2D", "ConvLSTM2D"]
    path = tmp_path / "m.keras"
    back.save(path)
    close(keras.models.load_model(path)(x), expected)
    assert back.count_params() == model.count_params()
