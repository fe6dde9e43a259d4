"""Keras masks in imported graphs: made by Embedding(mask_zero=True), passed through the layers
that support masking, read by recurrent layers and GlobalAveragePooling1D; Keras is the oracle.
Models whose masks jaxlayers cannot carry as Keras does are refused, naming the layer."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from jaxlayers import functional as F
from jaxlayers.keras import from_keras, to_keras

K = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)


def padded_ids(rng: np.random.Generator, batch: int = 5, time: int = 7, vocabulary: int = 12) -> np.ndarray:
    """Token ids with zero padding on the right of each row (one row also on the left, one empty step inside)."""
    ids = rng.integers(1, vocabulary, (batch, time))
    for row, length in enumerate(rng.integers(1, time + 1, batch)):
        ids[row, length:] = 0
    ids[0, :2], ids[-1, 1] = 0, 0
    ids[1, 0] = 3  # no row is all padding (Keras's average of nothing is NaN)
    return ids.astype(np.int32)


def functional(*layers, time: int = 7) -> keras.Model:
    inputs = keras.Input((time,), dtype="int32")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_masks_pass_through_layers_that_support_them(api, rng):
    """Embedding -> Dropout -> Dense -> LSTM(sequences) -> LayerNormalization -> GlobalAveragePooling1D -> Dense."""
    model = functional(K.Embedding(12, 6, mask_zero=True), K.Dropout(0.2), K.Dense(5, activation="tanh"),
                       K.LSTM(4, return_sequences=True), K.LayerNormalization(), K.GlobalAveragePooling1D(),
                       K.Dense(3))
    ids = padded_ids(rng)
    expected = np.asarray(model(ids))
    if api == "nnx":
        np.testing.assert_allclose(np.asarray(from_keras(model, api="nnx")(ids)), expected, **TOL)
        return
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, ids)), expected, **TOL)
    np.testing.assert_allclose(np.asarray(to_keras(module, variables, (None, 7))(ids)), expected, **TOL)


def test_global_average_pooling_1d_averages_over_the_unmasked_steps(rng):
    model = functional(K.Embedding(12, 4, mask_zero=True), K.GlobalAveragePooling1D())
    ids = padded_ids(rng)
    module, variables = from_keras(model)
    got = np.asarray(module.apply(variables, ids))
    np.testing.assert_allclose(got, np.asarray(model(ids)), **TOL)
    table = np.asarray(variables["params"][model.layers[1].name]["embeddings"])
    keep = ids != 0
    reference = (table[ids] * keep[..., None]).sum(1) / keep.sum(1, keepdims=True)  # NumPy, independently
    np.testing.assert_allclose(got, reference, **TOL)


def test_functional_masked_global_average(rng):
    x = rng.standard_normal((3, 4, 5, 2)).astype(np.float32)
    mask = rng.uniform(size=(3, 4, 5)) > 0.4
    mask[:, 0, 0] = True
    want = (x * mask[..., None]).sum((1, 2)) / mask.sum((1, 2))[:, None]
    np.testing.assert_allclose(np.asarray(F.global_avg_pool(x, mask=mask)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(F.global_avg_pool(x, True, mask))[:, 0, 0], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"`mask` must be \(batch, \*spatial\) = \(3, 4, 5\), got shape \(3, 4\)"):
        F.global_avg_pool(x, mask=mask[..., 0])


def refused(model: keras.Model, layer: str) -> None:
    with pytest.raises(ValueError, match=f"'{layer}'.*takes the mask of an Embedding"):
        from_keras(model)


def test_batch_normalization_given_a_mask_is_refused():
    """Keras's BatchNormalization computes masked statistics in training: not carried, so refused."""
    refused(functional(K.Embedding(12, 4, mask_zero=True), K.BatchNormalization(name="bn"), K.LSTM(3)), "bn")


def test_masked_maximum_is_refused():
    """Keras's Maximum and Minimum replace masked operands' values: refused."""
    inputs = keras.Input((7,), dtype="int32")
    a, b = K.Embedding(12, 4, mask_zero=True)(inputs), K.Embedding(12, 4, mask_zero=True)(inputs)
    refused(keras.Model(inputs, K.Maximum(name="max")([a, b])), "max")


def test_masked_input_to_a_nested_model_is_refused():
    inner = keras.Sequential([keras.Input((7, 4)), K.LSTM(3)], name="inner")
    refused(functional(K.Embedding(12, 4, mask_zero=True), inner), "inner")


def test_unmasked_graphs_are_unaffected(rng):
    """Without mask_zero no layer gets a mask: padding ids are averaged as any other."""
    model = functional(K.Embedding(12, 4), K.Dense(3), K.GlobalAveragePooling1D())
    ids = padded_ids(rng)
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, ids)), np.asarray(model(ids)), **TOL)
