"""Gradients of jaxlayers.functional: finite differences, and the max-pool tie rule.

`check_grads` (reverse mode, float32, loose tolerances) covers every differentiable
op. The tie rule: on inputs with many equal maxima, `max_pool`'s gradient must equal
that of `lax.reduce_window(max)` (what Keras's JAX backend uses), of
`keras.ops.max_pool`, and of a NumPy reference sending each output's cotangent to
the first maximum of its window in row-major order.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax.test_util import check_grads

import jaxlayers.functional as F
try:
    import keras_oracle as K
except ImportError:  # tests/ imported as a package
    from tests import keras_oracle as K

GRAD_TOL = dict(atol=1e-2, rtol=1e-2)


def _rand(rng, shape):
    return jnp.asarray(rng.uniform(-1, 1, size=shape).astype(np.float32))


def _distinct(rng, shape):
    """Values in [-1, 1] at least 2 / size apart: no ties, so max is differentiable."""
    n = int(np.prod(shape))
    return jnp.asarray((rng.permutation(n) * (2.0 / n) - 1.0).reshape(shape).astype(np.float32))


def _check(f, args, eps=1e-2):
    # jit: one compile per function instead of one per primitive (eager), much faster here
    check_grads(jax.jit(f), args, order=1, modes=["rev"], eps=eps, **GRAD_TOL)


# ------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("rank, x_shape, k_shape, kwargs", [
    (1, (2, 9, 4), (3, 2, 4), dict(groups=2, dilation=2, padding="causal")),
    (2, (1, 7, 6, 3), (3, 2, 3, 2), dict(strides=2, padding="same")),
    (2, (1, 8, 7, 2), (2, 3, 2, 3), dict(strides=(2, 1), dilation=(2, 2), padding=((1, 0), (2, 1)))),
    (3, (1, 5, 4, 5, 3), (2, 2, 2, 1, 6), dict(groups=3, strides=(1, 2, 1), padding="valid")),
], ids=["1d_groups_dilation_causal", "2d_strided_same", "2d_strides_and_dilation_explicit", "3d_depthwise"])
def test_conv_grads(rng, rank, x_shape, k_shape, kwargs):
    x, kernel, bias = _rand(rng, x_shape), _rand(rng, k_shape), _rand(rng, k_shape[-1:])
    _check(functools.partial(F.conv, **kwargs), (x, kernel, bias))


@pytest.mark.parametrize("x_shape, k_shape, kwargs", [
    ((2, 4, 3), (3, 2, 3), dict(strides=3, padding="valid", output_padding=2)),
    ((1, 3, 4, 2), (3, 2, 3, 2), dict(strides=2, padding="same", output_padding=1)),
    ((1, 4, 3, 2), (2, 3, 2, 2), dict(strides=(2, 1), padding="valid")),
    ((1, 3, 4, 2), (3, 2, 2, 2), dict(dilation=2, padding="same")),
    ((1, 2, 3, 2, 2), (2, 2, 3, 2, 2), dict(strides=(2, 1, 2), padding="same", output_padding=(1, 0, 0))),
], ids=["1d_op2", "2d_same_op1", "2d_valid", "2d_dilated", "3d_op"])
def test_conv_transpose_grads(rng, x_shape, k_shape, kwargs):
    x, kernel, bias = _rand(rng, x_shape), _rand(rng, k_shape), _rand(rng, k_shape[-2:-1])
    _check(functools.partial(F.conv_transpose, **kwargs), (x, kernel, bias))


def test_dense_grads(rng):
    _check(F.dense, (_rand(rng, (2, 3, 4)), _rand(rng, (4, 5)), _rand(rng, (5,))))


POOL_GRAD_CASES = [
    ((2, 8, 3), dict(pool_size=2)),
    ((1, 7, 3), dict(pool_size=3, strides=2, padding="same")),
    ((1, 6, 7, 2), dict(pool_size=2, padding="same")),
    ((1, 7, 6, 2), dict(pool_size=(3, 2), strides=(1, 2), padding="valid")),
    ((1, 5, 5, 2), dict(pool_size=3, strides=2, padding="same")),
    ((1, 4, 5, 4, 1), dict(pool_size=2, strides=(1, 2, 2), padding="same")),
    ((1, 4, 4, 5, 1), dict(pool_size=(2, 2, 3), padding="valid")),
]
POOL_IDS = ["1d_nonoverlap", "1d_overlap_same", "2d_nonoverlap_same", "2d_overlap_valid", "2d_overlap_same",
            "3d_overlap_same", "3d_nonoverlap_valid"]


@pytest.mark.parametrize("shape, kwargs", POOL_GRAD_CASES, ids=POOL_IDS)
def test_avg_pool_grads(rng, shape, kwargs):
    _check(functools.partial(F.avg_pool, **kwargs), (_rand(rng, shape),))


@pytest.mark.parametrize("shape, kwargs", POOL_GRAD_CASES, ids=POOL_IDS)
def test_max_pool_and_with_indices_grads_without_ties(rng, shape, kwargs):
    x = _distinct(rng, shape)
    # eps far below the spacing of the values, so no maximum changes place.
    _check(functools.partial(F.max_pool, **kwargs), (x,), eps=1e-3)
    _check(lambda x: F.max_pool_with_indices(x, **kwargs)[0], (x,), eps=1e-3)


@pytest.mark.parametrize("shape, kwargs", POOL_GRAD_CASES[:3] + POOL_GRAD_CASES[4:5], ids=POOL_IDS[:3] + POOL_IDS[4:5])
def test_max_unpool_grads_in_y(rng, shape, kwargs):
    x = _distinct(rng, shape)
    y, indices = jax.jit(functools.partial(F.max_pool_with_indices, **kwargs))(x)
    _check(lambda y: F.max_unpool(y, indices, shape), (_rand(rng, y.shape),))
    # and the gradient is a gather at indices (a cotangent-weighted check). With
    # overlapping windows several y share an index; only one of them is written
    # last and survives, so exactly one of each such group gets the cotangent.
    g_out = _rand(rng, shape)
    grad = jax.jit(jax.grad(lambda y: jnp.sum(F.max_unpool(y, indices, shape) * g_out)))(y)
    flat = np.asarray(g_out).reshape(shape[0], -1, shape[-1])
    idx = np.asarray(indices).reshape(shape[0], -1, shape[-1])
    gathered = np.take_along_axis(flat, idx, axis=1)
    grad = np.asarray(grad).reshape(idx.shape)
    for b in range(idx.shape[0]):
        for c in range(idx.shape[-1]):
            for i in np.unique(idx[b, :, c]):
                group = grad[b, idx[b, :, c] == i, c]
                target = gathered[b, idx[b, :, c] == i, c][0]
                np.testing.assert_allclose(np.sort(group), np.sort([target] + [0.0] * (group.size - 1)),
                                           atol=1e-6)
    if kwargs.get("strides") in (None, kwargs["pool_size"]):
        np.testing.assert_allclose(grad, gathered, atol=1e-6)


@pytest.mark.parametrize("shape, size, method", [
    ((1, 4, 2), 3, "nearest"), ((1, 3, 4, 2), (2, 3), "nearest"), ((1, 2, 3, 2, 1), 2, "nearest"),
    ((1, 3, 4, 2), (2, 3), "bilinear"), ((1, 4, 3, 1), 2, "bilinear"),
    ((1, 4, 2), 2, "bed_of_nails"), ((1, 3, 3, 2), (3, 2), "bed_of_nails"), ((1, 2, 2, 3, 1), (1, 2, 2), "bed_of_nails"),
])
def test_upsample_grads(rng, shape, size, method):
    _check(functools.partial(F.upsample, size=size, method=method), (_rand(rng, shape),))


@pytest.mark.parametrize("shape, arg", [
    ((1, 5, 2), (1, 2)), ((1, 4, 5, 2), ((2, 0), (1, 3))), ((1, 4, 3, 4, 1), 1),
])
def test_zero_pad_and_crop_grads(rng, shape, arg):
    x = _rand(rng, shape)
    _check(functools.partial(F.zero_pad, padding=arg), (x,))
    _check(functools.partial(F.crop, cropping=arg), (x,))
    # crop(zero_pad(x)) is the identity, so is its gradient
    g = jax.jit(jax.grad(lambda x: jnp.sum(F.crop(F.zero_pad(x, arg), arg) * x)))(x)
    np.testing.assert_allclose(np.asarray(g), 2 * np.asarray(x), atol=1e-6)


# ------------------------------------------------------------------- tie rule


def _ties(rng, shape):
    """relu of small integers: mostly zeros and repeated small values."""
    return jnp.asarray(np.maximum(rng.integers(-2, 3, size=shape), 0).astype(np.float32))


TIE_CASES = [
    # rank, sizes, pool, strides (None -> pool), padding
    (1, (12,), (2,), None, "valid"),
    (1, (11,), (3,), (3,), "same"),
    (1, (10,), (3,), (1,), "valid"),
    (1, (9,), (4,), (2,), "same"),
    (2, (6, 8), (2, 2), None, "valid"),
    (2, (7, 9), (2, 3), (2, 3), "valid"),  # crops the remainder
    (2, (7, 5), (2, 2), None, "same"),
    (2, (7, 8), (3, 3), (2, 2), "valid"),
    (2, (6, 7), (3, 2), (1, 1), "same"),
    (3, (4, 4, 6), (2, 2, 2), None, "valid"),
    (3, (5, 3, 4), (2, 2, 3), None, "same"),
    (3, (5, 4, 5), (3, 2, 2), (2, 1, 2), "same"),
]


def _tie_id(case):
    rank, sizes, pool, strides, padding = case
    overlap = "nonoverlap" if strides is None or strides == pool else "overlap"
    return f"{rank}d-{overlap}-{padding}-{'x'.join(map(str, sizes))}"


@pytest.mark.parametrize("case", TIE_CASES, ids=[_tie_id(c) for c in TIE_CASES])
def test_max_pool_tie_rule(case):
    rank, sizes, pool, strides, padding = case
    st = pool if strides is None else strides
    rng = np.random.default_rng(sum(sizes) * 31 + rank)
    x = _ties(rng, (2, *sizes, 3))
    assert float(jnp.mean(x == 0)) > 0.4  # plenty of ties

    pads = K.same_pads(sizes, pool, st) if padding == "same" else ((0, 0),) * rank
    y_ref, i_ref = K.np_max_pool_with_indices(np.asarray(x), pool, st, pads)
    w = _rand(rng, y_ref.shape) + 2.0  # distinct, non-zero cotangents

    def loss(pool_fn):
        return jax.jit(jax.grad(lambda x: jnp.sum(pool_fn(x) * w)))(x)

    g_jl = loss(lambda x: F.max_pool(x, pool, strides, padding))
    g_lax = loss(lambda x: jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, *pool, 1), (1, *st, 1),
                                                 padding.upper()))
    g_keras = loss(lambda x: keras.ops.max_pool(x, pool, st, padding))

    # NumPy: each output's cotangent goes, whole, to the first maximum of its window.
    expected = np.zeros(x.shape, np.float32)
    flat = expected.reshape(x.shape[0], -1, x.shape[-1])
    for idx in np.ndindex(i_ref.shape):
        flat[idx[0], i_ref[idx], idx[-1]] += np.asarray(w)[idx]

    np.testing.assert_allclose(np.asarray(g_lax), expected, atol=1e-6, err_msg="oracle check: lax vs NumPy")
    np.testing.assert_allclose(np.asarray(g_keras), expected, atol=1e-6, err_msg="oracle check: Keras vs NumPy")
    np.testing.assert_allclose(np.asarray(g_jl), np.asarray(g_lax), atol=1e-6, err_msg="max_pool vs reduce_window")
    np.testing.assert_allclose(np.asarray(g_jl), np.asarray(g_keras), atol=1e-6, err_msg="max_pool vs keras")

    # max_pool_with_indices: same values as max_pool, indices where the gradient lands.
    y, indices = jax.jit(functools.partial(F.max_pool_with_indices, pool_size=pool, strides=strides,
                                           padding=padding))(x)
    np.testing.assert_array_equal(np.asarray(y), y_ref)
    np.testing.assert_array_equal(np.asarray(indices), i_ref)
    g_idx = jax.jit(jax.grad(lambda x: jnp.sum(F.max_pool_with_indices(x, pool, strides, padding)[0] * w)))(x)
    np.testing.assert_allclose(np.asarray(g_idx), expected, atol=1e-6)
    # every index receives gradient from max_pool: one unit cotangent per output cell
    g_one = jax.jit(jax.grad(lambda x: jnp.sum(F.max_pool(x, pool, strides, padding))))(x)
    g_one = np.asarray(g_one).reshape(x.shape[0], -1, x.shape[-1])
    hit = np.take_along_axis(g_one, np.asarray(indices).reshape(x.shape[0], -1, x.shape[-1]), axis=1)
    assert np.all(hit >= 1)
    assert g_one.sum() == pytest.approx(np.prod(y.shape))
