"""jaxlayers.keras: Keras 3 models <-> jaxlayers.linen models, checked against real Keras."""
from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import linen as nn

import jaxlayers
from jaxlayers import linen as L
from jaxlayers.keras import from_keras, to_keras
from jaxlayers.linen import Activation, ReLU

KL = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)
# Keras compiles its random initializers once per shape (seconds each on a busy CPU); the
# tests overwrite every weight with `randomize` anyway, so layers start from zeros.
ZERO = dict(kernel_initializer="zeros")


# ------------------------------------------------------------------------------- helpers


def randomize(model: keras.Model, rng: np.random.Generator, scale: float = 0.5) -> None:
    """Replace every weight by random values (zeros biases would hide bias mix-ups).

    Normal values, except moving variances: uniform in [0.5, 1.5).
    """
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([(rng.uniform(0.5, 1.5, w.shape) if w.name == "moving_variance" else
                                scale * rng.standard_normal(w.shape)).astype(np.float32) for w in layer.weights])


def keras_rows(model: keras.Model) -> list[tuple]:
    """`model.summary()` rows, InputLayer left out: name, class, output shape, params."""
    return [(layer.name, type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers if not isinstance(layer, KL.InputLayer)]


def jaxlayers_rows(module: nn.Module, input_shape) -> list[tuple]:
    return [(r.name, r.type, r.output_shape, r.params) for r in jaxlayers.summary(module, input_shape).rows]


def assert_converts(model: keras.Model, x: np.ndarray, *, names: bool = True) -> tuple[nn.Module, dict]:
    """from_keras equals Keras (outputs, parameter count, summary rows); to_keras gives it back."""
    module, variables = from_keras(model)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(module.apply(variables, x)), expected, **TOL)
    assert jaxlayers.count_params(variables) == model.count_params()
    input_shape = tuple(model.inputs[0].shape)
    rows, got = keras_rows(model), jaxlayers_rows(module, input_shape)
    if not names:
        rows, got = [r[1:] for r in rows], [r[1:] for r in got]
    assert got == rows
    back = to_keras(module, variables, input_shape)
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, **TOL)
    assert [r[1:] for r in keras_rows(back)] == [r[1:] for r in keras_rows(model)]
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    return module, variables


def autoencoder(transpose: bool) -> keras.Model:
    """The two MNIST autoencoders of the tutorial notes (functional API, as written there)."""
    i = keras.Input((28, 28, 1))
    if not transpose:
        x = i
        for f in (16, 8, 4):
            x = KL.Conv2D(f, (3, 3), activation="relu", padding="same", **ZERO)(x)
            x = KL.MaxPooling2D((2, 2), padding="same")(x)
        up, pads = KL.Conv2D, ("same", "same", "valid")
    else:
        x = KL.Conv2D(16, (3, 3), activation="relu", **ZERO)(i)
        x = KL.MaxPooling2D((2, 2))(x)
        x = KL.Conv2D(8, (3, 3), activation="relu", **ZERO)(x)
        x = KL.MaxPooling2D((2, 2))(x)
        x = KL.Conv2D(4, (3, 3), activation="relu", **ZERO)(x)
        up, pads = KL.Conv2DTranspose, ("same", "same", "valid")
    for f, p in zip((4, 8, 16), pads):
        x = up(f, (3, 3), activation="relu", padding=p, **ZERO)(x)
        x = KL.UpSampling2D((2, 2))(x)
    x = up(1, (3, 3), activation="sigmoid", padding="same", **ZERO)(x)
    return keras.Model(i, x)


# --------------------------------------------------------------------------------- tests


def test_importing_jaxlayers_does_not_import_keras():
    code = ("import jaxlayers, jaxlayers.keras, jaxlayers.nnx, sys; "
            "assert 'keras' not in sys.modules, sorted(m for m in sys.modules if 'keras' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("transpose", [False, True], ids=["upsampling", "conv_transpose"])
def test_autoencoders_round_trip(transpose, rng, tmp_path):
    keras.backend.clear_session()
    model = autoencoder(transpose)
    randomize(model, rng, 0.3)
    x = rng.random((3, 28, 28, 1), dtype=np.float32)
    module, variables = assert_converts(model, x)
    if not transpose:
        assert jaxlayers.count_params(variables) == 3369
    path = tmp_path / "ae.keras"
    to_keras(module, variables, (None, 28, 28, 1)).save(path)
    module2, variables2 = from_keras(str(path))
    np.testing.assert_allclose(np.asarray(module2.apply(variables2, x)), model.predict(x, verbose=0), **TOL)


def _random_stack(rank: int, rng: np.random.Generator) -> keras.Sequential:
    """A random valid chain of rank-`rank` layers ending in a Dense head."""
    n = str(rank)
    shape = [(12,), (9, 8), (6, 5, 6)][rank - 1] + (3,)
    layers = []

    def add(layer):
        nonlocal shape
        new = layer.compute_output_shape((None, *shape))[1:]
        if all(2 <= s <= 14 for s in new[:-1]):
            layers.append(layer)
            shape = tuple(new)

    acts = ["relu", "tanh", "linear", "sigmoid", "elu", "gelu"]
    for _ in range(7):
        kind = rng.integers(10)
        if kind == 0:
            add(getattr(KL, f"Conv{n}D")(int(rng.integers(2, 5)), tuple(rng.integers(1, 4, rank).tolist()),
                                         strides=int(rng.integers(1, 3)), padding=str(rng.choice(["same", "valid"])),
                                         activation=str(rng.choice(acts)), use_bias=bool(rng.integers(4)),
                                         **ZERO))
        elif kind == 1:
            add(getattr(KL, f"Conv{n}DTranspose")(int(rng.integers(2, 5)), int(rng.integers(2, 4)),
                                                  strides=int(rng.integers(1, 3)),
                                                  padding=str(rng.choice(["same", "valid"])),
                                                  activation=str(rng.choice(acts)), **ZERO))
        elif kind == 2:
            add(getattr(KL, f"MaxPooling{n}D")(2, strides=[None, 1][rng.integers(2)],
                                               padding=str(rng.choice(["same", "valid"]))))
        elif kind == 3:
            add(getattr(KL, f"AveragePooling{n}D")(2, padding=str(rng.choice(["same", "valid"]))))
        elif kind == 4:
            extra = {"interpolation": "bilinear"} if rank == 2 and rng.integers(2) else {}
            add(getattr(KL, f"UpSampling{n}D")(2, **extra))
        elif kind == 5:
            add(getattr(KL, f"ZeroPadding{n}D")(((1, 0),) * rank if rank > 1 else (1, 0)))
        elif kind == 6:
            add(getattr(KL, f"Cropping{n}D")(((1, 0),) * rank if rank > 1 else (0, 1)))
        elif kind == 7:
            add(KL.ReLU(max_value=[None, 6.0, 1.5][rng.integers(3)], negative_slope=[0.0, 0.1][rng.integers(2)],
                        threshold=[0.0, 0.2][rng.integers(2)]))
        elif kind == 8:
            add(KL.Activation(str(rng.choice(acts))) if rng.integers(2) else
                KL.Dropout(0.3, noise_shape=(None,) + (1,) * rank + (None,), seed=int(rng.integers(9))))
        else:
            add(KL.BatchNormalization(axis=int(rng.choice([-1, 1])), momentum=0.9, center=bool(rng.integers(2)))
                if rng.integers(2) else KL.LayerNormalization(axis=[-1, [-2, -1]][rng.integers(2)],
                                                              scale=bool(rng.integers(2))))
    if rng.integers(2):
        layers += [getattr(KL, f"Global{rng.choice(['Max', 'Average'])}Pooling{n}D")(),
                   KL.Dense(4, activation="softmax", **ZERO)]
    else:
        layers += [KL.Flatten(), KL.Dense(6, **ZERO), KL.Reshape((3, 2))]
    return keras.Sequential([keras.Input(shape), *layers])


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_random_stacks_round_trip(rank):
    rng = np.random.default_rng(rank)
    for _ in range(2):
        keras.backend.clear_session()
        model = _random_stack(rank, rng)
        randomize(model, rng)
        x = rng.standard_normal((2, *model.inputs[0].shape[1:])).astype(np.float32)
        assert_converts(model, x, names=False)  # rejected candidate layers used up Keras's auto names


def test_model_trained_in_keras_predicts_the_same(rng):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((12, 2)), KL.Conv1D(4, 3, activation="relu", **ZERO), KL.MaxPooling1D(),
                              KL.Conv1DTranspose(3, 3, strides=2, **ZERO), KL.GlobalAveragePooling1D(),
                              KL.Dense(2, **ZERO)])
    randomize(model, rng)
    x = rng.standard_normal((16, 12, 2)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, x)), model.predict(x, verbose=0), **TOL)


def test_model_trained_with_jaxlayers_goes_to_keras(rng, tmp_path):
    module = nn.Sequential([L.Conv1D(4, 3, activation="relu", padding="causal"), L.MaxPooling1D(2),
                            L.Conv1DTranspose(2, 2, strides=2, output_padding=1), L.Flatten(), jax.nn.tanh,
                            L.Dense(3)])
    x = jnp.asarray(rng.standard_normal((8, 10, 2)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((8, 3)), jnp.float32)
    variables = jax.jit(module.init)(jax.random.key(0), x)

    @jax.jit
    def step(v):
        loss, grads = jax.value_and_grad(lambda v: jnp.mean((module.apply(v, x) - y) ** 2))(v)
        return jax.tree.map(lambda p, g: p - 0.1 * g, v, grads), loss

    losses = []
    for _ in range(4):
        variables, loss = step(variables)
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    model = to_keras(module, variables, (None, 10, 2))
    expected = np.asarray(module.apply(variables, x))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, **TOL)
    assert model.count_params() == jaxlayers.count_params(variables)
    # the plain function `jax.nn.tanh` becomes a Keras Activation layer (a row there only)
    rows = [r[1:] for r in keras_rows(model) if r[1] != "Activation"]
    assert rows == [r[1:] for r in jaxlayers_rows(module, (None, 10, 2))]
    assert [type(layer).__name__ for layer in model.layers][4] == "Activation"
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, **TOL)


@pytest.mark.parametrize("kwargs", [
    {}, {"max_value": 6.0}, {"max_value": 1.5}, {"negative_slope": 0.1}, {"threshold": 0.3},
    {"max_value": 2.0, "negative_slope": 0.2, "threshold": 0.5}, {"max_value": 6, "negative_slope": 0.05},
])
def test_relu_layer_matches_keras(kwargs, rng):
    x = (3 * rng.standard_normal((4, 50))).astype(np.float32)
    np.testing.assert_allclose(np.asarray(ReLU(**kwargs).apply({}, x)), np.asarray(KL.ReLU(**kwargs)(x)), **TOL)


def test_activation_layer_matches_keras(rng):
    x = (3 * rng.standard_normal((4, 8))).astype(np.float32)
    for name in jaxlayers.activations.BY_NAME:
        np.testing.assert_allclose(np.asarray(Activation(name).apply({}, x)),
                                   np.asarray(KL.Activation(name)(x)), **TOL, err_msg=name)


def test_unsupported_layer_is_named():
    model = keras.Sequential([keras.Input((4,)), KL.Dense(3, **ZERO), KL.Lambda(lambda t: t, name="noise")])
    with pytest.raises(ValueError, match=r"'noise' of class Lambda is not supported.*Supported.*Conv2D"):
        from_keras(model)
    model = keras.Sequential([keras.Input((4, 3)), KL.BatchNormalization(renorm=True, name="bn")])
    with pytest.raises(ValueError, match="'bn' of class BatchNormalization has renorm=True"):
        from_keras(model)
    model = keras.Sequential([keras.Input((4, 3)), KL.BatchNormalization(synchronized=False, name="bn"),
                              KL.LayerNormalization(epsilon=0.1, name="ln")])
    from_keras(model)  # the control: defaults and jaxlayers' own arguments convert


def test_layer_normalization_rms_scaling_matches_keras(rng):
    with pytest.warns(UserWarning, match="rms_scaling"):  # Keras deprecates it (its formula is kept)
        model = keras.Sequential([keras.Input((4, 3)), KL.LayerNormalization(rms_scaling=True, center=True)])
    randomize(model, rng)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    module, variables = from_keras(model)
    assert sorted(variables["params"]["layer_normalization"]) == ["gamma"]
    np.testing.assert_allclose(np.asarray(module.apply(variables, x)), model.predict(x, verbose=0), **TOL)


def test_shared_layers_and_other_operations_are_refused():
    i = keras.Input((4,))
    shared = KL.Dense(4, name="shared", **ZERO)
    with pytest.raises(ValueError, match="'shared'.*more than once"):
        from_keras(keras.Model(i, shared(shared(i))))
    dense = KL.Dense(3, **ZERO)(i)
    with pytest.raises(ValueError, match=r"'sin' \(Sin\), an operation.*not supported.*elementwise arithmetic"):
        from_keras(keras.Model(i, keras.ops.sin(dense)))
    with pytest.raises(ValueError, match=r"an operation.*not supported"):
        from_keras(keras.Model(i, keras.ops.reshape(dense, (-1, 3, 1))))


def test_nested_models_and_arithmetic_round_trip(rng, tmp_path):
    """Nested Sequential and functional models (as nested Graphs) and keras.ops arithmetic on tensors and scalars,
    as keras.applications write them (MobileNetV3's `ReLU(6)(x + 3.0) * (1 / 6)`, ConvNeXt's `inputs + x`)."""
    keras.backend.clear_session()
    stem = keras.Sequential([keras.Input((8, 8, 3)), KL.Conv2D(4, 3, padding="same", **ZERO),
                             KL.LayerNormalization()], name="stem")
    a, b = keras.Input((8, 8, 4)), keras.Input((8, 8, 4))
    mixer = keras.Model([a, b], KL.Dense(4, **ZERO)(KL.Concatenate()([a, b])), name="mixer")
    i = keras.Input((8, 8, 3))
    x = stem(i)
    hard = x * (KL.ReLU(6.0)(x + 3.0) * (1.0 / 6.0))
    y = mixer([x, 2.0 - hard])
    y = keras.ops.maximum(y, x) / 2.0 + x
    model = keras.Model(i, KL.GlobalAveragePooling2D()(-y), name="outer")
    randomize(model, rng)
    for layer in (stem, mixer):
        randomize(layer, rng)
    x_in = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    expected = model.predict(x_in, verbose=0)
    module, variables = from_keras(model)
    assert [type(m).__name__ for m in module.layers][:3] == ["Graph", "Arithmetic", "ReLU"]
    np.testing.assert_allclose(np.asarray(jax.jit(module.apply)(variables, x_in)), expected, **TOL)
    assert jaxlayers.count_params(variables) == model.count_params()
    np.testing.assert_array_equal(variables["params"]["stem"]["conv2d"]["kernel"], np.asarray(stem.layers[0].kernel))
    back = to_keras(module, variables, (None, 8, 8, 3))
    assert [type(layer).__name__ for layer in back.layers if isinstance(layer, keras.Model)] == ["Sequential",
                                                                                                 "Functional"]
    np.testing.assert_allclose(back.predict(x_in, verbose=0), expected, **TOL)
    back.save(tmp_path / "nested.keras")
    again, v2 = from_keras(str(tmp_path / "nested.keras"))
    np.testing.assert_allclose(np.asarray(again.apply(v2, x_in)), expected, **TOL)
    graph = from_keras(model, api="nnx")
    np.testing.assert_allclose(np.asarray(graph(x_in)), expected, **TOL)


@pytest.mark.parametrize("layer, match", [
    (KL.Conv1D(2, 3, data_format="channels_first", **ZERO), "channels_first"),
    (KL.Dense(2, activation=keras.ops.cos, **ZERO), "uses activation .*'cos'.*not supported"),  # every Keras name converts
    (KL.UpSampling1D(2), None),
])
def test_unsupported_arguments_are_refused(layer, match):
    model = keras.Sequential([keras.Input((6, 4)), layer])
    if match is None:  # the control: this one converts
        from_keras(model)
    else:
        with pytest.raises(ValueError, match=match):
            from_keras(model)


@pytest.mark.parametrize("module, match", [
    (L.MaxPoolingWithIndices(2), "MaxPoolingWithIndices has no Keras equivalent"),
    (L.UpSampling1D(2, interpolation="bed_of_nails"), "bed_of_nails"),
    (L.Conv1D(2, 3, padding=((1, 1),)), "explicit padding"),
    (L.Dense(2, activation=lambda x: x * 2), "no Keras name"),
])
def test_to_keras_refuses_what_keras_lacks(module, match):
    x = jnp.zeros((1, 6, 4))
    variables = module.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=match):
        to_keras(module, variables, (None, 6, 4))


def test_keras_initializers_map_to_jaxlayers_names():
    from jaxlayers.keras._convert import initializer_name as _initializer_name
    assert _initializer_name({"class_name": "GlorotUniform", "config": {"seed": 3}}, keras) == "glorot_uniform"
    assert _initializer_name("he_normal", keras) == "he_normal"
    assert _initializer_name({"class_name": "RandomNormal", "config": {"stddev": 0.05}}, keras) == "random_normal"
    assert _initializer_name({"class_name": "RandomNormal", "config": {"stddev": 1.0}}, keras) is None
    assert _initializer_name("variance_scaling", keras) is None
