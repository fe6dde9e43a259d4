"""jaxlayers.activations and jaxlayers.initializers against Keras 3 under the same names.

Activations must equal `keras.activations.get(name)` numerically. Initializers use
another RNG than Keras, so each name is compared by distribution: mean, std,
quantiles and (for bounded ones) min/max of large samples, for a conv kernel
shape and a dense shape, against samples of the Keras initializer of that name.
"""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from jaxlayers import activations as A
from jaxlayers import initializers as I

# ----------------------------------------------------------------------------- activations

ACTIVATION_NAMES = sorted(A.BY_NAME)


def _activation_inputs(rng):
    x = (3.0 * rng.standard_normal((3, 5, 7))).astype(np.float32)
    edge = np.array([0.0, -0.0, 1e-7, -1e-7, 1.0, -1.0, 6.0, 6.5, -6.0, 20.0, -20.0, 0.5, -0.5, 3.0],
                    np.float32)
    return [x, np.broadcast_to(edge, (2, edge.size)).copy()]


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_matches_keras(name, rng):
    ours = A.get(name)
    theirs = keras.activations.get(name)
    for x in _activation_inputs(rng):
        if name == "glu" and x.shape[-1] % 2:
            continue  # it halves the last axis (tests/test_activation_layers.py)
        got = np.asarray(ours(jnp.asarray(x)))
        want = np.asarray(keras.ops.convert_to_numpy(theirs(x)))
        assert got.shape == want.shape == (x.shape[:-1] + (x.shape[-1] // 2,) if name == "glu" else x.shape)
        chex.assert_trees_all_close(got, want, atol=1e-6, rtol=1e-6)
        # Under jit too.
        chex.assert_trees_all_close(np.asarray(jax.jit(ours)(x)), want, atol=1e-6, rtol=1e-6)


def test_activation_names_are_the_keras_names():
    for name in ACTIVATION_NAMES:
        fn = keras.activations.get(name)  # raises for a name Keras does not know
        assert callable(fn)
        assert keras.activations.serialize(fn) == {"swish": "silu", "hard_swish": "hard_silu"}.get(name, name)


def test_activation_get_variants(rng):
    x = jnp.asarray(rng.standard_normal((4, 6)).astype(np.float32))
    np.testing.assert_array_equal(A.get(None)(x), x)
    np.testing.assert_array_equal(A.get("linear")(x), x)
    np.testing.assert_array_equal(A.get("ReLU")(x), np.maximum(np.asarray(x), 0))
    f = lambda v: v * 3  # noqa: E731
    assert A.get(f) is f
    # softmax is over the last axis, as Keras's default.
    s = np.asarray(A.get("softmax")(x))
    np.testing.assert_allclose(s.sum(-1), 1, rtol=1e-6)
    with pytest.raises(ValueError, match="activation"):
        A.get("not_an_activation")


# ----------------------------------------------------------------------------- initializers

INITIALIZER_NAMES = sorted(I.BY_NAME)
SHAPES = {"conv": (3, 3, 16, 32), "dense": (256, 128)}
SEEDS = 2  # independent draws per (name, shape), for larger samples


def _keras_initializer(name: str, seed: int):
    init = keras.initializers.get(name)
    config = init.get_config()
    if "seed" in config:
        config["seed"] = seed
    return type(init).from_config(config)


@pytest.fixture(scope="module")
def samples():
    """{(name, shape_key): (ours, keras)}: SEEDS draws each; one jit per library (compile once)."""

    @jax.jit
    def ours(key):
        keys = jax.random.split(key, SEEDS)
        return {(n, k): jax.vmap(lambda kk, n=n, s=s: I.get(n, "kernel_initializer")(kk, s, jnp.float32))(keys)
                for n in INITIALIZER_NAMES for k, s in SHAPES.items()}

    @jax.jit
    def theirs():
        return {(n, k): jnp.stack([_keras_initializer(n, 1000 + i)(s, "float32") for i in range(SEEDS)])
                for n in INITIALIZER_NAMES for k, s in SHAPES.items()}

    a, b = ours(jax.random.key(0)), theirs()
    return {key: (np.asarray(a[key]), np.asarray(b[key])) for key in a}


@pytest.mark.parametrize("shape_key", sorted(SHAPES))
@pytest.mark.parametrize("name", INITIALIZER_NAMES)
def test_initializer_distribution_matches_keras(name, shape_key, samples):
    ours, theirs = samples[name, shape_key]
    shape = SHAPES[shape_key]
    assert ours.shape == theirs.shape == (SEEDS, *shape)
    assert ours.dtype == np.float32
    if name in ("zeros", "ones"):
        np.testing.assert_array_equal(ours, theirs)
        return
    # Independent draws differ (it is random at all), and differ from Keras's values.
    assert not np.array_equal(ours[0], ours[1])
    a, b = ours.ravel().astype(np.float64), theirs.ravel().astype(np.float64)
    sd = b.std()
    n = a.size
    assert abs(a.mean() - b.mean()) < 8 * sd / np.sqrt(n), (a.mean(), b.mean(), sd)
    assert abs(a.std() / sd - 1) < 0.04, (a.std(), sd)
    q = [0.05, 0.25, 0.5, 0.75, 0.95]  # ~4 standard errors of a difference of quantiles
    np.testing.assert_allclose(np.quantile(a, q), np.quantile(b, q), atol=0.12 * sd, rtol=0)
    if name not in ("random_normal", "orthogonal"):
        # Bounded distributions (uniform; truncated normals): same support.
        span = b.max() - b.min()
        assert abs(a.min() - b.min()) < 0.01 * span, (a.min(), b.min())
        assert abs(a.max() - b.max()) < 0.01 * span, (a.max(), b.max())
        assert a.min() >= b.min() - 0.01 * span and a.max() <= b.max() + 0.01 * span
    if name == "orthogonal":
        # Keras: the kernel reshaped to (prod(shape[:-1]), shape[-1]) has orthonormal columns.
        for w in ours:
            m = w.reshape(-1, shape[-1]).astype(np.float64)
            np.testing.assert_allclose(m.T @ m, np.eye(shape[-1]), atol=1e-4)


def test_initializer_fans_against_keras_formulas(samples):
    """Independent check of the scale rule on the conv shape: Keras's documented formulas."""
    kh, kw, cin, cout = SHAPES["conv"]
    fan_in, fan_out = kh * kw * cin, kh * kw * cout
    ours = {name: samples[name, "conv"][0] for name in INITIALIZER_NAMES}
    limits = {
        "glorot_uniform": np.sqrt(6 / (fan_in + fan_out)),
        "he_uniform": np.sqrt(6 / fan_in),
        "lecun_uniform": np.sqrt(3 / fan_in),
        "random_uniform": 0.05,
    }
    for name, limit in limits.items():
        x = ours[name]
        assert np.abs(x).max() <= limit * (1 + 1e-6)
        assert np.abs(x).max() > 0.98 * limit
        np.testing.assert_allclose(x.std(), limit / np.sqrt(3), rtol=0.05)
    # Truncated normals: truncated at 2 untruncated std's; Keras rescales the std by 0.8796...
    # so that the truncated variance is scale / fan.
    variances = {"glorot_normal": 2 / (fan_in + fan_out), "he_normal": 2 / fan_in, "lecun_normal": 1 / fan_in}
    for name, var in variances.items():
        np.testing.assert_allclose(ours[name].std(), np.sqrt(var), rtol=0.05)
    np.testing.assert_allclose(ours["random_normal"].std(), 0.05, rtol=0.05)


def test_initializer_get():
    assert I.get("GLOROT_UNIFORM", "kernel_initializer") is I.BY_NAME["glorot_uniform"]
    f = lambda key, shape, dtype=jnp.float32: jnp.full(shape, 7.0, dtype)  # noqa: E731
    assert I.get(f, "kernel_initializer") is f
    with pytest.raises(ValueError, match="bias_initializer.*'nope'"):
        I.get("nope", "bias_initializer")
    for name in INITIALIZER_NAMES:
        keras.initializers.get(name)  # every name is a Keras name
