"""The layers keras.applications defines for its own models: ConvNeXt's `LayerScale` and
InceptionResNetV2's `CustomScaleLayer`, against Keras's own classes on identical weights."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx
from keras.src.applications.convnext import LayerScale as KerasLayerScale
from keras.src.applications.inception_resnet_v2 import CustomScaleLayer as KerasCustomScale

import jaxlayers
import jaxlayers.linen as L
import jaxlayers.nnx as J
from jaxlayers.keras import from_keras, to_keras

TOL = dict(rtol=1e-5, atol=1e-5)


def keras_model(rng):
    keras.backend.clear_session()
    x = keras.Input((6, 6, 4))
    h = keras.layers.Conv2D(4, 3, padding="same")(x)
    s = KerasCustomScale(0.17)([x, h])
    y = KerasLayerScale(0.5, 4)(s)
    model = keras.Model(x, y)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.weights])
    return model


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_from_keras_and_back(api, rng):
    model = keras_model(rng)
    x = rng.standard_normal((2, 6, 6, 4)).astype(np.float32)
    want = model.predict(x, verbose=0)
    if api == "linen":
        module, variables = from_keras(model)
        got = module.apply(variables, x)
        assert variables["params"]["layer_scale"]["gamma"].shape == (4,)
        back = to_keras(module, variables, (None, 6, 6, 4))
        assert jaxlayers.count_params(variables) == model.count_params()
    else:
        graph = from_keras(model, api="nnx")
        got = graph(jnp.asarray(x))
        back = to_keras(graph, input_shape=(None, 6, 6, 4))
    np.testing.assert_allclose(np.asarray(got), want, **TOL)
    assert [type(layer).__name__ for layer in back.layers[1:]] == ["Conv2D", "CustomScaleLayer", "LayerScale"]
    np.testing.assert_allclose(back.predict(x, verbose=0), want, **TOL)


def test_layer_scale_initial_value_and_gradients(rng):
    layer = L.LayerScale(0.25, 3)
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    variables = layer.init(jax.random.key(0), x)
    np.testing.assert_array_equal(variables["params"]["gamma"], np.full(3, 0.25, np.float32))
    kl = KerasLayerScale(0.25, 3)
    kl.build((None, 5, 3))
    np.testing.assert_array_equal(np.asarray(kl.weights[0]), variables["params"]["gamma"])
    g = jax.grad(lambda v: layer.apply(v, x).sum())(variables)["params"]["gamma"]
    np.testing.assert_allclose(g, x.sum((0, 1)), rtol=1e-5)
    nl = J.LayerScale(0.25, 3, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(nl(jnp.asarray(x)), x * 0.25, rtol=1e-6)


@pytest.mark.parametrize("make, x, match", [
    (lambda: L.LayerScale(0.1, 0), np.ones((1, 3), np.float32), "`projection_dim`"),
    (lambda: L.LayerScale("a", 3), np.ones((1, 3), np.float32), "`init_values` must be a number"),
    (lambda: L.LayerScale(0.1, 4), np.ones((1, 3), np.float32), "`projection_dim`=4.*shape \\(1, 3\\)"),
    (lambda: L.CustomScaleLayer("x"), [np.ones((1, 3), np.float32)] * 2, "`scale` must be a number"),
    (lambda: L.CustomScaleLayer(0.1), [np.ones((1, 3), np.float32)] * 3, "takes a list \\[x, residual\\]"),
])
def test_bad_arguments(make, x, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make().init(jax.random.key(0), x)
