"""SpatialDropout1D/2D/3D, GaussianDropout, GaussianNoise, AlphaDropout and ActivityRegularization against Keras 3.

Oracles: Keras's own layers: exactly the identity at inference; in training (called
with training=True) the statistics of their draws, which ours must share (fraction
dropped, scaling, the noise's mean and variance), each also checked against Keras's
definition; ActivityRegularization's penalty against `layer.losses` and its gradient
against `stateless_call(..., return_losses=True)`; from_keras/to_keras round trips.
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

from jaxlayers import functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.keras import from_keras, to_keras

KL = keras.layers
KEY = jax.random.key(0)
ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946  # SELU's -alpha * scale

# (Keras layer, linen twin, input shape)
LAYERS = [
    (lambda: KL.SpatialDropout1D(0.3, seed=1), L.SpatialDropout1D(0.3, seed=1), (8, 5, 3)),
    (lambda: KL.SpatialDropout2D(0.4), L.SpatialDropout2D(0.4), (4, 5, 4, 3)),
    (lambda: KL.SpatialDropout3D(0.5), L.SpatialDropout3D(0.5), (2, 3, 4, 2, 3)),
    (lambda: KL.GaussianDropout(0.3, seed=2), L.GaussianDropout(0.3, seed=2), (4, 6)),
    (lambda: KL.GaussianNoise(0.2), L.GaussianNoise(0.2), (4, 3, 6)),
    (lambda: KL.AlphaDropout(0.2, noise_shape=(None, 1, 6)), L.AlphaDropout(0.2, noise_shape=(None, 1, 6)),
     (4, 3, 6)),
    (lambda: KL.ActivityRegularization(0.1, 0.2), L.ActivityRegularization(0.1, 0.2), (4, 6)),
]
IDS = [type(c[1]).__name__ for c in LAYERS]


@pytest.mark.parametrize("make_keras, module, shape", LAYERS, ids=IDS)
def test_identity_at_inference_as_keras(make_keras, module, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(make_keras()(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(module.apply({}, x)), x)
    args = {f.name: getattr(module, f.name) for f in dataclasses.fields(module) if f.name not in ("parent", "name")}
    np.testing.assert_array_equal(np.asarray(getattr(J, type(module).__name__)(**args)(jnp.asarray(x))), x)


# One shape for the statistics and rng tests: eager ops compile once per shape (seconds each on a shared CPU).
SHAPE = (16, 4, 4, 64)
N = math.prod(SHAPE)


def _train(module, x, key=KEY):
    return np.asarray(module.apply({}, jnp.asarray(x), deterministic=False, rngs={"dropout": key}))


@pytest.mark.parametrize("rank, rate", [(1, 0.3), (2, 0.5), (3, 0.2)])
def test_spatial_dropout_drops_whole_feature_maps_as_keras(rank, rate):
    shape = (16, *[4] * rank, 64)
    x = np.ones(shape, np.float32)
    keras_layer = getattr(KL, f"SpatialDropout{rank}D")(rate, seed=3)
    for y in (_train(getattr(L, f"SpatialDropout{rank}D")(rate), x), np.asarray(keras_layer(x, training=True))):
        maps = y.reshape(shape[0], -1, shape[-1])
        assert (maps == maps[:, :1]).all()  # one draw per (example, channel)
        assert set(np.unique(maps)) <= {0.0, np.float32(1 / (1 - rate))}
        dropped = float((maps[:, 0] == 0).mean())
        assert abs(dropped - rate) < 4 * math.sqrt(rate * (1 - rate) / (shape[0] * shape[-1]))


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_gaussian_dropout_moments_as_keras(rate, rng):
    x = (rng.standard_normal(SHAPE) + 3).astype(np.float32)
    sigma = math.sqrt(rate / (1 - rate))  # Keras's noise: mean 1, this standard deviation
    noise = _train(L.GaussianDropout(rate), x) / x
    keras_noise = np.asarray(KL.GaussianDropout(rate)(x, training=True)) / x
    for n in (noise, keras_noise):
        assert abs(n.mean() - 1) < 5 * sigma / math.sqrt(N) and abs(n.std() - sigma) < 5 * sigma / math.sqrt(2 * N)
    assert abs(noise.std() - keras_noise.std()) < 7 * sigma / math.sqrt(2 * N)


@pytest.mark.parametrize("stddev", [0.05, 1.0])
def test_gaussian_noise_moments_as_keras(stddev, rng):
    x = rng.standard_normal(SHAPE).astype(np.float32)
    noise = _train(L.GaussianNoise(stddev), x) - x
    keras_noise = np.asarray(KL.GaussianNoise(stddev)(x, training=True)) - x
    for n in (noise, keras_noise):
        assert abs(n.mean()) < 5 * stddev / math.sqrt(N) and abs(n.std() - stddev) < 5 * stddev / math.sqrt(2 * N)
    assert abs(noise.std() - keras_noise.std()) < 7 * stddev / math.sqrt(2 * N)


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_alpha_dropout_as_keras(rate, rng):
    x = rng.standard_normal(SHAPE).astype(np.float32)
    a = ((1 - rate) * (1 + rate * ALPHA_P ** 2)) ** -0.5
    b = -a * ALPHA_P * rate
    for y in (_train(L.AlphaDropout(rate), x), np.asarray(KL.AlphaDropout(rate)(x, training=True))):
        dropped = np.isclose(y, a * ALPHA_P + b, rtol=0, atol=1e-6)
        assert abs(dropped.mean() - rate) < 5 * math.sqrt(rate * (1 - rate) / N)
        np.testing.assert_allclose(y[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-5)
        assert abs(y.mean()) < 5 / math.sqrt(N) and abs(y.var() - 1) < 0.05  # SELU's fixed point kept
    y = _train(L.AlphaDropout(rate, noise_shape=(None, 1, 1, 64)), x).reshape(16, -1, 64)  # one draw per map
    dropped = np.isclose(y, a * ALPHA_P + b, atol=1e-6)
    assert (dropped == dropped[:, :1]).all() and dropped.any()


STOCHASTIC = [L.SpatialDropout2D(0.5), L.GaussianDropout(0.5), L.GaussianNoise(0.5), L.AlphaDropout(0.5)]


@pytest.mark.parametrize("module", STOCHASTIC, ids=[type(m).__name__ for m in STOCHASTIC])
def test_linen_rng_stream(module, rng):
    x = rng.standard_normal(SHAPE).astype(np.float32)
    first = _train(module, x, jax.random.key(1))
    np.testing.assert_array_equal(first, _train(module, x, jax.random.key(1)))
    assert not np.array_equal(first, _train(module, x, jax.random.key(2)))
    assert not np.array_equal(first, _train(module.clone(seed=7), x, jax.random.key(1)))  # seed folded in
    by_call = [np.asarray(module.apply({}, x, deterministic=False, rng=jax.random.key(k))) for k in (1, 1, 2)]
    np.testing.assert_array_equal(by_call[0], by_call[1])  # the call's rng= instead of the stream
    assert not np.array_equal(by_call[0], by_call[2])
    with pytest.raises(ValueError, match="needs a PRNG key"):
        module.apply({}, x, deterministic=False)


@pytest.mark.parametrize("name, args", [("SpatialDropout2D", (0.5,)), ("GaussianDropout", (0.5,)),
                                        ("GaussianNoise", (0.5,)), ("AlphaDropout", (0.5,))])
def test_nnx_rng_stream(name, args, rng):
    x = jnp.asarray(rng.standard_normal(SHAPE), jnp.float32)
    layer = getattr(J, name)(*args, rngs=nnx.Rngs(dropout=1))
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(x))  # inference by default
    layer.train()
    first, second = np.asarray(layer(x)), np.asarray(layer(x))
    assert not np.array_equal(first, second)  # the stream advances
    again = getattr(J, name)(*args, rngs=nnx.Rngs(dropout=1))
    np.testing.assert_array_equal(np.asarray(again(x, deterministic=False)), first)
    seeded = [np.asarray(getattr(J, name)(*args, seed=3)(x, deterministic=False)) for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    with pytest.raises(ValueError, match="needs random keys"):
        getattr(J, name)(*args)(x, deterministic=False)


def test_activity_regularization_penalty_and_gradient_as_keras(rng):
    x = rng.standard_normal((5, 3, 4)).astype(np.float32)
    layer = KL.ActivityRegularization(l1=0.3, l2=0.7)
    layer(x)
    want = float(layer.losses[0])
    np.testing.assert_allclose(float(F.activity_regularization(jnp.asarray(x), 0.3, 0.7)), want, rtol=1e-6)
    np.testing.assert_allclose((0.3 * np.abs(x).sum() + 0.7 * (x ** 2).sum()) / 5, want, rtol=1e-6)

    model = keras.Sequential([keras.Input((3, 4)), layer])  # its call runs the layer's __call__, which adds the loss

    def keras_penalty(x):
        _, _, losses = model.stateless_call([], [], x, return_losses=True)
        return sum(losses)

    def linen_penalty(x):
        _, state = L.ActivityRegularization(l1=0.3, l2=0.7).apply({}, x, mutable=["losses"])
        return sum(jax.tree.leaves(state["losses"]))

    module = J.ActivityRegularization(l1=0.3, l2=0.7)

    def nnx_penalty(module, x):
        return sum(jax.tree.leaves(nnx.capture(module, nnx.Intermediate)(x)[1]))

    want_g = jax.grad(keras_penalty)(jnp.asarray(x))
    np.testing.assert_allclose(float(linen_penalty(jnp.asarray(x))), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.grad(linen_penalty)(jnp.asarray(x))), np.asarray(want_g), rtol=1e-6)
    np.testing.assert_allclose(float(nnx_penalty(module, jnp.asarray(x))), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(nnx.grad(nnx_penalty, argnums=1)(module, jnp.asarray(x))),
                               np.asarray(want_g), rtol=1e-6)
    assert "losses" not in L.ActivityRegularization(0.1).init(KEY, x)  # init records nothing
    np.testing.assert_array_equal(np.asarray(L.ActivityRegularization(0.1).apply({}, x)), x)  # not mutable: no error
    module(jnp.asarray(x))  # outside nnx.capture: nothing recorded, no new attribute
    assert not nnx.state(module, nnx.Intermediate)


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_keras_model_round_trip(api, rng):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((6, 5, 3)), KL.SpatialDropout2D(0.3, seed=1), KL.GaussianNoise(0.1),
                              KL.Reshape((30, 3)), KL.SpatialDropout1D(0.2), KL.GaussianDropout(0.4, seed=5),
                              KL.AlphaDropout(0.1, noise_shape=(None, 1, 3)), KL.ActivityRegularization(l2=0.01),
                              KL.Reshape((2, 3, 5, 3)), KL.SpatialDropout3D(0.5)])
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)
    np.testing.assert_array_equal(want, x.reshape(want.shape))
    if api == "nnx":
        module = from_keras(model, api="nnx")
        got = module(jnp.asarray(x))
        back = to_keras(module, None, (None, 6, 5, 3))
    else:
        module, variables = from_keras(model)
        got = module.apply(variables, x)
        back = to_keras(module, variables, (None, 6, 5, 3))
    np.testing.assert_array_equal(np.asarray(got), want)
    np.testing.assert_array_equal(back.predict(x, verbose=0), want)
    assert [a.get_config() | {"name": None} for a in back.layers] == \
        [a.get_config() | {"name": None} for a in model.layers]


@pytest.mark.parametrize("make, error, match", [
    (lambda: J.SpatialDropout2D(1.5), ValueError, r"`rate` must be in \[0, 1\].*got 1.5"),
    (lambda: J.SpatialDropout1D("0.5"), TypeError, "`rate` must be a Python float"),
    (lambda: J.SpatialDropout2D(0.5, seed=1.5), TypeError, "`seed` must be None or an int"),
    (lambda: J.SpatialDropout2D(0.5, seed=1)(jnp.zeros((2, 3, 4))), ValueError, "SpatialDropout2D expects a 4-D"),
    (lambda: J.GaussianDropout(1.0), ValueError, r"`rate` must be in \[0, 1\) for GaussianDropout"),
    (lambda: J.GaussianDropout(-0.1), ValueError, r"`rate` must be in \[0, 1\]"),
    (lambda: J.GaussianNoise(1.5), ValueError, r"`stddev` must be in \[0, 1\].*got 1.5"),
    (lambda: J.GaussianNoise(None), TypeError, "`stddev` must be a Python float"),
    (lambda: J.AlphaDropout(1.0), ValueError, r"`rate` must be in \[0, 1\) for AlphaDropout"),
    (lambda: J.AlphaDropout(0.5, noise_shape=(0, 2)), ValueError, "`noise_shape` entries must be positive"),
    (lambda: J.AlphaDropout(0.5, noise_shape=(2, 3), seed=0)(jnp.zeros((2, 4))), ValueError,
     "`noise_shape` entries must be 1, None or the input's size"),
    (lambda: J.ActivityRegularization(l1=-1.0), ValueError, "`l1` must be a finite non-negative float, got -1.0"),
    (lambda: J.ActivityRegularization(l2="0.1"), TypeError, "`l2` must be a non-negative float"),
    (lambda: F.gaussian_noise(jnp.zeros(3, jnp.int32), 0.1, KEY), TypeError, "`x` must be floating"),
    (lambda: F.alpha_dropout(jnp.zeros(3), 0.1, 3), TypeError, "`key` must be one PRNG key"),
])
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_keras_refuses_what_is_refused():
    for make in (lambda: KL.GaussianNoise(1.5), lambda: KL.AlphaDropout(1.5), lambda: KL.SpatialDropout2D(1.5),
                 lambda: KL.ActivityRegularization(l1=-1.0)):
        with pytest.raises(ValueError):
            make()
