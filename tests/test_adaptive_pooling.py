"""Adaptive average and max pooling against Keras 3's `AdaptiveAveragePoolingND` / `AdaptiveMaxPoolingND`.

Keras (JAX backend) is the oracle for values and input gradients (ties and NaN
included), plus a NumPy reference of the windows, `floor(i * n / out)` to
`ceil((i + 1) * n / out)`, for NaN and infinities.
"""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import jaxlayers
import jaxlayers.functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.keras import from_keras, to_keras

TOL = dict(rtol=1e-6, atol=1e-6)
KINDS = {"avg": ("AdaptiveAveragePooling", F.adaptive_avg_pool), "max": ("AdaptiveMaxPooling", F.adaptive_max_pool)}

# (input shape, output_size): divisible, not divisible, larger than the input, size 1, batch 1, ints and tuples.
CASES = [
    ((2, 8, 3), 4), ((2, 7, 3), (3,)), ((1, 3, 2), 5),
    ((2, 6, 9, 2), (3, 4)), ((1, 4, 5, 3), (6, 1)), ((1, 5, 6, 7, 2), (2, 4, 3)),
]


def keras_layer(kind: str, rank: int, output_size):
    return getattr(keras.layers, f"{KINDS[kind][0]}{rank}D")(output_size)


def np_adaptive(x: np.ndarray, output_size, reduce) -> np.ndarray:
    """Direct loops over the adaptive windows (all axes at once), NumPy's reduce (NaN propagates)."""
    sizes = x.shape[1:-1]
    out = (output_size,) * len(sizes) if isinstance(output_size, int) else tuple(output_size)
    y = np.empty((x.shape[0], *out, x.shape[-1]), x.dtype)
    for cell in itertools.product(*map(range, out)):
        window = tuple(slice(i * n // o, -(-(i + 1) * n // o)) for i, n, o in zip(cell, sizes, out))
        y[(slice(None), *cell)] = reduce(x[(slice(None), *window)], axis=tuple(range(1, len(sizes) + 1)))
    return y


def value_and_grad(fn, x: np.ndarray, w: np.ndarray):
    """`fn(x)` and the gradient of `sum(fn(x) * w)`, in one compiled function (eager ops compile one by one)."""
    def f(v):
        y = fn(v)
        return jnp.sum(y * w), y
    (_, y), grad = jax.jit(jax.value_and_grad(f, has_aux=True))(jnp.asarray(x))
    return np.asarray(y), np.asarray(grad)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("shape, output_size", CASES, ids=[f"{s}-{o}" for s, o in CASES])
def test_matches_keras_values_and_gradients(kind, shape, output_size, rng):
    rank = len(shape) - 2
    x = rng.standard_normal(shape).astype(np.float32)
    if kind == "max":
        x = np.round(2 * x)  # many ties: the gradient's choice among them is Keras's
    klayer = keras_layer(kind, rank, output_size)
    out_shape = tuple(klayer.compute_output_shape(shape))
    w = rng.standard_normal(out_shape).astype(np.float32)
    expected, grad_keras = value_and_grad(klayer, x, w)
    module = getattr(L, f"{KINDS[kind][0]}{rank}D")(output_size)
    got, grad = value_and_grad(lambda v: module.apply({}, v), x, w)
    assert got.shape == expected.shape == out_shape
    np.testing.assert_allclose(got, expected, **TOL)
    np.testing.assert_allclose(grad, grad_keras, **TOL)
    np.testing.assert_allclose(expected, np_adaptive(x, output_size, np.mean if kind == "avg" else np.max), **TOL)
    functional = jax.jit(KINDS[kind][1], static_argnums=1)(jnp.asarray(x), output_size)
    np.testing.assert_array_equal(np.asarray(functional), got)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_nan_and_infinities(kind):
    x = np.array([1, np.nan, 3, np.inf, -np.inf, 2, 2, np.nan, 0, -np.inf, -np.inf], np.float32)[None, :, None]
    x = np.concatenate([x, x[:, ::-1]], axis=-1)
    reduce = np.mean if kind == "avg" else np.max
    for out in (1, 4, 13):
        klayer = keras_layer(kind, 1, out)
        got = np.asarray(KINDS[kind][1](jnp.asarray(x), out))
        np.testing.assert_array_equal(got, np.asarray(klayer(x)))
        np.testing.assert_array_equal(got, np_adaptive(x, out, reduce))
    if kind == "max":  # the gradient of a window holding NaN goes where Keras's does
        x2 = np.stack([x[0], x[0][::-1]])[..., :1].reshape(2, 11, 1)
        klayer = keras_layer(kind, 1, 4)
        grad_keras = jax.grad(lambda v: jnp.sum(klayer(v)))(jnp.asarray(x2))
        grad = jax.grad(lambda v: jnp.sum(F.adaptive_max_pool(v, 4)))(jnp.asarray(x2))
        np.testing.assert_array_equal(np.asarray(grad), np.asarray(grad_keras))


def test_dtypes():
    x = jnp.arange(2 * 7 * 3, dtype=jnp.int32).reshape(2, 7, 3)
    assert F.adaptive_max_pool(x, 3).dtype == jnp.int32
    np.testing.assert_array_equal(F.adaptive_max_pool(x, 3), np_adaptive(np.asarray(x), 3, np.max))
    y = F.adaptive_avg_pool(x, 3)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, np_adaptive(np.asarray(x, np.float64), 3, np.mean), rtol=1e-6)
    assert F.adaptive_avg_pool(x.astype(jnp.bfloat16), 2).dtype == jnp.bfloat16
    assert L.AdaptiveAveragePooling1D(2, dtype="bfloat16").apply({}, x.astype(jnp.float32)).dtype == jnp.bfloat16
    with pytest.raises(TypeError, match="bool"):
        F.adaptive_avg_pool(x > 3, 2)


def test_rank_generic_and_jit(rng):
    x = jnp.asarray(rng.standard_normal((2, 7, 5, 3)), jnp.float32)
    expected = F.adaptive_max_pool(x, (3, 2))
    np.testing.assert_array_equal(L.AdaptiveMaxPooling((3, 2)).apply({}, x), expected)
    np.testing.assert_array_equal(J.AdaptiveMaxPooling(3)(x), F.adaptive_max_pool(x, 3))
    np.testing.assert_allclose(J.AdaptiveAveragePooling2D((4, 4))(x), L.AdaptiveAveragePooling((4, 4)).apply({}, x))


@pytest.mark.parametrize("make, match, error", [
    (lambda: L.AdaptiveMaxPooling2D((2, 3, 4)).apply({}, jnp.zeros((1, 4, 4, 1))), "output_size", ValueError),
    (lambda: L.AdaptiveMaxPooling2D(2.5).apply({}, jnp.zeros((1, 4, 4, 1))), "output_size", TypeError),
    (lambda: J.AdaptiveAveragePooling1D(0), "output_size.*>= 1", ValueError),
    (lambda: J.AdaptiveAveragePooling3D("2"), "output_size", TypeError),
    (lambda: L.AdaptiveMaxPooling2D(2).apply({}, jnp.zeros((1, 4, 1))), "AdaptiveMaxPooling2D expects a 4-D", ValueError),
    (lambda: F.adaptive_avg_pool(jnp.zeros((1, 4, 4, 1)), (2,)), "output_size", ValueError),
    (lambda: F.adaptive_max_pool(jnp.zeros((4, 1)), 2), "at least one spatial axis", ValueError),
])
def test_bad_arguments_are_named(make, match, error):
    with pytest.raises(error, match=match):
        make()


def test_from_keras_and_back(rng, tmp_path):
    i = keras.Input((9, 7, 3))
    y = keras.layers.AdaptiveMaxPooling2D((4, 3))(i)
    y = keras.layers.Conv2D(4, 2, kernel_initializer="zeros")(y)
    y = keras.layers.AdaptiveAveragePooling2D(2)(y)
    y = keras.layers.Reshape((4, 4))(y)
    y = keras.layers.AdaptiveAveragePooling1D(3)(y)
    y = keras.layers.AdaptiveMaxPooling1D((2,))(y)
    y = keras.layers.Reshape((2, 2, 1, 2))(y)
    y = keras.layers.AdaptiveMaxPooling3D((3, 1, 2))(y)
    y = keras.layers.AdaptiveAveragePooling3D(1)(y)
    model = keras.Model(i, y)
    conv = model.layers[2]
    conv.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in conv.weights])
    x = rng.standard_normal((2, 9, 7, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, x)), expected, **TOL)
    assert jaxlayers.count_params(variables) == model.count_params()
    back = to_keras(module, variables, (None, 9, 7, 3))
    assert [type(layer).__name__ for layer in back.layers] == [type(layer).__name__ for layer in model.layers[1:]]
    assert [layer.output_size for layer in back.layers if "Adaptive" in type(layer).__name__] == [
        (4, 3), (2, 2), (3,), (2,), (3, 1, 2), (1, 1, 1)]
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, **TOL)
    graph = from_keras(model, api="nnx")
    np.testing.assert_allclose(np.asarray(graph(x)), expected, **TOL)
    assert isinstance(graph.layers[0], J.AdaptiveMaxPooling2D)
