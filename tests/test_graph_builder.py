"""Graphs written as Keras functional models: `Input`, layers called on tensors, `Model`.

The oracle is Keras: the same model written with `keras.Input` / `keras.Model` on the same
weights gives the same outputs, and Keras names the layers as `Model` does. `summary` of a
Graph has Keras's "Connected to" column and takes several input shapes.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
import jaxlayers.linen as L
import jaxlayers.nnx as J
from jaxlayers.keras import from_keras

TOL = dict(rtol=1e-5, atol=1e-5)


def keras_block():
    """A two-input residual block with a branch and a concatenation, in Keras."""
    keras.backend.clear_session()
    a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(a)
    y = keras.layers.Conv2D(4, 3, padding="same")(h)
    s = keras.layers.Add()([h, y])
    z = keras.layers.Concatenate()([s, b])
    out = keras.layers.GlobalAveragePooling2D()(keras.layers.MaxPooling2D(2)(z))
    return keras.Model([a, b], [out, s])


def linen_block():
    a, b = L.Input((8, 8, 3)), L.Input((8, 8, 2))
    h = L.Conv2D(4, 3, padding="same", activation="relu")(a)
    y = L.Conv2D(4, 3, padding="same")(h)
    s = L.Add()([h, y])
    z = L.Concatenate()([s, b])
    out = L.GlobalAveragePooling2D()(L.MaxPooling2D(2)(z))
    return L.Model([a, b], [out, s])


def nnx_block(rngs):
    a, b = J.Input((8, 8, 3)), J.Input((8, 8, 2))
    h = J.Conv2D(3, 4, 3, padding="same", activation="relu", rngs=rngs)(a)
    y = J.Conv2D(4, 4, 3, padding="same", rngs=rngs)(h)
    s = J.Add()([h, y])
    z = J.Concatenate()([s, b])
    out = J.GlobalAveragePooling2D()(J.MaxPooling2D(2)(z))
    return J.Model([a, b], [out, s])


def layers_of(kmodel):
    return [layer for layer in kmodel.layers if not isinstance(layer, keras.layers.InputLayer)]


@pytest.fixture
def inputs(rng):
    return (rng.standard_normal((2, 8, 8, 3)).astype(np.float32), rng.standard_normal((2, 8, 8, 2)).astype(np.float32))


def test_linen_model_equals_keras_on_the_same_weights(inputs, rng):
    kmodel = keras_block()
    kmodel.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in kmodel.weights])
    model = linen_block()
    imported, variables = from_keras(kmodel)
    assert model.names == imported.names == tuple(layer.name for layer in layers_of(kmodel))
    assert list(model.edges) == list(imported.edges) and model.outputs == imported.outputs
    assert jax.tree.map(jnp.shape, model.init(jax.random.key(0), *inputs)) == jax.tree.map(jnp.shape, variables)
    for got, want in zip(model.apply(variables, *inputs), kmodel(list(inputs))):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), **TOL)


def test_nnx_model_equals_the_linen_one(inputs):
    model = nnx_block(nnx.Rngs(0))
    linen = linen_block()
    assert model.names == linen.names and list(model.edges) == list(linen.edges)
    params = {name: {k: v[...] for k, v in nnx.state(layer, nnx.Param).items()}
              for name, layer in zip(model.names, model.layers) if nnx.state(layer, nnx.Param)}
    for got, want in zip(model(*inputs), linen.apply({"params": params}, *inputs)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), **TOL)


def test_a_written_graph_nests_as_a_layer(rng):
    x = L.Input((6, 6, 2))
    block = L.Model(x, L.Add()([x, L.Conv2D(2, 3, padding="same")(x)]))
    outer_in = L.Input((6, 6, 2))
    model = L.Model(outer_in, L.Flatten()(block(L.ReLU()(outer_in))))
    v = model.init(jax.random.key(0), jnp.zeros((1, 6, 6, 2)))
    assert set(v["params"]) == {"graph"} and set(v["params"]["graph"]) == {"conv2d"}
    xs = rng.standard_normal((3, 6, 6, 2)).astype(np.float32)
    p = v["params"]["graph"]["conv2d"]
    h = np.maximum(xs, 0)
    want = h + np.asarray(jax.lax.conv_general_dilated(h, p["kernel"], (1, 1), "SAME",
                                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))) + p["bias"]
    np.testing.assert_allclose(model.apply(v, xs), want.reshape(3, -1), **TOL)


def test_own_names_are_kept_and_generated_ones_avoid_them():
    x = L.Input((4,))
    h = L.Dense(3, name="dense")(L.Dense(3)(x))
    model = L.Model(x, L.Dense(2)(h))
    assert model.names == ("dense_1", "dense", "dense_2")
    assert set(model.init(jax.random.key(0), jnp.zeros((1, 4)))["params"]) == set(model.names)


@pytest.mark.parametrize("build, match", [
    (lambda: L.Model(L.Input((4,)), L.Dense(2)(L.Input((4,)))), "depend on an `Input`.*not among `inputs`"),
    (lambda: (lambda d, x: L.Model(x, d(d(x))))(L.Dense(4), L.Input((4,))), "called twice.*not shared"),
    (lambda: L.Model(L.Dense(2), L.Input((4,))), "`inputs` must be an `Input`"),
    (lambda: L.Dense(2)(L.Input((4,)), deterministic=True), "Dense is called with keyword deterministic=True, "
                                                            "which the layer does not take; it takes no keywords"),
    (lambda: L.Model(x := L.Input((4,)), L.Dense(2)(x))(L.Input((4,)), L.Input((4,))), "Graph.* takes one Tensor"),
    (lambda: L.Add()([L.Input((4,)), jnp.zeros((1, 4))]), "mixing symbolic Tensors"),
    (lambda: L.Input((0, 3)), "`shape` must be a sequence of positive ints"),
    (lambda: L.Dense(0)(L.Input((4,))), "`units`"),
])
def test_bad_graphs_are_named(build, match):
    with pytest.raises((TypeError, ValueError), match=match):
        build()


def test_summary_of_a_two_input_graph_connects_rows_as_keras(inputs):
    kmodel = keras_block()
    for model in (linen_block(), nnx_block(nnx.Rngs(0)), from_keras(kmodel)[0]):
        s = jaxlayers.summary(model, [(None, 8, 8, 3), (None, 8, 8, 2)])
        assert [r.name for r in s.rows] == [layer.name for layer in layers_of(kmodel)]
        assert {r.name: r.connected_to for r in s.rows} == {
            "conv2d": ("input_layer[0][0]",), "conv2d_1": ("conv2d[0][0]",),
            "add": ("conv2d[0][0]", "conv2d_1[0][0]"), "concatenate": ("add[0][0]", "input_layer_1[0][0]"),
            "max_pooling2d": ("concatenate[0][0]",), "global_average_pooling2d": ("max_pooling2d[0][0]",)}
        assert [r.output_shape for r in s.rows] == [tuple(layer.output.shape) for layer in layers_of(kmodel)]
        assert s.total_params == kmodel.count_params()
        table = str(s)
        assert "Connected to" in table and "conv2d[0][0], input_layer_1[0][0]" not in table
        assert "add[0][0], input_layer_1[0][0]" in table


def test_summary_rows_are_the_parameter_keys():
    model = linen_block()
    s = jaxlayers.summary(model, [(None, 8, 8, 3), (None, 8, 8, 2)])
    params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 8, 8, 3)), jnp.zeros((1, 8, 8, 2)))
    assert {r.name for r in s.rows if r.params} == set(params["params"])


def test_summary_of_a_chain_has_no_connected_column():
    s = jaxlayers.summary(L.Model(x := L.Input((4,)), L.Dense(2)(L.Dense(3)(x))), (None, 4))
    assert s.is_chain and "Connected to" not in str(s)


def test_summary_refuses_a_dtype_per_input_of_the_wrong_length():
    with pytest.raises(ValueError, match="`dtype` must be one dtype or one per input"):
        jaxlayers.summary(linen_block(), [(None, 8, 8, 3), (None, 8, 8, 2)], dtype=[jnp.float32])
