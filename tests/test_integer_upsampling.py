"""Upsampling integer and bool images gives Keras `UpSampling2D`'s numbers and dtype.

Keras (`keras.ops.image.resize`) resizes integers in float32, rounds half to even and
saturates to the dtype (`keras.ops.saturate_cast`); truncating instead, as a plain
`astype` does, differs in most cells of a random uint8 image.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlayers.functional as F

try:
    import keras_oracle as K
except ImportError:  # tests/ imported as a package
    from tests import keras_oracle as K

INT_DTYPES = ["uint8", "uint16", "uint32", "int8", "int16", "int32", "int64"]
METHODS = ["bilinear", "nearest"]  # what jaxlayers and Keras's UpSampling2D both take


def _keras(x: np.ndarray, size, method: str) -> np.ndarray:
    return np.asarray(K.keras.layers.UpSampling2D(size, interpolation=method)(x))


def _images(dtype: str, rng: np.random.Generator) -> list[np.ndarray]:
    """A random image over the whole range, one of its extremes side by side, and ties."""
    info = np.iinfo(dtype)
    low, high = max(int(info.min), -2**31), min(int(info.max), 2**31 - 1) if info.min < 0 else int(info.max)
    random = rng.integers(low, high, (1, 5, 7, 3), endpoint=True, dtype=np.int64).astype(dtype)
    extremes = np.array([[info.min, info.max, info.max, 0], [info.max, info.min, 0, info.max],
                         [info.max, info.max, info.max - 1, info.max - 2]], dtype)[None, :, :, None]
    # neighbours 2 apart: bilinear x2 lands on k + 0.5 (rounded half to even)
    ties = (np.arange(12, dtype=np.int64).reshape(1, 3, 4, 1) * 2 + max(int(info.min), 0)).astype(dtype)
    return [random, extremes, ties]


@pytest.mark.parametrize("size", [2, (3, 2)])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_integer_upsampling_matches_keras(dtype, method, size, rng):
    for x in _images(dtype, rng):
        expected = _keras(x, size, method)
        got = F.upsample(jnp.asarray(x), size, method)
        assert got.dtype == expected.dtype, (got.dtype, expected.dtype)
        np.testing.assert_array_equal(np.asarray(got), expected)


@pytest.mark.parametrize("method", METHODS)
def test_bool_upsampling_matches_keras(method, rng):
    x = rng.random((2, 4, 5, 2)) < 0.5
    expected = _keras(x, 2, method)
    got = F.upsample(jnp.asarray(x), 2, method)
    assert got.dtype == expected.dtype == np.bool_
    np.testing.assert_array_equal(np.asarray(got), expected)


def test_the_issue_example_rounds_where_truncation_would_not(rng):
    x = rng.integers(0, 255, (1, 5, 7, 3), endpoint=True).astype(np.uint8)
    expected = _keras(x, 2, "bilinear")
    truncated = np.asarray(jax.image.resize(x, (1, 10, 14, 3), "bilinear", antialias=False)).astype(np.uint8)
    assert (truncated != expected).sum() > 100  # the check below can fail
    np.testing.assert_array_equal(np.asarray(F.upsample(x, 2, "bilinear")), expected)


@pytest.mark.parametrize("dtype", ["int32", "uint32"])
def test_a_maximum_float32_cannot_hold_saturates(dtype):
    """int32's top is 2**31 in float32, one past it: the cast saturates back to the top."""
    top = np.iinfo(dtype).max
    x = np.full((1, 2, 2, 1), top, dtype)
    for method in METHODS:
        got = np.asarray(F.upsample(x, 2, method))
        np.testing.assert_array_equal(got, np.full((1, 4, 4, 1), top, dtype))
        np.testing.assert_array_equal(got, _keras(x, 2, method))
