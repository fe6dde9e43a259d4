"""Hardening: max pooling with NaN, ±inf, ties, padding and integer dtypes; low-precision
and mixed-dtype convolutions; `max_unpool` shape checks; `dilation_rate=`; the README's
Keras snippet.

Oracles: `lax.reduce_window` and `keras.ops` (JAX backend), and NumPy loops written here
from the documented rules (`np_fold_pick`: XLA's select-and-scatter, the rule
`reduce_window`'s gradient follows; `np_argmax_pick`: what `max_pool_with_indices`
reports). The oracle checks below also pin those NumPy models to `reduce_window`.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax import lax

import jaxlayers.functional as F
from jaxlayers import shapes
from jaxlayers.functional import _lowering

try:
    import keras_oracle as K
except ImportError:  # tests/ imported as a package
    from tests import keras_oracle as K

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- NumPy oracles


def _windows(x, pool, strides, pads):
    """Yield (b, out_index, c, cells) per window; cells: row-major [(flat index or None, value)]."""
    n, *spatial, c = x.shape
    rank = len(spatial)
    out = [(spatial[i] + pads[i][0] + pads[i][1] - pool[i]) // strides[i] + 1 for i in range(rank)]
    for b, ch, o in itertools.product(range(n), range(c), itertools.product(*map(range, out))):
        cells = []
        for w in itertools.product(*map(range, pool)):
            pos = [o[i] * strides[i] - pads[i][0] + w[i] for i in range(rank)]
            if all(0 <= p < spatial[i] for i, p in enumerate(pos)):
                cells.append((int(np.ravel_multi_index(pos, spatial)), x[(b, *pos, ch)]))
            else:
                cells.append((None, -np.inf))  # padding holds -inf
        yield b, o, ch, cells


def np_fold_pick(x, pool, strides, pads):
    """XLA's select-and-scatter: fold each window in row-major order (padding included),
    keeping the choice c over the next cell v while `c >= v`. Flat index, -1 on padding."""
    picks = {}
    for b, o, ch, cells in _windows(np.asarray(x), pool, strides, pads):
        chosen, best = cells[0]
        for index, v in cells[1:]:
            if not best >= v:
                chosen, best = index, v
        picks[(b, *o, ch)] = -1 if chosen is None else chosen
    return picks


def np_argmax_pick(x, pool, strides, pads):
    """First NaN among a window's real cells, else its first maximum: (y, flat indices)."""
    x = np.asarray(x)
    picks = {}
    for b, o, ch, cells in _windows(x, pool, strides, pads):
        real = [(i, v) for i, v in cells if i is not None]
        nans = [i for i, v in real if v != v]
        top = max(v for _, v in real) if not nans else None
        picks[(b, *o, ch)] = nans[0] if nans else next(i for i, v in real if v == top)
    shape = tuple(np.max(np.array(list(picks)), axis=0) + 1)
    indices = np.zeros(shape, np.int64)
    for key, i in picks.items():
        indices[key] = i
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    y = np.take_along_axis(flat, indices.reshape(x.shape[0], -1, x.shape[-1]), axis=1).reshape(shape)
    return y, indices


def np_scatter(picks, values, x_shape):
    """Sum `values[key]` into the flat cell `picks[key]` of each (batch, channel) map (-1: dropped)."""
    out = np.zeros((x_shape[0], int(np.prod(x_shape[1:-1])), x_shape[-1]), np.float64)
    for key, i in picks.items():
        if i >= 0:
            out[key[0], i, key[-1]] += values[key]
    return out.reshape(x_shape)


def np_gather(picks, values, out_shape):
    """`values` (x-shaped) at each window's pick; 0 where the pick is padding."""
    flat = np.asarray(values).reshape(values.shape[0], -1, values.shape[-1])
    out = np.zeros(out_shape, np.float64)
    for key, i in picks.items():
        out[key] = 0.0 if i < 0 else flat[key[0], i, key[-1]]
    return out


# ---------------------------------------------------------------- inputs full of ties, NaN and ±inf


SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0], np.float32)

POOL_CASES = [
    # rank, sizes, pool, strides (None -> pool), padding
    (1, (9,), (3,), None, "valid"),
    (1, (10,), (3,), None, "same"),
    (1, (8,), (3,), (1,), "same"),
    (1, (9,), (2,), (1,), "valid"),
    (2, (4, 4), (3, 3), None, "same"),
    (2, (6, 5), (2, 2), None, "valid"),
    (2, (7, 5), (2, 2), None, "same"),
    (2, (5, 6), (3, 3), (1, 1), "same"),
    (2, (6, 7), (3, 2), (2, 1), "valid"),
    (3, (4, 4, 4), (2, 2, 2), None, "valid"),
    (3, (5, 3, 4), (2, 2, 3), None, "same"),
    (3, (4, 5, 4), (3, 2, 2), (2, 1, 1), "same"),
]


def _pool_id(case):
    rank, sizes, pool, strides, padding = case
    overlap = "block" if strides is None or strides == pool else "overlap"
    return f"{rank}d-{overlap}-{padding}-{'x'.join(map(str, sizes))}-p{'x'.join(map(str, pool))}"


def _special_input(case, seed, p_nan):
    rank, sizes, *_ = case
    r = np.random.default_rng(seed)
    p = np.array([p_nan, 0.1, 0.35, 0.3, 0.25])
    return r.choice(SPECIALS, size=(2, *sizes, 2), p=p / p.sum()).astype(np.float32)


def _pads(case):
    rank, sizes, pool, strides, padding = case
    st = pool if strides is None else strides
    return st, (K.same_pads(sizes, pool, st) if padding == "same" else ((0, 0),) * rank)


def _lax_max(pool, st, padding):
    return lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, *pool, 1), (1, *st, 1), padding.upper())


@pytest.mark.parametrize("p_nan", [0.0, 0.2], ids=["ties-inf", "ties-inf-nan"])
@pytest.mark.parametrize("case", POOL_CASES, ids=[_pool_id(c) for c in POOL_CASES])
def test_max_pool_gradient_is_reduce_windows(case, p_nan):
    """Item 3: values and gradients equal reduce_window's on every lowering, NaN and ±inf included."""
    rank, sizes, pool, strides, padding = case
    st, pads = _pads(case)
    x = _special_input(case, zlib.crc32(_pool_id(case).encode()) + int(p_nan * 10), p_nan)
    picks = np_fold_pick(x, pool, st, pads)
    y_ref, vjp_ref = jax.vjp(_lax_max(pool, st, padding), x)
    cotangent = np.random.default_rng(1).integers(1, 9, size=y_ref.shape).astype(np.float32)  # exact sums
    (g_ref,) = vjp_ref(cotangent)
    # Oracle check: reduce_window's gradient is the select-and-scatter fold.
    np.testing.assert_array_equal(g_ref, np_scatter(picks, cotangent, x.shape), err_msg="lax vs NumPy fold")
    for lowering in ("auto", "always", "never"):
        with _lowering.forced(block_pool=lowering):
            y, vjp = jax.vjp(lambda x: F.max_pool(x, pool, strides, padding), x)
        np.testing.assert_array_equal(y, y_ref, err_msg=lowering)
        np.testing.assert_array_equal(vjp(cotangent)[0], g_ref, err_msg=lowering)


BLOCK_CASES = [c for c in POOL_CASES if c[3] is None]


@pytest.mark.parametrize("case", BLOCK_CASES, ids=[_pool_id(c) for c in BLOCK_CASES])
def test_max_pool_forward_mode_through_block_path(case):
    """Item 3: jvp through the block path is the tangent at reduce_window's gradient cell."""
    rank, sizes, pool, strides, padding = case
    st, pads = _pads(case)
    x = _special_input(case, 5, 0.2)
    tangent = np.random.default_rng(2).uniform(1, 2, size=x.shape).astype(np.float32)
    with _lowering.forced(block_pool="always"):
        y, jvp = jax.jvp(lambda x: F.max_pool(x, pool, None, padding), (x,), (tangent,))
    np.testing.assert_array_equal(jvp, np_gather(np_fold_pick(x, pool, st, pads), tangent, y.shape))
    # reduce_window's own jvp breaks ties (and NaN, and windows of padding's value only) in
    # no fixed order, unlike its gradient; without ties the two forward modes agree.
    distinct = np.random.default_rng(3).standard_normal(x.shape).astype(np.float32)
    with _lowering.forced(block_pool="always"):
        _, jvp = jax.jvp(lambda x: F.max_pool(x, pool, None, padding), (distinct,), (tangent,))
    _, jvp_ref = jax.jvp(_lax_max(pool, st, padding), (distinct,), (tangent,))
    np.testing.assert_array_equal(jvp, jvp_ref)


@pytest.mark.parametrize("case", POOL_CASES, ids=[_pool_id(c) for c in POOL_CASES])
def test_max_pool_with_indices_points_at_the_value(case):
    """Items 1, 2: indices are real cells holding y (NaN first), y == max_pool, unpool puts y back."""
    rank, sizes, pool, strides, padding = case
    st, pads = _pads(case)
    x = _special_input(case, 11, 0.15)
    y_ref, i_ref = np_argmax_pick(x, pool, st, pads)
    for lowering in ("auto", "always", "never"):
        with _lowering.forced(block_pool=lowering):
            y, indices = (lambda x: F.max_pool_with_indices(x, pool, strides, padding))(x)
            pooled = (lambda x: F.max_pool(x, pool, strides, padding))(x)
        np.testing.assert_array_equal(indices, i_ref, err_msg=lowering)
        np.testing.assert_array_equal(y, y_ref, err_msg=lowering)
        np.testing.assert_array_equal(y, pooled, err_msg=lowering)
        unpooled = F.max_unpool(y, indices, x.shape)
        np.testing.assert_array_equal(unpooled, K.np_max_unpool(y_ref, i_ref, x.shape), err_msg=lowering)
        # y's gradient goes to the indices
        cotangent = np.random.default_rng(3).integers(1, 9, size=y.shape).astype(np.float32)
        with _lowering.forced(block_pool=lowering):
            _, vjp = jax.vjp(lambda x: F.max_pool_with_indices(x, pool, strides, padding)[0], x)
        picks = {idx: int(i_ref[idx]) for idx in np.ndindex(i_ref.shape)}
        np.testing.assert_array_equal(vjp(cotangent)[0], np_scatter(picks, cotangent, x.shape), err_msg=lowering)


def test_issue_examples_padding_and_nan():
    """Items 1, 2 as reported: padding maxima, a NaN in a block, NaN with overlapping windows."""
    y, idx = F.max_pool_with_indices(jnp.full((1, 4, 4, 1), -jnp.inf), 3, padding="same")
    np.testing.assert_array_equal(idx[0, :, :, 0], [[0, 2], [8, 10]])  # first real cell of each window
    out = F.max_unpool(y, idx, (1, 4, 4, 1))
    assert set(np.flatnonzero(np.asarray(out) != 0)) == {0, 2, 8, 10}

    x = jnp.arange(16.0).reshape(1, 4, 4, 1).at[0, 2, 3, 0].set(jnp.nan)  # flat position 11
    y, idx = F.max_pool_with_indices(x, 2)
    assert int(idx[0, 1, 1, 0]) == 11 and np.isnan(y[0, 1, 1, 0])
    assert np.isnan(F.max_unpool(y, idx, x.shape)[0, 2, 3, 0])
    y, idx = F.max_pool_with_indices(x, 3, strides=1)
    np.testing.assert_array_equal(y, F.max_pool(x, 3, strides=1))
    np.testing.assert_array_equal(idx[0, :, :, 0], [[10, 11], [14, 11]])


# ---------------------------------------------------------------- integer, bool and low-precision pooling


INT_DTYPES = ["int32", "int8", "uint8", "bool"]
INT_POOLS = [(3, 1, "same"), (2, None, "valid"), (3, None, "same"), (2, 1, "valid")]


def _int_input(dtype, shape=(2, 5, 6, 3)):
    r = np.random.default_rng(7)
    if dtype == "bool":
        return r.random(shape) < 0.3
    info = np.iinfo(dtype)
    values = r.choice([info.min, info.min + 1, 0, 3, info.max], size=shape)
    return values.astype(dtype)


@pytest.mark.parametrize("pool,strides,padding", INT_POOLS)
@pytest.mark.parametrize("dtype", INT_DTYPES)
def test_max_pool_of_integers_and_bool_follows_keras(dtype, pool, strides, padding):
    """Item 4: integer and bool inputs keep their dtype, values as keras.ops.max_pool."""
    x = _int_input(dtype)
    st = pool if strides is None else strides
    expected = np.asarray(keras.ops.max_pool(x, pool, st, padding))
    assert expected.dtype == np.dtype(dtype)  # oracle check
    pads = K.same_pads(x.shape[1:-1], (pool,) * 2, (st,) * 2) if padding == "same" else ((0, 0),) * 2
    y_ref, i_ref = np_argmax_pick(x, (pool,) * 2, (st,) * 2, pads)
    for lowering in ("always", "never"):
        with _lowering.forced(block_pool=lowering):
            got = (lambda x: F.max_pool(x, pool, strides, padding))(x)
            y, indices = (lambda x: F.max_pool_with_indices(x, pool, strides, padding))(x)
        assert got.dtype == y.dtype == expected.dtype, lowering
        np.testing.assert_array_equal(got, expected, err_msg=lowering)
        np.testing.assert_array_equal(y, y_ref, err_msg=lowering)
        np.testing.assert_array_equal(indices, i_ref, err_msg=lowering)


@pytest.mark.parametrize("pool,strides,padding", INT_POOLS)
@pytest.mark.parametrize("dtype", ["int32", "int8", "uint8"])
def test_avg_pool_of_integers_is_float32_as_keras(dtype, pool, strides, padding):
    """Item 4: integer averages are float32 (no truncation), as keras.ops.average_pool."""
    x = np.random.default_rng(8).integers(0, 7, size=(2, 5, 6, 3)).astype(dtype)
    expected = np.asarray(keras.ops.average_pool(x, pool, strides or pool, padding))
    assert expected.dtype == np.float32 and np.any(expected != np.round(expected))  # oracle check
    for lowering in ("always", "never"):
        with _lowering.forced(block_pool=lowering):
            got = (lambda x: F.avg_pool(x, pool, strides, padding))(x)
        assert got.dtype == np.float32, lowering
        np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=lowering)


def test_avg_pool_refuses_bool():
    """Item 4: as keras.ops.average_pool, bool has no average; the error names `x` and the dtype."""
    with pytest.raises(TypeError, match=r"`x`.*bool"):
        F.avg_pool(jnp.zeros((1, 4, 4, 1), bool), 2)


@pytest.mark.parametrize("pool,strides,padding", [(2, None, "valid"), (3, None, "same"), (3, 1, "same")])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_pooling(dtype, pool, strides, padding):
    """Item 4: bfloat16/float16 keep their dtype; max is exact, the mean as close as the dtype allows."""
    x32 = np.random.default_rng(9).standard_normal((2, 7, 6, 3)).astype(np.float32)
    x = jnp.asarray(x32, dtype)
    exact = np.asarray(x, np.float32)  # the low-precision values, exactly
    eps = float(jnp.finfo(dtype).eps)
    for lowering in ("always", "never"):
        with _lowering.forced(block_pool=lowering):
            mx = (lambda x: F.max_pool(x, pool, strides, padding))(x)
            y, indices = (lambda x: F.max_pool_with_indices(x, pool, strides, padding))(x)
            avg = (lambda x: F.avg_pool(x, pool, strides, padding))(x)
            grad = jax.grad(lambda x: jnp.sum(F.max_pool(x, pool, strides, padding).astype(jnp.float32)))(x)
        assert mx.dtype == y.dtype == avg.dtype == grad.dtype == jnp.dtype(dtype), lowering
        np.testing.assert_array_equal(np.asarray(mx, np.float32),
                                      keras.ops.max_pool(exact, pool, strides or pool, padding))
        np.testing.assert_array_equal(np.asarray(y, np.float32), np.asarray(mx, np.float32))
        reference = np.asarray(keras.ops.average_pool(exact, pool, strides or pool, padding))
        np.testing.assert_allclose(np.asarray(avg, np.float32), reference, atol=eps * 4, rtol=eps)
        g32 = jax.grad(lambda x: jnp.sum(_lax_max((pool, pool), (strides or pool,) * 2, padding)(x)))(exact)
        np.testing.assert_array_equal(np.asarray(grad, np.float32), g32)


# ---------------------------------------------------------------- low-precision and mixed-dtype convolutions


def _mean_error(y, reference):
    return float(np.mean(np.abs(np.asarray(y, np.float64) - reference)))


@pytest.mark.parametrize("choice, x_shape, kernel_shape, scale", [
    ("shift_sum", (4, 16, 16, 32), (3, 3, 32, 2), 8),  # 18 <= 32: the automatic choice is the shift sum
    ("tap_sum", (4, 16, 16, 1), (3, 3, 1, 16), 3),  # 9 * 1 <= 27: the automatic choice is the tap sum
    ("tap_sum", (4, 16, 16, 3), (3, 3, 3, 32), 5),  # an RGB stem, 9 * 3 <= 27: the tap sum too
])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_lowering_low_precision_error_is_the_direct_paths(choice, x_shape, kernel_shape, scale, dtype):
    """Item 5: the automatic lowerings are as accurate as the direct conv (several seeds)."""
    x = jnp.zeros(x_shape, dtype)
    assert "conv_general_dilated" not in str(jax.make_jaxpr(lambda x, k: F.conv(x, k, padding="same"))(
        x, jnp.zeros(kernel_shape, dtype)))
    for seed in range(3):
        r = np.random.default_rng(seed)
        x = jnp.asarray(r.standard_normal(x_shape), dtype)
        k = jnp.asarray(r.standard_normal(kernel_shape) / scale, dtype)
        reference = K.np_conv(np.asarray(x, np.float64), np.asarray(k, np.float64), pads=((1, 1), (1, 1)),
                              strides=(1, 1), dilation=(1, 1))
        errors = {}
        for lowering, modes in (("auto", {}), (choice, {choice: "always"}), ("direct", {choice: "never"})):
            with _lowering.forced(**modes):
                y = F.conv(x, k, padding="same")
            assert y.dtype == jnp.dtype(dtype)
            errors[lowering] = _mean_error(y, reference)
        assert errors["auto"] <= 1.2 * errors["direct"], (seed, errors)
        assert errors[choice] <= 1.2 * errors["direct"], (seed, errors)
        # and its gradient (through the float32 accumulation) runs in the input dtype
        g = jax.grad(lambda x: jnp.sum(F.conv(x, k, padding="same").astype(jnp.float32)))(x)
        assert g.dtype == jnp.dtype(dtype)


# (op, lowering modes, kernel shape, keyword arguments)
LOWERED_OPS = [
    ("conv", {"shift_sum": "never"}, (3, 3, 8, 1), {}),
    ("conv", {"shift_sum": "always"}, (3, 3, 8, 1), {}),
    ("conv", {"shift_sum": "never", "tap_sum": "always"}, (3, 3, 8, 4), {}),
    ("conv", {}, (3, 3, 8, 4), {"strides": 2, "padding": "same"}),
    ("conv_transpose", {"shift_sum": "never", "subpixel": "never"}, (3, 3, 2, 8), {"strides": 2}),
    ("conv_transpose", {"shift_sum": "never", "subpixel": "always"}, (3, 3, 2, 8), {"strides": 2}),
    ("conv_transpose", {"shift_sum": "always"}, (3, 3, 1, 8), {"padding": "same"}),
]
MIXED = [("bfloat16", "float32"), ("float32", "bfloat16"), ("float16", "bfloat16"), ("int32", "float32"),
         ("float16", "float32")]


@pytest.mark.parametrize("x_dtype,k_dtype", MIXED, ids=[f"{a}-{b}" for a, b in MIXED])
@pytest.mark.parametrize("op,modes,kernel_shape,kwargs", LOWERED_OPS,
                         ids=[f"{o}-{'-'.join(f'{k}={v}' for k, v in m.items()) or 'auto'}"
                              for o, m, _, _ in LOWERED_OPS])
def test_mixed_dtypes_are_promoted_on_every_lowering(op, modes, kernel_shape, kwargs, x_dtype, k_dtype):
    """Item 7: result dtype jnp.result_type(x, kernel, bias), on every lowering; values as the promoted op."""
    r = np.random.default_rng(10)
    x = jnp.asarray(r.integers(-3, 4, size=(2, 6, 6, 8)), x_dtype)  # small ints: exact in every dtype
    k = jnp.asarray(r.integers(-2, 3, size=kernel_shape), k_dtype)
    bias = jnp.asarray(r.integers(-2, 3, size=kernel_shape[-1 if op == "conv" else -2]), k_dtype)
    want = jnp.result_type(x, k, bias)
    fn = getattr(F, op)
    with _lowering.forced(**modes):
        got = (lambda x, k, b: fn(x, k, b, **kwargs))(x, k, bias)
    with _lowering.direct():
        promoted = (lambda x, k, b: fn(x, k, b, **kwargs))(x.astype(want), k.astype(want), bias.astype(want))
    assert got.dtype == want
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(promoted, np.float32))


@pytest.mark.parametrize("x_dtype,k_dtype", MIXED, ids=[f"{a}-{b}" for a, b in MIXED])
def test_dense_mixed_dtypes(x_dtype, k_dtype):
    """Item 7: dense follows the same rule."""
    r = np.random.default_rng(11)
    x = jnp.asarray(r.integers(-3, 4, size=(4, 5)), x_dtype)
    k = jnp.asarray(r.integers(-3, 4, size=(5, 3)), k_dtype)
    got = F.dense(x, k, jnp.ones(3, k_dtype))
    assert got.dtype == jnp.result_type(x_dtype, k_dtype)
    expected = np.asarray(x, np.float64) @ np.asarray(k, np.float64) + 1
    np.testing.assert_array_equal(np.asarray(got, np.float64), expected)


# ---------------------------------------------------------------- max_unpool shape checks


def test_max_unpool_refuses_an_output_smaller_than_y():
    """Item 6: 8x8 pooled to 4x4 cannot be unpooled to 3x3."""
    x = jnp.asarray(np.random.default_rng(12).standard_normal((1, 8, 8, 1)), jnp.float32)
    y, idx = F.max_pool_with_indices(x, 2)
    with pytest.raises(ValueError, match=r"`output_shape`.*\(1, 3, 3, 1\).*\(1, 4, 4, 1\)"):
        F.max_unpool(y, idx, (1, 3, 3, 1))
    with pytest.raises(ValueError, match=r"`output_shape`"):
        jax.jit(lambda y, i: F.max_unpool(y, i, (1, 3, 3, 1)))(y, idx)


def test_max_unpool_refuses_concrete_indices_outside_the_output():
    """Item 6: 8x8 pooled to 4x4, unpooled to 4x4: the indices (up to 63) do not fit 16 cells."""
    x = jnp.asarray(np.random.default_rng(13).standard_normal((1, 8, 8, 1)), jnp.float32)
    y, idx = F.max_pool_with_indices(x, 2)
    with pytest.raises(ValueError, match=r"`indices`.*\[0, 16\).*\(1, 4, 4, 1\)"):
        F.max_unpool(y, idx, (1, 4, 4, 1))
    with pytest.raises(ValueError, match=r"`indices`.*-1"):
        F.max_unpool(y, idx - idx.max() - 1, x.shape)
    np.testing.assert_array_equal(F.max_unpool(y, idx, x.shape), K.np_max_unpool(y, idx, x.shape))


def test_max_unpool_under_jit_drops_indices_outside_the_output():
    """Item 6: traced indices cannot be checked; out-of-range ones (negative too) write nothing."""
    y = jnp.ones((1, 2, 2, 1))
    idx = jnp.asarray([-5, 3, 16, 9], jnp.int32).reshape(1, 2, 2, 1)  # -5 once wrapped around to 11
    out = np.asarray(jax.jit(lambda y, i: F.max_unpool(y, i, (1, 4, 4, 1)))(y, idx)).ravel()
    assert set(np.flatnonzero(out)) == {3, 9}


# ---------------------------------------------------------------- dilation_rate


@pytest.mark.parametrize("rate", [2, (1, 3)])
def test_functional_and_shapes_take_dilation_rate(rate):
    """Item 9: Keras's name in functional and shapes, the old `dilation=` an alias, not both."""
    in_shape = (2, 9, 10, 3)
    layer, (kernel, bias) = K.keras_layer("Conv", 2, in_shape, np.random.default_rng(14), filters=4,
                                          kernel_size=3, dilation_rate=rate, padding="same")
    x = np.random.default_rng(15).standard_normal(in_shape).astype(np.float32)
    expected = K.run(layer, x)
    np.testing.assert_allclose(F.conv(x, kernel, bias, padding="same", dilation_rate=rate), expected, atol=1e-5)
    np.testing.assert_allclose(F.conv(x, kernel, bias, padding="same", dilation=rate), expected, atol=1e-5)
    assert shapes.conv_output_shape(in_shape, 4, 3, 1, "valid", rate) == K.output_shape(
        K.keras_layer("Conv", 2, in_shape, filters=4, kernel_size=3, dilation_rate=rate)[0], in_shape)
    assert shapes.conv_output_shape(in_shape, 4, 3, dilation_rate=rate) == shapes.conv_output_shape(
        in_shape, 4, 3, dilation=rate)
    t_layer, (t_kernel, t_bias) = K.keras_layer("ConvTranspose", 2, in_shape, np.random.default_rng(16),
                                                filters=2, kernel_size=3, dilation_rate=rate)
    np.testing.assert_allclose(F.conv_transpose(x, t_kernel, t_bias, dilation_rate=rate), K.run(t_layer, x), atol=1e-5)
    assert shapes.conv_transpose_output_shape(in_shape, 2, 3, dilation_rate=rate) == K.output_shape(t_layer, in_shape)
    for call in (lambda: F.conv(x, kernel, dilation_rate=rate, dilation=rate),
                 lambda: F.conv_transpose(x, t_kernel, dilation_rate=1, dilation=rate),
                 lambda: shapes.conv_output_shape(in_shape, 4, 3, dilation_rate=rate, dilation=rate),
                 lambda: shapes.conv_transpose_output_shape(in_shape, 4, 3, dilation_rate=rate, dilation=1)):
        with pytest.raises(TypeError, match=r"`dilation_rate`.*`dilation`.*not both"):
            call()
    with pytest.raises(ValueError, match=r"`dilation_rate`.*>= 1"):
        F.conv(x, kernel, dilation_rate=0)
    with pytest.raises(ValueError, match=r"`dilation`.*>= 1"):  # the alias is named as passed
        F.conv(x, kernel, dilation=0)


# ---------------------------------------------------------------- the README's Keras snippet


def test_readme_keras_snippet_sets_the_backend(tmp_path):
    """Item 11: the snippet runs where ~/.keras/keras.json names another (absent) backend."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Keras models in, Keras models out"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / ".keras").mkdir()
    (tmp_path / ".keras" / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "KERAS_HOME")}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    # The snippet calls model.predict-free APIs only; `back` must be a Keras model on JAX.
    check = "\nassert keras.backend.backend() == 'jax' and y.shape == (4, 10), y.shape\n"
    done = subprocess.run([sys.executable, "-c", snippet + check], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
