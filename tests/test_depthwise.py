"""Depthwise and separable convolutions: the shift-sum lowering equals the grouped lax conv, the layers equal Keras.

`jaxlayers.functional.depthwise_conv` runs the `_depthwise_shift` lowering on CPU (its
taps' shifted input slices times their kernel rows) and one grouped
`lax.conv_general_dilated` elsewhere; both are forced here (`_lowering.forced`) and
compared (values, vjp w.r.t. input and kernel, jvp, vmap, bfloat16, NaN and infinities)
over a seeded random grid of ranks, kernels, strides, dilations, paddings and depth
multipliers, and against a NumPy grouped convolution. The layers
(`DepthwiseConv1D/2D`, `SeparableConv1D/2D`) are compared with Keras 3 on identical
weights (forward, gradients w.r.t. the input and every weight), through
`from_keras`/`to_keras` of a small model, and by `summary`/`count_params`. No timing here.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
import jaxlayers.functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers import padding as P
from jaxlayers.functional import _depthwise_shift, _lowering
from jaxlayers.keras import from_keras, to_keras

try:
    import keras_oracle as K
except ImportError:  # tests/ imported as a package
    from tests import keras_oracle as K

KL = keras.layers
VALUE_TOL = dict(atol=1e-5, rtol=1e-5)
GRAD_TOL = dict(atol=1e-4, rtol=1e-4)
SHIFT, LAX = dict(depthwise_shift="always"), dict(depthwise_shift="never")


def _grid(seed: int, n: int) -> list[dict]:
    r = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        rank = int(r.integers(1, 4))
        kernel = tuple(int(v) for v in r.integers(1, 5 if rank < 3 else 3, size=rank))
        strides = tuple(int(v) for v in r.integers(1, 4, size=rank))
        dilation = tuple(int(v) for v in r.integers(1, 4, size=rank)) if r.random() < 0.4 else (1,) * rank
        kinds = ["valid", "same", "explicit"] + (["causal"] if rank == 1 else [])
        padding = str(r.choice(kinds))
        if padding == "explicit":
            padding = tuple((int(r.integers(0, 3)), int(r.integers(0, 3))) for _ in range(rank))
        sizes = tuple(int(v) for v in r.integers(1, 10 if rank < 3 else 6, size=rank))
        case = dict(kernel=kernel, strides=strides, dilation=dilation, padding=padding, sizes=sizes,
                    channels=int(r.integers(1, 5)), multiplier=int(r.integers(1, 4)), batch=int(r.integers(1, 3)))
        windows = P.effective_window(kernel, dilation)
        pairs = P.forward_pairs(padding, sizes, windows, strides, allowed=("valid", "same", "causal", "explicit"))
        if all(n + lo + hi >= w for n, w, (lo, hi) in zip(sizes, windows, pairs)):
            cases.append(case)
    return cases


CASES = _grid(0, 16) + [
    dict(kernel=(3, 3), strides=(1, 1), dilation=(1, 1), padding="same", sizes=(7, 9), channels=5, multiplier=1,
         batch=1),
    dict(kernel=(3, 3), strides=(2, 2), dilation=(1, 1), padding="same", sizes=(8, 7), channels=3, multiplier=2,
         batch=3),
]
IDS = [f"{i:02d}_k{c['kernel']}_s{c['strides']}_d{c['dilation']}_{c['padding']}_m{c['multiplier']}".replace(" ", "")
       for i, c in enumerate(CASES)]


def _arrays(case: dict, seed: int, dtype=np.float32):
    r = np.random.default_rng(seed)
    x = r.uniform(-1, 1, (case["batch"], *case["sizes"], case["channels"])).astype(dtype)
    kernel = r.uniform(-1, 1, (*case["kernel"], case["channels"], case["multiplier"])).astype(dtype)
    bias = r.uniform(-1, 1, (case["channels"] * case["multiplier"],)).astype(dtype)
    return x, kernel, bias


def _op(case: dict, modes: dict):
    def op(x, kernel, bias=None):
        with _lowering.forced(**modes):
            return F.depthwise_conv(x, kernel, bias, strides=case["strides"], padding=case["padding"],
                                    dilation_rate=case["dilation"])
    return op


def _numpy(case: dict, x, kernel, bias):
    """NumPy's grouped conv (keras_oracle) with one group per channel: Keras's kernel reshaped."""
    windows = [(k - 1) * d + 1 for k, d in zip(case["kernel"], case["dilation"])]
    pads = {"valid": [(0, 0)] * len(windows), "causal": [(windows[0] - 1, 0)]}.get(case["padding"])
    if case["padding"] == "same":
        pads = K.same_pads(case["sizes"], windows, case["strides"])
    elif pads is None:
        pads = case["padding"]
    grouped = kernel.reshape(*case["kernel"], 1, -1)
    return K.np_conv(x, grouped, bias, case["strides"], pads, case["dilation"], groups=case["channels"])


@functools.partial(jax.jit, static_argnums=0)
def _outs_and_vjps(ops, args, cotangent):
    results = []
    for op in ops:
        y, vjp = jax.vjp(op, *args)
        results.append((y, vjp(cotangent)))
    return results


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_shift_sum_equals_the_lax_path_and_numpy(case):
    x, kernel, bias = _arrays(case, 1)
    shift, direct = _op(case, SHIFT), _op(case, LAX)
    y_shape = jax.eval_shape(direct, x, kernel, bias).shape
    cotangent = np.random.default_rng(2).uniform(-1, 1, y_shape).astype(np.float32)
    (y, grads), (y_lax, grads_lax) = _outs_and_vjps((shift, direct), (x, kernel, bias), cotangent)
    np.testing.assert_allclose(np.asarray(y), np.asarray(y_lax), **VALUE_TOL)
    np.testing.assert_allclose(np.asarray(y), _numpy(case, x, kernel, bias), **VALUE_TOL)
    for g, g_lax in zip(grads, grads_lax, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(g_lax), **GRAD_TOL)


def test_the_cpu_chooses_the_shift_sum():
    case = CASES[-1]
    x, kernel, _ = _arrays(case, 0)
    text = jax.jit(_op(case, {})).lower(x, kernel).as_text()
    assert ("feature_group_count" in text) == (_lowering.mode("depthwise_shift") == "never")


@pytest.mark.parametrize("case", CASES[-2:] + CASES[:4], ids=IDS[-2:] + IDS[:4])
def test_forward_mode_and_vmap(case):
    x, kernel, bias = _arrays(case, 3)
    dx, dkernel, _ = _arrays(case, 4)
    got = jax.jit(lambda *a: jax.jvp(_op(case, SHIFT), a[:3], a[3:]))(x, kernel, bias, dx, dkernel, bias)
    want = jax.jit(lambda *a: jax.jvp(_op(case, LAX), a[:3], a[3:]))(x, kernel, bias, dx, dkernel, bias)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), **VALUE_TOL), got, want)
    xs = np.stack([x, dx])
    batched = [jax.jit(jax.vmap(_op(case, modes), (0, None)))(xs, kernel) for modes in (SHIFT, LAX)]
    np.testing.assert_allclose(np.asarray(batched[0]), np.asarray(batched[1]), **VALUE_TOL)
    loss = [jax.jit(jax.grad(lambda k, m=modes: jnp.sum(jax.vmap(_op(case, m), (0, None))(xs, k) ** 2)))(kernel)
            for modes in (SHIFT, LAX)]
    np.testing.assert_allclose(np.asarray(loss[0]), np.asarray(loss[1]), **GRAD_TOL)


CHUNKED = [dict(case, batch=batch) for case, batch in zip(CASES[-2:] + CASES[:3], (5, 4, 3, 1, 7))] + [
    # every tap of the first row and column reads only padding: empty slices, zero-padded
    dict(kernel=(1, 2), strides=(3, 2), dilation=(1, 1), padding=((2, 2), (3, 0)), sizes=(1, 2), channels=2,
         multiplier=1, batch=3),
]


@pytest.mark.parametrize("case", CHUNKED, ids=[f"{i}_b{c['batch']}" for i, c in enumerate(CHUNKED)])
def test_the_kernel_gradient_in_chunks_equals_the_lax_path(case, monkeypatch):
    """`_kernel_tangent` two images at a time (a byte budget of 1): whole chunks, a
    remainder, batch 1; reverse and forward mode, vmap and bfloat16."""
    monkeypatch.setattr(_depthwise_shift, "CHUNK_BYTES", 1)
    x, kernel, bias = _arrays(case, 7)
    shift, direct = _op(case, SHIFT), _op(case, LAX)
    cotangent = np.random.default_rng(8).uniform(-1, 1, jax.eval_shape(direct, x, kernel).shape).astype(np.float32)
    (y, grads), (y_lax, grads_lax) = _outs_and_vjps((shift, direct), (x, kernel, bias), cotangent)
    np.testing.assert_allclose(np.asarray(y), np.asarray(y_lax), **VALUE_TOL)
    for g, g_lax in zip(grads, grads_lax, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(g_lax), **GRAD_TOL)
    _, dkernel, _ = _arrays(case, 9)
    tangents = [jax.jit(lambda k, dk, m=m: jax.jvp(lambda k: m(x, k), (k,), (dk,))[1])(kernel, dkernel)
                for m in (shift, direct)]
    np.testing.assert_allclose(np.asarray(tangents[0]), np.asarray(tangents[1]), **VALUE_TOL)
    xs = np.stack([x, -x])
    vmapped = [jax.jit(jax.grad(lambda k, m=m: jnp.sum(jax.vmap(m, (0, None))(xs, k) ** 2)))(kernel)
               for m in (shift, direct)]
    np.testing.assert_allclose(np.asarray(vmapped[0]), np.asarray(vmapped[1]), **GRAD_TOL)
    low = [jax.jit(jax.grad(lambda k, m=m: jnp.sum(m(x.astype(jnp.bfloat16), k).astype(jnp.float32) * cotangent)))(
        kernel.astype(jnp.bfloat16)) for m in (shift, direct)]
    assert low[0].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(low[0], np.float32), np.asarray(low[1], np.float32), rtol=2 ** -6,
                               atol=2e-2)


@pytest.mark.parametrize("spec", ["b, 9, 7, 4", "b, h, w, 4"])
def test_jax_export_of_the_kernel_gradient_with_symbolic_sizes(spec, monkeypatch):
    """A symbolic batch keeps the shift sum (one chunk); symbolic spatial sizes take the lax path."""
    monkeypatch.setattr(_depthwise_shift, "CHUNK_BYTES", 1)
    kernel = np.random.default_rng(10).uniform(-1, 1, (3, 3, 4, 2)).astype(np.float32)

    def grad(x, k):
        return jax.grad(lambda k: jnp.sum(jnp.sin(F.depthwise_conv(x, k, strides=2, padding="same"))))(k)

    exported = jax.export.export(jax.jit(grad))(
        jax.ShapeDtypeStruct(jax.export.symbolic_shape(spec), jnp.float32), kernel)
    assert ("feature_group_count" in exported.mlir_module()) == ("h" in spec)
    x = np.random.default_rng(11).uniform(-1, 1, (5, 9, 7, 4)).astype(np.float32)
    with _lowering.forced(**LAX):
        want = jax.jit(grad)(x, kernel)
    np.testing.assert_allclose(np.asarray(exported.call(x, kernel)), np.asarray(want), **GRAD_TOL)


def test_bfloat16_is_accumulated_in_float32():
    case = dict(kernel=(3, 3), strides=(1, 1), dilation=(1, 1), padding="same", sizes=(6, 7), channels=4,
                multiplier=2, batch=2)
    x, kernel, bias = (jnp.asarray(a, jnp.bfloat16) for a in _arrays(case, 5))
    y, y_lax = jax.jit(_op(case, SHIFT))(x, kernel, bias), jax.jit(_op(case, LAX))(x, kernel, bias)
    assert y.dtype == y_lax.dtype == jnp.bfloat16
    exact = _numpy(case, *(np.asarray(a, np.float32) for a in (x, kernel)), None)
    # without bias, one rounding to bfloat16 at the end: within 2^-8 (relative) of the exact sum
    np.testing.assert_allclose(np.asarray(jax.jit(_op(case, SHIFT))(x, kernel), np.float32), exact, rtol=2 ** -8,
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(y_lax, np.float32), rtol=2 ** -7, atol=1e-2)
    grads = [jax.jit(jax.grad(lambda k, m=m: jnp.sum(_op(case, m)(x, k).astype(jnp.float32))))(kernel)
             for m in (SHIFT, LAX)]
    assert grads[0].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(grads[0], np.float32), np.asarray(grads[1], np.float32), rtol=2 ** -7)


@pytest.mark.parametrize("where", ["x", "kernel"])
def test_nan_and_infinities_reach_the_same_cells(where):
    case = dict(kernel=(3, 2), strides=(2, 1), dilation=(1, 2), padding="same", sizes=(7, 8), channels=3,
                multiplier=2, batch=1)
    x, kernel, _ = _arrays(case, 6)
    target = x if where == "x" else kernel
    target.reshape(-1)[[1, 7, 20]] = [np.nan, np.inf, -np.inf]
    y, y_lax = jax.jit(_op(case, SHIFT))(x, kernel), jax.jit(_op(case, LAX))(x, kernel)
    assert np.isnan(np.asarray(y)).any() and np.isinf(np.asarray(y)).any()
    np.testing.assert_array_equal(np.isnan(np.asarray(y)), np.isnan(np.asarray(y_lax)))
    np.testing.assert_allclose(np.asarray(y), np.asarray(y_lax), **VALUE_TOL)  # NaN where NaN, same infinities


INPUT_GRADIENT = [
    dict(kernel=(3, 3), strides=(2, 2), dilation=(1, 1), padding="same", sizes=(8, 8), channels=4, multiplier=1,
         batch=2),  # MobileNetV2's stride-2 depthwise: four phases
    dict(kernel=(3, 3), strides=(1, 1), dilation=(1, 1), padding="valid", sizes=(7, 6), channels=3, multiplier=1,
         batch=1),
    dict(kernel=(3, 2), strides=(3, 2), dilation=(2, 1), padding="same", sizes=(11, 7), channels=2, multiplier=3,
         batch=1),  # odd sizes, uneven phases, dilation with stride
    dict(kernel=(3,), strides=(4,), dilation=(1,), padding=((5, 0),), sizes=(2,), channels=2, multiplier=2,
         batch=2),  # stride past the input, a tap in padding only
    # every tap reads only padding: the input gradient is zero
    dict(kernel=(2,), strides=(3,), dilation=(1,), padding=((2, 0),), sizes=(1,), channels=2, multiplier=1,
         batch=2),
]


@pytest.mark.parametrize("case", INPUT_GRADIENT, ids=[f"{i}_s{c['strides']}" for i, c in enumerate(INPUT_GRADIENT)])
def test_the_input_gradient_through_a_batchnorm_equals_the_lax_path(case):
    """The input's tangent as a scatter (`_scattered`): its transpose under a BatchNorm and
    ReLU6 (the cotangent's producers, fused into it), forward mode, vmap and bfloat16."""
    x, kernel, bias = _arrays(case, 11)

    def block(op):
        def f(x):
            y = op(x, kernel, bias)
            axes = tuple(range(y.ndim - 1))
            mean = y.mean(axes)
            return jnp.clip((y - mean) * jax.lax.rsqrt(((y - mean) ** 2).mean(axes) + 1e-3), 0.0, 6.0)
        return f

    shift, direct = block(_op(case, SHIFT)), block(_op(case, LAX))
    cotangent = np.random.default_rng(12).uniform(-1, 1, jax.eval_shape(direct, x).shape).astype(np.float32)
    grads = [jax.jit(lambda x, f=f: jax.vjp(f, x)[1](cotangent)[0])(x) for f in (shift, direct)]
    np.testing.assert_allclose(np.asarray(grads[0]), np.asarray(grads[1]), **GRAD_TOL)
    if case["sizes"] == (1,):
        np.testing.assert_array_equal(np.asarray(grads[0]), 0.0)
    dx = _arrays(case, 13)[0]
    tangents = [jax.jit(lambda x, dx, m=m: jax.jvp(lambda x: m(x, kernel), (x,), (dx,))[1])(x, dx)
                for m in (_op(case, SHIFT), _op(case, LAX))]
    np.testing.assert_allclose(np.asarray(tangents[0]), np.asarray(tangents[1]), **VALUE_TOL)
    xs = np.stack([x, dx])
    vmapped = [jax.jit(jax.vmap(jax.grad(lambda x, m=m: jnp.sum(m(x, kernel) ** 2))))(xs)
               for m in (_op(case, SHIFT), _op(case, LAX))]
    np.testing.assert_allclose(np.asarray(vmapped[0]), np.asarray(vmapped[1]), **GRAD_TOL)
    low = [jax.jit(jax.grad(lambda x, m=m: jnp.sum(m(x, kernel.astype(jnp.bfloat16)).astype(jnp.float32) ** 2)))(
        x.astype(jnp.bfloat16)) for m in (_op(case, SHIFT), _op(case, LAX))]
    assert low[0].dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(low[0], np.float32), np.asarray(low[1], np.float32), rtol=2 ** -6,
                               atol=5e-2)


@pytest.mark.parametrize("where", ["cotangent", "kernel"])
def test_nan_and_infinities_reach_the_input_gradient(where):
    """Non-finite cotangents reach the lax path's cells. A non-finite kernel tap also turns
    the border cells it meets in padding to NaN (0 * inf, as the forward's border cells are):
    the input gradient's padded cotangent is multiplied by every tap."""
    case = dict(kernel=(3, 3), strides=(2, 1), dilation=(1, 1), padding="same", sizes=(7, 8), channels=3,
                multiplier=1, batch=1)
    x, kernel, _ = _arrays(case, 14)
    cotangent = np.random.default_rng(15).uniform(-1, 1, jax.eval_shape(_op(case, LAX), x, kernel).shape)
    cotangent = cotangent.astype(np.float32)
    target = cotangent if where == "cotangent" else kernel
    target.reshape(-1)[[1, 7, 20]] = [np.nan, np.inf, -np.inf]
    dx, dx_lax = (jax.jit(lambda x, m=m: jax.vjp(lambda x: _op(case, m)(x, kernel), x)[1](cotangent)[0])(x)
                  for m in (SHIFT, LAX))
    dx, dx_lax = np.asarray(dx), np.asarray(dx_lax)
    assert np.isnan(dx).any()
    if where == "cotangent":
        np.testing.assert_array_equal(np.isnan(dx), np.isnan(dx_lax))
        np.testing.assert_allclose(dx, dx_lax, **VALUE_TOL)
    else:  # the lax path's NaN cells, and more: border cells where padding meets an infinite tap (0 * inf)
        assert np.isnan(dx[np.isnan(dx_lax)]).all()
        kept = ~np.isnan(dx)
        np.testing.assert_allclose(dx[kept], dx_lax[kept], **VALUE_TOL)


def test_functional_errors_name_the_argument():
    x, kernel = jnp.zeros((2, 5, 5, 3)), jnp.zeros((3, 3, 3, 2))
    with pytest.raises(ValueError, match=r"`x` has 4 channels but `kernel` of shape \(3, 3, 3, 2\) expects 3"):
        F.depthwise_conv(jnp.zeros((2, 5, 5, 4)), kernel)
    with pytest.raises(ValueError, match=r"`bias` must have shape \(6,\)"):
        F.depthwise_conv(x, kernel, jnp.zeros(3))
    with pytest.raises(ValueError, match="does not fit the input"):
        F.depthwise_conv(x, jnp.zeros((7, 7, 3, 1)))
    with pytest.raises(ValueError, match=r"`pointwise_kernel` must have shape \(1, 1, 6, 'filters'\)"):
        F.separable_conv(x, kernel, jnp.zeros((1, 1, 3, 4)))
    with pytest.raises(ValueError, match="`depth_multiplier` must be an int >= 1, got 0"):
        L.DepthwiseConv2D(3, depth_multiplier=0).init(jax.random.key(0), x)
    with pytest.raises(ValueError, match="`filters` must be an int >= 1, got 0"):
        J.SeparableConv2D(3, 0, 3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`depthwise_initializer`"):
        J.DepthwiseConv1D(3, 3, depthwise_initializer="nope", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="`pointwise_initializer`"):
        J.SeparableConv1D(3, 2, 3, pointwise_initializer="nope", rngs=nnx.Rngs(0))


# --------------------------------------------------------------------- layers against Keras


def _layer_grid(seed: int, n: int) -> list[tuple]:
    """(Keras class name, kwargs, input shape) with random arguments, strides or dilation rates > 1."""
    r = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        rank, separable = 1 + i % 2, (i // 2) % 2 == 1
        kernel = tuple(int(v) for v in r.integers(1, 4, size=rank))
        dilated = r.random() < 0.4
        kwargs = dict(kernel_size=kernel, padding=str(r.choice(["valid", "same"])),
                      depth_multiplier=int(r.integers(1, 4)), use_bias=bool(r.random() < 0.7),
                      activation=str(r.choice(["linear", "relu", "tanh"])))
        if dilated:
            kwargs["dilation_rate"] = tuple(int(v) for v in r.integers(1, 3, size=rank))
        else:
            kwargs["strides"] = tuple(int(v) for v in r.integers(1, 3, size=rank))
        if separable:
            kwargs["filters"] = int(r.integers(1, 5))
        name = f"{'SeparableConv' if separable else 'DepthwiseConv'}{rank}D"
        shape = (2, *(int(v) for v in r.integers(5, 9, size=rank)), int(r.integers(1, 4)))
        cases.append((name, kwargs, shape))
    return cases


LAYER_CASES = _layer_grid(0, 8)


def _keras_layer(name: str, kwargs: dict, shape: tuple, rng: np.random.Generator):
    init = {"pointwise_initializer": "zeros"} if "filters" in kwargs else {}
    layer = getattr(KL, name)(**kwargs, depthwise_initializer="zeros", **init)
    layer.build(shape)
    layer.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights])
    return layer


@pytest.mark.parametrize("name, kwargs, shape", LAYER_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYER_CASES)])
def test_layer_equals_keras_forward_and_gradients(name, kwargs, shape, rng):
    klayer = _keras_layer(name, kwargs, shape, rng)
    x = rng.standard_normal(shape).astype(np.float32)
    module = getattr(L, name)(**kwargs)
    params = {w.name: jnp.asarray(w.numpy()) for w in klayer.weights}
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, dict(jax.eval_shape(module.init, jax.random.key(0), x)["params"]))
    y = module.apply({"params": params}, x)
    want = np.asarray(klayer(x))
    np.testing.assert_allclose(np.asarray(y), want, **VALUE_TOL)
    assert tuple(y.shape) == tuple(klayer.compute_output_shape(shape))
    weights = jnp.asarray(rng.standard_normal(want.shape), jnp.float32)

    grads = jax.jit(jax.grad(lambda p, x: jnp.sum(module.apply({"params": p}, x) * weights), (0, 1)))(params, x)

    def kloss(values, x):
        y, _ = klayer.stateless_call(values, [], x)
        return jnp.sum(y * weights)

    kgrads = jax.jit(jax.grad(kloss, (0, 1)))([w.value for w in klayer.trainable_variables], jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(grads[1]), np.asarray(kgrads[1]), **GRAD_TOL)
    for w, g in zip(klayer.trainable_variables, kgrads[0], strict=True):
        np.testing.assert_allclose(np.asarray(grads[0][w.name]), np.asarray(g), **GRAD_TOL)


def test_from_keras_and_back_with_summary_and_count_params(rng):
    inputs = keras.Input((9, 8, 3))
    h = KL.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu", name="dw",
                           depthwise_initializer="zeros")(inputs)
    h = KL.SeparableConv2D(5, (3, 2), strides=2, name="sep", depthwise_initializer="zeros",
                           pointwise_initializer="zeros")(h)
    h = KL.SeparableConvolution2D(4, 1, use_bias=False, name="alias", depthwise_initializer="zeros",
                                  pointwise_initializer="zeros")(h)
    outputs = KL.DepthwiseConv2D(2, use_bias=False, dilation_rate=2, name="dw2", depthwise_initializer="zeros")(h)
    model = keras.Model(inputs, outputs)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([0.5 * rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights])
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    module, variables = from_keras(model)
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(module.apply(variables, x)), expected, **VALUE_TOL)
    assert jaxlayers.count_params(variables) == model.count_params()
    rows = [(r.name, r.type, r.output_shape, r.params) for r in jaxlayers.summary(module, (None, 9, 8, 3)).rows]
    assert rows == [(layer.name, type(layer).__name__, tuple(layer.output.shape), layer.count_params())
                    for layer in model.layers[1:]]
    back = to_keras(module, variables, (None, 9, 8, 3))
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, **VALUE_TOL)
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_to_keras_refuses_paddings_keras_lacks():
    module = L.DepthwiseConv1D(3, padding="causal")
    variables = module.init(jax.random.key(0), jnp.zeros((1, 6, 2)))
    with pytest.raises(ValueError, match="has padding 'causal'; Keras's DepthwiseConv1D only has 'valid' and 'same'"):
        to_keras(module, variables, (None, 6, 2))


def test_nnx_layers_equal_linen_and_count_like_keras(rng):
    x = jnp.asarray(rng.standard_normal((2, 7, 6, 4)), jnp.float32)
    zeros = dict(depthwise_initializer="zeros")
    for make, twin, keras_layer in [
        (lambda r: J.DepthwiseConv2D(4, 3, depth_multiplier=3, rngs=r), L.DepthwiseConv2D(3, depth_multiplier=3),
         KL.DepthwiseConv2D(3, depth_multiplier=3, **zeros)),
        (lambda r: J.SeparableConv2D(4, 5, 3, depth_multiplier=2, rngs=r), L.SeparableConv2D(5, 3, depth_multiplier=2),
         KL.SeparableConv2D(5, 3, depth_multiplier=2, pointwise_initializer="zeros", **zeros)),
    ]:
        layer = nnx.eval_shape(lambda: make(nnx.Rngs(0)))  # Flax's initializers compile per shape: set weights here
        nnx.update(layer, jax.tree.map(lambda s: jnp.asarray(rng.standard_normal(s.shape), s.dtype),
                                       nnx.to_pure_dict(nnx.state(layer, nnx.Param))))
        params = nnx.to_pure_dict(nnx.state(layer, nnx.Param))
        np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(twin.apply({"params": params}, x)), **VALUE_TOL)
        keras_layer.build(x.shape)
        assert jaxlayers.count_params(layer) == jaxlayers.count_params(params) == keras_layer.count_params()


def test_receptive_field_follows_the_depthwise_window():
    field = jaxlayers.shapes.receptive_field([L.DepthwiseConv2D(3, strides=2), L.SeparableConv2D(4, 3, dilation_rate=2)])
    assert field == jaxlayers.shapes.receptive_field([L.Conv2D(1, 3, strides=2), L.Conv2D(1, 3, dilation_rate=2)])
