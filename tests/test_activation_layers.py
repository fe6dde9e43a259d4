"""Every Keras activation name and Keras's activation layers (ELU, LeakyReLU, PReLU, Softmax) against Keras 3."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
from jaxlayers import activations as A
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.keras import from_keras, to_keras

KL = keras.layers
NAMES = sorted(A.BY_NAME)
EDGES = np.array([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 3.0, -3.0, 6.0, 1e4, -1e4, 3e38, -3e38, np.inf, -np.inf, np.nan],
                 np.float32)


def inputs(rng: np.random.Generator, dtype) -> np.ndarray:
    """Random values plus the edges (0, ±1, ±3, large, ±inf, NaN), last axis even (glu)."""
    x = np.concatenate([3.0 * rng.standard_normal((3, 16)).astype(np.float32), np.broadcast_to(EDGES, (1, 16))])
    return np.asarray(jnp.asarray(x, dtype))


def keras_fn(name: str, **kwargs):
    fn = getattr(keras.activations, name)
    return functools.partial(fn, **kwargs) if kwargs else keras.activations.get(name)


def close(got, want, dtype) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, **(dict(rtol=1e-6, atol=1e-6) if dtype == jnp.float32 else
                                             dict(rtol=1e-2, atol=1e-2)))


def test_every_keras_activation_has_its_name():
    keras_names = set(keras.src.activations.ALL_OBJECTS_DICT)
    assert keras_names - set(A.BY_NAME) == {"threshold"}  # it has no defaults: Keras's name form cannot run
    assert set(A.BY_NAME) <= keras_names


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16], ids=["f32", "bf16"])
@pytest.mark.parametrize("name", NAMES)
def test_activation_and_its_gradient_equal_keras(name, dtype, rng):
    x = inputs(rng, dtype)
    ours, theirs = A.get(name), keras_fn(name)
    got, want = ours(jnp.asarray(x)), theirs(jnp.asarray(x))
    assert got.dtype == want.dtype == dtype
    close(got, want, dtype)
    if dtype != jnp.float32:
        return
    # Gradients: on every cell for the elementwise ones, on the finite rows for those mixing a row.
    v = jnp.asarray(x[:3] if name in ("softmax", "log_softmax", "sparsemax", "glu") else x)
    close(jax.grad(lambda v: ours(v).sum())(v), jax.grad(lambda v: theirs(v).sum())(v), dtype)


def test_hard_sigmoid_is_keras_3s():
    x = np.linspace(-5, 5, 41, dtype=np.float32)
    np.testing.assert_allclose(A.get("hard_sigmoid")(x), np.clip(x + 3, 0, 6) / 6, rtol=1e-6)  # not 0.2 x + 0.5
    np.testing.assert_allclose(A.get("hard_swish")(x), x * np.clip(x + 3, 0, 6) / 6, rtol=1e-6, atol=1e-7)


ARGUMENTS = [
    ("elu", {"alpha": 0.3}), ("leaky_relu", {"negative_slope": 0.05}), ("celu", {"alpha": 2.5}),
    ("gelu", {"approximate": True}), ("glu", {"axis": 0}), ("softmax", {"axis": 0}), ("log_softmax", {"axis": 0}),
    ("sparsemax", {"axis": 0}), ("squareplus", {"b": 0.5}), ("soft_shrink", {"threshold": 1.5}),
    ("hard_shrink", {"threshold": 0.1}), ("threshold", {"threshold": 0.3, "default_value": -2.0}),
    ("relu", {"negative_slope": 0.1, "max_value": 4.0, "threshold": 0.5}),
]


@pytest.mark.parametrize("name, kwargs", ARGUMENTS, ids=[a[0] for a in ARGUMENTS])
def test_activation_arguments_equal_keras(name, kwargs, rng):
    x = jnp.asarray(3.0 * rng.standard_normal((4, 6)), jnp.float32)
    ours, theirs = functools.partial(getattr(A, name), **kwargs), keras_fn(name, **kwargs)
    close(ours(x), theirs(x), jnp.float32)
    close(jax.grad(lambda v: ours(v).sum())(x), jax.grad(lambda v: theirs(v).sum())(x), jnp.float32)


def test_activation_errors_are_clear():
    with pytest.raises(ValueError, match="'threshold' has no name form"):
        A.get("threshold")
    with pytest.raises(ValueError, match=r"glu needs an even size on `axis` 1, got x of shape \(2, 3\)"):
        A.get("glu")(jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"softmax `axis` must be an int in \[-2, 2\).*got 2"):
        A.softmax(jnp.zeros((2, 3)), axis=2)


@pytest.mark.parametrize("name", ["hard_silu", "hard_swish", "mish", "sparsemax", "log_softmax", "celu"])
def test_activation_layer_converts_by_name(name, rng):
    i = keras.Input((3, 4))
    model = keras.Model(i, KL.Activation(name)(KL.Dense(4, kernel_initializer="ones")(i)))
    module, variables = from_keras(model)
    assert module.layers[1].activation == keras.activations.serialize(keras.activations.get(name))
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(module.apply(variables, x), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    back = to_keras(module, variables, (None, 3, 4))
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    dense = to_keras(L.Dense(2, activation=name), {"params": {"kernel": np.ones((4, 2), np.float32),
                                                              "bias": np.zeros(2, np.float32)}}, (None, 4))
    assert keras.activations.serialize(dense.layers[0].activation) == keras.activations.serialize(
        keras.activations.get(name))


# --------------------------------------------------------------------------------- layers

LAYERS = [
    ("ELU", {}), ("ELU", {"alpha": 0.4}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.01}),
    ("PReLU", {}), ("PReLU", {"shared_axes": [1, 2]}), ("PReLU", {"shared_axes": 3}),
    ("Softmax", {}), ("Softmax", {"axis": 1}), ("Softmax", {"axis": [1, 2]}), ("Softmax", {"axis": (2,)}),
]


def keras_layer(name: str, kwargs: dict, shape: tuple, rng: np.random.Generator):
    layer = getattr(KL, name)(**kwargs)
    layer.build(shape)
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights])
    return layer


@pytest.mark.parametrize("name, kwargs", LAYERS, ids=[f"{a}-{b}" for a, b in LAYERS])
def test_layer_and_gradients_equal_keras(name, kwargs, rng):
    shape = (2, 5, 4, 3)
    theirs = keras_layer(name, kwargs, shape, rng)
    x = jnp.asarray(2.0 * rng.standard_normal(shape), jnp.float32)
    ours = getattr(L, name)(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
    params = {w.name: jnp.asarray(np.asarray(w)) for w in theirs.weights}
    variables = {"params": params} if params else {}
    if params:
        assert jax.tree.map(jnp.shape, ours.init(jax.random.key(0), x)["params"]) == jax.tree.map(jnp.shape, params)
    close(ours.apply(variables, x), theirs(x), jnp.float32)
    # gradients w.r.t. the input and alpha: Keras's call is a JAX function of the weights too.
    cotangent = jnp.asarray(rng.standard_normal(shape), jnp.float32)

    def keras_loss(x, p):
        values = [p[w.name] for w in theirs.trainable_variables]
        out, _ = theirs.stateless_call(values, [], x)
        return (out * cotangent).sum()

    got = jax.grad(lambda x, p: (ours.apply({"params": p} if p else {}, x) * cotangent).sum(), (0, 1))(x, params)
    want = jax.grad(keras_loss, (0, 1))(x, params)
    jax.tree.map(lambda a, b: close(a, b, jnp.float32), got, want)


def test_prelu_alpha_shape_and_nnx(rng):
    layer = J.PReLU((None, None, None, 3), shared_axes=(1, 2), alpha_initializer="ones", rngs=nnx.Rngs(0))
    assert layer.alpha[...].shape == (1, 1, 3) and jaxlayers.count_params(layer) == 3
    keras_count = KL.PReLU(shared_axes=[1, 2])
    keras_count.build((None, 5, 4, 3))
    assert keras_count.count_params() == 3
    x = jnp.asarray(rng.standard_normal((2, 7, 9, 3)), jnp.float32)  # any size on the shared axes
    np.testing.assert_allclose(layer(x), np.where(x > 0, x, x), rtol=1e-6)  # alpha = 1: the identity
    with pytest.raises(ValueError, match="input_shape"):
        layer(jnp.zeros((2, 5, 4, 2)))
    with pytest.raises(ValueError, match="must give every size off the batch axis and None on `shared_axes`"):
        J.PReLU((None, None, 3), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"None on `shared_axes` \(1,\)"):
        J.PReLU((None, 5, 3), shared_axes=1, rngs=nnx.Rngs(0))


@pytest.mark.parametrize("mask_kind", ["bool", "float", "broadcast", "all_masked_row"])
def test_softmax_mask_equals_keras(mask_kind, rng):
    x = jnp.asarray(rng.standard_normal((2, 3, 5)), jnp.float32)
    mask = rng.random((2, 3, 5)) > 0.4
    if mask_kind == "float":
        mask = mask.astype(np.float32) * 0.9
    elif mask_kind == "broadcast":
        mask = mask[0, 0]
    elif mask_kind == "all_masked_row":
        mask[0, 1] = False
    for axis in (-1, 1):
        got = L.Softmax(axis).apply({}, x, mask=jnp.asarray(mask))
        close(got, KL.Softmax(axis)(x, mask=jnp.asarray(mask)), jnp.float32)
        close(J.Softmax(axis)(x, mask=jnp.asarray(mask)), got, jnp.float32)
    with pytest.raises(ValueError, match=r"Softmax `mask` must broadcast to x.*\(4,\)"):
        L.Softmax().apply({}, x, mask=jnp.ones(4, bool))


def test_layers_in_bfloat16_equal_keras(rng):
    x = jnp.asarray(rng.standard_normal((2, 6, 3)), jnp.bfloat16)
    for ours, theirs in [(L.ELU(0.5), KL.ELU(0.5)), (L.LeakyReLU(0.2), KL.LeakyReLU(0.2)), (L.Softmax(1), KL.Softmax(1))]:
        got = ours.apply({}, x)
        assert got.dtype == jnp.bfloat16
        close(got, theirs(x), jnp.bfloat16)
    theirs = KL.PReLU(dtype="bfloat16")
    theirs.build((None, 6, 3))
    alpha = rng.standard_normal((6, 3)).astype(np.float32)
    theirs.set_weights([alpha])
    got = L.PReLU(dtype=jnp.bfloat16, param_dtype=jnp.bfloat16).apply({"params": {"alpha": jnp.asarray(
        alpha, jnp.bfloat16)}}, x)
    assert got.dtype == jnp.bfloat16
    close(got, theirs(x), jnp.bfloat16)


def test_model_of_activation_layers_round_trips(rng, tmp_path):
    i = keras.Input((5, 4, 3))
    y = KL.Activation("hard_swish")(i)
    y = KL.ELU(0.7)(y)
    y = KL.LeakyReLU(0.1)(y)
    y = KL.PReLU(shared_axes=[1, 2])(y)
    y = KL.PReLU()(y)
    y = KL.Softmax(axis=[1, 2])(y)
    model = keras.Model(i, KL.Softmax()(y))
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights])
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)
    module, variables = from_keras(model)
    np.testing.assert_allclose(module.apply(variables, x), want, rtol=1e-5, atol=1e-6)
    assert jaxlayers.count_params(variables) == model.count_params() == 3 + 60
    np.testing.assert_allclose(from_keras(model, api="nnx")(x), want, rtol=1e-5, atol=1e-6)
    back = to_keras(module, variables, (None, 5, 4, 3))
    np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    names = [type(layer).__name__ for layer in model.layers if not isinstance(layer, KL.InputLayer)]
    assert [type(layer).__name__ for layer in back.layers] == names
    back.save(tmp_path / "m.keras")
    again, v = from_keras(str(tmp_path / "m.keras"))
    np.testing.assert_allclose(again.apply(v, x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, error, match", [
    (lambda: L.ELU("1"), TypeError, "ELU `alpha` must be a number"),
    (lambda: L.LeakyReLU(-0.1), ValueError, r"LeakyReLU `negative_slope` must be >= 0, got -0.1"),
    (lambda: L.LeakyReLU(None), TypeError, "LeakyReLU `negative_slope` must be a number"),
    (lambda: L.PReLU(shared_axes=0), ValueError, r"`shared_axes` must be axes >= 1"),
    (lambda: L.PReLU(shared_axes="1"), TypeError, "`shared_axes` must be None, an int or a sequence"),
    (lambda: L.PReLU(shared_axes=4), ValueError, r"with axes \(4,\)"),
    (lambda: L.PReLU(alpha_initializer="nope"), ValueError, "`alpha_initializer`"),
    (lambda: L.Softmax(axis=1.0), TypeError, "Softmax `axis` must be an int"),
    (lambda: L.Softmax(axis=3), ValueError, r"Softmax `axis` must be in \[-3, 3\)"),
])
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make().init(jax.random.key(0), jnp.zeros((2, 4, 3)))
