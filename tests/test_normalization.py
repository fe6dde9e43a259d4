"""BatchNormalization and LayerNormalization (functional, linen, NNX) against Keras 3.

Oracle: Keras's own layers with the same weights on the same batch, for inference
outputs, training outputs, the updated moving statistics, gradients (through
`stateless_call`) and the parameter counts its `summary` prints.
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
from jaxlayers import functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.keras import from_keras

KL = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)


def _keras_bn(shape, rng, **kwargs):
    """A built Keras BatchNormalization with random gamma, beta and moving statistics."""
    layer = KL.BatchNormalization(**kwargs)
    layer.build(shape)
    layer.set_weights([(rng.uniform(0.5, 1.5, w.shape) if w.name == "moving_variance" else
                        rng.standard_normal(w.shape)).astype(np.float32) for w in layer.weights])
    return layer


def _by_name(layer) -> dict[str, np.ndarray]:
    return {w.name: np.asarray(w) for w in layer.weights}


def _batch(rng, shape) -> np.ndarray:
    """Off-centre, scaled inputs, so that the statistics matter."""
    return (3 * rng.standard_normal(shape) + 2).astype(np.float32)


BN_CASES = [
    ((8, 5), dict()),
    ((4, 6, 3), dict(axis=1, momentum=0.9)),
    ((3, 5, 4, 6), dict(epsilon=0.1, center=False)),
    ((3, 5, 4, 6), dict(axis=1, scale=False)),
    ((2, 3, 4, 5, 3), dict(axis=-2, momentum=0.5, center=False, scale=False)),
]


@pytest.mark.parametrize("shape, kwargs", BN_CASES, ids=[str(k) for _, k in BN_CASES])
def test_batch_norm_matches_keras(shape, kwargs, rng):
    keras.backend.clear_session()
    layer = _keras_bn(shape, rng, **kwargs)
    start = _by_name(layer)
    params = {k: v for k, v in start.items() if k in ("gamma", "beta")}
    stats = {k: v for k, v in start.items() if k.startswith("moving")}
    linen = L.BatchNormalization(**kwargs)
    twin = J.BatchNormalization(shape[kwargs.get("axis", -1)], **kwargs, rngs=nnx.Rngs(0))
    nnx.update(twin, {**params, **stats})
    variables = {"params": params, "batch_stats": stats}
    x1, x2 = _batch(rng, shape), _batch(rng, shape)

    # inference: the moving statistics
    expected = np.asarray(layer(x1, training=False))
    np.testing.assert_allclose(np.asarray(linen.apply(variables, x1)), expected, **TOL)
    np.testing.assert_allclose(np.asarray(twin(x1)), expected, **TOL)
    y, _, _ = F.batch_norm(jnp.asarray(x1), stats["moving_mean"], stats["moving_variance"], params.get("gamma"),
                           params.get("beta"), axis=kwargs.get("axis", -1), epsilon=kwargs.get("epsilon", 1e-3))
    np.testing.assert_allclose(np.asarray(y), expected, **TOL)

    # two training steps: outputs on the batch's statistics, moving statistics updated
    twin.train()
    for x in (x1, x2):
        expected = np.asarray(layer(x, training=True))
        y, updates = linen.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
        np.testing.assert_allclose(np.asarray(y), expected, **TOL)
        np.testing.assert_allclose(np.asarray(twin(x)), expected, **TOL)
        variables = {"params": params, "batch_stats": updates["batch_stats"]}
        for name in ("moving_mean", "moving_variance"):
            want = np.asarray(getattr(layer, name))
            np.testing.assert_allclose(np.asarray(updates["batch_stats"][name]), want, **TOL)
            np.testing.assert_allclose(np.asarray(getattr(twin, name)[...]), want, **TOL)
    assert not np.allclose(np.asarray(layer.moving_mean), stats["moving_mean"])  # they did move


@pytest.mark.parametrize("axis", [-1, 1, (1, 2, 3), [-2, -1], (0, 2)])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False)])
def test_layer_norm_matches_keras(axis, center, scale, rng):
    shape = (3, 4, 5, 6)
    layer = KL.LayerNormalization(axis=list(axis) if isinstance(axis, tuple) else axis, center=center, scale=scale,
                                  epsilon=0.01)
    layer.build(shape)
    weights = {w.name: rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights}
    layer.set_weights([weights[w.name] for w in layer.weights])
    x = _batch(rng, shape)
    expected = np.asarray(layer(x))
    linen = L.LayerNormalization(axis, epsilon=0.01, center=center, scale=scale)
    assert jax.tree.map(jnp.shape, linen.init(jax.random.key(0), x)["params"]) == {
        k: v.shape for k, v in weights.items()}
    np.testing.assert_allclose(np.asarray(linen.apply({"params": weights}, x)), expected, **TOL)
    sizes = tuple(shape[a] for a in sorted(a % 4 for a in ((axis,) if isinstance(axis, int) else axis)))
    twin = J.LayerNormalization(sizes, axis, epsilon=0.01, center=center, scale=scale, rngs=nnx.Rngs(0))
    nnx.update(twin, weights)
    np.testing.assert_allclose(np.asarray(twin(x)), expected, **TOL)
    np.testing.assert_allclose(np.asarray(F.layer_norm(jnp.asarray(x), weights.get("gamma"), weights.get("beta"),
                                                       axis=axis, epsilon=0.01)), expected, **TOL)


def test_training_gradients_match_keras(rng):
    keras.backend.clear_session()
    shape = (6, 4, 5)
    layer = _keras_bn(shape, rng, momentum=0.8)
    x, w = _batch(rng, shape), rng.standard_normal(shape).astype(np.float32)
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def keras_loss(trainable, x):
        y, _ = layer.stateless_call(trainable, non_trainable, x, training=True)
        return jnp.sum(y * w)

    start = _by_name(layer)
    variables = {"params": {"gamma": start["gamma"], "beta": start["beta"]},
                 "batch_stats": {"moving_mean": start["moving_mean"], "moving_variance": start["moving_variance"]}}

    def loss(params, x):
        y, _ = L.BatchNormalization(momentum=0.8).apply({**variables, "params": params}, x,
                                                         use_running_average=False, mutable=["batch_stats"])
        return jnp.sum(y * w)

    want_params, want_x = jax.grad(keras_loss, argnums=(0, 1))(trainable, jnp.asarray(x))
    got_params, got_x = jax.grad(loss, argnums=(0, 1))(variables["params"], jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got_x), np.asarray(want_x), rtol=1e-4, atol=1e-4)
    for name, want in zip(("gamma", "beta"), want_params):
        np.testing.assert_allclose(np.asarray(got_params[name]), np.asarray(want), rtol=1e-4, atol=1e-4)


def test_batch_stats_collection_follows_flax_conventions(rng):
    x = _batch(rng, (8, 3))
    bn = L.BatchNormalization()
    variables = bn.init(jax.random.key(0), x, use_running_average=False)  # init does not update
    np.testing.assert_array_equal(variables["batch_stats"]["moving_mean"], np.zeros(3))
    np.testing.assert_array_equal(variables["batch_stats"]["moving_variance"], np.ones(3))
    with pytest.raises(ValueError, match=r"mutable=\['batch_stats'\]"):
        bn.apply(variables, x, use_running_average=False)
    y, updates = bn.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
    np.testing.assert_allclose(updates["batch_stats"]["moving_mean"], 0.01 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(y.mean(0), np.zeros(3), atol=1e-5)  # normalised with the batch's statistics
    # the attribute sets the mode, the call argument wins; inference needs nothing mutable
    y, _ = L.BatchNormalization(use_running_average=False).apply(variables, x, mutable=["batch_stats"])
    np.testing.assert_allclose(y.mean(0), np.zeros(3), atol=1e-5)
    y = L.BatchNormalization(use_running_average=False).apply(variables, x, use_running_average=True)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3), rtol=1e-6)


def test_nnx_view_and_modes(rng):
    x = _batch(rng, (8, 3))
    model = nnx.Sequential(J.Dense(3, 3, rngs=nnx.Rngs(0)), J.BatchNormalization(3, rngs=nnx.Rngs(0)))
    bn = model.layers[1]
    model(x)
    np.testing.assert_array_equal(bn.moving_mean[...], np.zeros(3))  # inference by default
    nnx.view(model, use_running_average=False)(x)
    assert np.abs(bn.moving_mean[...]).sum() > 0  # the view shares the statistics
    before = np.asarray(bn.moving_mean[...])
    model.train()
    model(x)
    assert not np.array_equal(before, bn.moving_mean[...])
    model.eval()
    assert bn.use_running_average


def test_summary_counts_trainable_and_non_trainable_like_keras():
    keras.backend.clear_session()
    kmodel = keras.Sequential([
        keras.Input((8, 8, 3)), KL.Conv2D(4, 3, kernel_initializer="zeros"), KL.BatchNormalization(),
        KL.Dropout(0.2), KL.Conv2D(5, 3, use_bias=False, kernel_initializer="zeros"),
        KL.BatchNormalization(axis=1, center=False), KL.LayerNormalization(axis=[1, 2]),
        KL.Flatten(), KL.Dense(2, kernel_initializer="zeros"),
    ])
    printed: list[str] = []
    kmodel.summary(print_fn=lambda line, **_: printed.append(line))

    def totals(text: str) -> dict[str, int]:
        return {k: int(v.replace(",", "")) for k, v in re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+)",
                                                                  text)}

    want = totals("\n".join(printed))
    assert set(want) == {"Total", "Trainable", "Non-trainable"} and want["Non-trainable"] > 0
    want_rows = [(type(l).__name__, tuple(l.output.shape), l.count_params()) for l in kmodel.layers]
    linen = nn.Sequential([L.Conv2D(4, 3), L.BatchNormalization(), L.Dropout(0.2), L.Conv2D(5, 3, use_bias=False),
                           L.BatchNormalization(axis=1, center=False), L.LayerNormalization(axis=(1, 2)), L.Flatten(),
                           L.Dense(2)])
    def make_twin(r: nnx.Rngs) -> nnx.Sequential:
        return nnx.Sequential(J.Conv2D(3, 4, 3, rngs=r), J.BatchNormalization(4, rngs=r), J.Dropout(0.2, rngs=r),
                              J.Conv2D(4, 5, 3, use_bias=False, rngs=r),
                              J.BatchNormalization(4, axis=1, center=False, rngs=r),
                              J.LayerNormalization((4, 4), axis=(1, 2), rngs=r), J.Flatten(), J.Dense(80, 2, rngs=r))

    twin = nnx.eval_shape(lambda: make_twin(nnx.Rngs(0)))  # shapes only: no initializer compiles
    for model in (linen, twin):
        s = jaxlayers.summary(model, (None, 8, 8, 3))
        assert [(r.type, r.output_shape, r.params) for r in s.rows] == want_rows
        assert totals(str(s)) == want
    assert jaxlayers.count_params(twin) == kmodel.count_params()
    variables = jax.eval_shape(linen.init, jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
    assert jaxlayers.count_params(variables) == kmodel.count_params()


def test_keras_model_trained_in_keras_converts_with_its_statistics(rng):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((6, 2)), KL.Conv1D(4, 3, kernel_initializer="zeros"),
                              KL.BatchNormalization(momentum=0.7), KL.LayerNormalization(), KL.Flatten(),
                              KL.Dense(2, kernel_initializer="zeros")])
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.weights])
    x, y = _batch(rng, (16, 6, 2)), rng.standard_normal((16, 2)).astype(np.float32)
    model.compile(optimizer=keras.optimizers.SGD(1e-2), loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    module, variables = from_keras(model)
    stats = variables["batch_stats"][model.layers[1].name]  # the variables are keyed by Keras's layer names
    np.testing.assert_array_equal(stats["moving_mean"], np.asarray(model.layers[1].moving_mean))
    np.testing.assert_allclose(np.asarray(module.apply(variables, x)), model.predict(x, verbose=0), **TOL)
    # one training-mode call: the same outputs and updated statistics as Keras's
    out, updates = module.apply(variables, x, training=True, mutable=["batch_stats"])
    np.testing.assert_allclose(np.asarray(out), np.asarray(model(x, training=True)), **TOL)
    np.testing.assert_allclose(np.asarray(updates["batch_stats"][model.layers[1].name]["moving_variance"]),
                               np.asarray(model.layers[1].moving_variance), **TOL)


@pytest.mark.parametrize("make, error, match", [
    (lambda x: L.BatchNormalization(axis=4).init(jax.random.key(0), x), ValueError, r"`axis` must be in \[-4, 4\)"),
    (lambda x: L.BatchNormalization(axis=(1, 2)).init(jax.random.key(0), x), TypeError, "`axis` must be an int"),
    (lambda x: L.LayerNormalization(axis=(1, -3)).init(jax.random.key(0), x), ValueError, "`axis` repeats"),
    (lambda x: L.LayerNormalization(axis=()).init(jax.random.key(0), x), TypeError, "non-empty"),
    (lambda x: J.BatchNormalization(5, rngs=nnx.Rngs(0))(x), ValueError, r"built for `num_features`=5, got an input with num_features=6 \(shapes \[\(2, 3, 4, 6\)\]\)"),
    (lambda x: J.BatchNormalization(6, axis=1.0, rngs=nnx.Rngs(0)), TypeError, "`axis` must be an int"),
    (lambda x: J.LayerNormalization((4, 6), axis=-1, rngs=nnx.Rngs(0)), ValueError, "one size per axis"),
    (lambda x: F.batch_norm(x, jnp.zeros(5), jnp.ones(6)), ValueError, r"`moving_mean` must have shape \(6,\)"),
    (lambda x: F.layer_norm(x, jnp.ones((4, 6)), axis=(1, 2)), ValueError, r"`gamma` must have shape \(3, 4\)"),
])
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make(jnp.zeros((2, 3, 4, 6)))


def test_half_precision_inputs_use_float32_statistics(rng):
    x = _batch(rng, (64, 8)) * 100 + 1000  # float16's sum of squares would overflow
    gamma, beta = jnp.ones(8), jnp.zeros(8)
    y = F.layer_norm(jnp.asarray(x, jnp.float16), gamma, beta)
    assert y.dtype == jnp.float16 and bool(jnp.isfinite(y).all())
    np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(F.layer_norm(jnp.asarray(x), gamma, beta)),
                               atol=2e-2)
    y, mean, variance = F.batch_norm(jnp.asarray(x, jnp.float16), jnp.zeros(8), jnp.ones(8), training=True)
    assert y.dtype == jnp.float16 and mean.dtype == variance.dtype == jnp.float32
    assert bool(jnp.isfinite(variance).all())


def test_frozen_keras_batch_norm_converts_with_a_warning(rng):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((5, 3)), KL.BatchNormalization(name="frozen")])
    model.layers[0].trainable = False
    with pytest.warns(UserWarning, match="'frozen' of class BatchNormalization is frozen"):
        module, variables = from_keras(model)
    x = _batch(rng, (4, 5, 3))
    np.testing.assert_allclose(np.asarray(module.apply(variables, x)), model.predict(x, verbose=0), **TOL)
