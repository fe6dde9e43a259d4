"""Mixed precision in the kernel layers: `dtype` (computation), `param_dtype`, `precision`.

Oracle: the Keras 3 layer under the "mixed_bfloat16" dtype policy (bfloat16
computation, float32 variables) on the same weights and input, for linen and NNX,
on every lowering a layer can take (direct and shift-sum conv; sub-pixel and
stride-dilated transposed conv; dense). `precision` must reach every `lax`
convolution and matrix product, whichever lowering runs.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.functional import _lowering

try:
    import keras_oracle as K
except ImportError:  # tests/ imported as a package
    from tests import keras_oracle as K

# (Keras family, rank, Keras/jaxlayers arguments, input shape, the lowering it takes on CPU)
CASES = [
    ("Dense", None, dict(units=5), (4, 7), "dense"),
    ("Conv", 2, dict(filters=4, kernel_size=3, padding="same"), (2, 9, 9, 6), "direct conv"),
    ("Conv", 2, dict(filters=1, kernel_size=3, padding="same"), (2, 9, 9, 16), "shift-sum conv"),
    ("ConvTranspose", 2, dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 5, 5, 4), "sub-pixel"),
    ("ConvTranspose", 2, dict(filters=4, kernel_size=3, padding="valid"), (2, 5, 5, 4), "dilated"),
]
IDS = [c[-1] for c in CASES]


def _name(family: str, rank: int | None) -> str:
    return "Dense" if family == "Dense" else f"Conv{rank}D" + ("Transpose" if family == "ConvTranspose" else "")


def _linen(family, rank, kwargs, in_shape, weights, **dtypes):
    module = getattr(L, _name(family, rank))(**kwargs, **dtypes)
    kernel, bias = (jnp.asarray(w, module.param_dtype) for w in weights)
    variables = {"params": {"kernel": kernel, "bias": bias}}
    return lambda x: module.apply(variables, x), module, variables


def _nnx(family, rank, kwargs, in_shape, weights, **dtypes):
    module = getattr(J, _name(family, rank))(in_shape[-1], **kwargs, **dtypes, rngs=nnx.Rngs(0))
    module.kernel.value = jnp.asarray(weights[0], module.param_dtype)
    module.bias.value = jnp.asarray(weights[1], module.param_dtype)
    return module, module, None


def _keras_mixed(family, rank, kwargs, in_shape, seed):
    layer, weights = K.keras_layer(family, rank or 1, in_shape, np.random.default_rng(seed),
                                   dtype="mixed_bfloat16", **kwargs)
    return layer, weights


@pytest.mark.parametrize("api", ["linen", "nnx"])
@pytest.mark.parametrize("family,rank,kwargs,in_shape,lowering", CASES, ids=IDS)
def test_bfloat16_computation_matches_keras_mixed_policy(api, family, rank, kwargs, in_shape, lowering):
    layer, weights = _keras_mixed(family, rank, kwargs, in_shape, seed=3)
    x = np.random.default_rng(4).uniform(-1, 1, size=in_shape).astype(np.float32)
    expected = np.asarray(layer(x))
    assert layer.compute_dtype == "bfloat16" and expected.dtype.name == "bfloat16"  # the oracle's own policy

    build = _linen if api == "linen" else _nnx
    call, module, variables = build(family, rank, kwargs, in_shape, weights, dtype=jnp.bfloat16,
                                    param_dtype=jnp.float32)
    params = variables["params"] if variables else {"kernel": module.kernel.value, "bias": module.bias.value}
    assert {p.dtype for p in jax.tree.leaves(params)} == {jnp.dtype(jnp.float32)}
    got = call(jnp.asarray(x))
    assert got.dtype == jnp.bfloat16
    got, expected = np.asarray(got, np.float32), expected.astype(np.float32)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=2 ** -6, atol=2 ** -6 * scale)


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_default_dtype_follows_inputs_and_param_dtype(api):
    """dtype=None: the computation promotes the input and the parameters (Flax's rule)."""
    kwargs, in_shape = dict(filters=2, kernel_size=3), (1, 6, 6, 3)
    weights = [np.ones((3, 3, 3, 2), np.float32), np.zeros(2, np.float32)]
    build = _linen if api == "linen" else _nnx
    call, *_ = build("Conv", 2, kwargs, in_shape, weights, param_dtype=jnp.bfloat16)
    assert call(jnp.ones(in_shape, jnp.bfloat16)).dtype == jnp.bfloat16
    assert call(jnp.ones(in_shape, jnp.float32)).dtype == jnp.float32


def _precisions(jaxpr) -> list:
    """The `precision` of every convolution and dot in a jaxpr, sub-jaxprs included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name in ("conv_general_dilated", "dot_general"):
            found.append(eqn.params["precision"])
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                found += _precisions(inner)
    return found


@pytest.mark.parametrize("api", ["linen", "nnx"])
@pytest.mark.parametrize("family,rank,kwargs,in_shape,lowering", CASES, ids=IDS)
def test_precision_reaches_every_lowering(api, family, rank, kwargs, in_shape, lowering):
    weights = [w for w in _keras_mixed(family, rank, kwargs, in_shape, seed=5)[1]]
    build = _linen if api == "linen" else _nnx
    x = jnp.ones(in_shape)
    for forced in ({}, {"shift_sum": "never", "subpixel": "never"}):
        with _lowering.forced(**forced):
            call, *_ = build(family, rank, kwargs, in_shape, weights, precision=jax.lax.Precision.HIGHEST)
            found = _precisions(jax.make_jaxpr(lambda x: call(x))(x).jaxpr)
        assert found, "no convolution or dot traced"
        highest = (jax.lax.Precision.HIGHEST, jax.lax.Precision.HIGHEST)
        assert all(p == highest for p in found), (forced, found)


# The CASES again, large enough that a bias gradient sums thousands of terms.
GRADIENT_SHAPES = {"dense": (8192, 7), "direct conv": (32, 16, 16, 6), "shift-sum conv": (32, 16, 16, 16),
                   "sub-pixel": (32, 8, 8, 4), "dilated": (32, 14, 14, 4)}


@pytest.mark.parametrize("api", ["linen", "nnx"])
@pytest.mark.parametrize("family,rank,kwargs,in_shape,lowering", CASES, ids=IDS)
def test_bfloat16_parameter_gradients_are_summed_in_float32(api, family, rank, kwargs, in_shape, lowering):
    """Mixed precision's gradients: sum(y * g) differentiated with respect to the float32
    bias is g summed over every other axis, to bfloat16's rounding of that sum (NumPy,
    float64), and the kernel's gradient is float32's to bfloat16 precision. Summed in
    bfloat16, the bias gradient stalls near 2**(8 + log2 |g|): here 94% short."""
    in_shape = GRADIENT_SHAPES[lowering]
    weights = _keras_mixed(family, rank, kwargs, in_shape, seed=6)[1]
    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.uniform(-1, 1, size=in_shape), jnp.float32)
    build = _linen if api == "linen" else _nnx
    grads = {}
    for dtype in (jnp.float32, jnp.bfloat16):
        call, module, variables = build(family, rank, kwargs, in_shape, weights, dtype=dtype)
        out_shape = jax.eval_shape(call, x).shape
        g = jnp.asarray(np.random.default_rng(8).uniform(0.5, 1.5, size=out_shape), jnp.float32)
        if api == "linen":
            loss = lambda params: jnp.sum(module.apply({"params": params}, x).astype(jnp.float32) * g)
            grad = jax.grad(loss)(variables["params"])
        else:
            grad = nnx.grad(lambda m: jnp.sum(m(x).astype(jnp.float32) * g))(module)
            grad = {"kernel": grad["kernel"].value, "bias": grad["bias"].value}
        assert {v.dtype for v in grad.values()} == {jnp.dtype(jnp.float32)}
        grads[dtype] = grad
    g_bf16 = np.asarray(g.astype(jnp.bfloat16), np.float64)  # the cotangent the bfloat16 layer sees
    expected_bias = g_bf16.reshape(-1, g_bf16.shape[-1]).sum(axis=0)
    np.testing.assert_allclose(grads[jnp.bfloat16]["bias"], expected_bias, rtol=2 ** -7)
    np.testing.assert_allclose(grads[jnp.float32]["bias"], g.reshape(-1, g.shape[-1]).sum(axis=0), rtol=1e-5)
    want, got = np.asarray(grads[jnp.float32]["kernel"]), np.asarray(grads[jnp.bfloat16]["kernel"])
    assert np.linalg.norm(got - want) <= 2 ** -6 * np.linalg.norm(want)
