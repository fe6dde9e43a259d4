"""A list given to a single-input layer is a TypeError naming the layer and `x`, in linen and NNX,
for every single-input layer (merge layers take lists); before it was an AttributeError from XLA's side."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

import jaxlayers.linen as L
import jaxlayers.nnx as J
from jaxlayers import layers as definitions

X = jnp.ones((2, 6, 6, 4))
LINEN = [L.Conv2D(3, 3), L.Conv2DTranspose(3, 3), L.Dense(3), L.MaxPooling2D(2), L.AveragePooling2D(2),
         L.GlobalMaxPooling2D(), L.UpSampling2D(2), L.ZeroPadding2D(1), L.Cropping2D(1), L.Flatten(),
         L.Reshape((-1,)), L.ReLU(), L.Activation("relu"), L.BatchNormalization(), L.LayerNormalization(),
         L.Dropout(0.5), L.MaxPoolingWithIndices(2), L.Rescaling(0.5), L.LSTM(3), L.LayerScale(0.1, 4),
         L.DepthwiseConv2D(3), L.GroupNormalization(2), L.GaussianNoise(0.1), L.Permute((2, 1, 3))]
RNGS = nnx.Rngs(0)
NNX = [J.Conv2D(4, 3, 3, rngs=RNGS), J.Dense(4, 3, rngs=RNGS), J.MaxPooling2D(2), J.UpSampling2D(2), J.Flatten(),
       J.ReLU(), J.BatchNormalization(4, rngs=RNGS), J.LayerNormalization(4, rngs=RNGS), J.Dropout(0.5)]


def family(definition: type) -> str:
    return definition.__module__.split(".")[2]  # jaxlayers.layers.<family>.<file>


def test_the_cases_cover_every_family_of_single_input_layers():
    families = {family(d) for d in definitions.LAYERS if d.single_input}
    assert families - {family(type(m).__mro__[1]) for m in LINEN} <= {"merging"}


@pytest.mark.parametrize("layer", LINEN, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("given", [[X], (X, X)], ids=["list", "tuple"])
def test_linen_layer_given_a_list(layer, given):
    with pytest.raises(TypeError, match=rf"{type(layer).__name__} takes one array `x`, got a "
                                        rf"{type(given).__name__} of {len(given)} items"):
        layer.init(jax.random.key(0), given)


@pytest.mark.parametrize("layer", NNX, ids=lambda m: type(m).__name__)
def test_nnx_layer_given_a_list(layer):
    with pytest.raises(TypeError, match=rf"{type(layer).__name__} takes one array `x`, got a list of 1 items"):
        layer([X])


@pytest.mark.parametrize("given", ["abc", 3, None])
def test_a_non_array_is_named(given):
    with pytest.raises(TypeError, match=rf"Conv2D takes one array `x`, got {type(given).__name__}"):
        L.Conv2D(3, 3).init(jax.random.key(0), given)
