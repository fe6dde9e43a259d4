"""jaxlayers.functional against real Keras 3 layers (JAX backend) on identical weights.

Configurations are drawn from a seeded random grid (not the full product); each op
is checked with and without jit (chex.variants). Where Keras has no equivalent
(strides and dilation together, explicit padding, indices, bed of nails) the oracle
is an independent NumPy reference from `keras_oracle`.
"""
from __future__ import annotations

import functools
import zlib

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized

import jaxlayers.functional as F
try:
    import keras_oracle as K
except ImportError:  # tests/ imported as a package
    from tests import keras_oracle as K

TOL = dict(atol=1e-5, rtol=1e-5)


def _maybe_int(values, r):
    """Per-axis values as given, or as a bare int half the time when all equal."""
    values = tuple(int(v) for v in values)
    if len(set(values)) == 1 and r.random() < 0.5:
        return values[0]
    return values


def _tuple(value, rank):
    return (value,) * rank if isinstance(value, int) else tuple(value)


def _x(rng, shape, scale=1.0):
    return (scale * rng.uniform(-1, 1, size=shape)).astype(np.float32)


def _name(i, case):
    return f"{i:02d}_" + "_".join(f"{k}{v}" for k, v in case.items() if k != "seed").replace(" ", "")


def _named(cases):
    return [(_name(i, c), c) for i, c in enumerate(cases)]


_KERAS_CACHE: dict = {}


def _cached(key, fn):
    """Keras results are computed once per configuration and shared by the jit variants."""
    if key not in _KERAS_CACHE:
        _KERAS_CACHE[key] = fn()
    return _KERAS_CACHE[key]


# ------------------------------------------------------------------- grids


def _conv_grid(seed, n):
    r = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        rank = int(r.integers(1, 4))
        kmax = 6 if rank < 3 else 4
        kernel = tuple(int(v) for v in r.integers(1, kmax, size=rank))
        padding = str(r.choice(["valid", "same", "causal"] if rank == 1 else ["valid", "same"]))
        if r.random() < 0.35:  # Keras: dilation only with stride 1
            dilation, strides = tuple(int(v) for v in r.integers(1, 4, size=rank)), (1,) * rank
        else:
            dilation, strides = (1,) * rank, tuple(int(v) for v in r.integers(1, 4, size=rank))
        kind = r.choice(["one", "two", "depthwise"], p=[0.5, 0.25, 0.25])
        if kind == "one":
            cin, groups = int(r.integers(1, 6)), 1
        elif kind == "two":
            cin, groups = int(r.choice([2, 4])), 2
        else:
            cin = int(r.integers(1, 6))
            groups = cin
        filters = groups * int(r.integers(1, 3))
        eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
        smax = 5 if rank == 3 else 8
        sizes = tuple(e + int(r.integers(0, smax)) for e in eff)
        cases.append(dict(
            rank=rank, kernel=kernel, strides=_maybe_int(strides, r), dilation=_maybe_int(dilation, r),
            padding=padding, cin=cin, filters=filters, groups=groups, sizes=sizes,
            batch=int(r.integers(1, 3)), use_bias=bool(r.random() < 0.7),
        ))
    return cases


def _conv_transpose_grid(seed, n):
    r = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        rank = int(r.integers(1, 4))
        kernel = tuple(int(v) for v in r.integers(1, 6 if rank < 3 else 4, size=rank))
        if r.random() < 0.25:
            dilation, strides = tuple(int(v) for v in r.integers(1, 4, size=rank)), (1,) * rank
        else:
            dilation, strides = (1,) * rank, tuple(int(v) for v in r.integers(1, 4, size=rank))
        output_padding = None
        if r.random() < 0.6:
            output_padding = tuple(int(r.integers(0, s)) for s in strides)
        cases.append(dict(
            rank=rank, kernel=kernel, strides=_maybe_int(strides, r), dilation=_maybe_int(dilation, r),
            padding=str(r.choice(["valid", "same"])),
            output_padding=None if output_padding is None else _maybe_int(output_padding, r),
            cin=int(r.integers(1, 6)), filters=int(r.integers(1, 6)),
            sizes=tuple(int(v) for v in r.integers(1, 7 if rank < 3 else 4, size=rank)),
            batch=int(r.integers(1, 3)), use_bias=bool(r.random() < 0.7),
        ))
    return cases


def _pool_grid(seed, n):
    r = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        rank = int(r.integers(1, 4))
        pool = tuple(int(v) for v in r.integers(1, 5 if rank < 3 else 4, size=rank))
        u = r.random()
        if u < 0.25:
            strides = None  # defaults to pool_size: the non-overlapping fast path
        elif u < 0.45:
            strides = pool  # explicit strides == pool_size
        else:
            strides = tuple(int(v) for v in r.integers(1, 4, size=rank))
        padding = str(r.choice(["valid", "same"]))
        lo = 1 if padding == "same" else 0
        sizes = tuple(max(lo and 1, (p if padding == "valid" else 1)) + int(r.integers(0, 6 if rank < 3 else 4))
                      for p in pool)
        cases.append(dict(
            kind=str(r.choice(["max", "avg"])), rank=rank, pool=_maybe_int(pool, r),
            strides=None if strides is None else _maybe_int(strides, r), padding=padding,
            sizes=sizes, channels=int(r.integers(1, 6)), batch=int(r.integers(1, 3)),
        ))
    return cases


CONV_CASES = _conv_grid(0, 20) + [
    # hand-picked on top of the random grid: groups=2 with more filters than channels
    dict(rank=2, kernel=(3, 2), strides=(2, 1), dilation=1, padding="same", cin=4, filters=6, groups=2,
         sizes=(7, 6), batch=2, use_bias=True),
    dict(rank=1, kernel=(4,), strides=1, dilation=2, padding="causal", cin=2, filters=4, groups=2,
         sizes=(9,), batch=1, use_bias=True),
]
CONV_T_CASES = _conv_transpose_grid(1, 14) + [
    # the largest output_padding (stride - 1) on a stride-3 axis, valid and same
    dict(rank=1, kernel=(2,), strides=3, dilation=1, padding="valid", output_padding=2, cin=2, filters=3,
         sizes=(4,), batch=2, use_bias=True),
    dict(rank=2, kernel=(4, 3), strides=(3, 2), dilation=1, padding="same", output_padding=(2, 1), cin=3,
         filters=2, sizes=(3, 4), batch=1, use_bias=True),
]
POOL_CASES = _pool_grid(2, 20)


# ------------------------------------------------------------------- conv


class ConvTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*_named(CONV_CASES))
    def test_conv_matches_keras(self, case):
        rank = case["rank"]
        in_shape = (case["batch"], *case["sizes"], case["cin"])
        key = ("conv", _name(0, case))

        def keras_side():
            rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
            layer, weights = K.keras_layer(
                "Conv", rank, in_shape, rng, filters=case["filters"], kernel_size=case["kernel"],
                strides=case["strides"], padding=case["padding"], dilation_rate=case["dilation"],
                groups=case["groups"], use_bias=case["use_bias"],
            )
            x = _x(rng, in_shape)
            return x, weights, K.run(layer, x), K.output_shape(layer, in_shape)

        x, weights, expected, keras_shape = _cached(key, keras_side)
        kernel, bias = weights[0], (weights[1] if case["use_bias"] else None)
        chex.assert_shape(kernel, (*case["kernel"], case["cin"] // case["groups"], case["filters"]))
        op = functools.partial(F.conv, strides=case["strides"], padding=case["padding"],
                               dilation=case["dilation"], groups=case["groups"])
        got = self.variant(op)(x, kernel, bias)
        chex.assert_shape(got, expected.shape)
        self.assertEqual(tuple(got.shape)[1:], keras_shape[1:])
        chex.assert_trees_all_close(got, expected, **TOL)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("1d", 1, (9,), (3,), (2,), (3,), 2, "valid"),
        ("1d_same", 1, (12,), (2,), (3,), (2,), 1, "same"),
        ("2d", 2, (11, 10), (3, 2), (2, 3), (2, 2), 1, "valid"),
        ("2d_same_groups", 2, (9, 12), (2, 3), (3, 2), (2, 3), 2, "same"),
        ("2d_explicit", 2, (8, 9), (3, 3), (2, 2), (2, 1), 1, ((1, 2), (0, 3))),
        ("2d_explicit_ints", 2, (7, 7), (2, 3), (1, 2), (3, 1), 1, (2, 1)),
        ("1d_explicit_pair", 1, (7,), (3,), (2,), (2,), 1, ((3, 1),)),
        ("3d", 3, (8, 7, 9), (2, 2, 3), (2, 3, 2), (2, 2, 2), 1, "valid"),
        ("3d_same_depthwise", 3, (6, 7, 5), (2, 2, 2), (2, 2, 3), (2, 1, 2), 4, "same"),
    )
    def test_conv_strides_and_dilation_vs_numpy(self, rank, sizes, kernel_size, strides, dilation, groups, padding):
        # Keras refuses strides > 1 with dilation > 1; the oracle is a direct NumPy convolution.
        rng = np.random.default_rng(sum(sizes) * 7 + rank)
        cin, filters = 4 if groups > 1 else 3, 2 * groups if groups > 1 else 3
        x = _x(rng, (2, *sizes, cin))
        kernel = rng.standard_normal((*kernel_size, cin // groups, filters)).astype(np.float32)
        bias = rng.standard_normal(filters).astype(np.float32)
        if isinstance(padding, str):
            eff = [(k - 1) * d + 1 for k, d in zip(kernel_size, dilation)]
            pads = K.same_pads(sizes, eff, strides) if padding == "same" else ((0, 0),) * rank
        else:
            pads = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
        expected = K.np_conv(x, kernel, bias, strides, pads, dilation, groups)
        op = functools.partial(F.conv, strides=strides, padding=padding, dilation=dilation, groups=groups)
        got = self.variant(op)(x, kernel, bias)
        chex.assert_shape(got, expected.shape)
        chex.assert_trees_all_close(got, expected.astype(np.float32), **TOL)

    def test_numpy_reference_conv_agrees_with_keras(self):
        # The NumPy oracle above is itself checked against Keras where Keras can run.
        for case in CONV_CASES[:8]:
            rng = np.random.default_rng(3)
            in_shape = (1, *case["sizes"], case["cin"])
            layer, (kernel, bias) = K.keras_layer(
                "Conv", case["rank"], in_shape, rng, filters=case["filters"], kernel_size=case["kernel"],
                strides=case["strides"], padding="valid", dilation_rate=case["dilation"], groups=case["groups"],
            )
            x = _x(rng, in_shape)
            r = case["rank"]
            ref = K.np_conv(x, kernel, bias, _tuple(case["strides"], r), ((0, 0),) * r,
                            _tuple(case["dilation"], r), case["groups"])
            np.testing.assert_allclose(ref, K.run(layer, x), atol=1e-4, rtol=1e-4)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("conv_SAME", "conv", "SAME", "same"), ("conv_Valid", "conv", "Valid", "valid"),
        ("conv_Causal", "conv1d", "Causal", "causal"),
        ("convT_Same", "convT", "Same", "same"), ("convT_VALID", "convT", "VALID", "valid"),
    )
    def test_padding_strings_are_case_insensitive(self, op_name, padding, keras_padding):
        rng = np.random.default_rng(5)
        if op_name == "conv1d":
            in_shape, family, kwargs = (2, 9, 3), "Conv", dict(filters=4, kernel_size=3, strides=2)
            op = functools.partial(F.conv, strides=2, padding=padding)
        elif op_name == "conv":
            in_shape, family, kwargs = (2, 7, 8, 3), "Conv", dict(filters=4, kernel_size=(3, 2), strides=(2, 1))
            op = functools.partial(F.conv, strides=(2, 1), padding=padding)
        else:
            in_shape, family, kwargs = (2, 5, 6, 3), "ConvTranspose", dict(filters=4, kernel_size=3, strides=2)
            op = functools.partial(F.conv_transpose, strides=2, padding=padding)
        rank = len(in_shape) - 2
        layer, (kernel, bias) = K.keras_layer(family, rank, in_shape, rng, padding=keras_padding, **kwargs)
        x = _x(rng, in_shape)
        chex.assert_trees_all_close(self.variant(op)(x, kernel, bias), K.run(layer, x), **TOL)


class ConvTransposeTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*_named(CONV_T_CASES))
    def test_conv_transpose_matches_keras(self, case):
        rank = case["rank"]
        in_shape = (case["batch"], *case["sizes"], case["cin"])
        key = ("convT", _name(0, case))

        def keras_side():
            rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
            layer, weights = K.keras_layer(
                "ConvTranspose", rank, in_shape, rng, filters=case["filters"], kernel_size=case["kernel"],
                strides=case["strides"], padding=case["padding"], output_padding=case["output_padding"],
                dilation_rate=case["dilation"], use_bias=case["use_bias"],
            )
            x = _x(rng, in_shape)
            return x, weights, K.run(layer, x), K.output_shape(layer, in_shape)

        x, weights, expected, keras_shape = _cached(key, keras_side)
        kernel, bias = weights[0], (weights[1] if case["use_bias"] else None)
        chex.assert_shape(kernel, (*case["kernel"], case["filters"], case["cin"]))
        op = functools.partial(F.conv_transpose, strides=case["strides"], padding=case["padding"],
                               output_padding=case["output_padding"], dilation=case["dilation"])
        got = self.variant(op)(x, kernel, bias)
        chex.assert_shape(got, expected.shape)
        self.assertEqual(tuple(got.shape)[1:], keras_shape[1:])
        chex.assert_trees_all_close(got, expected, **TOL)

    def test_output_padding_not_below_stride_is_refused(self):
        x = np.zeros((1, 4, 4, 2), np.float32)
        kernel = np.zeros((3, 3, 2, 2), np.float32)
        with pytest.raises(ValueError, match="output_padding"):
            F.conv_transpose(x, kernel, strides=2, output_padding=2)
        with pytest.raises(ValueError, match="output_padding"):
            F.conv_transpose(x, kernel, strides=(2, 3), output_padding=(1, 3))


# ------------------------------------------------------------------- dense


class DenseTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("2d", (4, 7), 5, True), ("2d_nobias", (3, 1), 2, False),
        ("3d", (2, 6, 3), 4, True), ("3d_nobias", (2, 3, 5), 1, False), ("4d", (2, 3, 2, 4), 3, True),
    )
    def test_dense_matches_keras(self, in_shape, units, use_bias):
        rng = np.random.default_rng(len(in_shape) * 10 + units)
        layer, weights = K.keras_layer("Dense", 0, in_shape, rng, units=units, use_bias=use_bias)
        x = _x(rng, in_shape)
        kernel, bias = weights[0], (weights[1] if use_bias else None)
        chex.assert_shape(kernel, (in_shape[-1], units))
        got = self.variant(F.dense)(x, kernel, bias)
        expected = K.run(layer, x)
        chex.assert_shape(got, (*in_shape[:-1], units))
        chex.assert_trees_all_close(got, expected, **TOL)


# ------------------------------------------------------------------- pooling


class PoolingTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*_named(POOL_CASES))
    def test_pool_matches_keras(self, case):
        rank = case["rank"]
        in_shape = (case["batch"], *case["sizes"], case["channels"])
        family = "MaxPooling" if case["kind"] == "max" else "AveragePooling"
        key = ("pool", _name(0, case))

        def keras_side():
            rng = np.random.default_rng(zlib.crc32(repr(key).encode()))
            layer, _ = K.keras_layer(family, rank, in_shape, pool_size=case["pool"], strides=case["strides"],
                                     padding=case["padding"])
            x = _x(rng, in_shape, 3.0)
            return x, K.run(layer, x), K.output_shape(layer, in_shape)

        x, expected, keras_shape = _cached(key, keras_side)
        fn = F.max_pool if case["kind"] == "max" else F.avg_pool
        got = self.variant(functools.partial(fn, pool_size=case["pool"], strides=case["strides"],
                                             padding=case["padding"]))(x)
        chex.assert_shape(got, expected.shape)
        self.assertEqual(tuple(got.shape)[1:], keras_shape[1:])
        chex.assert_trees_all_close(got, expected, **TOL)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("max_VALID", "max", "VALID", "valid"), ("max_Same", "max", "Same", "same"),
        ("avg_SAME", "avg", "SAME", "same"), ("avg_Valid", "avg", "Valid", "valid"),
    )
    def test_pool_padding_case_insensitive(self, kind, padding, keras_padding):
        rng = np.random.default_rng(11)
        x = _x(rng, (2, 7, 6, 3))
        family = "MaxPooling" if kind == "max" else "AveragePooling"
        layer, _ = K.keras_layer(family, 2, x.shape, pool_size=3, strides=2, padding=keras_padding)
        fn = F.max_pool if kind == "max" else F.avg_pool
        got = self.variant(functools.partial(fn, pool_size=3, strides=2, padding=padding))(x)
        chex.assert_trees_all_close(got, K.run(layer, x), **TOL)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(rank=(1, 2, 3), keepdims=(False, True), kind=("max", "avg"))
    def test_global_pool_matches_keras(self, rank, keepdims, kind):
        rng = np.random.default_rng(rank)
        in_shape = (2, *(5, 4, 3)[:rank], 3)
        x = _x(rng, in_shape, 2.0)
        family = "GlobalMaxPooling" if kind == "max" else "GlobalAveragePooling"
        layer, _ = K.keras_layer(family, rank, in_shape, keepdims=keepdims)
        fn = F.global_max_pool if kind == "max" else F.global_avg_pool
        got = self.variant(functools.partial(fn, keepdims=keepdims))(x)
        expected = K.run(layer, x)
        chex.assert_shape(got, (2, *(1,) * rank, 3) if keepdims else (2, 3))
        chex.assert_trees_all_close(got, expected, **TOL)


# ------------------------------------------------------------------- max pool with indices / unpool


def _tie_input(rng, shape):
    """relu of small integers: many zeros and repeated values, so many ties."""
    return np.maximum(rng.integers(-3, 3, size=shape), 0).astype(np.float32)


INDEX_CASES = [
    # rank, sizes, pool, strides, padding
    (1, (9,), (2,), None, "valid"),
    (1, (10,), (3,), (1,), "same"),
    (1, (7,), (3,), (2,), "valid"),
    (2, (6, 8), (2, 2), None, "valid"),
    (2, (7, 5), (2, 2), None, "same"),
    (2, (7, 8), (3, 3), (2, 2), "valid"),
    (2, (6, 7), (3, 2), (1, 2), "same"),
    (2, (5, 6), (2, 3), (2, 3), "same"),
    (3, (4, 5, 4), (2, 2, 2), None, "valid"),
    (3, (5, 4, 5), (3, 2, 2), (2, 1, 2), "same"),
    (3, (5, 5, 3), (2, 3, 1), (2, 3, 1), "same"),
]


class MaxPoolWithIndicesTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(f"{i}_{r}d_{pad}", r, s, p, st, pad) for i, (r, s, p, st, pad)
                                      in enumerate(INDEX_CASES)])
    def test_against_numpy_with_ties(self, rank, sizes, pool, strides, padding):
        rng = np.random.default_rng(sum(sizes) + rank)
        # Ties everywhere (relu of small integers); distinct values are covered against Keras.
        for x in (_tie_input(rng, (2, *sizes, 2)),):
            st = pool if strides is None else strides
            pads = K.same_pads(sizes, pool, st) if padding == "same" else ((0, 0),) * rank
            y_ref, i_ref = K.np_max_pool_with_indices(x, pool, st, pads)
            op = functools.partial(F.max_pool_with_indices, pool_size=pool, strides=strides, padding=padding)
            y, indices = self.variant(op)(x)
            self.assertEqual(indices.dtype, jnp.int32)
            chex.assert_shape([y, indices], y_ref.shape)
            np.testing.assert_array_equal(np.asarray(indices), i_ref)
            chex.assert_trees_all_close(y, y_ref, **TOL)

            output_shape = x.shape
            unpool = functools.partial(F.max_unpool, output_shape=output_shape)
            got = self.variant(unpool)(y, indices)
            expected = K.np_max_unpool(y_ref, i_ref, output_shape)
            chex.assert_shape(got, output_shape)
            chex.assert_trees_all_close(got, expected, **TOL)

    def test_unpool_scatters_arbitrary_values(self):
        # max_unpool is a plain scatter: values need not be maxima of anything.
        rng = np.random.default_rng(4)
        output_shape = (2, 4, 6, 3)
        y = _x(rng, (2, 2, 3, 3))
        indices = np.stack([rng.permutation(24)[:6] for _ in range(6)], axis=-1).reshape(2, 3, 2, 3)
        indices = indices.transpose(1, 0, 2, 3).reshape(2, 2, 3, 3).astype(np.int32)
        expected = K.np_max_unpool(y, indices, output_shape)
        chex.assert_trees_all_close(F.max_unpool(jnp.asarray(y), jnp.asarray(indices), output_shape), expected)


# ------------------------------------------------------------------- upsampling


class UpsampleTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("1d_2", 1, (5,), 2), ("1d_3", 1, (4,), 3), ("1d_1", 1, (3,), 1),
        ("2d_2", 2, (3, 4), 2), ("2d_23", 2, (3, 5), (2, 3)), ("2d_31", 2, (4, 3), (3, 1)),
        ("3d_2", 3, (2, 3, 2), 2), ("3d_123", 3, (3, 2, 2), (1, 2, 3)),
    )
    def test_nearest_matches_keras(self, rank, sizes, size):
        rng = np.random.default_rng(rank * 3 + sum(sizes))
        x = _x(rng, (2, *sizes, 3))
        layer, _ = K.keras_layer("UpSampling", rank, x.shape, size=size)
        got = self.variant(functools.partial(F.upsample, size=size, method="nearest"))(x)
        expected = K.run(layer, x)
        chex.assert_shape(got, (2, *(n * s for n, s in zip(sizes, _tuple(size, rank))), 3))
        chex.assert_trees_all_close(got, expected, **TOL)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("2", (3, 4), 2), ("23", (4, 5), (2, 3)), ("31", (5, 2), (3, 1)), ("4", (2, 3), 4), ("1x1_in", (1, 1), 3),
    )
    def test_bilinear_matches_keras(self, sizes, size):
        rng = np.random.default_rng(sum(sizes))
        x = _x(rng, (2, *sizes, 2))
        layer, _ = K.keras_layer("UpSampling", 2, x.shape, size=size, interpolation="bilinear")
        got = self.variant(functools.partial(F.upsample, size=size, method="bilinear"))(x)
        expected = K.run(layer, x)
        chex.assert_shape(got, expected.shape)
        chex.assert_trees_all_close(got, expected, **TOL)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(
        ("1d", (5,), 3), ("2d", (3, 4), 2), ("2d_13", (3, 2), (1, 3)), ("3d", (2, 3, 2), (2, 1, 3)),
    )
    def test_bed_of_nails_vs_numpy(self, sizes, size):
        rng = np.random.default_rng(len(sizes))
        x = _x(rng, (2, *sizes, 3))
        got = self.variant(functools.partial(F.upsample, size=size, method="bed_of_nails"))(x)
        expected = K.np_bed_of_nails(x, _tuple(size, len(sizes)))
        chex.assert_shape(got, expected.shape)
        chex.assert_trees_all_close(got, expected, **TOL)


# ------------------------------------------------------------------- reshaping


class ReshapingTest(chex.TestCase):

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(("2d", (3, 4)), ("3d", (2, 3, 4)), ("4d", (2, 3, 1, 5)), ("5d", (1, 2, 3, 2, 2)))
    def test_flatten_matches_keras(self, in_shape):
        x = _x(np.random.default_rng(0), in_shape)
        layer, _ = K.keras_layer("Flatten", 0, in_shape)
        got = self.variant(F.flatten)(x)
        chex.assert_shape(got, (in_shape[0], int(np.prod(in_shape[1:]))))
        chex.assert_trees_all_close(got, K.run(layer, x), **TOL)

    PAD_FORMS = [
        ("1d_int", 1, (5,), 2), ("1d_pair", 1, (5,), (1, 3)), ("1d_pair_0", 1, (4,), (0, 2)),
        ("2d_int", 2, (3, 4), 1), ("2d_ints", 2, (3, 4), (2, 1)), ("2d_pairs", 2, (3, 4), ((0, 2), (3, 1))),
        ("3d_int", 3, (2, 3, 2), 1), ("3d_ints", 3, (2, 3, 2), (1, 0, 2)),
        ("3d_pairs", 3, (2, 3, 2), ((1, 0), (0, 2), (2, 1))),
    ]

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*PAD_FORMS)
    def test_zero_pad_matches_keras(self, rank, sizes, padding):
        x = _x(np.random.default_rng(rank), (2, *sizes, 3))
        layer, _ = K.keras_layer("ZeroPadding", rank, x.shape, padding=padding)
        got = self.variant(functools.partial(F.zero_pad, padding=padding))(x)
        expected = K.run(layer, x)
        chex.assert_shape(got, expected.shape)
        chex.assert_trees_all_close(got, expected, **TOL)

    CROP_FORMS = [
        ("1d_int", 1, (7,), 2), ("1d_pair", 1, (7,), (1, 3)), ("1d_pair_0", 1, (4,), (0, 2)),
        ("2d_int", 2, (5, 6), 1), ("2d_ints", 2, (5, 6), (2, 1)), ("2d_pairs", 2, (5, 6), ((0, 2), (3, 1))),
        ("3d_int", 3, (4, 5, 3), 1), ("3d_ints", 3, (4, 5, 3), (1, 0, 1)),
        ("3d_pairs", 3, (4, 5, 4), ((1, 0), (0, 2), (2, 1))),
    ]

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*CROP_FORMS)
    def test_crop_matches_keras(self, rank, sizes, cropping):
        x = _x(np.random.default_rng(rank), (2, *sizes, 3))
        layer, _ = K.keras_layer("Cropping", rank, x.shape, cropping=cropping)
        got = self.variant(functools.partial(F.crop, cropping=cropping))(x)
        expected = K.run(layer, x)
        chex.assert_shape(got, expected.shape)
        chex.assert_trees_all_close(got, expected, **TOL)
