"""Rescaling, Normalization, Resizing and CenterCrop against Keras 3's preprocessing layers (JAX backend).

Keras is the oracle for values, dtypes and input gradients; Normalization's adapted
statistics come from Keras's own `adapt` and go through `from_keras` / `to_keras`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
import jaxlayers.functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.functional.preprocessing import normalization_shape
from jaxlayers.keras import from_keras, to_keras

KL = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)


def value_and_grad(fn, x: np.ndarray, w: np.ndarray):
    """`fn(x)` and the gradient of `sum(fn(x) * w)`, in one compiled function (eager ops compile one by one)."""
    def f(v):
        y = fn(v)
        return jnp.sum(y * w), y
    (_, y), grad = jax.jit(jax.value_and_grad(f, has_aux=True))(jnp.asarray(x))
    return np.asarray(y), np.asarray(grad)


def assert_like_keras(module, klayer, x: np.ndarray, rng, variables=None, tol=TOL) -> None:
    """Same output, dtype and input gradient as the Keras layer (floating x)."""
    variables = {} if variables is None else variables
    w = rng.standard_normal(klayer.compute_output_shape(x.shape)).astype(np.float32)
    expected, grad_keras = value_and_grad(klayer, x, w)
    got, grad = value_and_grad(lambda v: module.apply(variables, v), x, w)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **tol)
    np.testing.assert_allclose(grad, grad_keras, **tol)


# --------------------------------------------------------------------------------- Rescaling


@pytest.mark.parametrize("scale, offset", [(1 / 255, 0.0), (2.0, -1), ([0.5, 2.0, -1.0], 0.25),
                                           (1.5, [1.0, 0.0, -2.0]), ([[1.0], [2.0], [3.0], [4.0]], 1.0)])
def test_rescaling_matches_keras(scale, offset, rng):
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    assert_like_keras(L.Rescaling(scale, offset), KL.Rescaling(scale, offset), x, rng)
    pixels = rng.integers(0, 256, (2, 5, 4, 3)).astype(np.uint8)  # integers give float32, as Keras
    got = L.Rescaling(scale, offset).apply({}, jnp.asarray(pixels))
    expected = np.asarray(KL.Rescaling(scale, offset)(pixels))
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(np.asarray(got), expected, **TOL)


def test_rescaling_dtypes_and_errors():
    x = jnp.ones((2, 3), jnp.bfloat16)
    assert L.Rescaling(2.0).apply({}, x).dtype == jnp.bfloat16
    assert J.Rescaling(2.0, dtype="float32")(x).dtype == jnp.float32
    with pytest.raises(TypeError, match="`scale` must be a number"):
        J.Rescaling("2")
    with pytest.raises(TypeError, match="`offset` must be a number"):
        L.Rescaling(1.0, offset=[1, [2, 3]]).apply({}, x)
    with pytest.raises(ValueError, match=r"`scale` of shape \(4,\) does not broadcast.*\(2, 3\)"):
        F.rescale(x, [1.0, 2.0, 3.0, 4.0])


# ----------------------------------------------------------------------------- Normalization


@pytest.mark.parametrize("axis, mean, variance, shape, invert", [
    (-1, [1.0, -2.0, 0.5], [4.0, 0.25, 1e-16], (2, 4, 3), False),  # the floor on the standard deviation
    (-1, [1.0, -2.0, 0.5], [4.0, 0.25, 1e-16], (2, 4, 3), True),
    (None, 3.0, 2.0, (2, 4, 3), False),
    (-1, 3.0, 2.0, (2, 4, 3), True),
    ((1, -1), [[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]], (2, 4, 3), False),  # laid on the kept axes right to left
    ((1, 2), [1.0, 2.0, 3.0], [2.0, 3.0, 4.0], (2, 4, 3), True),
    (1, [0.5], [3.0], (2, 4, 3), False),  # broadcast over the kept axis
])
def test_fixed_normalization_matches_keras(axis, mean, variance, shape, invert, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    kwargs = dict(axis=axis, mean=mean, variance=variance, invert=invert)
    assert_like_keras(L.Normalization(**kwargs), KL.Normalization(**kwargs), x, rng)
    num_features = normalization_shape(shape, axis)
    np.testing.assert_allclose(J.Normalization(num_features, **kwargs, rngs=nnx.Rngs(0))(x),
                               np.asarray(KL.Normalization(**kwargs)(x)), **TOL)


@pytest.mark.parametrize("axis, shape, invert", [(-1, (6, 5, 3), False), (None, (6, 4), True),
                                                 ((1, 2), (6, 2, 3), False), (0, (4, 3), True)])
def test_adapted_normalization_matches_keras(axis, shape, invert, rng):
    data = (3 * rng.standard_normal(shape) + 1).astype(np.float32)
    klayer = KL.Normalization(axis=axis, invert=invert)
    klayer.adapt(data)
    mean, variance = F.normalization_statistics(jnp.asarray(data), axis)
    np.testing.assert_allclose(np.asarray(mean), np.asarray(klayer.adapt_mean), **TOL)
    np.testing.assert_allclose(np.asarray(variance), np.asarray(klayer.adapt_variance), **TOL)
    module = L.Normalization(axis=axis, invert=invert)
    variables = jax.eval_shape(module.init, jax.random.key(0), data)
    assert jax.tree.map(lambda s: (s.shape, s.dtype), variables) == {"batch_stats": {
        "adapt_mean": (mean.shape, jnp.float32), "adapt_variance": (mean.shape, jnp.float32),
        "count": ((), jnp.int32)}}
    stats = {"batch_stats": {"adapt_mean": mean, "adapt_variance": variance, "count": jnp.zeros((), jnp.int32)}}
    x = rng.standard_normal(shape).astype(np.float32)
    assert_like_keras(module, klayer, x, rng, stats)


def test_normalization_dtypes_and_errors(rng):
    ints = jnp.arange(6).reshape(2, 3)
    assert L.Normalization(mean=1.0, variance=4.0).apply({}, ints).dtype == jnp.float32
    np.testing.assert_allclose(L.Normalization(mean=1.0, variance=4.0).apply({}, ints), (np.arange(6).reshape(2, 3)
                                                                                          - 1.0) / 2.0)
    layer = J.Normalization(3, rngs=nnx.Rngs(0))
    assert isinstance(layer.adapt_mean, nnx.BatchStat) and layer.count[...].dtype == jnp.int32
    assert jaxlayers.count_params(layer) == 7
    assert layer(jnp.ones((2, 3), jnp.bfloat16)).dtype == jnp.float32  # promoted with the float32 statistics
    with pytest.raises(ValueError, match="`mean` and `variance` must be given together"):
        J.Normalization(3, mean=1.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(3,\)"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0, 2.0, 3.0]).apply({}, ints)
    with pytest.raises(ValueError, match=r"more axes than `axis`=None keeps \(0\)"):
        L.Normalization(axis=None, mean=[1.0, 2.0], variance=[1.0, 2.0]).apply({}, ints)
    with pytest.raises(ValueError, match=r"`mean` of shape \(2,\) does not broadcast"):
        L.Normalization(mean=[1.0, 2.0], variance=[1.0, 2.0]).apply({}, ints)
    with pytest.raises(ValueError, match=r"`axis` values must be in the range \[-ndim, ndim\)"):
        L.Normalization(axis=2, mean=1.0, variance=1.0).apply({}, ints)
    with pytest.raises(TypeError, match="`axis` must be an int"):
        J.Normalization(3, axis="channels", rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="`invert` must be a bool"):
        L.Normalization(invert=1).apply({}, ints)
    with pytest.raises(ValueError, match="built for `num_features`=3"):
        layer(jnp.ones((2, 4)))


# ---------------------------------------------------------------------------------- Resizing

RESIZES = [  # (height, width, keyword arguments)
    (4, 5, {}), (13, 6, {}), (5, 12, {"interpolation": "nearest"}), (3, 3, {"interpolation": "bicubic"}),
    (6, 14, {"interpolation": "lanczos3"}), (4, 4, {"interpolation": "lanczos5", "antialias": True}),
    (4, 6, {"antialias": True}), (12, 4, {"crop_to_aspect_ratio": True, "interpolation": "nearest"}),
    (5, 5, {"pad_to_aspect_ratio": True, "fill_value": 2.0}), (4, 12, {"pad_to_aspect_ratio": True}),
]


@pytest.mark.parametrize("height, width, kwargs", RESIZES, ids=[f"{h}x{w}-{k}" for h, w, k in RESIZES])
def test_resizing_matches_keras(height, width, kwargs, rng):
    x = (5 * rng.standard_normal((2, 9, 7, 3))).astype(np.float32)
    assert_like_keras(L.Resizing(height, width, **kwargs), KL.Resizing(height, width, **kwargs), x, rng)


@pytest.mark.parametrize("kwargs", [{"interpolation": "bicubic"}, {"pad_to_aspect_ratio": True, "fill_value": 300}])
def test_resizing_integers_and_single_images(kwargs, rng):
    pixels = rng.integers(0, 256, (2, 6, 9, 3)).astype(np.uint8)  # bicubic overshoots: saturated
    expected = np.asarray(KL.Resizing(8, 5, **kwargs)(pixels))
    got = L.Resizing(8, 5, **kwargs).apply({}, jnp.asarray(pixels))
    assert got.dtype == expected.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(got), expected)
    image = pixels[0].astype(np.float32)
    np.testing.assert_allclose(np.asarray(J.Resizing(8, 5, **kwargs)(image)),
                               np.asarray(KL.Resizing(8, 5, **kwargs)(image)), **TOL)


@pytest.mark.parametrize("make, match, error", [
    (lambda: J.Resizing(4, 4, interpolation="area"), "`interpolation` must be one of", ValueError),
    (lambda: J.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), "Only one of", ValueError),
    (lambda: J.Resizing(4, 4, fill_mode="reflect"), "`fill_mode` must be one of", ValueError),
    (lambda: J.Resizing(0, 4), "`height` must be an int >= 1", ValueError),
    (lambda: J.Resizing(4, 2.0), "`width` must be an int >= 1", TypeError),
    (lambda: J.Resizing(4, 4, antialias=None), "`antialias` must be a bool", TypeError),
    (lambda: L.Resizing(4, 4).apply({}, jnp.zeros((4, 4))), r"an image .* got shape \(4, 4\)", ValueError),
    (lambda: J.CenterCrop(4, -1), "`width` must be an int >= 1", ValueError),
    (lambda: L.CenterCrop(2, 2).apply({}, jnp.zeros((1, 2, 4, 4, 1))), "got shape", ValueError),
])
def test_bad_arguments_are_named(make, match, error):
    with pytest.raises(error, match=match):
        make()


# -------------------------------------------------------------------------------- CenterCrop


@pytest.mark.parametrize("height, width", [(4, 5), (9, 7), (12, 12), (2, 20)])
def test_center_crop_matches_keras(height, width, rng):
    """Smaller targets crop; a larger one on either axis resizes (Keras's smart resize)."""
    x = rng.standard_normal((2, 9, 7, 3)).astype(np.float32)
    assert_like_keras(L.CenterCrop(height, width), KL.CenterCrop(height, width), x, rng)
    pixels = rng.integers(0, 256, (9, 7, 2)).astype(np.uint8)  # one image, integers: float32 (Keras casts)
    got, expected = J.CenterCrop(height, width)(jnp.asarray(pixels)), np.asarray(KL.CenterCrop(height, width)(pixels))
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(np.asarray(got), expected, **TOL)


# ------------------------------------------------------------------------ from_keras / to_keras


def stem(rng) -> keras.Model:
    """EfficientNet's stem (Rescaling, adapted Normalization, per-channel Rescaling) and the other layers."""
    normalization = KL.Normalization(axis=-1, name="adapted")
    normalization.adapt((50 * rng.standard_normal((4, 10, 12, 3)) + 120).astype(np.float32))
    i = keras.Input((10, 12, 3))
    y = KL.Rescaling(1.0 / 255.0)(i)
    y = normalization(y)
    y = KL.Rescaling(np.array([1.0, 2.0, 0.5]), offset=[0.1, 0.0, -0.1])(y)
    y = KL.Normalization(mean=[0.485, 0.456, 0.406], variance=[0.052, 0.05, 0.051], invert=True)(y)
    y = KL.Resizing(8, 8, interpolation="bicubic", crop_to_aspect_ratio=True)(y)
    y = KL.Conv2D(4, 3, kernel_initializer="zeros")(y)
    y = KL.CenterCrop(4, 3)(y)
    return keras.Model(i, KL.Normalization(axis=(1, 2, 3), name="initial")(y))  # not adapted: its initial statistics


def test_from_keras_and_back(rng, tmp_path):
    model = stem(rng)
    conv = model.get_layer(index=6)
    conv.set_weights([0.3 * rng.standard_normal(w.shape).astype(np.float32) for w in conv.weights])
    x = rng.integers(0, 256, (2, 10, 12, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, x)), expected, **TOL)
    assert sorted(variables["batch_stats"]) == ["adapted", "initial"]
    adapted = model.get_layer("adapted")
    np.testing.assert_array_equal(variables["batch_stats"]["adapted"]["adapt_mean"],
                                  np.asarray(adapted.adapt_mean))
    assert jaxlayers.count_params(variables) == model.count_params() == 3 + 3 + 1 + 112 + 48 + 48 + 1
    back = to_keras(module, variables, (None, 10, 12, 3))
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, **TOL)
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    back.save(tmp_path / "stem.keras")
    again, v2 = from_keras(str(tmp_path / "stem.keras"))
    np.testing.assert_allclose(np.asarray(again.apply(v2, x)), expected, **TOL)
    graph = from_keras(model, api="nnx")
    np.testing.assert_allclose(np.asarray(graph(x)), expected, **TOL)
    np.testing.assert_allclose(to_keras(graph, None, (None, 10, 12, 3)).predict(x, verbose=0), expected, **TOL)
