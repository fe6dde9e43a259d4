"""Fast lowerings equal the general ones: the sub-pixel `conv_transpose` and the shift-sum `conv`.

`conv_transpose` picks `jaxlayers.functional._subpixel` (one stride-1 conv of the
undilated input + depth-to-space) when a stride is > 1 and it does fewer
multiply-adds; the general lhs-dilated lowering stays reachable through the private
`_lowering.forced` context. Over a seeded random grid (ranks 1-3, kernels 1-5, strides 1-4
incl. stride > kernel, dilation 1-3 also with strides, valid/same, every
output_padding), both lowerings give the same shapes, values and vjp (x and kernel);
a subset is checked against Keras `ConvNDTranspose` and with the automatic
dispatch under jit. The same for `conv`'s (and stride-1 `conv_transpose`'s) shift-sum
lowering (`_shift_sum`: channels contracted first, then shifted slices added; chosen
when taps * filters <= channels), including strides, dilation, causal and explicit
padding, against the direct conv, NumPy and Keras; the same for the tap-sum lowering
(`_tap_sum`: few input channels, the taps' shifted input slices times their kernel rows
added; its custom JVP checked in forward mode); and the "explicit_pad" lowering (the
input padded by `lax.pad`, then an unpadded conv) against the conv's own padding. No
timing here.
"""
from __future__ import annotations

import functools
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlayers.functional as F
from jaxlayers import padding as P
from jaxlayers.functional import _lowering, _shift_sum, _subpixel, _tap_sum

# The lowerings the tests compare, as `_lowering.forced` modes (traced under them).
LOWERINGS = {
    "auto": {},
    "direct": dict(shift_sum="never", tap_sum="never", explicit_pad="never"),
    "dilated": dict(shift_sum="never", subpixel="never", explicit_pad="never"),
    "subpixel": dict(shift_sum="never", subpixel="always"),
    "shift_sum": dict(shift_sum="always"),
    "tap_sum": dict(shift_sum="never", tap_sum="always"),
    "explicit_pad": dict(shift_sum="never", tap_sum="never", subpixel="never", explicit_pad="always"),
}


def _lowered(fn, lowering):
    """`fn` traced under the modes of `lowering` (a key of LOWERINGS)."""
    def call(*args, **kwargs):
        with _lowering.forced(**LOWERINGS[lowering]):
            return fn(*args, **kwargs)
    return call


try:
    import keras_oracle as K
except ImportError:  # tests/ imported as a package
    from tests import keras_oracle as K

VALUE_TOL = dict(atol=1e-5, rtol=1e-5)
GRAD_TOL = dict(atol=1e-4, rtol=1e-4)


def _output_sizes(case):
    windows = P.effective_window(case["kernel"], case["dilation"])
    pairs = P.transpose_pairs(case["padding"], windows, case["strides"], case["output_padding"])
    return P.transpose_output_sizes(case["sizes"], windows, case["strides"], pairs)


def _grid(seed, n):
    r = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        rank = int(r.integers(1, 4))
        kmax, nmax = (6, 9) if rank < 3 else (4, 5)
        kernel = tuple(int(v) for v in r.integers(1, kmax, size=rank))
        strides = tuple(int(v) for v in r.integers(1, 5, size=rank))
        if len(cases) % 4 == 0:  # every 4th case: stride > kernel on the first axis
            strides = (kernel[0] + int(r.integers(1, 3)), *strides[1:])
        dilation = tuple(int(v) for v in r.integers(1, 4, size=rank)) if r.random() < 0.35 else (1,) * rank
        output_padding = None if r.random() < 0.35 else tuple(int(r.integers(0, s)) for s in strides)
        case = dict(
            rank=rank, kernel=kernel, strides=strides, dilation=dilation,
            padding=str(r.choice(["valid", "same"])), output_padding=output_padding,
            sizes=tuple(int(v) for v in r.integers(1, nmax, size=rank)),
            cin=int(r.integers(1, 5)), filters=int(r.integers(1, 5)), batch=int(r.integers(1, 3)),
        )
        if min(_output_sizes(case)) >= 1:
            cases.append(case)
    return cases


CASES = _grid(0, 40) + [
    # hand-picked: kernel 1 with stride 4 (3 of 4 phases empty), stride 3 with dilation 2, a 3-D stride 2
    dict(rank=2, kernel=(1, 1), strides=(4, 3), dilation=(1, 1), padding="valid", output_padding=(3, 2),
         sizes=(3, 4), cin=2, filters=3, batch=2),
    dict(rank=1, kernel=(3,), strides=(3,), dilation=(2,), padding="same", output_padding=None,
         sizes=(5,), cin=3, filters=2, batch=1),
    dict(rank=3, kernel=(3, 3, 3), strides=(2, 2, 2), dilation=(1, 1, 1), padding="same", output_padding=(1, 1, 1),
         sizes=(3, 4, 3), cin=2, filters=2, batch=1),
]
IDS = [f"{i:02d}_r{c['rank']}_k{c['kernel']}_s{c['strides']}_d{c['dilation']}_{c['padding']}_op{c['output_padding']}"
       .replace(" ", "") for i, c in enumerate(CASES)]


def _arrays(case, seed):
    r = np.random.default_rng(seed)
    x = r.uniform(-1, 1, size=(case["batch"], *case["sizes"], case["cin"])).astype(np.float32)
    kernel = r.uniform(-1, 1, size=(*case["kernel"], case["filters"], case["cin"])).astype(np.float32)
    bias = r.uniform(-1, 1, size=(case["filters"],)).astype(np.float32)
    return x, kernel, bias


def _op(case, lowering):
    return _lowered(functools.partial(F.conv_transpose, strides=case["strides"], padding=case["padding"],
                                      output_padding=case["output_padding"], dilation=case["dilation"]), lowering)


@functools.partial(jax.jit, static_argnums=0)  # one compile for all ops (op-by-op dispatch is slow here)
def _outs_and_vjps(ops, args, cotangent):
    """[(op(*args), vjp of op at args applied to cotangent) for op in ops]."""
    results = []
    for op in ops:
        out, vjp = jax.vjp(op, *args)
        results.append((out, vjp(cotangent)))
    return results


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_subpixel_equals_dilated_values_and_vjp(case):
    x, kernel, bias = _arrays(case, zlib.crc32(repr(case).encode()))
    shape = (case["batch"], *_output_sizes(case), case["filters"])
    cotangent = np.random.default_rng(1).standard_normal(shape).astype(np.float32)

    ops = tuple(_op(case, lowering) for lowering in ("dilated", "subpixel"))
    (ref_out, ref_grads), (out, grads) = _outs_and_vjps(ops, (x, kernel, bias), cotangent)
    assert out.shape == ref_out.shape == shape
    np.testing.assert_allclose(out, ref_out, **VALUE_TOL)
    for got, want, name in zip(grads, ref_grads, ("x", "kernel", "bias")):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, err_msg=f"d/d{name}", **GRAD_TOL)


@pytest.mark.parametrize("case", CASES[::5], ids=IDS[::5])
def test_auto_lowering_under_jit(case):
    x, kernel, bias = _arrays(case, 7)

    @jax.jit
    def run(x, kernel):
        loss = lambda lowering: lambda x, k: (_op(case, lowering)(x, k, bias) ** 2).sum()
        return [(_op(case, lowering)(x, kernel, bias), jax.grad(loss(lowering), argnums=(0, 1))(x, kernel))
                for lowering in ("auto", "dilated")]

    (got, grads), (want, ref_grads) = run(x, kernel)
    np.testing.assert_allclose(got, want, **VALUE_TOL)
    for g, w in zip(grads, ref_grads):
        np.testing.assert_allclose(g, w, **GRAD_TOL)


KERAS_CASES = [c for c in CASES if c["dilation"] == (1,) * c["rank"] and max(c["strides"]) > 1][:10]


@pytest.mark.parametrize("case", KERAS_CASES, ids=[IDS[CASES.index(c)] for c in KERAS_CASES])
def test_auto_lowering_matches_keras(case):
    in_shape = (case["batch"], *case["sizes"], case["cin"])
    layer, (kernel, bias) = K.keras_layer(
        "ConvTranspose", case["rank"], in_shape, np.random.default_rng(3), filters=case["filters"],
        kernel_size=case["kernel"], strides=case["strides"], padding=case["padding"],
        output_padding=case["output_padding"],
    )
    x = np.random.default_rng(4).uniform(-1, 1, size=in_shape).astype(np.float32)
    expected = K.run(layer, x)
    got = _op(case, "auto")(x, kernel, bias)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, **VALUE_TOL)


def _lhs_dilations(fn, *args):
    jaxpr = jax.make_jaxpr(fn)(*args)
    return [tuple(e.params["lhs_dilation"]) for e in jaxpr.eqns if e.primitive.name == "conv_general_dilated"]


def test_dispatch_rule():
    x = jnp.zeros((2, 6, 6, 3))
    kernel = jnp.zeros((3, 3, 4, 3))
    # stride 2, 3x3: sub-pixel (no zero-stuffed input); stride 1: the general path
    assert _lhs_dilations(functools.partial(F.conv_transpose, strides=2, padding="same"), x, kernel) == [(1, 1)]
    assert _lhs_dilations(functools.partial(F.conv_transpose, strides=1, padding="same"), x, kernel) == [(1, 1)]
    assert not _subpixel.worthwhile((6, 6), (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1)))
    assert _subpixel.worthwhile((6, 6), (3, 3), (2, 2), (1, 1), ((1, 2), (1, 2)))
    # kernel 1 (nothing to save) and dilation sharing a factor with the stride stay dilated
    one = jnp.zeros((1, 1, 4, 3))
    assert _lhs_dilations(functools.partial(F.conv_transpose, strides=2), x, one) == [(2, 2)]
    assert _lhs_dilations(functools.partial(F.conv_transpose, strides=2, dilation=2), x, kernel) == [(2, 2)]
    with pytest.raises(ValueError, match="forced"), _lowering.forced(subpixel="fast"):
        pass


# ---------------------------------------------------------------- shift-sum conv


CONV_PADDINGS = ("valid", "same", "causal", "explicit")


def _conv_grid(seed, n):
    r = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        rank = int(r.integers(1, 4))
        kernel = tuple(int(v) for v in r.integers(1, 5 if rank < 3 else 4, size=rank))
        strides = tuple(int(v) for v in r.integers(1, 4, size=rank))
        dilation = tuple(int(v) for v in r.integers(1, 3, size=rank)) if r.random() < 0.35 else (1,) * rank
        padding = str(r.choice(["valid", "same", "explicit"] + (["causal"] if rank == 1 else [])))
        if padding == "explicit":
            padding = tuple((int(r.integers(0, 3)), int(r.integers(0, 3))) for _ in range(rank))
        case = dict(rank=rank, kernel=kernel, strides=strides, dilation=dilation, padding=padding,
                    sizes=tuple(int(v) for v in r.integers(1, 9 if rank < 3 else 6, size=rank)),
                    cin=int(r.integers(1, 6)), filters=int(r.integers(1, 4)), batch=int(r.integers(1, 3)))
        windows = P.effective_window(kernel, dilation)
        pairs = P.forward_pairs(padding, case["sizes"], windows, strides, allowed=CONV_PADDINGS)
        if all(n + lo + hi >= w for n, w, (lo, hi) in zip(case["sizes"], windows, pairs)):
            cases.append(case)
    return cases


CONV_CASES = _conv_grid(11, 36)
CONV_IDS = [f"{i:02d}_r{c['rank']}_k{c['kernel']}_s{c['strides']}_d{c['dilation']}_{c['padding']}_c{c['cin']}f{c['filters']}"
            .replace(" ", "") for i, c in enumerate(CONV_CASES)]


def _conv_op(case, lowering):
    return _lowered(functools.partial(F.conv, strides=case["strides"], padding=case["padding"],
                                      dilation=case["dilation"]), lowering)


@pytest.mark.parametrize("lowering", ["shift_sum", "tap_sum"])
@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_conv_lowerings_equal_direct_and_numpy(case, lowering):
    r = np.random.default_rng(zlib.crc32(repr(case).encode()))
    x = r.uniform(-1, 1, size=(case["batch"], *case["sizes"], case["cin"])).astype(np.float32)
    kernel = r.uniform(-1, 1, size=(*case["kernel"], case["cin"], case["filters"])).astype(np.float32)
    bias = r.uniform(-1, 1, size=(case["filters"],)).astype(np.float32)
    pairs = P.forward_pairs(case["padding"], case["sizes"], P.effective_window(case["kernel"], case["dilation"]),
                            case["strides"], allowed=CONV_PADDINGS)
    want = K.np_conv(x, kernel, bias, case["strides"], pairs, case["dilation"])
    cotangent = r.standard_normal(want.shape).astype(np.float32)

    ops = tuple(_conv_op(case, name) for name in ("direct", lowering))
    (ref_out, ref_grads), (out, grads) = _outs_and_vjps(ops, (x, kernel, bias), cotangent)
    np.testing.assert_allclose(out, want, **VALUE_TOL)
    np.testing.assert_allclose(ref_out, want, **VALUE_TOL)
    for got, ref, name in zip(grads, ref_grads, ("x", "kernel", "bias")):
        assert got.shape == ref.shape, name
        np.testing.assert_allclose(got, ref, err_msg=f"d/d{name}", **GRAD_TOL)


STRIDE_ONE = [dict(c, strides=(1,) * c["rank"], output_padding=None) for c in CASES[:24]]


@pytest.mark.parametrize("lowering", ["shift_sum", "explicit_pad"])
@pytest.mark.parametrize("case", STRIDE_ONE, ids=[f"{i:02d}" for i in range(len(STRIDE_ONE))])
def test_stride_one_conv_transpose_lowerings_equal_dilated(case, lowering):
    x, kernel, bias = _arrays(case, zlib.crc32(repr(case).encode()))
    cotangent = np.random.default_rng(2).standard_normal(
        (case["batch"], *_output_sizes(case), case["filters"])).astype(np.float32)

    ops = tuple(_op(case, name) for name in ("dilated", lowering))
    (ref_out, ref_grads), (out, grads) = _outs_and_vjps(ops, (x, kernel, bias), cotangent)
    np.testing.assert_allclose(out, ref_out, **VALUE_TOL)
    for got, ref in zip(grads, ref_grads):
        np.testing.assert_allclose(got, ref, **GRAD_TOL)


# Layers where `auto` picks the shift sum (taps * filters <= channels, or 1x1 at stride 1), against Keras.
SHIFT_SUM_LAYERS = [
    ("Conv", dict(kernel_size=(3, 3), filters=1, padding="same"), (2, 9, 8, 16)),
    ("Conv", dict(kernel_size=(3, 3), filters=1, padding="valid", strides=2), (2, 9, 8, 12)),
    ("Conv", dict(kernel_size=(2, 3), filters=2, padding="same", dilation_rate=2), (2, 7, 9, 13)),
    ("Conv", dict(kernel_size=3, filters=2, padding="causal"), (3, 11, 6)),
    ("Conv", dict(kernel_size=(2, 2, 2), filters=1, padding="same", strides=(1, 2, 1)), (1, 5, 6, 4, 8)),
    ("Conv", dict(kernel_size=1, filters=3, padding="valid"), (2, 5, 5, 4)),
    ("Conv", dict(kernel_size=1, filters=24, padding="same"), (2, 7, 5, 8)),  # 1x1 expansion (MobileNetV2's)
    ("Conv", dict(kernel_size=1, filters=5, padding="valid"), (3, 7, 2)),
    ("Conv", dict(kernel_size=(1, 1, 1), filters=6, padding="same"), (1, 3, 4, 5, 2)),
    ("Conv", dict(kernel_size=1, filters=12, padding="same", strides=2), (2, 7, 6, 4)),  # strided: sliced first
    ("Conv", dict(kernel_size=1, filters=6, padding="valid", strides=3), (1, 8, 3)),
    ("Conv", dict(kernel_size=(1, 1, 1), filters=4, padding="valid", strides=(2, 1, 3)), (2, 5, 3, 7, 2)),
    ("ConvTranspose", dict(kernel_size=1, filters=12, padding="valid"), (2, 5, 6, 4)),
    ("ConvTranspose", dict(kernel_size=(3, 3), filters=1, padding="same"), (2, 7, 6, 16)),
    ("ConvTranspose", dict(kernel_size=(3, 3), filters=1, padding="valid"), (2, 5, 6, 9)),
    ("ConvTranspose", dict(kernel_size=4, filters=2, padding="same"), (2, 8, 8)),
]


@pytest.mark.parametrize("family,kwargs,in_shape", SHIFT_SUM_LAYERS, ids=[f"{f}{i}" for i, (f, _, _) in enumerate(SHIFT_SUM_LAYERS)])
def test_shift_sum_auto_matches_keras(family, kwargs, in_shape):
    rank = len(in_shape) - 2
    layer, (kernel, bias) = K.keras_layer(family, rank, in_shape, np.random.default_rng(5), **kwargs)
    x = np.random.default_rng(6).uniform(-1, 1, size=in_shape).astype(np.float32)
    op = F.conv if family == "Conv" else F.conv_transpose
    args = dict(padding=kwargs["padding"], strides=kwargs.get("strides", 1), dilation=kwargs.get("dilation_rate", 1))
    conv_kernel = kernel if family == "Conv" else np.swapaxes(kernel, -1, -2)
    assert _shift_sum.worthwhile(conv_kernel.shape)
    assert "conv_general_dilated" not in str(jax.make_jaxpr(functools.partial(op, **args))(x, kernel, bias))
    got = jax.jit(functools.partial(op, **args))(x, kernel, bias)
    np.testing.assert_allclose(got, K.run(layer, x), **VALUE_TOL)


POINTWISE = [  # 1x1 convs: (input shape, filters, strides, padding)
    ((2, 7, 6, 4), 12, (2, 2), "same"),
    ((1, 9, 5, 3), 8, (3, 2), "valid"),  # batch 1, odd sizes
    ((3, 10, 2), 5, (4,), "valid"),
    ((2, 4, 5, 3, 2), 6, (2, 1, 3), "same"),
    ((2, 7, 6, 4), 9, (2, 3), ((1, 0), (2, 1))),  # explicit padding: the whole grid, then the slices
    ((2, 6, 6, 4), 9, (1, 1), ((1, 1), (0, 2))),
]


@pytest.mark.parametrize("shape,filters,strides,padding", POINTWISE, ids=[str(i) for i in range(len(POINTWISE))])
def test_pointwise_convs_equal_the_direct_conv(shape, filters, strides, padding):
    """1x1 convs through the shift sum's matrix product (strided: the pixels read sliced first)
    against the direct conv: values, both gradients, jvp, vmap, bfloat16 and non-finite inputs."""
    r = np.random.default_rng(len(shape) * 10 + filters)
    x = r.uniform(-1, 1, shape).astype(np.float32)
    kernel = r.uniform(-1, 1, (1,) * (len(shape) - 2) + (shape[-1], filters)).astype(np.float32)
    x[(0,) * (len(shape) - 1)] = [np.nan, np.inf, -np.inf, 1.0][: shape[-1]] + [0.0] * (shape[-1] - 4)
    op = functools.partial(F.conv, strides=strides, padding=padding)
    fast, direct = op, _lowered(op, "direct")
    assert not _convs(fast, x, kernel) and len(_convs(direct, x, kernel)) == 1
    outs = [np.asarray(jax.jit(f)(x, kernel)) for f in (fast, direct)]
    np.testing.assert_array_equal(np.isnan(outs[0]), np.isnan(outs[1]))
    np.testing.assert_allclose(outs[0], outs[1], **VALUE_TOL)
    x = np.nan_to_num(x, posinf=2.0, neginf=-2.0)
    cotangent = r.uniform(-1, 1, outs[0].shape).astype(np.float32)
    grads = [jax.jit(lambda x, k, f=f: jax.vjp(f, x, k)[1](cotangent))(x, kernel) for f in (fast, direct)]
    for got, ref in zip(*grads):
        np.testing.assert_allclose(got, ref, **GRAD_TOL)
    tangents = [jax.jit(lambda x, k, f=f: jax.jvp(f, (x, k), (k.sum() * x, 2 * k))[1])(x, kernel) for f in (fast, direct)]
    np.testing.assert_allclose(tangents[0], tangents[1], **GRAD_TOL)
    xs = np.stack([x, -x])
    vmapped = [jax.jit(jax.vmap(jax.grad(lambda x, f=f: jnp.sum(f(x, kernel) ** 2))))(xs) for f in (fast, direct)]
    np.testing.assert_allclose(vmapped[0], vmapped[1], **GRAD_TOL)
    low = [jax.jit(f)(x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)) for f in (fast, direct)]
    assert low[0].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(low[0], np.float32), np.asarray(low[1], np.float32), rtol=2 ** -7, atol=2e-2)


def _convs(fn, *args):
    # A fresh function each time: JAX caches traces by function, not by `_lowering.forced`.
    return [e for e in jax.make_jaxpr(lambda *a: fn(*a))(*args).eqns if e.primitive.name == "conv_general_dilated"]


def test_shift_sum_dispatch_rule():
    x = jnp.zeros((2, 6, 6, 16))
    assert _shift_sum.worthwhile((3, 3, 16, 1)) and _shift_sum.worthwhile((1, 1, 16, 16))
    assert not _shift_sum.worthwhile((3, 3, 16, 2)) and not _shift_sum.worthwhile((3, 3, 16, 1), groups=2)
    # 1x1: one matrix product, whatever the filters and strides
    assert _shift_sum.worthwhile((1, 1, 8, 48)) and _shift_sum.worthwhile((1, 8, 48))
    assert not _shift_sum.worthwhile((1, 1, 8, 48), 2)
    assert not _convs(F.conv, x, jnp.zeros((1, 1, 16, 96)))
    assert not _convs(functools.partial(F.conv, strides=2), x, jnp.zeros((1, 1, 16, 96)))
    assert not _convs(F.conv_transpose, x, jnp.zeros((1, 1, 96, 16)))
    assert not _convs(F.conv, x, jnp.zeros((3, 3, 16, 1)))  # 9 <= 16: shift sum
    assert len(_convs(F.conv, x, jnp.zeros((3, 3, 16, 2)))) == 1  # 18 > 16: direct
    assert len(_convs(functools.partial(F.conv, groups=2), x, jnp.zeros((1, 1, 8, 2)))) == 1  # grouped: direct
    assert not _convs(F.conv_transpose, x, jnp.zeros((3, 3, 1, 16)))  # stride 1, 16 -> 1
    assert len(_convs(functools.partial(F.conv_transpose, strides=2), x, jnp.zeros((3, 3, 1, 16)))) == 1
    # forced "always" still applies only where the lowering can: grouped convs and strided
    # transposed convs stay on lax
    with _lowering.forced(shift_sum="always"):
        assert len(_convs(functools.partial(F.conv, groups=2), x, jnp.zeros((3, 3, 8, 2)))) == 1
        assert len(_convs(functools.partial(F.conv_transpose, strides=2), x, jnp.zeros((3, 3, 1, 16)))) == 1
    with _lowering.forced(shift_sum="never"):
        assert len(_convs(F.conv, x, jnp.zeros((3, 3, 16, 1)))) == 1
    with pytest.raises(ValueError, match="shift_sum"), _lowering.forced(shift_sum="fast"):
        pass


def test_tap_sum_dispatch_rule():
    x = jnp.zeros((2, 6, 6, 1))
    assert _tap_sum.worthwhile((3, 3, 1, 16)) and _tap_sum.worthwhile((3, 3, 2, 16))
    assert _tap_sum.worthwhile((3, 3, 3, 32)) and _tap_sum.worthwhile((5, 5, 1, 64))  # RGB and grey stems
    assert not _tap_sum.worthwhile((3, 3, 4, 16)) and not _tap_sum.worthwhile((5, 5, 3, 16))
    assert not _tap_sum.worthwhile((3, 3, 3, 65))
    assert not _tap_sum.worthwhile((3, 3, 2, 4), groups=2)
    with _lowering.forced(tap_sum="auto"):
        assert not _convs(F.conv, x, jnp.zeros((3, 3, 1, 16)))  # 9 <= 27: the tap sum
        rgb = functools.partial(F.conv, strides=2, padding="same")
        assert not _convs(rgb, jnp.zeros((2, 9, 9, 3)), jnp.zeros((3, 3, 3, 32)))  # 27: the tap sum
        assert len(_convs(F.conv, jnp.zeros((2, 6, 6, 4)), jnp.zeros((3, 3, 4, 16)))) == 1  # 36: direct
        # few filters too: the shift sum comes first
        assert "dot_general" in str(jax.make_jaxpr(F.conv)(jnp.zeros((2, 6, 6, 2)), jnp.zeros((1, 1, 2, 1))))
    assert _lowering.mode("tap_sum", "cpu") == "auto" and _lowering.mode("tap_sum", "gpu") == "never"


def test_tap_sum_gradients_are_one_dot_and_one_direct_conv():
    """The kernel gradient is one matrix product, the input gradient XLA's own conv (the
    per-tap sum's transpose would be one padded copy per tap: 3x slower measured)."""
    x, kernel = jnp.zeros((2, 6, 6, 1)), jnp.zeros((3, 3, 1, 16))
    with _lowering.forced(tap_sum="always"):
        assert not _convs(F.conv, x, kernel)
        wrt_x = str(jax.make_jaxpr(jax.grad(lambda x: jnp.sum(F.conv(x, kernel, padding="same"))))(x))
        wrt_k = str(jax.make_jaxpr(jax.grad(lambda k: jnp.sum(F.conv(x, k, padding="same"))))(kernel))
    assert wrt_x.count("conv_general_dilated") == 1 and "dot_general" not in wrt_x
    assert "conv_general_dilated" not in wrt_k and wrt_k.count("dot_general") == 1


def _all_eqns(jaxpr) -> list:
    """Every equation of a jaxpr, those of its sub-jaxprs included."""
    found = []
    for eqn in jaxpr.eqns:
        found.append(eqn)
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                found += _all_eqns(inner)
    return found


@pytest.mark.parametrize("precision", ["default", (jax.lax.Precision.HIGH, jax.lax.Precision.HIGHEST),
                                       jax.lax.DotAlgorithmPreset.F32_F32_F32])
def test_tap_sum_precision_reaches_its_gradients(precision):
    """`precision` reaches the kernel gradient's matrix product and the input gradient's conv (none is
    the suite's default, "highest", so a product left without one shows)."""
    x, kernel = jnp.ones((2, 6, 6, 1)), jnp.ones((3, 3, 1, 16))
    with _lowering.forced(tap_sum="always"):
        jaxpr = jax.make_jaxpr(jax.grad(lambda x, k: jnp.sum(F.conv(x, k, padding="same", precision=precision)),
                                        argnums=(0, 1)))(x, kernel)
    eqns = [e for e in _all_eqns(jaxpr.jaxpr) if e.primitive.name in ("dot_general", "conv_general_dilated")]
    assert {e.primitive.name for e in eqns} == {"dot_general", "conv_general_dilated"}
    expected = jax.make_jaxpr(lambda a, b: jax.lax.dot(a, b, precision=precision))(jnp.ones((2, 2)), jnp.ones((2, 2)))
    assert all(e.params["precision"] == expected.eqns[0].params["precision"] for e in eqns), eqns


def test_tap_sum_jvp_and_hessian_equal_direct():
    """Forward mode through the tap sum's custom JVP, for the input and the kernel."""
    r = np.random.default_rng(9)
    x = r.standard_normal((2, 7, 7, 2)).astype(np.float32)
    kernel = r.standard_normal((3, 3, 2, 5)).astype(np.float32)
    dx, dk = (r.standard_normal(a.shape).astype(np.float32) for a in (x, kernel))
    conv = {name: _lowered(functools.partial(F.conv, strides=2, padding="same"), name) for name in ("tap_sum", "direct")}
    (out, tangent), (ref_out, ref_tangent) = (jax.jvp(conv[name], (x, kernel), (dx, dk)) for name in conv)
    np.testing.assert_allclose(out, ref_out, **VALUE_TOL)
    np.testing.assert_allclose(tangent, ref_tangent, **GRAD_TOL)
    hessians = [jax.hessian(lambda k, f=conv[name]: jnp.sum(jnp.tanh(f(x, k))))(kernel) for name in conv]
    np.testing.assert_allclose(*hessians, **GRAD_TOL)


def test_forward_mode_autodiff_through_fast_paths():
    """jvp and hessian (forward over reverse) work through the shift sum and block max."""
    r = np.random.default_rng(8)
    x = r.standard_normal((2, 6, 6, 12)).astype(np.float32)  # continuous: no ties in the pools
    kernel = r.standard_normal((3, 3, 12, 1)).astype(np.float32)
    tangent = r.standard_normal(x.shape).astype(np.float32)

    def model(lowering, pool):
        return lambda x: pool(_lowered(F.conv, lowering)(x, kernel, padding="same"))

    block = functools.partial(F.max_pool, pool_size=2)
    window = lambda y: jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    fast, reference = model("shift_sum", block), model("direct", window)
    (out, jvp), (ref_out, ref_jvp) = jax.jvp(fast, (x,), (tangent,)), jax.jvp(reference, (x,), (tangent,))
    np.testing.assert_allclose(out, ref_out, **VALUE_TOL)
    np.testing.assert_allclose(jvp, ref_jvp, **GRAD_TOL)
    scalar = lambda f: lambda v: jnp.sum(f(x[:1, :4, :4] + v) ** 2)
    v = jnp.zeros((1, 4, 4, 12))
    np.testing.assert_allclose(jax.hessian(scalar(fast))(v), jax.hessian(scalar(reference))(v), **GRAD_TOL)


# ---------------------------------------------------------------- explicit padding


@pytest.mark.parametrize("case", CONV_CASES, ids=CONV_IDS)
def test_explicit_pad_conv_equals_direct(case):
    r = np.random.default_rng(zlib.crc32(repr(case).encode()) + 1)
    x = r.uniform(-1, 1, size=(case["batch"], *case["sizes"], case["cin"])).astype(np.float32)
    kernel = r.uniform(-1, 1, size=(*case["kernel"], case["cin"], case["filters"])).astype(np.float32)
    bias = r.uniform(-1, 1, size=(case["filters"],)).astype(np.float32)
    out_shape = jax.eval_shape(_conv_op(case, "direct"), x, kernel, bias).shape
    cotangent = r.standard_normal(out_shape).astype(np.float32)
    ops = tuple(_conv_op(case, lowering) for lowering in ("direct", "explicit_pad"))
    (ref_out, ref_grads), (out, grads) = _outs_and_vjps(ops, (x, kernel, bias), cotangent)
    np.testing.assert_allclose(out, ref_out, **VALUE_TOL)
    for got, ref, name in zip(grads, ref_grads, ("x", "kernel", "bias")):
        np.testing.assert_allclose(got, ref, err_msg=f"d/d{name}", **GRAD_TOL)


def _conv_paddings(fn, *args):
    jaxpr = jax.make_jaxpr(fn)(*args)
    return [tuple(map(tuple, e.params["padding"])) for e in jaxpr.eqns if e.primitive.name == "conv_general_dilated"]


def test_explicit_pad_dispatch_rule():
    x, kernel = jnp.zeros((2, 12, 12, 8)), jnp.zeros((3, 3, 16, 8))
    with _lowering.forced(shift_sum="never", explicit_pad="auto"):
        # a "valid" stride-1 transposed conv grows 12 -> 14: padded outside, conv unpadded
        assert _conv_paddings(functools.partial(F.conv_transpose, padding="valid"), x, kernel) == [((0, 0), (0, 0))]
        # "same" keeps the size: the conv pads itself
        assert _conv_paddings(functools.partial(F.conv_transpose, padding="same"), x, kernel) == [((1, 1), (1, 1))]
        conv_kernel = jnp.zeros((3, 3, 8, 16))
        assert _conv_paddings(functools.partial(F.conv, padding=((2, 2), (2, 2))), x, conv_kernel) == [((0, 0), (0, 0))]
        assert _conv_paddings(functools.partial(F.conv, padding="same"), x, conv_kernel) == [((1, 1), (1, 1))]
    with _lowering.forced(shift_sum="never", explicit_pad="never"):
        assert _conv_paddings(functools.partial(F.conv_transpose, padding="valid"), x, kernel) == [((2, 2), (2, 2))]
    assert _lowering.mode("explicit_pad", "cpu") == "auto"
    assert _lowering.mode("explicit_pad", "tpu") == "never"
