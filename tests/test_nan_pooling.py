"""NaN in max pooling, global max pooling and max/min merges, at sizes where XLA:CPU's
max reductions drop it.

jaxlib 0.10's CPU backend hands large max reductions (`jnp.max`, and `lax.reduce_window`
where XLA rewrites it as one) to YNNPACK, which skips NaN: `jnp.max` of a (256, 16)
array holding one NaN is 0. jaxlayers promises "a NaN in a window makes it NaN" on every
path. Oracles here are NumPy (`np.max` propagates NaN; `np.argmax` picks the first NaN),
vectorised over windows so the inputs can be large, plus the select-and-scatter fold
that `lax.reduce_window`'s gradient follows, written out in NumPy.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from numpy.lib.stride_tricks import sliding_window_view

import jaxlayers.functional as F
from jaxlayers.functional import _lowering

try:
    import keras_oracle as K
except ImportError:  # tests/ imported as a package
    from tests import keras_oracle as K


def _pads(sizes, pool, strides, padding):
    return K.same_pads(sizes, pool, strides) if padding == "same" else ((0, 0),) * len(sizes)


def np_window_cells(x, pool, strides, pads, fill):
    """Every window's cells in row-major order: (batch, *out, channels, cells), padding = `fill`."""
    rank = len(pool)
    padded = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    view = sliding_window_view(padded, pool, axis=tuple(range(1, rank + 1)))
    view = view[(slice(None), *(slice(None, None, s) for s in strides))]
    return view.reshape(*view.shape[:rank + 2], -1)


def np_max_pool(x, pool, strides, pads):
    """`np.max` over each window (NaN if the window holds one); padding is -inf."""
    return np.max(np_window_cells(x, pool, strides, pads, -np.inf), axis=-1)


def np_flat_index_cells(x, pool, strides, pads):
    """The flat spatial index of each window cell, -1 on padding."""
    index = np.arange(np.prod(x.shape[1:-1])).reshape(1, *x.shape[1:-1], 1)
    cells = np_window_cells(index, pool, strides, pads, -1)
    return np.broadcast_to(cells, (x.shape[0], *cells.shape[1:-2], x.shape[-1], cells.shape[-1]))


def np_argmax_indices(x, pool, strides, pads):
    """First NaN of each window, else its first maximum (inputs here have no -inf, so never padding)."""
    cells = np_window_cells(x, pool, strides, pads, -np.inf)
    pick = np.argmax(cells, axis=-1)[..., None]
    return np.take_along_axis(np_flat_index_cells(x, pool, strides, pads), pick, axis=-1)[..., 0]


def np_fold_gradient(x, pool, strides, pads, cotangent):
    """reduce_window's max gradient: fold each window in row-major order keeping the choice
    `c` over the next cell `v` while `c >= v` (so NaN rules as in `_windows`); -1: padding."""
    cells = np_window_cells(x, pool, strides, pads, -np.inf)
    flat = np_flat_index_cells(x, pool, strides, pads)
    best, chosen = cells[..., 0], flat[..., 0]
    for j in range(1, cells.shape[-1]):
        switch = ~(best >= cells[..., j])
        best = np.where(switch, cells[..., j], best)
        chosen = np.where(switch, flat[..., j], chosen)
    grad = np.zeros((x.shape[0], int(np.prod(x.shape[1:-1])), x.shape[-1]))
    b = np.broadcast_to(np.arange(x.shape[0]).reshape(-1, *[1] * (chosen.ndim - 1)), chosen.shape)
    c = np.broadcast_to(np.arange(x.shape[-1]), chosen.shape)
    keep = chosen >= 0
    np.add.at(grad, (b[keep], chosen[keep], c[keep]), np.asarray(cotangent, np.float64)[keep])
    return grad.reshape(x.shape)


def _input(shape, p_nan, seed, ties=False):
    r = np.random.default_rng(seed)
    x = r.standard_normal(shape).astype(np.float32)
    if ties:
        x = np.round(x * 2) / 2
    x[r.random(shape) < p_nan] = np.nan
    return x


def _one_nan(shape, where):
    x = np.zeros(shape, np.float32)
    x[where] = np.nan
    return x


# name, x, pool, strides (None: pool), padding
CASES = [
    ("2d-block-5pct", _input((8, 28, 28, 32), 0.05, 0), (2, 2), None, "valid"),
    ("2d-block-same-5pct", _input((8, 28, 28, 32), 0.05, 1), (3, 3), None, "same"),
    ("2d-overlap-same-5pct", _input((8, 28, 28, 32), 0.05, 2), (3, 3), (1, 1), "same"),
    ("2d-overlap-valid-5pct", _input((8, 28, 28, 32), 0.05, 3), (3, 3), (2, 2), "valid"),
    ("2d-block-one-nan-first-cell", _one_nan((1, 16, 16, 16), (0, 0, 0, 0)), (2, 2), None, "valid"),
    ("3d-block-same-one-nan", _one_nan((2, 7, 7, 7, 3), (1, 6, 6, 3, 0)), (3, 3, 3), None, "same"),
    ("3d-overlap-valid-one-nan", _one_nan((2, 7, 7, 7, 3), (1, 6, 6, 3, 0)), (2, 2, 2), (1, 1, 1), "valid"),
    ("3d-block-2pct", _input((4, 12, 12, 12, 16), 0.02, 4), (2, 2, 2), None, "valid"),
    ("1d-block-same-5pct", _input((8, 301, 64), 0.05, 5), (3,), None, "same"),
    ("1d-overlap-valid-5pct", _input((8, 300, 64), 0.05, 6), (4,), (2,), "valid"),
]
LOWERINGS = ("auto", "always", "never")


def _case_args(case):
    _, x, pool, strides, padding = case
    st = pool if strides is None else strides
    return x, pool, strides, padding, st, _pads(x.shape[1:-1], pool, st, padding)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_max_pool_nan_windows_are_numpys(case):
    x, pool, strides, padding, st, pads = _case_args(case)
    reference = np_max_pool(x, pool, st, pads)
    assert np.isnan(reference).any()
    for lowering in LOWERINGS:
        with _lowering.forced(block_pool=lowering):
            y = jax.jit(lambda x: F.max_pool(x, pool, strides, padding))(x)
            eager = F.max_pool(jnp.asarray(x), pool, strides, padding)
        np.testing.assert_array_equal(y, reference, err_msg=lowering)  # NaN where, and only where, NumPy has it
        np.testing.assert_array_equal(eager, reference, err_msg=lowering)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_max_pool_with_indices_points_at_the_nan(case):
    x, pool, strides, padding, st, pads = _case_args(case)
    reference, ref_indices = np_max_pool(x, pool, st, pads), np_argmax_indices(x, pool, st, pads)
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    for lowering in LOWERINGS:
        with _lowering.forced(block_pool=lowering):
            y, indices = jax.jit(lambda x: F.max_pool_with_indices(x, pool, strides, padding))(x)
        at_indices = np.take_along_axis(flat, np.asarray(indices).reshape(x.shape[0], -1, x.shape[-1]), axis=1)
        np.testing.assert_array_equal(y, at_indices.reshape(y.shape), err_msg=lowering)  # y is x at idx
        np.testing.assert_array_equal(y, reference, err_msg=lowering)
        np.testing.assert_array_equal(indices, ref_indices, err_msg=lowering)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_max_pool_gradient_with_nan_is_the_fold(case):
    """With NaN, at these sizes: the gradient is the select-and-scatter fold (reduce_window's rule)."""
    x, pool, strides, padding, st, pads = _case_args(case)
    cotangent = np.random.default_rng(7).integers(1, 9, size=np_max_pool(x, pool, st, pads).shape).astype(np.float32)
    expected = np_fold_gradient(x, pool, st, pads, cotangent)
    for lowering in LOWERINGS:
        with _lowering.forced(block_pool=lowering):
            _, vjp = jax.vjp(lambda x: F.max_pool(x, pool, strides, padding), jnp.asarray(x))
        np.testing.assert_array_equal(vjp(cotangent)[0], expected, err_msg=lowering)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_max_pool_gradient_without_nan_is_reduce_windows(case):
    """Large NaN-free inputs full of ties, where reduce_window is right: its VJP, on every lowering."""
    _, x, pool, strides, padding = case
    x = _input(x.shape, 0.0, 8, ties=True)
    st = pool if strides is None else strides
    rank = len(pool)
    y_ref, vjp_ref = jax.vjp(
        lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, *pool, 1), (1, *st, 1), padding.upper()), jnp.asarray(x))
    cotangent = np.random.default_rng(9).integers(1, 9, size=y_ref.shape).astype(np.float32)
    (g_ref,) = vjp_ref(cotangent)
    pads = _pads(x.shape[1:-1], pool, st, padding)
    np.testing.assert_array_equal(g_ref, np_fold_gradient(x, pool, st, pads, cotangent), err_msg=f"oracle {rank}-D")
    for lowering in LOWERINGS:
        with _lowering.forced(block_pool=lowering):
            y, vjp = jax.vjp(lambda x: F.max_pool(x, pool, strides, padding), jnp.asarray(x))
        np.testing.assert_array_equal(y, y_ref, err_msg=lowering)
        np.testing.assert_array_equal(vjp(cotangent)[0], g_ref, err_msg=lowering)


@pytest.mark.parametrize("pool,strides,padding", [
    ((3, 3), None, "same"), ((3, 3), (1, 1), "same"), ((2, 2), None, "valid"),
])
def test_max_pool_gradient_with_nan_where_reduce_window_propagates(pool, strides, padding):
    """Small inputs, where reduce_window itself keeps NaN: its values and VJP, on every lowering."""
    x = _input((2, 5, 6, 3), 0.2, 10, ties=True)
    st = pool if strides is None else strides
    y_ref, vjp_ref = jax.vjp(
        lambda x: lax.reduce_window(x, -jnp.inf, lax.max, (1, *pool, 1), (1, *st, 1), padding.upper()), jnp.asarray(x))
    np.testing.assert_array_equal(y_ref, np_max_pool(x, pool, st, _pads(x.shape[1:-1], pool, st, padding)))
    cotangent = np.random.default_rng(11).integers(1, 9, size=y_ref.shape).astype(np.float32)
    for lowering in LOWERINGS:
        with _lowering.forced(block_pool=lowering):
            y, vjp = jax.vjp(lambda x: F.max_pool(x, pool, strides, padding), jnp.asarray(x))
        np.testing.assert_array_equal(y, y_ref, err_msg=lowering)
        np.testing.assert_array_equal(vjp(cotangent)[0], vjp_ref(cotangent)[0], err_msg=lowering)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_max_pool_keeps_nan(dtype):
    x = _input((8, 28, 28, 32), 0.05, 12)
    low = jnp.asarray(x).astype(dtype)
    reference = np_max_pool(np.asarray(low.astype(jnp.float32)), (2, 2), (2, 2), ((0, 0), (0, 0)))
    for lowering in LOWERINGS:
        with _lowering.forced(block_pool=lowering):
            y = F.max_pool(low, 2)
            y_overlap = F.max_pool(low, 3, 1, "same")
        assert y.dtype == low.dtype
        np.testing.assert_array_equal(y.astype(jnp.float32), reference, err_msg=lowering)
        np.testing.assert_array_equal(
            y_overlap.astype(jnp.float32),
            np_max_pool(np.asarray(low.astype(jnp.float32)), (3, 3), (1, 1), ((1, 1), (1, 1))), err_msg=lowering)


def _np_global_max_grad(x, axes, cotangent):
    """jnp.max's rule: the cotangent shared by the cells equal to the max (NaN max: none, so NaN)."""
    top = np.max(x, axis=axes, keepdims=True)
    hit = (x == top).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return hit * (np.expand_dims(cotangent, axes) / hit.sum(axis=axes, keepdims=True))


@pytest.mark.parametrize("shape,nans", [
    ((8, 64, 64, 16), [(0, 3, 3, 0), (5, 63, 63, 15), (7, 0, 40, 2)]),
    ((4, 500, 32), [(1, 499, 0), (3, 0, 31)]),
    ((2, 9, 17, 13, 8), [(1, 8, 16, 12, 7)]),
])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_max_pool_nan_and_gradient(shape, nans, keepdims):
    x = np.round(np.random.default_rng(13).standard_normal(shape).astype(np.float32) * 2) / 2  # ties
    for where in nans:
        x[where] = np.nan
    axes = tuple(range(1, x.ndim - 1))
    reference = np.max(x, axis=axes, keepdims=keepdims)
    assert np.isnan(reference).sum() == len(nans)
    y, vjp = jax.vjp(lambda x: F.global_max_pool(x, keepdims=keepdims), jnp.asarray(x))
    np.testing.assert_array_equal(y, reference)
    cotangent = np.random.default_rng(14).integers(1, 9, size=reference.shape).astype(np.float32)
    squeezed = cotangent if not keepdims else cotangent.reshape(x.shape[0], x.shape[-1])
    np.testing.assert_allclose(vjp(cotangent)[0], _np_global_max_grad(x, axes, squeezed), rtol=1e-6)


def test_global_max_pool_gradient_is_jnp_max_where_it_propagates():
    x = np.round(np.random.default_rng(15).standard_normal((2, 3, 4, 3)).astype(np.float32))
    x[1, 2, 3, 0] = np.nan
    grad = jax.grad(lambda x: (F.global_max_pool(x) * jnp.arange(1.0, 4.0)).sum())(jnp.asarray(x))
    expected = jax.grad(lambda x: (jnp.max(x, axis=(1, 2)) * jnp.arange(1.0, 4.0)).sum())(jnp.asarray(x))
    assert np.isnan(expected[1, ..., 0]).all()  # small: jnp.max itself propagates NaN here
    np.testing.assert_array_equal(grad, expected)
    np.testing.assert_array_equal(F.global_max_pool(x), jnp.max(x, axis=(1, 2)))


@pytest.mark.parametrize("op,np_op", [(F.maximum, np.maximum), (F.minimum, np.minimum)])
def test_maximum_minimum_merges_keep_nan(op, np_op):
    a, b, c = (_input((8, 28, 28, 32), 0.05, seed) for seed in (17, 18, 19))
    low_rank = _input((8, 32), 0.05, 20)  # Keras: size-1 axes inserted after the batch axis
    for inputs in ([a, b], [b, a], [a, b, c], [a, low_rank]):
        expected = inputs[0]
        for other in inputs[1:]:
            expected = np_op(expected, other.reshape(other.shape[:1] + (1,) * (a.ndim - other.ndim) + other.shape[1:]))
        assert np.isnan(expected).any() and not np.isnan(expected).all()
        np.testing.assert_array_equal(op([jnp.asarray(v) for v in inputs]), expected)
        np.testing.assert_array_equal(jax.jit(op)(inputs), expected)
