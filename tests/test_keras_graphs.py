"""Keras functional graphs with merges <-> `jaxlayers.linen.Graph` (and its NNX twin), against real Keras.

The proof of the issue: a U-Net-style autoencoder (a `Concatenate` and an `Add` skip
connection, BatchNormalization and Dropout inside) converted both ways, from the model
object and from a `.keras` file, gives `model.predict`'s outputs.
"""
from __future__ import annotations

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.keras import from_keras, to_keras

KL = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)
Z = dict(kernel_initializer="zeros")  # every weight is replaced by `randomize`


def randomize(model: keras.Model, rng: np.random.Generator) -> None:
    """Random weights; moving variances uniform in [0.5, 1.5)."""
    model.set_weights([(rng.uniform(0.5, 1.5, w.shape) if w.name == "moving_variance" else
                        0.4 * rng.standard_normal(w.shape)).astype(np.float32) for w in model.weights])


def unet(rate: float = 0.3) -> keras.Model:
    """Two skip connections: `Add` at 8x8, `Concatenate` at 16x16."""
    i = keras.Input((16, 16, 1))
    e1 = KL.BatchNormalization()(KL.Conv2D(8, 3, padding="same", activation="relu", **Z)(i))
    e2 = KL.Conv2D(16, 3, padding="same", activation="relu", **Z)(KL.MaxPooling2D()(e1))
    e2 = KL.BatchNormalization(momentum=0.9)(e2)
    b = KL.Dropout(rate)(KL.Conv2D(16, 3, padding="same", activation="relu", **Z)(KL.MaxPooling2D()(e2)))
    u2 = KL.Conv2DTranspose(16, 3, strides=2, padding="same", **Z)(b)
    d2 = KL.Conv2D(8, 3, padding="same", activation="relu", **Z)(KL.Add()([u2, e2]))
    d1 = KL.Concatenate()([KL.UpSampling2D()(d2), e1])
    d1 = KL.LayerNormalization()(KL.Conv2D(8, 3, padding="same", activation="relu", **Z)(d1))
    return keras.Model(i, KL.Conv2D(1, 3, padding="same", activation="sigmoid", **Z)(d1), name="unet")


def keras_summary_rows(model: keras.Model) -> list[tuple]:
    return [(layer.name, type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers if not isinstance(layer, KL.InputLayer)]


def keras_totals(model: keras.Model) -> dict[str, int]:
    printed: list[str] = []
    model.summary(print_fn=lambda line, **_: printed.append(line))
    return _totals("\n".join(printed))


def _totals(text: str) -> dict[str, int]:
    found = re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+)", text)
    return {k: int(v.replace(",", "")) for k, v in found}


@pytest.fixture(scope="module")
def unet_model() -> keras.Model:
    keras.backend.clear_session()
    model = unet()
    randomize(model, np.random.default_rng(1))
    return model


def test_unet_converts_both_ways(unet_model, tmp_path):
    model = unet_model
    x = np.random.default_rng(2).random((3, 16, 16, 1), dtype=np.float32)
    expected = model.predict(x, verbose=0)
    module, variables = from_keras(model)
    assert isinstance(module, L.Graph)
    assert sorted(variables) == ["batch_stats", "params"]
    np.testing.assert_allclose(np.asarray(jax.jit(module.apply)(variables, x)), expected, **TOL)

    # summary: Keras's rows (names, classes, shapes, counts) and its three totals
    s = jaxlayers.summary(module, (None, 16, 16, 1))
    assert [(r.name, r.type, r.output_shape, r.params) for r in s.rows] == keras_summary_rows(model)
    assert _totals(str(s)) == keras_totals(model)
    assert jaxlayers.count_params(variables) == model.count_params()

    # back to Keras: a functional model with the same layers, weights and outputs
    back = to_keras(module, variables, (None, 16, 16, 1))
    assert not isinstance(back, keras.Sequential)
    assert [r[1:] for r in keras_summary_rows(back)] == [r[1:] for r in keras_summary_rows(model)]
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, **TOL)

    # through .keras files, both directions
    model.save(tmp_path / "unet.keras")
    module2, variables2 = from_keras(str(tmp_path / "unet.keras"))
    np.testing.assert_allclose(np.asarray(jax.jit(module2.apply)(variables2, x)), expected, **TOL)
    back.save(tmp_path / "back.keras")
    loaded = keras.saving.load_model(tmp_path / "back.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, **TOL)


def test_unet_training_mode_matches_keras(rng):
    keras.backend.clear_session()
    model = unet(rate=0.0)  # Keras's dropout masks are its own; rate 0 keeps the rest comparable
    randomize(model, rng)
    module, variables = from_keras(model)
    x = rng.random((4, 16, 16, 1), dtype=np.float32)
    train = jax.jit(lambda v, x: module.apply(v, x, training=True, mutable=["batch_stats"]))
    for _ in range(2):
        y, updates = train(variables, x)
        np.testing.assert_allclose(np.asarray(y), np.asarray(model(x, training=True)), **TOL)
        variables = {**variables, **updates}
    for i, layer in enumerate(module.layers):
        if isinstance(layer, L.BatchNormalization):
            keras_layer = model.get_layer(index=i + 1)  # index 0 is the InputLayer
            for name in ("moving_mean", "moving_variance"):
                np.testing.assert_allclose(np.asarray(variables["batch_stats"][module.keys()[i]][name]),
                                           np.asarray(getattr(keras_layer, name)), **TOL)
    np.testing.assert_allclose(np.asarray(jax.jit(module.apply)(variables, x)), model.predict(x, verbose=0), **TOL)


def test_graph_training_flag_reaches_dropout(unet_model):
    module, variables = from_keras(unet_model)
    index = next(i for i, layer in enumerate(module.layers) if isinstance(layer, L.Dropout))
    feeder = module.edges[index] - 1  # the layer whose output the dropout takes (one input: ids are shifted by 1)
    x = np.random.default_rng(3).random((8, 16, 16, 1), dtype=np.float32)

    def dropout_in_out(**kwargs):
        _, state = jax.jit(lambda v, x: module.apply(v, x, capture_intermediates=True,
                                                     mutable=["intermediates", "batch_stats"], **kwargs))(variables, x)
        return [np.asarray(state["intermediates"][module.keys()[i]]["__call__"][0]) for i in (feeder, index)]

    inputs, outputs = dropout_in_out(training=False)  # (no flag: inference too, as the other tests check)
    np.testing.assert_array_equal(outputs, inputs)
    inputs, outputs = dropout_in_out(training=True, rngs={"dropout": jax.random.key(0)})
    live = inputs != 0
    dropped = (outputs == 0) & live
    assert live.sum() > 500 and abs(dropped.sum() / live.sum() - 0.3) < 0.1
    np.testing.assert_allclose(outputs[live & ~dropped], inputs[live & ~dropped] / np.float32(0.7), rtol=1e-6)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        module.apply(variables, x, training=True, mutable=["batch_stats"])


def test_several_inputs_and_outputs_round_trip(rng, tmp_path):
    keras.backend.clear_session()
    a, b = keras.Input((6, 4), name="a"), keras.Input((6, 4), name="b")
    da = KL.Dense(4, activation="tanh", **Z)(a)
    diff = KL.Subtract()([da, b])
    mixed = KL.Average()([KL.Maximum()([da, b]), KL.Minimum()([a, b]), KL.Multiply()([diff, a])])
    out1 = KL.Dense(3, **Z)(KL.Concatenate(axis=1)([mixed, diff]))
    out2 = KL.GlobalAveragePooling1D()(KL.Add()([mixed, b]))
    model = keras.Model([a, b], [out1, out2])
    randomize(model, rng)
    xa, xb = (rng.standard_normal((5, 6, 4)).astype(np.float32) for _ in range(2))
    expected = model.predict([xa, xb], verbose=0)
    module, variables = from_keras(model)
    assert module.num_inputs == 2
    got = module.apply(variables, xa, xb)
    assert isinstance(got, tuple) and len(got) == 2
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(np.asarray(g), e, **TOL)
    back = to_keras(module, variables, [(None, 6, 4), (None, 6, 4)])
    back.save(tmp_path / "two.keras")
    for g, e in zip(keras.saving.load_model(tmp_path / "two.keras").predict([xa, xb], verbose=0), expected):
        np.testing.assert_allclose(g, e, **TOL)


def test_unsupported_layer_in_a_branch_is_named():
    keras.backend.clear_session()
    i = keras.Input((4,))
    noisy = KL.Lambda(lambda t: t, name="noisy")(i)
    with pytest.raises(ValueError, match="'noisy' of class Lambda is not supported"):
        from_keras(keras.Model(i, KL.Add()([KL.Dense(4, **Z)(i), noisy])))


def _nnx_unet(rngs: nnx.Rngs) -> list[nnx.Module]:
    """The NNX layers of `unet()`, in the order of its Keras layers."""
    return [J.Conv2D(1, 8, 3, padding="same", activation="relu", rngs=rngs), J.BatchNormalization(8, rngs=rngs),
            J.MaxPooling2D(), J.Conv2D(8, 16, 3, padding="same", activation="relu", rngs=rngs),
            J.BatchNormalization(16, momentum=0.9, rngs=rngs), J.MaxPooling2D(),
            J.Conv2D(16, 16, 3, padding="same", activation="relu", rngs=rngs), J.Dropout(0.3),
            J.Conv2DTranspose(16, 16, 3, strides=2, padding="same", rngs=rngs), J.Add(),
            J.Conv2D(16, 8, 3, padding="same", activation="relu", rngs=rngs), J.UpSampling2D(), J.Concatenate(),
            J.Conv2D(16, 8, 3, padding="same", activation="relu", rngs=rngs), J.LayerNormalization(8, rngs=rngs),
            J.Conv2D(8, 1, 3, padding="same", activation="sigmoid", rngs=rngs)]


def test_nnx_graph_equals_linen_graph_and_summarises_alike(unet_model):
    module, variables = from_keras(unet_model)
    graph = J.Graph(nnx.eval_shape(lambda: _nnx_unet(nnx.Rngs(0))), module.edges, module.outputs,  # no init compiles
                    names=module.names)
    assert [type(m).__name__ for m in graph.layers] == [type(m).__name__ for m in module.layers]
    state = {"layers": {i: {**variables["params"].get(key, {}), **variables["batch_stats"].get(key, {})}
                        for i, key in enumerate(module.keys())}}
    nnx.update(graph, jax.tree.map(jnp.asarray, state))
    x = np.random.default_rng(4).random((3, 16, 16, 1), dtype=np.float32)
    run = nnx.jit(lambda graph, x, training: graph(x, training=training), static_argnums=2)
    np.testing.assert_allclose(np.asarray(run(graph, x, None)), np.asarray(jax.jit(module.apply)(variables, x)), **TOL)
    linen_summary, nnx_summary = (jaxlayers.summary(m, (None, 16, 16, 1)) for m in (module, graph))
    assert [(r.name, r.type, r.output_shape, r.params) for r in nnx_summary.rows] == \
           [(r.name, r.type, r.output_shape, r.params) for r in linen_summary.rows]
    assert _totals(str(nnx_summary)) == _totals(str(linen_summary)) == keras_totals(unet_model)
    assert jaxlayers.count_params(graph) == unet_model.count_params()
    # training mode, dropout off in both (their random keys differ): same outputs and updated statistics
    graph.layers[7].rate = 0.0
    linen = module.clone(layers=tuple(L.Dropout(0.0) if isinstance(m, L.Dropout) else m for m in module.layers))
    y, updates = jax.jit(lambda v, x: linen.apply(v, x, training=True, mutable=["batch_stats"]))(variables, x)
    np.testing.assert_allclose(np.asarray(run(graph, x, True)), np.asarray(y), **TOL)
    for i in (1, 4):
        np.testing.assert_allclose(np.asarray(graph.layers[i].moving_variance[...]),
                                   np.asarray(updates["batch_stats"][module.keys()[i]]["moving_variance"]), **TOL)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(edges=[0]), ValueError, r"`edges` must give one entry per layer \(2\)"),
    (dict(edges=[0, 2]), ValueError, r"`edges\[1\]` must name tensors 0..1"),
    (dict(edges=[0, (0, "x")]), TypeError, r"`edges\[1\]` must be a tensor id"),
    (dict(edges=[0, 1], outputs=3), ValueError, r"`outputs` must name tensors 0..2"),
    (dict(edges=[0, 1], num_inputs=0), ValueError, "`num_inputs` must be an int >= 1"),
])
def test_bad_graphs_are_refused(kwargs, error, match):
    layers = [L.Dense(3), L.Dense(2)]
    with pytest.raises(error, match=match):
        L.Graph(layers, **kwargs).init(jax.random.key(0), jnp.zeros((1, 4)))
    with pytest.raises(error, match=match):
        J.Graph([J.Dense(4, 3, rngs=nnx.Rngs(0)), J.Dense(3, 2, rngs=nnx.Rngs(0))], **kwargs)


def test_hand_built_residual_graph_goes_to_keras(rng):
    graph = L.Graph([L.Conv2D(4, 3, padding="same"), L.BatchNormalization(), jax.nn.relu,
                     L.Conv2D(4, 3, padding="same"), L.Add(), L.GlobalAveragePooling2D(), L.Dense(2)],
                    edges=[0, 1, 2, 3, (3, 4), 5, 6])
    x = jnp.asarray(rng.standard_normal((2, 6, 6, 4)), jnp.float32)
    variables = jax.jit(graph.init)(jax.random.key(0), x)
    _, updates = jax.jit(lambda v, x: graph.apply(v, x, training=True, mutable=["batch_stats"]))(variables, x)
    variables = {**variables, **updates}  # statistics off their initial values
    model = to_keras(graph, variables, (None, 6, 6, 4))
    assert [type(layer).__name__ for layer in model.layers][1:] == [
        "Conv2D", "BatchNormalization", "Activation", "Conv2D", "Add", "GlobalAveragePooling2D", "Dense"]
    np.testing.assert_allclose(model.predict(np.asarray(x), verbose=0), np.asarray(graph.apply(variables, x)), **TOL)
    assert isinstance(to_keras(nn.Sequential([L.Dense(3), L.Dropout(0.5)]), {"params": {"layers_0": {
        "kernel": jnp.ones((4, 3)), "bias": jnp.zeros(3)}}}, (None, 4)), keras.Sequential)


def test_layers_are_named_as_in_keras(unet_model):
    """As the README says: each layer's variables are under its Keras name, the layers in the order of the calls."""
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    first, second = KL.Dense(2, name="first"), KL.Dense(2, name="second")
    two_inputs = keras.Model([a, b], KL.Add(name="sum")([second(b), first(a)]))  # called in another order than built
    sequential = keras.Sequential([keras.Input((4,)), KL.Dense(3, name="d1"), KL.Dense(2, name="d2")])
    for model in (two_inputs, sequential):
        randomize(model, np.random.default_rng(0))
    assert from_keras(two_inputs)[0].keys() == ["second", "first", "sum"]
    for model in (unet_model, two_inputs, sequential):  # (the fixture is random already)
        module, variables = from_keras(model)
        assert sorted(module.keys()) == sorted(layer.name for layer in model.layers
                                               if not isinstance(layer, KL.InputLayer))
        for layer in model.layers:
            for weight in layer.weights:
                collection = "batch_stats" if weight.name.startswith("moving_") else "params"
                np.testing.assert_array_equal(variables[collection][layer.name][weight.name], np.asarray(weight))
