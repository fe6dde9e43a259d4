"""Dropout (functional, linen, NNX): Keras's semantics, checked against theory and Keras 3.

The oracles are independent of jaxlayers: binomial statistics of the kept fraction,
the inverted-scaling rule x / (1 - rate) computed in NumPy, and Keras's own `Dropout`
for what it accepts, its inference identity and its rate=1 output.
"""
from __future__ import annotations

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
N = 1 << 20  # units per statistical check: the kept fraction's standard deviation is <= 5e-4


def _x(rng: np.random.Generator, shape=(N // 64, 64)) -> np.ndarray:
    """Inputs in [1, 2): never zero, so y == 0 marks exactly the dropped units."""
    return rng.uniform(1.0, 2.0, shape).astype(np.float32)


def _three_ways(rate: float, x: np.ndarray, key: jax.Array, **kwargs) -> dict[str, np.ndarray]:
    """Training-mode dropout of x through F.dropout, linen Dropout and NNX Dropout."""
    linen = L.Dropout(rate, **kwargs)
    return {
        "functional": np.asarray(F.dropout(jnp.asarray(x), rate, key, kwargs.get("noise_shape"))),
        "linen": np.asarray(linen.apply({}, x, deterministic=False, rngs={"dropout": key})),
        "nnx": np.asarray(J.Dropout(rate, **kwargs, deterministic=False)(x, rngs=key)),
    }


def _binomial_bound(p: float, n: int) -> float:
    """Six standard deviations of the fraction of successes in n Bernoulli(p) draws."""
    return 6 * math.sqrt(p * (1 - p) / n)


# ----------------------------------------------------------------------------- inference


def test_identity_when_deterministic(rng):
    x = rng.standard_normal((4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(KL.Dropout(0.4)(x)), x)  # Keras: identity outside training
    key = {"dropout": jax.random.key(0)}
    for y in [
        L.Dropout(0.4).apply({}, x, rngs=key),                                  # default: inference
        L.Dropout(0.4, deterministic=True).apply({}, x, rngs=key),
        L.Dropout(0.4, deterministic=False).apply({}, x, deterministic=True, rngs=key),  # the call wins
        J.Dropout(0.4)(x),
        J.Dropout(0.4, rngs=nnx.Rngs(0), deterministic=False)(x, deterministic=True),
        F.dropout(jnp.asarray(x), 0.0, jax.random.key(0)),
    ]:
        np.testing.assert_array_equal(np.asarray(y), x)
    layer = J.Dropout(0.4, rngs=nnx.Rngs(0))
    model = nnx.Sequential(layer)
    model.train()
    assert not layer.deterministic and (np.asarray(model(x)) == 0).any()
    model.eval()
    np.testing.assert_array_equal(np.asarray(model(x)), x)
    np.testing.assert_array_equal(np.asarray(nnx.view(model, deterministic=True)(x)), x)


# ------------------------------------------------------------------------------ training


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_kept_fraction_and_scaling_agree_with_theory(rate, rng):
    x = _x(rng)
    for how, y in _three_ways(rate, x, jax.random.key(int(rate * 10))).items():
        kept = y != 0
        assert abs(kept.mean() - (1 - rate)) < _binomial_bound(1 - rate, N), (how, kept.mean())
        # kept units: exactly x / (1 - rate), as Keras scales them (in float32)
        np.testing.assert_allclose(y[kept], x[kept] / np.float32(1 - rate), rtol=1e-6, err_msg=how)
        # no structure: each column and each row block keeps about the same fraction
        by_column = kept.mean(axis=0)
        assert np.abs(by_column - (1 - rate)).max() < _binomial_bound(1 - rate, kept.shape[0]), how
        # unbiased: mean(y) - mean(x) is a sum of independent x (B / (1 - rate) - 1), mean 0
        assert abs(y.mean() - x.mean()) < 6 * math.sqrt((x.astype(np.float64) ** 2).mean() * rate / (1 - rate) / N), how


def test_masks_from_different_keys_are_independent(rng):
    x = _x(rng)
    a = np.asarray(F.dropout(jnp.asarray(x), 0.5, jax.random.key(1))) != 0
    b = np.asarray(F.dropout(jnp.asarray(x), 0.5, jax.random.key(2))) != 0
    both = (a & b).mean()  # independent: P(kept in both) = 0.25
    assert abs(both - 0.25) < _binomial_bound(0.25, N)


def test_noise_shape_broadcasts_the_mask(rng):
    rate, x = 0.5, _x(rng, (256, 4, 5, 32))
    for how, y in _three_ways(rate, x, jax.random.key(3), noise_shape=(None, 1, 1, None)).items():
        kept = y != 0
        # one draw per (example, channel), shared over the spatial axes (whole feature maps)
        assert (kept == kept[:, :1, :1, :]).all(), how
        per_map = kept[:, 0, 0, :]
        assert abs(per_map.mean() - (1 - rate)) < _binomial_bound(1 - rate, per_map.size), how
        np.testing.assert_allclose(y[kept], x[kept] * 2, rtol=1e-6, err_msg=how)
    # Keras's noise_shape gives the same structure (its own random draws)
    y = np.asarray(KL.Dropout(rate, noise_shape=(None, 1, 1, None), seed=1)(x, training=True))
    assert ((y != 0) == (y[:, :1, :1, :] != 0)).all() and 0.3 < (y != 0).mean() < 0.7
    # an explicit size equal to the input's is as None; 1 on the batch shares over examples
    y = np.asarray(F.dropout(jnp.asarray(x), rate, jax.random.key(4), (1, 4, 5, 32)))
    assert ((y != 0) == (y[:1] != 0)).all()


@pytest.mark.parametrize("noise_shape, error, match", [
    ((None, 1, None), ValueError, "one entry per axis"),
    ((None, 3, 1, None), ValueError, "1, None or the input's size"),
    ((None, 0, 1, None), ValueError, "positive"),
    ("abcd", TypeError, "noise_shape"),
    ((None, 1.0, 1, None), TypeError, "noise_shape"),
])
def test_bad_noise_shape_is_refused(noise_shape, error, match):
    x = jnp.ones((2, 4, 5, 3))
    with pytest.raises(error, match=match):
        F.dropout(x, 0.5, jax.random.key(0), noise_shape)
    with pytest.raises(error, match=match):
        L.Dropout(0.5, noise_shape=noise_shape).apply({}, x)
    with pytest.raises(error, match=match):
        J.Dropout(0.5, noise_shape=noise_shape)(x)


def test_gradients_are_zero_exactly_on_dropped_units(rng):
    rate = 0.3
    x = jnp.asarray(_x(rng, (64, 32)))
    w = jnp.asarray(rng.standard_normal((64, 32)).astype(np.float32))
    key = jax.random.key(5)
    linen = L.Dropout(rate, deterministic=False)
    layer = J.Dropout(rate, seed=2, deterministic=False)
    for how, f in [
        ("functional", lambda x: F.dropout(x, rate, key)),
        ("linen", lambda x: linen.apply({}, x, rngs={"dropout": key})),
        ("nnx", lambda x: nnx.clone(layer)(x)),
    ]:
        y, grad = f(x), jax.grad(lambda x: jnp.sum(f(x) * w))(x)
        dropped = np.asarray(y) == 0
        assert 0 < dropped.mean() < 1
        assert (np.asarray(grad)[dropped] == 0).all(), how
        np.testing.assert_allclose(np.asarray(grad)[~dropped], np.asarray(w)[~dropped] / np.float32(1 - rate),
                                   rtol=1e-6, err_msg=how)


def test_seeded_runs_are_reproducible(rng):
    x = _x(rng, (32, 64))
    key = jax.random.key(11)
    f = jax.jit(lambda k: F.dropout(jnp.asarray(x), 0.5, k))
    np.testing.assert_array_equal(f(key), F.dropout(jnp.asarray(x), 0.5, key))
    assert not np.array_equal(f(key), f(jax.random.key(12)))

    def linen(seed, key):
        return np.asarray(L.Dropout(0.5, seed=seed).apply({}, x, deterministic=False, rngs={"dropout": key}))

    np.testing.assert_array_equal(linen(None, key), linen(None, key))
    assert not np.array_equal(linen(None, key), linen(None, jax.random.key(12)))
    assert not np.array_equal(linen(1, key), linen(2, key))  # `seed` is folded into the stream's key

    def nnx_run(**kwargs):
        layer = J.Dropout(0.5, deterministic=False, **kwargs)
        return [np.asarray(layer(x)) for _ in range(3)]

    for kwargs in ({"seed": 7}, {"rngs": nnx.Rngs(dropout=7)}):
        first, again = nnx_run(**kwargs), nnx_run(**{k: nnx.Rngs(dropout=7) if k == "rngs" else v
                                                     for k, v in kwargs.items()})
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)  # the same seed gives the same sequence of masks
        assert not np.array_equal(first[0], first[1])  # and each call draws a new mask
    assert not np.array_equal(nnx_run(seed=7)[0], nnx_run(seed=8)[0])
    assert not np.array_equal(nnx_run(rngs=nnx.Rngs(dropout=7))[0], nnx_run(rngs=nnx.Rngs(dropout=8))[0])


# ------------------------------------------------------------------------------ arguments


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_rates_keras_refuses_are_refused(rate):
    with pytest.raises(ValueError, match="rate"):
        KL.Dropout(rate)
    with pytest.raises(ValueError, match=r"`rate` must be in \[0, 1\]"):
        F.dropout(jnp.ones((2, 3)), rate, jax.random.key(0))
    with pytest.raises(ValueError, match=r"`rate` must be in \[0, 1\]"):
        L.Dropout(rate)
    with pytest.raises(ValueError, match=r"`rate` must be in \[0, 1\]"):
        J.Dropout(rate)


def test_rate_one_drops_everything_as_keras(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(KL.Dropout(1.0)(x, training=True)), np.zeros_like(x))
    for how, y in _three_ways(1.0, x, jax.random.key(0)).items():
        np.testing.assert_array_equal(y, np.zeros_like(x), err_msg=how)
    grad = jax.grad(lambda x: jnp.sum(F.dropout(x, 1.0, jax.random.key(0))))(jnp.asarray(x))
    assert not np.asarray(grad).any()


@pytest.mark.parametrize("rate", ["0.5", True, None])
def test_rate_must_be_a_number(rate):
    with pytest.raises(TypeError, match="`rate` must be a Python float"):
        L.Dropout(rate)
    with pytest.raises(TypeError, match="`rate` must be a Python float"):
        J.Dropout(rate)


def test_training_mode_needs_random_keys():
    x = jnp.ones((2, 3))
    with pytest.raises(ValueError, match=r"needs a PRNG key: apply\(\.\.\., rngs=\{'dropout': key\}\)"):
        L.Dropout(0.5).apply({}, x, deterministic=False)
    with pytest.raises(ValueError, match="needs random keys"):
        J.Dropout(0.5, deterministic=False)(x)
    with pytest.raises(ValueError, match="`seed`.*or `rngs`, not both"):
        J.Dropout(0.5, seed=1, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="`seed` must be None or an int"):
        L.Dropout(0.5, seed=1.5)
    with pytest.raises(TypeError, match="`x` must be floating"):
        F.dropout(jnp.ones((2, 3), jnp.int32), 0.5, jax.random.key(0))


def test_keras_dropout_arguments_round_trip():
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((6, 4)), KL.Dropout(0.25, noise_shape=(None, 1, None), seed=5)])
    module, variables = from_keras(model)
    (dropout,) = module.layers
    assert (dropout.rate, dropout.noise_shape, dropout.seed) == (0.25, (None, 1, None), 5)
    back = to_keras(module, variables, (None, 6, 4))
    config = back.layers[0].get_config()
    assert (config["rate"], tuple(config["noise_shape"]), config["seed"]) == (0.25, (None, 1, None), 5)
    # training through the converted model drops whole rows of the 6 steps, as noise_shape says
    x = np.ones((64, 6, 4), np.float32)
    y = np.asarray(module.apply(variables, x, training=True, rngs={"dropout": jax.random.key(0)}))
    assert ((y == 0) == (y[:, :1] == 0)).all() and 0.6 < (y != 0).mean() < 0.9
