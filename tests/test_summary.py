"""jaxlayers.summary / count_params against Keras 3 and the Keras autoencoder tutorial.

Two oracles: Keras's own model (layer class names, `layer.output.shape`,
`layer.count_params()`), and the numbers printed in the tutorial (written out
below by hand, independent of both libraries).
"""
from __future__ import annotations

import random
import re
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import jaxlayers
import jaxlayers.linen as jl

# Keras layers are built with zero initializers: counts and shapes do not depend on
# values, and it avoids compiling a PRNG kernel per weight shape.
Z = dict(kernel_initializer="zeros")

# ----------------------------------------------------------------------------- the tutorial's numbers

UPSAMPLE_TUTORIAL = [
    ("Conv2D", (None, 28, 28, 16), 160),
    ("MaxPooling2D", (None, 14, 14, 16), 0),
    ("Conv2D", (None, 14, 14, 8), 1160),
    ("MaxPooling2D", (None, 7, 7, 8), 0),
    ("Conv2D", (None, 7, 7, 4), 292),
    ("MaxPooling2D", (None, 4, 4, 4), 0),
    ("Conv2D", (None, 4, 4, 4), 148),
    ("UpSampling2D", (None, 8, 8, 4), 0),
    ("Conv2D", (None, 8, 8, 8), 296),
    ("UpSampling2D", (None, 16, 16, 8), 0),
    ("Conv2D", (None, 14, 14, 16), 1168),
    ("UpSampling2D", (None, 28, 28, 16), 0),
    ("Conv2D", (None, 28, 28, 1), 145),
]

TRANSPOSE_TUTORIAL = [
    ("Conv2D", (None, 26, 26, 16), 160),
    ("MaxPooling2D", (None, 13, 13, 16), 0),
    ("Conv2D", (None, 11, 11, 8), 1160),
    ("MaxPooling2D", (None, 5, 5, 8), 0),
    ("Conv2D", (None, 3, 3, 4), 292),
    ("Conv2DTranspose", (None, 3, 3, 4), 148),
    ("UpSampling2D", (None, 6, 6, 4), 0),
    ("Conv2DTranspose", (None, 6, 6, 8), 296),
    ("UpSampling2D", (None, 12, 12, 8), 0),
    ("Conv2DTranspose", (None, 14, 14, 16), 1168),
    ("UpSampling2D", (None, 28, 28, 16), 0),
    ("Conv2DTranspose", (None, 28, 28, 1), 145),
]
TUTORIAL_TOTAL = 3369


def keras_upsample():
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(16, 3, activation="relu", padding="same", **Z),
        L.MaxPooling2D(2, padding="same"),
        L.Conv2D(8, 3, activation="relu", padding="same", **Z),
        L.MaxPooling2D(2, padding="same"),
        L.Conv2D(4, 3, activation="relu", padding="same", **Z),
        L.MaxPooling2D(2, padding="same"),
        L.Conv2D(4, 3, activation="relu", padding="same", **Z),
        L.UpSampling2D(2),
        L.Conv2D(8, 3, activation="relu", padding="same", **Z),
        L.UpSampling2D(2),
        L.Conv2D(16, 3, activation="relu", **Z),
        L.UpSampling2D(2),
        L.Conv2D(1, 3, activation="sigmoid", padding="same", **Z),
    ])


def keras_transpose():
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        L.Conv2D(16, 3, activation="relu", **Z),
        L.MaxPooling2D(2),
        L.Conv2D(8, 3, activation="relu", **Z),
        L.MaxPooling2D(2),
        L.Conv2D(4, 3, activation="relu", **Z),
        L.Conv2DTranspose(4, 3, activation="relu", padding="same", **Z),
        L.UpSampling2D(2),
        L.Conv2DTranspose(8, 3, activation="relu", padding="same", **Z),
        L.UpSampling2D(2),
        L.Conv2DTranspose(16, 3, activation="relu", **Z),
        L.UpSampling2D(2),
        L.Conv2DTranspose(1, 3, activation="sigmoid", padding="same", **Z),
    ])


def linen_upsample_layers():
    return [
        jl.Conv2D(16, 3, activation="relu", padding="same"),
        jl.MaxPooling2D(2, padding="same"),
        jl.Conv2D(8, 3, activation="relu", padding="same"),
        jl.MaxPooling2D(2, padding="same"),
        jl.Conv2D(4, 3, activation="relu", padding="same"),
        jl.MaxPooling2D(2, padding="same"),
        jl.Conv2D(4, 3, activation="relu", padding="same"),
        jl.UpSampling2D(2),
        jl.Conv2D(8, 3, activation="relu", padding="same"),
        jl.UpSampling2D(2),
        jl.Conv2D(16, 3, activation="relu"),
        jl.UpSampling2D(2),
        jl.Conv2D(1, 3, activation="sigmoid", padding="same"),
    ]


def linen_transpose_layers():
    return [
        jl.Conv2D(16, 3, activation="relu"),
        jl.MaxPooling2D(2),
        jl.Conv2D(8, 3, activation="relu"),
        jl.MaxPooling2D(2),
        jl.Conv2D(4, 3, activation="relu"),
        jl.Conv2DTranspose(4, 3, activation="relu", padding="same"),
        jl.UpSampling2D(2),
        jl.Conv2DTranspose(8, 3, activation="relu", padding="same"),
        jl.UpSampling2D(2),
        jl.Conv2DTranspose(16, 3, activation="relu"),
        jl.UpSampling2D(2),
        jl.Conv2DTranspose(1, 3, activation="sigmoid", padding="same"),
    ]


class UpsampleAutoencoder(nn.Module):
    """The tutorial's first autoencoder as a @nn.compact module (encoder, then decoder)."""

    @nn.compact
    def __call__(self, x):
        for filters in (16, 8, 4):
            x = jl.Conv2D(filters, 3, activation="relu", padding="same")(x)
            x = jl.MaxPooling2D(2, padding="same")(x)
        x = jl.Conv2D(4, 3, activation="relu", padding="same")(x)
        x = jl.UpSampling2D(2)(x)
        x = jl.Conv2D(8, 3, activation="relu", padding="same")(x)
        x = jl.UpSampling2D(2)(x)
        x = jl.Conv2D(16, 3, activation="relu")(x)
        x = jl.UpSampling2D(2)(x)
        return jl.Conv2D(1, 3, activation="sigmoid", padding="same")(x)


class TransposeAutoencoder(nn.Module):
    """The tutorial's second autoencoder with named submodules."""

    @nn.compact
    def __call__(self, x):
        x = jl.Conv2D(16, 3, activation="relu", name="enc1")(x)
        x = jl.MaxPooling2D(2, name="pool1")(x)
        x = jl.Conv2D(8, 3, activation="relu", name="enc2")(x)
        x = jl.MaxPooling2D(2, name="pool2")(x)
        x = jl.Conv2D(4, 3, activation="relu", name="enc3")(x)
        x = jl.Conv2DTranspose(4, 3, activation="relu", padding="same", name="dec1")(x)
        x = jl.UpSampling2D(2, name="up1")(x)
        x = jl.Conv2DTranspose(8, 3, activation="relu", padding="same", name="dec2")(x)
        x = jl.UpSampling2D(2, name="up2")(x)
        x = jl.Conv2DTranspose(16, 3, activation="relu", name="dec3")(x)
        x = jl.UpSampling2D(2, name="up3")(x)
        return jl.Conv2DTranspose(1, 3, activation="sigmoid", padding="same", name="dec4")(x)


TRANSPOSE_NAMES = ["enc1", "pool1", "enc2", "pool2", "enc3", "dec1", "up1", "dec2", "up2", "dec3", "up3", "dec4"]


@pytest.fixture(scope="module")
def keras_models():
    return {"upsample": keras_upsample(), "transpose": keras_transpose()}


CASES = [
    ("upsample", "sequential", UPSAMPLE_TUTORIAL),
    ("upsample", "compact", UPSAMPLE_TUTORIAL),
    ("transpose", "sequential", TRANSPOSE_TUTORIAL),
    ("transpose", "compact", TRANSPOSE_TUTORIAL),
]


def _linen_model(variant, style):
    if style == "sequential":
        return nn.Sequential(linen_upsample_layers() if variant == "upsample" else linen_transpose_layers())
    return UpsampleAutoencoder() if variant == "upsample" else TransposeAutoencoder()


def _base_name(name):
    return re.sub(r"_\d+$", "", name)


@pytest.mark.parametrize("variant,style,tutorial", CASES, ids=[f"{v}-{s}" for v, s, _ in CASES])
def test_autoencoder_summary_matches_keras_and_tutorial(variant, style, tutorial, keras_models):
    kmodel = keras_models[variant]
    s = jaxlayers.summary(_linen_model(variant, style), (None, 28, 28, 1))
    got = [(r.type, tuple(r.output_shape), r.params) for r in s.rows]

    # Oracle 1: Keras's model.
    want_keras = [(l.__class__.__name__, tuple(l.output.shape), l.count_params()) for l in kmodel.layers]
    assert got == want_keras
    assert s.total_params == kmodel.count_params()
    # Oracle 2: the tutorial's printed summary.
    assert got == tutorial
    assert s.total_params == TUTORIAL_TOTAL
    assert sum(r.params for r in s.rows) == TUTORIAL_TOTAL

    # Names: Keras-style (snake case of the class, as Keras names them) or the module's own name.
    names = [r.name for r in s.rows]
    assert len(set(names)) == len(names), names
    if variant == "transpose" and style == "compact":
        assert names == TRANSPOSE_NAMES
    else:
        assert [_base_name(n) for n in names] == [_base_name(l.name) for l in kmodel.layers]


@pytest.mark.parametrize("variant", ["upsample", "transpose"])
def test_printed_table(variant, keras_models):
    tutorial = UPSAMPLE_TUTORIAL if variant == "upsample" else TRANSPOSE_TUTORIAL
    s = jaxlayers.summary(_linen_model(variant, "sequential"), (None, 28, 28, 1))
    text = str(s)
    for needle in ("Layer (type)", "Output Shape", "Param #", "Total params: 3,369"):
        assert needle in text, text
    header = next(l for l in text.splitlines() if "Layer (type)" in l)
    assert header.index("Layer (type)") < header.index("Output Shape") < header.index("Param #")
    lines = text.splitlines()
    for row, (kind, shape, params) in zip(s.rows, tutorial):
        shape_text = "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
        matching = [l for l in lines if f"({kind})" in l and l.split()[0] == row.name]
        assert len(matching) == 1, (row.name, text)
        line = matching[0]
        assert shape_text in line, (shape_text, line)
        assert line.rstrip().endswith(f"{params:,}"), line
    # One line per layer: exactly len(rows) lines name a layer type.
    assert sum(1 for l in lines if re.search(r"\((Conv2D|Conv2DTranspose|MaxPooling2D|UpSampling2D)\)", l)) == len(tutorial)
    assert "1,168" in text and "1,160" in text  # thousands separators, as Keras prints


def test_summary_with_concrete_batch():
    s = jaxlayers.summary(nn.Sequential(linen_transpose_layers()), (8, 28, 28, 1))
    assert [tuple(r.output_shape) for r in s.rows] == [(8, *shape[1:]) for _, shape, _ in TRANSPOSE_TUTORIAL]
    assert s.total_params == TUTORIAL_TOTAL
    assert "(8, 26, 26, 16)" in str(s)


def test_summary_allocates_nothing():
    model = nn.Sequential([jl.Conv2D(16, 5, strides=5, use_bias=False)])
    start = time.perf_counter()
    s = jaxlayers.summary(model, (64, 1920, 1080, 3))  # 1.6 GB of float32 input if allocated
    elapsed = time.perf_counter() - start
    assert [tuple(r.output_shape) for r in s.rows] == [(64, 384, 216, 16)]
    assert [r.params for r in s.rows] == [1200]  # 5 * 5 * 3 * 16, no bias
    assert s.total_params == 1200
    assert "Total params: 1,200" in str(s)
    assert elapsed < 10.0, elapsed  # a real conv of that size would take far longer on CPU
    # And with a None batch on a huge image.
    s = jaxlayers.summary(model, (None, 1920, 1080, 3))
    assert tuple(s.rows[0].output_shape) == (None, 384, 216, 16)


def test_summary_with_tuple_outputs():
    class PoolUnpool(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = jl.Conv2D(4, 3, padding="same")(x)
            y, idx = jl.MaxPoolingWithIndices(2)(x)
            y = jl.Conv2D(4, 1)(y)
            return jl.MaxUnpooling()(y, idx, x.shape)

    s = jaxlayers.summary(PoolUnpool(), (None, 28, 28, 1))
    assert [r.type for r in s.rows] == ["Conv2D", "MaxPoolingWithIndices", "Conv2D", "MaxUnpooling"]
    shapes = [r.output_shape for r in s.rows]
    assert tuple(shapes[0]) == (None, 28, 28, 4)
    assert tuple(tuple(t) for t in shapes[1]) == ((None, 14, 14, 4), (None, 14, 14, 4))
    assert tuple(shapes[2]) == (None, 14, 14, 4)
    assert tuple(shapes[3]) == (None, 28, 28, 4)
    assert [r.params for r in s.rows] == [3 * 3 * 1 * 4 + 4, 0, 4 * 4 + 4, 0]
    text = str(s)
    assert "(None, 14, 14, 4)" in text and "Total params: 60" in text


def test_summary_dense_and_flatten_against_keras():
    kmodel = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(6, 3, strides=2, **Z),
        keras.layers.GlobalAveragePooling2D(keepdims=True),
        keras.layers.Flatten(),
        keras.layers.Dense(10, **Z),
        keras.layers.Dense(3, use_bias=False, **Z),
    ])
    model = nn.Sequential([jl.Conv2D(6, 3, strides=2), jl.GlobalAveragePooling2D(keepdims=True), jl.Flatten(),
                           jl.Dense(10), jl.Dense(3, use_bias=False)])
    s = jaxlayers.summary(model, (None, 12, 12, 3))
    assert [(r.type, tuple(r.output_shape), r.params) for r in s.rows] == [
        (l.__class__.__name__, tuple(l.output.shape), l.count_params()) for l in kmodel.layers]
    assert s.total_params == kmodel.count_params()


# ----------------------------------------------------------------------------- count_params


def _random_model_pair(r: random.Random):
    """A random stack in Keras and jaxlayers with the same arguments, and its input shape."""
    rank = r.choice([1, 2, 3])
    cin = r.choice([1, 2, 4])
    kl, jls = [], []
    channels = cin
    for _ in range(r.randint(1, 4)):
        kind = r.choice(["conv", "transpose", "dense"])
        filters = r.choice([2, 4, 6])
        use_bias = r.random() < 0.6
        k = r.randint(1, 3)
        if kind == "conv":
            groups = r.choice([g for g in (1, 2) if channels % g == 0 and filters % g == 0])
            kl.append(getattr(keras.layers, f"Conv{rank}D")(filters, k, padding="same", groups=groups,
                                                            use_bias=use_bias, **Z))
            jls.append(getattr(jl, f"Conv{rank}D")(filters, k, padding="same", groups=groups, use_bias=use_bias))
        elif kind == "transpose":
            kl.append(getattr(keras.layers, f"Conv{rank}DTranspose")(filters, k, use_bias=use_bias, **Z))
            jls.append(getattr(jl, f"Conv{rank}DTranspose")(filters, k, use_bias=use_bias))
        else:
            kl.append(keras.layers.Dense(filters, use_bias=use_bias, **Z))
            jls.append(jl.Dense(filters, use_bias=use_bias))
        channels = filters
    shape = (5, *(r.randint(3, 6) for _ in range(rank)), cin)
    return keras.Sequential([keras.Input(shape[1:]), *kl]), nn.Sequential(jls), shape


@pytest.mark.parametrize("seed", range(6))
def test_count_params_matches_keras(seed):
    kmodel, model, shape = _random_model_pair(random.Random(seed))
    variables = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros(shape))
    assert jaxlayers.count_params(variables) == kmodel.count_params()
    assert jaxlayers.count_params(variables["params"]) == kmodel.count_params()
    s = jaxlayers.summary(model, (None, *shape[1:]))
    assert s.total_params == kmodel.count_params()
    assert [r.params for r in s.rows] == [l.count_params() for l in kmodel.layers]
    assert [tuple(r.output_shape) for r in s.rows] == [tuple(l.output.shape) for l in kmodel.layers]


def test_count_params_on_arrays_and_plain_trees():
    tree = {"a": np.zeros((3, 4)), "b": [jnp.ones(5), {"c": np.zeros((2, 2, 2))}]}
    assert jaxlayers.count_params(tree) == 12 + 5 + 8
    assert jaxlayers.count_params({}) == 0
    layer = keras.layers.Dense(7, **Z)
    layer.build((None, 9))
    params = {"kernel": np.asarray(layer.kernel), "bias": np.asarray(layer.bias)}
    assert jaxlayers.count_params({"params": {"Dense_0": params}}) == layer.count_params() == 70


# ----------------------------------------------------------------------------- bad input shapes


@pytest.mark.parametrize("input_shape", [
    (), (None, 0, 28, 1), (None, 28, -1, 1), (2.0, 28, 28, 1), ("a", 28, 28, 1), (None, 28, 28.5, 1),
])
def test_bad_input_shape(input_shape):
    model = nn.Sequential(linen_upsample_layers())
    with pytest.raises(ValueError, match="input_shape"):
        jaxlayers.summary(model, input_shape)


def test_input_shape_of_wrong_rank_names_the_layer():
    model = nn.Sequential(linen_upsample_layers())
    with pytest.raises(ValueError, match=r"Conv2D.*\(1, 28, 28\)"):
        jaxlayers.summary(model, (None, 28, 28))
