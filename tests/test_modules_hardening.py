"""Module hardening: `dtype` on every layer (Keras's input cast), construction-time argument
checks in NNX (first-call ones in linen), and no `_`-prefixed parameter in the public API.

Oracles: Keras 3 layers built with `dtype=` (JAX backend) on the same input, the
functional op on the cast input where Keras has no such layer, and Keras's own
argument checks where it has them.
"""
from __future__ import annotations

import importlib
import inspect
import re

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx
from jax import lax

import jaxlayers.functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.keras import from_keras, to_keras


def linen_call(layer, *args):
    variables = layer.init(jax.random.key(0), *args)
    return layer.apply(variables, *args)


def build(api: str, name: str, kwargs: dict, **extra):
    """The jaxlayers layer `name` of one API, as a function of its input."""
    if api == "linen":
        layer = getattr(L, name)(**kwargs, **extra)
        return lambda *args: linen_call(layer, *args)
    return getattr(J, name)(**kwargs, **extra)


# --------------------------------------------------------------------------------- dtype

# (Keras / jaxlayers class, arguments, input shapes: one, or several for merges)
WEIGHTLESS = [
    ("MaxPooling2D", dict(pool_size=2), [(2, 6, 6, 3)]),
    ("AveragePooling1D", dict(pool_size=3, strides=2, padding="same"), [(2, 9, 3)]),
    ("GlobalAveragePooling2D", dict(), [(2, 5, 4, 3)]),
    ("GlobalMaxPooling1D", dict(keepdims=True), [(2, 7, 3)]),
    ("UpSampling2D", dict(size=2, interpolation="bilinear"), [(2, 3, 4, 2)]),
    ("UpSampling3D", dict(size=2), [(1, 2, 3, 2, 2)]),
    ("ZeroPadding2D", dict(padding=1), [(2, 3, 4, 2)]),
    ("Cropping1D", dict(cropping=(1, 2)), [(2, 7, 3)]),
    ("Flatten", dict(), [(2, 3, 4, 2)]),
    ("Reshape", dict(target_shape=(-1, 3)), [(2, 4, 3)]),
    ("Activation", dict(activation="sigmoid"), [(2, 5)]),
    ("ReLU", dict(max_value=1.0, negative_slope=0.1, threshold=0.2), [(2, 5)]),
    ("Dropout", dict(rate=0.5), [(2, 5)]),
    ("Add", dict(), [(2, 4), (2, 4)]),
    ("Average", dict(), [(2, 4), (2, 4), (2, 4)]),
    ("Maximum", dict(), [(2, 3, 4), (2, 3, 4)]),
    ("Concatenate", dict(axis=-1), [(2, 3), (2, 5)]),
]
IDS = [c[0] for c in WEIGHTLESS]


def inputs(shapes, rng, dtype=np.float32):
    arrays = [(3 * rng.standard_normal(s)).astype(dtype) for s in shapes]
    return arrays if len(shapes) > 1 else arrays[0]


@pytest.mark.parametrize("api", ["linen", "nnx"])
@pytest.mark.parametrize("name,kwargs,shapes", WEIGHTLESS, ids=IDS)
def test_bfloat16_dtype_matches_keras(api, name, kwargs, shapes, rng):
    x = inputs(shapes, rng)
    expected = getattr(keras.layers, name)(**kwargs, dtype="bfloat16")(x)
    assert expected.dtype == jnp.bfloat16  # the oracle's own cast
    got = build(api, name, kwargs, dtype="bfloat16")(jax.tree.map(jnp.asarray, x))
    assert got.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(expected, np.float32), rtol=2 ** -7,
                               atol=2 ** -7)


@pytest.mark.parametrize("api", ["linen", "nnx"])
@pytest.mark.parametrize("name,kwargs,shapes", WEIGHTLESS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_dtype_none_keeps_the_input_dtype(api, name, kwargs, shapes, dtype, rng):
    x = jax.tree.map(jnp.asarray, inputs(shapes, rng, dtype))
    assert build(api, name, kwargs)(x).dtype == dtype


# Integer inputs are not cast (Keras casts floating inputs only); the op's own rule decides.
INTEGER = [
    ("MaxPooling2D", dict(pool_size=2), [(2, 4, 4, 3)]),
    ("AveragePooling2D", dict(pool_size=2), [(2, 4, 4, 3)]),
    ("GlobalAveragePooling2D", dict(), [(2, 4, 4, 3)]),
    ("UpSampling2D", dict(size=2), [(2, 3, 3, 2)]),
    ("ZeroPadding2D", dict(padding=1), [(2, 3, 4, 2)]),
    ("Flatten", dict(), [(2, 3, 2)]),
    ("ReLU", dict(), [(2, 5)]),
    ("Add", dict(), [(2, 4), (2, 4)]),
]


@pytest.mark.parametrize("api", ["linen", "nnx"])
@pytest.mark.parametrize("name,kwargs,shapes", INTEGER, ids=[c[0] for c in INTEGER])
def test_integer_inputs_are_left_as_keras_leaves_them(api, name, kwargs, shapes, rng):
    x = inputs(shapes, rng, np.int32)
    expected = getattr(keras.layers, name)(**kwargs, dtype="bfloat16")(x)
    got = build(api, name, kwargs, dtype="bfloat16")(jax.tree.map(jnp.asarray, x))
    assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(expected, np.float32), rtol=1e-6)


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_a_merge_casts_its_floating_inputs_only(api, rng):
    a, b = rng.integers(-5, 5, (2, 4)).astype(np.int32), rng.standard_normal((2, 4)).astype(np.float16)
    expected = keras.layers.Add(dtype="bfloat16")([a, b])
    got = build(api, "Add", {}, dtype="bfloat16")([jnp.asarray(a), jnp.asarray(b)])
    assert got.dtype == expected.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(expected, np.float32), rtol=2 ** -7)


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_pooling_with_indices_and_unpooling_cast_like_the_others(api, rng):
    """No Keras twin: the functional op on the input cast to bfloat16; indices (int32) untouched."""
    x = jnp.asarray(rng.standard_normal((2, 5, 4, 3)), jnp.float32)
    y, idx = build(api, "MaxPoolingWithIndices", dict(pool_size=2, padding="same"), dtype="bfloat16")(x)
    want_y, want_idx = F.max_pool_with_indices(x.astype(jnp.bfloat16), 2, padding="same")
    assert y.dtype == jnp.bfloat16 and idx.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(y, np.float32), np.asarray(want_y, np.float32))
    np.testing.assert_array_equal(idx, want_idx)
    up = build(api, "MaxUnpooling", {}, dtype="bfloat16")(want_y.astype(jnp.float32), idx, x.shape)
    assert up.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(up, np.float32),
                                  np.asarray(F.max_unpool(want_y, want_idx, x.shape), np.float32))


@pytest.mark.parametrize("make", [
    lambda **kw: J.MaxPooling2D(**kw), lambda **kw: J.Add(**kw), lambda **kw: J.Flatten(**kw),
    lambda **kw: J.UpSampling2D(2, **kw), lambda **kw: J.Dropout(0.5, **kw), lambda **kw: J.Concatenate(**kw),
    lambda **kw: J.Dense(2, 3, **kw, rngs=nnx.Rngs(0)), lambda **kw: J.Conv2D(1, 2, 3, **kw, rngs=nnx.Rngs(0)),
    lambda **kw: J.LayerNormalization(3, **kw, rngs=nnx.Rngs(0)),
], ids=["MaxPooling2D", "Add", "Flatten", "UpSampling2D", "Dropout", "Concatenate", "Dense", "Conv2D",
        "LayerNormalization"])
@pytest.mark.parametrize("dtype", ["nope", "int32", 3])
def test_nnx_dtype_is_checked_at_construction(make, dtype):
    with pytest.raises(TypeError, match=r"`dtype` must be None or a floating dtype.*" + repr(dtype)[:5]):
        make(dtype=dtype)


@pytest.mark.parametrize("make,x", [
    (lambda **kw: L.MaxPooling2D(**kw), jnp.ones((1, 4, 4, 1))),
    (lambda **kw: L.Add(**kw), [jnp.ones((1, 2)), jnp.ones((1, 2))]),
    (lambda **kw: L.Dense(2, **kw), jnp.ones((1, 3))),
    (lambda **kw: L.BatchNormalization(**kw), jnp.ones((2, 3))),
], ids=["MaxPooling2D", "Add", "Dense", "BatchNormalization"])
def test_linen_dtype_is_checked_at_the_first_call(make, x):
    module = make(dtype="nope")  # a dataclass: nothing runs before the call
    with pytest.raises(TypeError, match=r"`dtype` must be None or a floating dtype.*'nope'"):
        module.init(jax.random.key(0), x)


def test_param_dtype_is_checked():
    with pytest.raises(TypeError, match=r"`param_dtype` must be a floating dtype.*'nope'"):
        J.Dense(2, 3, param_dtype="nope", rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match=r"`param_dtype`.*'nope'"):
        J.BatchNormalization(3, param_dtype="nope", rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match=r"`param_dtype`.*'nope'"):
        L.Conv2D(2, 3, param_dtype="nope").init(jax.random.key(0), jnp.ones((1, 4, 4, 1)))


def test_from_keras_and_to_keras_carry_the_dtype_of_weightless_layers(rng, tmp_path):
    model = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.MaxPooling2D(dtype="bfloat16"),
                              keras.layers.ZeroPadding2D(dtype="bfloat16"), keras.layers.Flatten(),
                              keras.layers.Dense(3, dtype="mixed_bfloat16")])
    x = rng.standard_normal((2, 6, 6, 2)).astype(np.float32)
    module, variables = from_keras(model)
    assert [layer.dtype for layer in module.layers[:3]] == [jnp.bfloat16, jnp.bfloat16, None]
    got = module.apply(variables, jnp.asarray(x))
    expected = model.predict(x, verbose=0)
    assert got.dtype == expected.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(expected, np.float32), rtol=2 ** -6,
                               atol=2 ** -6)
    back = to_keras(module, variables, (None, 6, 6, 2))
    assert [layer.dtype_policy.name for layer in back.layers] == ["bfloat16", "bfloat16", "float32",
                                                                   "mixed_bfloat16"]


# ---------------------------------------------------------------- construction-time checks


@pytest.mark.parametrize("make", [lambda: J.UpSampling1D(2, "bilinear"), lambda: J.UpSampling((2, 2, 2), "bilinear"),
                                  lambda: J.UpSampling3D(2, interpolation="bilinear")],
                         ids=["UpSampling1D", "UpSampling-3", "UpSampling3D"])
def test_nnx_bilinear_needs_two_spatial_axes_at_construction(make):
    with pytest.raises(ValueError, match=r"`interpolation='bilinear'` needs 2 spatial axes"):
        make()


@pytest.mark.parametrize("module,x_shape", [(L.UpSampling1D(2, "bilinear"), (1, 4, 2)),
                                            (L.UpSampling((2, 2, 2), "bilinear"), (1, 2, 2, 2, 1)),
                                            (L.UpSampling(2, "bilinear"), (1, 2, 2, 2, 1))],
                         ids=["UpSampling1D", "UpSampling-3", "UpSampling-int"])
def test_linen_bilinear_needs_two_spatial_axes_at_the_call(module, x_shape):
    with pytest.raises(ValueError, match=r"`interpolation='bilinear'` needs 2 spatial axes"):
        module.init(jax.random.key(0), jnp.ones(x_shape))


def test_bilinear_with_two_axes_is_accepted():
    J.UpSampling((2, 3), "bilinear")
    J.UpSampling(2, "bilinear")  # rank not known until the call
    with pytest.raises(ValueError, match="bilinear"):
        J.UpSampling(2, "bilinear")(jnp.ones((1, 2, 3, 2, 1)))


@pytest.mark.parametrize("cls", ["MaxPooling", "AveragePooling", "MaxPoolingWithIndices"])
def test_pool_size_and_strides_of_different_lengths(cls):
    with pytest.raises(ValueError, match=r"`strides` must be an int or a sequence of 2 ints.*length 3"):
        getattr(J, cls)((2, 2), strides=(1, 1, 1))
    with pytest.raises(ValueError, match=r"`strides` must be an int or a sequence of 3 ints.*length 2"):
        getattr(J, cls)((1, 1, 1), (2, 2))
    with pytest.raises(ValueError, match=r"`strides`.*length 3"):
        getattr(L, cls)((2, 2), strides=(1, 1, 1)).init(jax.random.key(0), jnp.ones((1, 4, 4, 1)))


@pytest.mark.parametrize("make,arg", [
    (lambda: J.GlobalMaxPooling2D(keepdims="x"), "keepdims"),
    (lambda: J.GlobalAveragePooling(keepdims=1), "keepdims"),
    (lambda: J.Dropout(0.5, deterministic="x"), "deterministic"),
    (lambda: J.BatchNormalization(3, use_running_average="x", rngs=nnx.Rngs(0)), "use_running_average"),
    (lambda: L.Dropout(0.5, deterministic="x"), "deterministic"),
], ids=["GlobalMaxPooling2D", "GlobalAveragePooling", "Dropout", "BatchNormalization", "linen-Dropout"])
def test_flags_must_be_bools(make, arg):
    with pytest.raises(TypeError, match=rf"`{arg}` must be a bool"):
        make()


def test_linen_flags_must_be_bools_at_the_call():
    x = jnp.ones((2, 4, 4, 3))
    with pytest.raises(TypeError, match=r"`keepdims` must be a bool, got 'x'"):
        L.GlobalMaxPooling2D(keepdims="x").init(jax.random.key(0), x)
    with pytest.raises(TypeError, match=r"`deterministic` must be a bool, got 'no'"):
        L.Dropout(0.5).apply({}, x, deterministic="no")
    with pytest.raises(TypeError, match=r"`deterministic` must be a bool"):
        J.Dropout(0.5)(x, deterministic="no")
    with pytest.raises(TypeError, match=r"`use_running_average` must be a bool"):
        L.BatchNormalization(use_running_average="x").init(jax.random.key(0), x)
    np.testing.assert_array_equal(J.GlobalMaxPooling2D(keepdims=np.bool_(True))(x), jnp.ones((2, 1, 1, 3)))


@pytest.mark.parametrize("kwargs,error,arg", [
    (dict(threshold="a"), TypeError, "threshold"),
    (dict(max_value="1"), TypeError, "max_value"),
    (dict(negative_slope=None), TypeError, "negative_slope"),
    (dict(negative_slope=True), TypeError, "negative_slope"),
    (dict(max_value=-1.0), ValueError, "max_value"),
    (dict(negative_slope=-0.1), ValueError, "negative_slope"),
    (dict(threshold=-0.5), ValueError, "threshold"),
], ids=["threshold-str", "max_value-str", "negative_slope-None", "negative_slope-bool", "max_value<0",
        "negative_slope<0", "threshold<0"])
def test_relu_arguments_are_numbers_as_keras_needs(kwargs, error, arg):
    if error is ValueError or kwargs.get(arg) is None:  # Keras refuses these too
        with pytest.raises((ValueError, TypeError)):
            keras.layers.ReLU(**kwargs)
    with pytest.raises(error, match=rf"ReLU `{arg}`"):
        J.ReLU(**kwargs)
    with pytest.raises(error, match=rf"ReLU `{arg}`"):
        L.ReLU(**kwargs).apply({}, jnp.ones((2, 3)))


def test_relu_accepts_keras_s_values():
    x = jnp.linspace(-2, 2, 9).reshape(1, 9)
    expected = keras.layers.ReLU(max_value=1, negative_slope=0.5, threshold=0.25)(np.asarray(x))
    np.testing.assert_allclose(J.ReLU(1, 0.5, 0.25)(x), expected, rtol=1e-6)
    np.testing.assert_allclose(L.ReLU(np.float32(1), 0.5, 0.25).apply({}, x), expected, rtol=1e-6)


@pytest.mark.parametrize("shape", [(), (3,)])
def test_dense_needs_two_dimensions_as_keras(shape):
    match = r"`x` must have at least 2 dimensions.*" + re.escape(str(shape))
    with pytest.raises(ValueError, match=match):
        L.Dense(2).init(jax.random.key(0), jnp.ones(shape))
    with pytest.raises(ValueError, match=match):
        J.Dense(3, 2, rngs=nnx.Rngs(0))(jnp.ones(shape))
    with pytest.raises(ValueError):  # Keras's own check (min_ndim=2)
        keras.layers.Dense(2)(np.ones(shape if shape else (), np.float32))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(momentum=1.5), ValueError, r"`momentum` must be in \[0, 1\].*got 1.5"),
    (dict(momentum=-0.1), ValueError, r"`momentum` must be in \[0, 1\]"),
    (dict(momentum="a"), TypeError, r"`momentum` must be a real number"),
    (dict(epsilon=0.0), ValueError, r"`epsilon` must be a finite number > 0"),
    (dict(epsilon=-1e-3), ValueError, r"`epsilon` must be a finite number > 0"),
    (dict(epsilon=None), TypeError, r"`epsilon` must be a real number"),
], ids=["momentum>1", "momentum<0", "momentum-str", "epsilon=0", "epsilon<0", "epsilon-None"])
def test_batch_normalization_momentum_and_epsilon(kwargs, error, match):
    with pytest.raises(error, match=match):
        J.BatchNormalization(3, **kwargs, rngs=nnx.Rngs(0))
    with pytest.raises(error, match=match):
        L.BatchNormalization(**kwargs).init(jax.random.key(0), jnp.ones((2, 3)))


@pytest.mark.parametrize("epsilon,error", [(0.0, ValueError), (-1.0, ValueError), ("1e-3", TypeError)])
def test_layer_normalization_epsilon(epsilon, error):
    with pytest.raises(error, match=r"`epsilon`"):
        J.LayerNormalization(3, epsilon=epsilon, rngs=nnx.Rngs(0))
    with pytest.raises(error, match=r"`epsilon`"):
        L.LayerNormalization(epsilon=epsilon).init(jax.random.key(0), jnp.ones((2, 3)))


@pytest.mark.parametrize("precision,error", [("bad", ValueError), (3, TypeError), (("high", "bad"), ValueError),
                                                (("high", lax.Precision.HIGH), ValueError),
                                                ((1, 2), TypeError)])
def test_precision_is_checked(precision, error):
    with pytest.raises(error, match=r"`precision` must be"):
        J.Conv2D(1, 2, 3, precision=precision, rngs=nnx.Rngs(0))
    with pytest.raises(error, match=r"`precision` must be"):
        J.Dense(2, 3, precision=precision, rngs=nnx.Rngs(0))
    with pytest.raises(error, match=r"`precision` must be"):
        J.Conv1DTranspose(1, 2, 3, precision=precision, rngs=nnx.Rngs(0))
    with pytest.raises(error, match=r"`precision` must be"):
        L.Dense(2, precision=precision).init(jax.random.key(0), jnp.ones((1, 3)))


@pytest.mark.parametrize("precision", [None, "highest", "float32", lax.Precision.HIGH, ("high", "highest"),
                                       lax.DotAlgorithmPreset.DEFAULT])
def test_precisions_lax_takes_are_accepted(precision):
    x = jnp.ones((1, 3))
    layer = J.Dense(3, 2, precision=precision, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(layer(x), x @ layer.kernel[...] + layer.bias[...], rtol=1e-2)


# ------------------------------------------------------------------------ the public API


PUBLIC = ("jaxlayers.functional", "jaxlayers.linen", "jaxlayers.nnx", "jaxlayers.shapes", "jaxlayers.padding")


def public_callables():
    for module_name in PUBLIC:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        for name in names:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj
            elif inspect.isclass(obj) and obj.__module__.startswith("jaxlayers"):
                yield f"{module_name}.{name}", obj
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and inspect.isfunction(member):
                        yield f"{module_name}.{name}.{attr}", member


def test_no_public_callable_takes_a_private_parameter():
    """The old private `_lowering=` keyword (and any other `_name`) must not come back."""
    found = list(public_callables())
    assert len(found) > 100 and any(name.endswith("functional.conv") for name, _ in found)
    bad = [f"{name}({p})" for name, obj in found for p in inspect.signature(obj).parameters if p.startswith("_")]
    assert not bad, bad
