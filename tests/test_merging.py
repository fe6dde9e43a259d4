"""Merge layers (functional, linen, NNX) against Keras 3's `Add`, `Subtract`, ..., `Concatenate`."""
from __future__ import annotations

import jax.numpy as jnp
import keras
import numpy as np
import pytest

from jaxlayers import functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as J

KL = keras.layers
TOL = dict(rtol=1e-6, atol=1e-6)
ELEMENTWISE = {"Add": F.add, "Subtract": F.subtract, "Multiply": F.multiply, "Average": F.average,
               "Maximum": F.maximum, "Minimum": F.minimum}
SHAPES = {
    "same": [(2, 4, 5, 3), (2, 4, 5, 3), (2, 4, 5, 3)],
    "broadcast": [(2, 4, 5, 3), (2, 1, 1, 3), (2, 4, 1, 1)],
    "ranks": [(2, 3), (2, 5, 3), (2, 4, 5, 3)],  # Keras inserts axes after the batch axis
}


def _inputs(rng, shapes) -> list[np.ndarray]:
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


@pytest.mark.parametrize("case", SHAPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_merges_match_keras(name, case, rng):
    shapes = SHAPES[case][:2] if name == "Subtract" else SHAPES[case]
    xs = _inputs(rng, shapes)
    expected = np.asarray(getattr(KL, name)()(xs))
    results = {"functional": ELEMENTWISE[name]([jnp.asarray(x) for x in xs]),
               "linen": getattr(L, name)().apply({}, xs), "nnx": getattr(J, name)()(xs)}
    for how, y in results.items():
        assert y.shape == expected.shape, how
        np.testing.assert_allclose(np.asarray(y), expected, **TOL, err_msg=how)


@pytest.mark.parametrize("axis, shapes", [
    (-1, [(2, 4, 5, 3), (2, 4, 5, 1), (2, 4, 5, 2)]),
    (1, [(2, 4, 5), (2, 1, 5)]),
    (-3, [(2, 3, 4, 5), (2, 2, 4, 5)]),
    (0, [(2, 3), (5, 3)]),
])
def test_concatenate_matches_keras(axis, shapes, rng):
    xs = _inputs(rng, shapes)
    expected = np.asarray(KL.Concatenate(axis=axis)(xs))
    for how, y in {"functional": F.concatenate([jnp.asarray(x) for x in xs], axis),
                   "linen": L.Concatenate(axis).apply({}, xs), "nnx": J.Concatenate(axis)(xs)}.items():
        np.testing.assert_array_equal(np.asarray(y), expected, err_msg=how)


def test_a_single_input_is_returned_as_keras_does(rng):
    (x,) = _inputs(rng, [(2, 3)])
    for name in ("Add", "Multiply", "Maximum"):
        expected = np.asarray(getattr(KL, name)()([x]))
        np.testing.assert_array_equal(np.asarray(getattr(L, name)().apply({}, [x])), expected)


@pytest.mark.parametrize("call, error, match", [
    (lambda a, b: F.add([a, jnp.zeros((2, 4, 4))]), ValueError, r"broadcastable shapes.*\(2, 3, 4\), \(2, 4, 4\)"),
    (lambda a, b: F.multiply([a, jnp.zeros((3, 3, 4))]), ValueError, "one batch size"),
    (lambda a, b: F.subtract([a, b, a]), ValueError, "exactly 2 inputs, got 3"),
    (lambda a, b: F.maximum([]), ValueError, "at least one input"),
    (lambda a, b: F.average(a), TypeError, "list of arrays"),
    (lambda a, b: L.Add().apply({}, a), TypeError, "list of arrays"),
    (lambda a, b: F.concatenate([a, jnp.zeros((2, 4, 5))]), ValueError,
     r"equal shapes except on axis -1, got \[\(2, 3, 4\), \(2, 4, 5\)\]"),
    (lambda a, b: F.concatenate([a, jnp.zeros((2, 3))]), ValueError, "one rank"),
    (lambda a, b: F.concatenate([a, b], axis=3), ValueError, r"`axis` in \[-3, 3\)"),
    (lambda a, b: J.Concatenate(axis="channels"), TypeError, "`axis` must be an int"),
])
def test_bad_inputs_are_named(call, error, match):
    a, b = jnp.zeros((2, 3, 4)), jnp.ones((2, 3, 4))
    with pytest.raises(error, match=match):
        call(a, b)
