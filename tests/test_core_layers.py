"""Identity, Permute, RepeatVector, Dot and EinsumDense against Keras 3 on identical weights."""
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

KL = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)


def close(got, want, tol=TOL) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, **tol)


# ----------------------------------------------------------------- Identity, Permute, RepeatVector


@pytest.mark.parametrize("ours, theirs, shape", [
    (L.Identity(), KL.Identity(), (2, 3, 4)),
    (L.Permute((2, 1)), KL.Permute((2, 1)), (2, 3, 4)),
    (L.Permute((3, 1, 2)), KL.Permute((3, 1, 2)), (2, 3, 4, 5)),
    (L.Permute((1,)), KL.Permute((1,)), (2, 3)),
    (L.RepeatVector(4), KL.RepeatVector(4), (2, 3)),
], ids=["Identity", "Permute-swap", "Permute-3", "Permute-1", "RepeatVector"])
def test_reshaping_layers_and_gradients_equal_keras(ours, theirs, shape, rng):
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    want = theirs(x)
    close(ours.apply({}, x), want)
    cotangent = jnp.asarray(rng.standard_normal(want.shape), jnp.float32)
    close(jax.grad(lambda x: (ours.apply({}, x) * cotangent).sum())(x),
          jax.grad(lambda x: (theirs(x) * cotangent).sum())(x))
    assert ours.apply({}, x.astype(jnp.bfloat16)).dtype == jnp.bfloat16


# ------------------------------------------------------------------------------------------ Dot

DOTS = [  # (axes, normalize, x shape, y shape)
    (-1, False, (3, 5), (3, 5)), ((2, 1), False, (3, 4, 5), (3, 5, 6)), (-1, False, (3, 4, 5), (3, 5)),
    ((1, 2), False, (3, 5), (3, 2, 5)), ((2, 3), True, (3, 2, 4, 6), (3, 2, 5, 4, 7)),
    ((-2, -1), False, (3, 4, 2), (3, 2, 4)),
]


@pytest.mark.parametrize("axes, normalize, xs, ys", DOTS, ids=[str(i) for i in range(len(DOTS))])
def test_dot_and_gradients_equal_keras(axes, normalize, xs, ys, rng):
    x, y = (jnp.asarray(rng.standard_normal(s), jnp.float32) for s in (xs, ys))
    ours, theirs = L.Dot(axes, normalize), KL.Dot(axes, normalize)
    want = theirs([x, y])
    close(ours.apply({}, [x, y]), want)
    close(J.Dot(axes, normalize)([x, y]), want)
    assert tuple(theirs.compute_output_shape([xs, ys])) == want.shape
    cotangent = jnp.asarray(rng.standard_normal(want.shape), jnp.float32)
    got = jax.grad(lambda x, y: (ours.apply({}, [x, y]) * cotangent).sum(), (0, 1))(x, y)
    expected = jax.jit(jax.grad(lambda x, y: (theirs([x, y]) * cotangent).sum(), (0, 1)))(x, y)
    jax.tree.map(close, got, expected)


def test_dot_normalize_of_zeros_equals_keras():
    x = jnp.zeros((2, 3), jnp.float32)
    close(L.Dot(1, True).apply({}, [x, x]), KL.Dot(1, True)([x, x]))
    close(jax.grad(lambda x: L.Dot(1, True).apply({}, [x, x + 1]).sum())(x),
          jax.jit(jax.grad(lambda x: KL.Dot(1, True)([x, x + 1]).sum()))(x))


@pytest.mark.parametrize("make, inputs, error, match", [
    (lambda: L.Dot("1"), [(2, 3), (2, 3)], TypeError, "Dot `axes` must be an int or two ints"),
    (lambda: L.Dot((1, 2, 3)), [(2, 3), (2, 3)], TypeError, "Dot `axes` must be an int or two ints"),
    (lambda: L.Dot(1, normalize=1), [(2, 3), (2, 3)], TypeError, "`normalize` must be a bool"),
    (lambda: L.Dot(0), [(2, 3), (2, 3)], ValueError, "other than the batch axis 0"),
    (lambda: L.Dot(1), [(2, 3), (2, 4)], ValueError, r"different sizes 3 != 4"),
    (lambda: L.Dot(1), [(2, 3), (3, 3)], ValueError, "one batch size"),
    (lambda: L.Dot(1), [(2, 3)], ValueError, "exactly 2 inputs"),
    (lambda: L.Dot(1), [(2,), (2,)], ValueError, "rank >= 2"),
])
def test_dot_errors(make, inputs, error, match):
    with pytest.raises(error, match=match):
        make().apply({}, [jnp.zeros(s) for s in inputs])


# ----------------------------------------------------------------------------------- EinsumDense

EINSUMS = [  # (equation, output_shape, bias_axes, input shape without batch)
    ("ab,bc->ac", 4, "c", (5,)),
    ("abc,cd->abd", (None, 4), "d", (3, 5)),
    ("abc,cde->abde", (None, 2, 4), "d", (3, 5)),
    ("abcd,cde->abe", (3, 4), "e", (3, 2, 5)),
    ("abc,bcd->ad", 4, "d", (3, 5)),
    ("abc,bd->adc", (4, 5), "dc", (3, 5)),
    ("...b,bc->...c", 4, "c", (3, 2, 5)),
    ("...b,bc->...c", 4, "c", (5,)),
    ("...bc,cd->...bd", (3, 4), "b", (2, 3, 5)),
    ("ab...,bc->ac...", (4,), "c", (5, 3, 2)),
    ("abc...,bcd->ad...", 4, "d", (5, 3, 2)),
]


def keras_einsum(equation, output_shape, bias_axes, shape, rng, **kwargs):
    layer = KL.EinsumDense(equation, output_shape, bias_axes=bias_axes, kernel_initializer="zeros", **kwargs)
    layer.build((None, *shape))
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights])
    return layer


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape", EINSUMS, ids=[e[0] + str(e[1]) for e in EINSUMS])
def test_einsum_dense_equals_keras(equation, output_shape, bias_axes, shape, rng):
    theirs = keras_einsum(equation, output_shape, bias_axes, shape, rng, activation="tanh")
    params = {w.name: jnp.asarray(np.asarray(w)) for w in theirs.weights}
    ours = L.EinsumDense(equation, output_shape, "tanh", bias_axes)
    x = jnp.asarray(rng.standard_normal((2, *shape)), jnp.float32)
    shapes = jax.eval_shape(ours.init, jax.random.key(0), x)["params"]
    assert {k: v.shape for k, v in shapes.items()} == {k: v.shape for k, v in params.items()}
    want = theirs(x)
    close(ours.apply({"params": params}, x), want)
    sizes = ours.sizes(x)["input_shape"]
    nnx_layer = nnx.eval_shape(lambda: J.EinsumDense(sizes, equation, output_shape, "tanh", bias_axes,
                                                     rngs=nnx.Rngs(0)))
    nnx.update(nnx_layer, params)
    close(nnx_layer(x), want)
    assert jaxlayers.count_params(nnx_layer) == theirs.count_params()
    cotangent = jnp.asarray(rng.standard_normal(want.shape), jnp.float32)

    def keras_loss(x, p):
        out, _ = theirs.stateless_call([p[w.name] for w in theirs.trainable_variables], [], x)
        return (out * cotangent).sum()

    got = jax.grad(lambda x, p: (ours.apply({"params": p}, x) * cotangent).sum(), (0, 1))(x, params)
    jax.tree.map(close, got, jax.jit(jax.grad(keras_loss, (0, 1)))(x, params))


def test_einsum_dense_any_size_on_free_axes(rng):
    layer = J.EinsumDense((None, None, 5), "abc,cd->abd", (None, 4), bias_axes="d", rngs=nnx.Rngs(0))
    for length in (3, 7):
        assert layer(jnp.ones((2, length, 5))).shape == (2, length, 4)
    with pytest.raises(ValueError, match=r"needs the sizes of input axes \(2,\).*\(None, None, 5\)"):
        J.EinsumDense((None, 3, 5), "abc,cd->abd", (None, 4), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="gives axis 'b' of 'abc,cd->abd' size 3, but the input"):
        L.EinsumDense("abc,cd->abd", (3, 4)).init(jax.random.key(0), jnp.ones((2, 6, 5)))


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal"])
def test_einsum_dense_initializer_fans_are_keras_s(name):
    """Keras gives variance-scaling initializers the kernel's input and output letters as fan axes."""
    kernel = jax.jit(lambda k: L.EinsumDense("abc,cde->abde", (3, 16, 32), kernel_initializer=name).init(
        k, jnp.ones((1, 3, 64)))["params"]["kernel"])(jax.random.key(0))
    theirs = keras_einsum("abc,cde->abde", (3, 16, 32), None, (3, 64), np.random.default_rng(0))
    theirs_init = keras.initializers.get(name)
    want = np.asarray(type(theirs_init)(seed=1, input_axes=[0], output_axes=[1, 2])((64, 16, 32)))
    assert kernel.shape == tuple(theirs.kernel.shape) == want.shape
    np.testing.assert_allclose(np.std(kernel), np.std(want), rtol=0.05)
    np.testing.assert_allclose(np.abs(kernel).max(), np.abs(want).max(), rtol=0.15)


@pytest.mark.parametrize("make, error, match", [
    (lambda: L.EinsumDense("ab->b", 4), ValueError, "`equation` must be of the form"),
    (lambda: L.EinsumDense(3, 4), TypeError, "`equation` must be a string"),
    (lambda: L.EinsumDense("ab,bc->ac", "4"), TypeError, "`output_shape` must be an int or a sequence"),
    (lambda: L.EinsumDense("ab,bc->ac", (4, 5)), ValueError, r"must give 1 sizes"),
    (lambda: L.EinsumDense("ab,bc->ac", 4, bias_axes="x"), ValueError, "`bias_axes` must be None or letters"),
    (lambda: L.EinsumDense("ab,bc->ad", 4), ValueError, "Output letter 'd'"),
    (lambda: L.EinsumDense("ab,bx->a", ()), ValueError, "Kernel letter 'x'"),
    (lambda: L.EinsumDense("ab,bc->ac", None), TypeError, "`output_shape`"),
    (lambda: L.EinsumDense("ab,bc->ac", 4, activation="nope"), ValueError, "activation"),
    (lambda: L.EinsumDense("ab,bc->ac", 4, kernel_initializer="nope"), ValueError, "`kernel_initializer`"),
])
def test_einsum_dense_errors(make, error, match):
    with pytest.raises(error, match=match):
        make().init(jax.random.key(0), jnp.ones((2, 5)))


def test_einsum_dense_functional_checks():
    with pytest.raises(ValueError, match="axis 'b' has size 5 in x"):
        F.einsum_dense(jnp.ones((2, 5)), jnp.ones((4, 3)), equation="ab,bc->ac")
    with pytest.raises(ValueError, match="does not fit x"):
        F.einsum_dense(jnp.ones((2, 5, 1)), jnp.ones((5, 3)), equation="ab,bc->ac")
    with pytest.raises(ValueError, match=r"`bias` of shape \(4,\) does not broadcast"):
        F.einsum_dense(jnp.ones((2, 5)), jnp.ones((5, 3)), jnp.ones(4), equation="ab,bc->ac")


def test_einsum_dense_lora_is_refused():
    i = keras.Input((5,))
    model = keras.Model(i, KL.EinsumDense("ab,bc->ac", 4, lora_rank=2, kernel_initializer="zeros")(i))
    with pytest.raises(ValueError, match="lora_rank"):
        from_keras(model)


def test_einsum_dense_bfloat16_equals_keras(rng):
    theirs = keras_einsum("abc,cd->abd", (None, 4), "d", (3, 5), rng, dtype="bfloat16")
    params = {w.name: jnp.asarray(np.asarray(w), jnp.bfloat16) for w in theirs.weights}
    x = jnp.asarray(rng.standard_normal((2, 3, 5)), jnp.bfloat16)
    got = L.EinsumDense("abc,cd->abd", (None, 4), bias_axes="d", dtype=jnp.bfloat16,
                        param_dtype=jnp.bfloat16).apply({"params": params}, x)
    assert got.dtype == jnp.bfloat16
    close(got, theirs(x), dict(rtol=2e-2, atol=2e-2))


# ---------------------------------------------------------------------------- a model round trip


def test_model_of_core_layers_round_trips(rng, tmp_path):
    i, j = keras.Input((6, 4)), keras.Input((5,))
    a = KL.EinsumDense("abc,cd->abd", (6, 3), bias_axes="d", activation="tanh", kernel_initializer="zeros")(i)
    a = KL.Permute((2, 1))(KL.Identity()(a))
    b = KL.RepeatVector(3)(j)
    c = KL.Dot(axes=(1, 1))([a, b])
    d = KL.EinsumDense("...b,bc->...c", 7, bias_axes="c", kernel_initializer="zeros")(c)
    e = KL.EinsumDense("ab...,bc->ac...", (2,), bias_axes="c", kernel_initializer="zeros")(d)
    f = KL.Dot(axes=-1, normalize=True)([d, d])
    model = keras.Model([i, j], [e, f])
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights])
    xs = [rng.standard_normal((2, 6, 4)).astype(np.float32), rng.standard_normal((2, 5)).astype(np.float32)]
    want = model.predict(xs, verbose=0)
    module, variables = from_keras(model)
    jax.tree.map(close, list(module.apply(variables, *xs)), want)
    assert jaxlayers.count_params(variables) == model.count_params() == 15 + 42 + 14
    jax.tree.map(close, list(from_keras(model, api="nnx")(*xs)), want)
    back = to_keras(module, variables, [(None, 6, 4), (None, 5)])
    jax.tree.map(close, back.predict(xs, verbose=0), want)
    assert sorted(type(x).__name__ for x in back.layers) == sorted(type(x).__name__ for x in model.layers)
    back.save(tmp_path / "m.keras")
    again, v = from_keras(str(tmp_path / "m.keras"))
    jax.tree.map(close, list(again.apply(v, *xs)), want)


@pytest.mark.parametrize("make, error, match", [
    (lambda: L.Permute((1, 3)), ValueError, r"`dims` must be a permutation of 1..2"),
    (lambda: L.Permute(2), TypeError, "`dims` must be a sequence of ints"),
    (lambda: L.Permute((2, 1, 3)), ValueError, "`x` must have 4 dimensions"),
    (lambda: L.RepeatVector(0), ValueError, "`n` must be an int >= 1"),
    (lambda: L.RepeatVector(2.0), TypeError, "`n` must be an int >= 1"),
    (lambda: L.RepeatVector(2), ValueError, r"`x` must have 2 dimensions \(batch, features\)"),
])
def test_reshaping_errors(make, error, match):
    with pytest.raises(error, match=match):
        make().apply({}, jnp.ones((2, 3, 4)))
