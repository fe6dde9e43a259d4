"""Fast lowerings equal the general ones: the sub-pixel `conv_transpose`.

`conv_transpose` picks `jaxlayers.functional._subpixel` (one stride-1 conv of the
undilated input + depth-to-space) when a stride is > 1 and it does fewer
multiply-adds; the general lhs-dilated lowering stays reachable through the private
`_lowering` keyword. Over a seeded random grid (ranks 1-3, kernels 1-5, strides 1-4
incl. stride > kernel, dilation 1-3 also with strides, valid/same, every
output_padding), both lowerings give the same shapes, values and vjp (x and kernel);
a subset is checked against Keras `ConvNDTranspose` and with the automatic
dispatch under jit. No timing here.
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
from jaxlayers.functional import _subpixel

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
    return functools.partial(F.conv_transpose, strides=case["strides"], padding=case["padding"],
                             output_padding=case["output_padding"], dilation=case["dilation"],
                             _lowering=lowering)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_subpixel_equals_dilated_values_and_vjp(case):
    x, kernel, bias = _arrays(case, zlib.crc32(repr(case).encode()))
    shape = (case["batch"], *_output_sizes(case), case["filters"])
    cotangent = np.random.default_rng(1).standard_normal(shape).astype(np.float32)

    @jax.jit  # one compile for both lowerings (op-by-op dispatch is several times slower here)
    def both(x, kernel, bias, cotangent):
        results = []
        for lowering in ("dilated", "subpixel"):
            out, vjp = jax.vjp(_op(case, lowering), x, kernel, bias)
            results.append((out, vjp(cotangent)))
        return results

    (ref_out, ref_grads), (out, grads) = both(x, kernel, bias, cotangent)
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
    with pytest.raises(ValueError, match="_lowering"):
        F.conv_transpose(x, kernel, strides=2, _lowering="fast")
