"""Bad inputs fail early, in jaxlayers, with a ValueError/TypeError that names the argument.

Each error must be raised by jaxlayers itself (the innermost traceback frame is in
the jaxlayers package) -- not by lax/XLA -- and the same error must come out under
`jax.jit`, since every check is on static shapes and Python values.
"""
from __future__ import annotations

import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlayers.linen as jl
import jaxlayers.nnx as jn
from flax import nnx
from jaxlayers import functional as F
from jaxlayers import shapes as S

PKG = os.sep + "jaxlayers" + os.sep


def _innermost_file(excinfo) -> str:
    tb = excinfo.tb
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename


def check(fn, *arrays, match: str, exc: type[Exception] = ValueError, jit: bool = True):
    """`fn(*arrays)` raises `exc` from jaxlayers code, matching `match`; also under jax.jit."""
    variants = [("eager", fn)] + ([("jit", jax.jit(fn))] if jit and arrays else [])
    messages = []
    for label, f in variants:
        with pytest.raises(Exception) as info:
            f(*arrays)
        assert info.type is exc, (label, info.type, str(info.value))
        assert re.search(match, str(info.value), re.S), (label, match, str(info.value))
        assert PKG in _innermost_file(info), (label, _innermost_file(info))
        messages.append(str(info.value))
    return messages[0]


def zeros(*shape):
    return jnp.zeros(shape, jnp.float32)


def init(module, *arrays):
    """Init a module abstractly (no PRNG compile); errors come from tracing its call."""
    return jax.eval_shape(module.init, jax.random.key(0), *arrays)


def esc(shape) -> str:
    return re.escape(str(tuple(shape)))


# ----------------------------------------------------------------------------- input rank


def test_functional_conv_wrong_input_rank():
    k = zeros(3, 3, 3, 4)  # a 2-D kernel
    msg = check(lambda x: F.conv(x, k), zeros(2, 8, 3), match=r"`x`.*4 dimensions.*" + esc((2, 8, 3)))
    assert "height" in msg and "width" in msg and "channels" in msg
    check(lambda x: F.conv(x, k), zeros(2, 4, 8, 8, 3), match=r"`x`.*4 dimensions.*" + esc((2, 4, 8, 8, 3)))
    check(lambda x: F.conv_transpose(x, zeros(3, 4, 3)), zeros(2, 8, 8, 3), match=r"`x`.*3 dimensions")
    check(lambda x: F.conv(x, zeros(3, 4)), zeros(2, 8, 3), match=r"`kernel`.*" + esc((3, 4)))


@pytest.mark.parametrize("name,args", [
    ("Conv1D", (2, 1)), ("Conv2D", (2, 1)), ("Conv3D", (2, 1)),
    ("Conv1DTranspose", (2, 1)), ("Conv2DTranspose", (2, 1)), ("Conv3DTranspose", (2, 1)),
    ("MaxPooling2D", ()), ("AveragePooling3D", ()), ("GlobalMaxPooling1D", ()),
    ("GlobalAveragePooling2D", ()), ("UpSampling3D", ()), ("ZeroPadding1D", ()), ("Cropping2D", ()),
])
def test_linen_alias_wrong_rank(name, args):
    rank = int(name[name.index("D") - 1])
    module = getattr(jl, name)(*args)
    wrong = zeros(*(2,) * (rank + 1 if rank < 3 else rank + 3))  # one spatial axis more (or fewer)
    msg = check(lambda x: module.init(jax.random.key(0), x), wrong,
                match=re.escape(name) + r".*" + esc(wrong.shape), jit=True)
    assert f"{rank + 2}-D" in msg or f"{rank + 2} dimensions" in msg, msg


# ----------------------------------------------------------------------------- channels


def test_channel_mismatch_conv():
    msg = check(lambda x: F.conv(x, zeros(3, 3, 5, 4)), zeros(2, 8, 8, 3),
                match=r"`x`.*`kernel`|`kernel`.*`x`")
    assert str((3, 3, 5, 4)) in msg and str((2, 8, 8, 3)) in msg, msg


def test_channel_mismatch_conv_transpose():
    # Transposed kernels are (*kernel_size, filters, in): in = 5 here, x has 3 channels.
    msg = check(lambda x: F.conv_transpose(x, zeros(3, 3, 4, 5)), zeros(2, 8, 8, 3), match=r"`x`.*`kernel`")
    assert str((3, 3, 4, 5)) in msg and str((2, 8, 8, 3)) in msg, msg


def test_channel_mismatch_dense():
    msg = check(lambda x: F.dense(x, zeros(4, 5)), zeros(2, 3), match=r"`x`.*`kernel`|`kernel`.*`x`")
    assert str((4, 5)) in msg and str((2, 3)) in msg, msg
    check(lambda x: F.dense(x, zeros(4, 5, 1)), zeros(2, 4), match=r"`kernel`.*" + esc((4, 5, 1)))


# ----------------------------------------------------------------------------- padding modes


@pytest.mark.parametrize("fn", [
    lambda x: F.conv(x, zeros(3, 3, 2, 4), padding="full"),
    lambda x: F.conv_transpose(x, zeros(3, 3, 4, 2), padding="full"),
    lambda x: F.max_pool(x, 2, padding="full"),
    lambda x: F.avg_pool(x, 2, padding="full"),
    lambda x: jl.Conv2D(4, 3, padding="full").init(jax.random.key(0), x),
    lambda x: jl.MaxPooling2D(2, padding="full").apply({}, x),
], ids=["conv", "conv_transpose", "max_pool", "avg_pool", "Conv2D", "MaxPooling2D"])
def test_unknown_padding(fn):
    msg = check(fn, zeros(2, 8, 8, 2), match=r"`padding`.*'full'")
    assert "'valid'" in msg and "'same'" in msg, msg


def test_causal_padding_only_for_1d_conv():
    check(lambda x: F.conv(x, zeros(3, 3, 2, 4), padding="causal"), zeros(2, 8, 8, 2),
          match=r"causal.*2 spatial axes|causal.*1-D")
    check(lambda x: F.max_pool(x, 2, padding="causal"), zeros(2, 8, 2), match=r"`padding`.*'causal'")
    check(lambda x: F.conv_transpose(x, zeros(3, 4, 2), padding="causal"), zeros(2, 8, 2),
          match=r"`padding`.*'causal'")
    # ... and 1-D causal works.
    assert F.conv(zeros(2, 8, 2), zeros(3, 2, 4), padding="causal").shape == (2, 8, 4)


@pytest.mark.parametrize("output_padding,strides", [(2, 2), ((0, 3), (2, 3)), (1, 1)])
def test_output_padding_not_below_strides(output_padding, strides):
    k = zeros(3, 3, 4, 2)
    msg = check(lambda x: F.conv_transpose(x, k, strides=strides, output_padding=output_padding),
                zeros(2, 5, 5, 2), match=r"`output_padding`.*`strides`")
    op = (output_padding,) * 2 if isinstance(output_padding, int) else output_padding
    st = (strides,) * 2 if isinstance(strides, int) else strides
    assert str(op) in msg and str(st) in msg, msg
    with pytest.raises(ValueError, match=r"output_padding"):
        init(jl.Conv2DTranspose(4, 3, strides=strides, output_padding=output_padding), zeros(2, 5, 5, 2))
    with pytest.raises(ValueError, match=r"output_padding"):
        S.conv_transpose_output_shape((None, 5, 5, 2), 4, 3, strides, output_padding=output_padding)


# ----------------------------------------------------------------------------- non-positive sizes


@pytest.mark.parametrize("fn,arg", [
    (lambda: S.conv_output_shape((None, 8, 8, 3), 4, 0), "kernel_size"),
    (lambda: S.conv_output_shape((None, 8, 8, 3), 4, (3, -1)), "kernel_size"),
    (lambda: S.conv_transpose_output_shape((None, 8, 8, 3), 4, 0), "kernel_size"),
    (lambda: S.conv_output_shape((None, 8, 8, 3), 4, 3, strides=0), "strides"),
    (lambda: S.conv_output_shape((None, 8, 8, 3), 4, 3, dilation=0), "dilation"),
    (lambda: S.conv_output_shape((None, 8, 8, 3), 0, 3), "filters"),
    (lambda: S.pool_output_shape((None, 8, 8, 3), 0), "pool_size"),
    (lambda: S.pool_output_shape((None, 8, 8, 3), 2, strides=(1, 0)), "strides"),
], ids=["kernel0", "kernel_neg", "tkernel0", "strides0", "dilation0", "filters0", "pool0", "pool_strides0"])
def test_shapes_non_positive(fn, arg):
    with pytest.raises(ValueError, match=rf"`{arg}`.*>= 1") as info:
        fn()
    assert PKG in _innermost_file(info)


@pytest.mark.parametrize("fn,arg", [
    (lambda x: F.conv(x, zeros(3, 3, 2, 4), strides=0), "strides"),
    (lambda x: F.conv(x, zeros(3, 3, 2, 4), dilation=(1, 0)), "dilation"),
    (lambda x: F.conv_transpose(x, zeros(3, 3, 4, 2), strides=(0, 1)), "strides"),
    (lambda x: F.max_pool(x, 0), "pool_size"),
    (lambda x: F.avg_pool(x, (2, 0)), "pool_size"),
    (lambda x: F.max_pool(x, 2, strides=0), "strides"),
    (lambda x: F.max_pool_with_indices(x, 0), "pool_size"),
    (lambda x: F.upsample(x, 0), "size"),
    (lambda x: F.upsample(x, (2, 0), "bed_of_nails"), "size"),
], ids=["conv_strides", "conv_dilation", "tconv_strides", "max_pool", "avg_pool", "pool_strides",
        "pool_indices", "upsample", "upsample_nails"])
def test_functional_non_positive(fn, arg):
    check(fn, zeros(2, 8, 8, 2), match=rf"`{arg}`.*>= 1")


@pytest.mark.parametrize("fn,arg", [
    (lambda x: F.zero_pad(x, -1), "padding"),
    (lambda x: F.zero_pad(x, ((1, 1), (0, -2))), "padding"),
    (lambda x: F.crop(x, -1), "cropping"),
    (lambda x: F.crop(x, ((0, 0), (-1, 1))), "cropping"),
    (lambda x: F.conv(x, zeros(3, 3, 2, 4), padding=((1, 1), (-1, 0))), "padding"),
    (lambda x: jl.ZeroPadding2D(((0, -1), (0, 0))).apply({}, x), "padding"),
    (lambda x: jl.Cropping2D((-1, 0)).apply({}, x), "cropping"),
], ids=["pad", "pad_pairs", "crop", "crop_pairs", "conv_explicit", "ZeroPadding2D", "Cropping2D"])
def test_negative_padding_and_cropping(fn, arg):
    check(fn, zeros(2, 8, 8, 2), match=rf"`{arg}`.*non-negative|`{arg}`.*>= 0")


# ----------------------------------------------------------------------------- windows that do not fit


@pytest.mark.parametrize("fn,window,x_shape", [
    (lambda x: F.conv(x, zeros(3, 3, 3, 4)), (3, 3), (2, 2, 2, 3)),
    (lambda x: F.conv(x, zeros(3, 3, 3, 4), dilation=2), (5, 5), (2, 4, 8, 3)),
    (lambda x: F.conv(x, zeros(4, 3, 4)), (4,), (2, 3, 3)),
    (lambda x: F.max_pool(x, 3), (3, 3), (2, 2, 5, 1)),
    (lambda x: F.avg_pool(x, (2, 6), strides=1), (2, 6), (2, 4, 5, 1)),
    (lambda x: F.max_pool_with_indices(x, (1, 1, 4)), (1, 1, 4), (1, 3, 3, 3, 2)),
    (lambda x: jl.Conv2D(4, 5).init(jax.random.key(0), x), (5, 5), (2, 4, 6, 3)),
    (lambda x: jl.MaxPooling1D(7).apply({}, x), (7,), (2, 6, 3)),
], ids=["conv", "conv_dilated", "conv1d", "max_pool", "avg_pool", "pool_indices", "Conv2D", "MaxPooling1D"])
def test_window_larger_than_valid_input(fn, window, x_shape):
    msg = check(fn, zeros(*x_shape), match=esc(window) + ".*" + esc(x_shape))
    assert "fit" in msg or "larger" in msg, msg


def test_window_larger_in_shapes_functions():
    with pytest.raises(ValueError, match=esc((3, 3)) + ".*" + re.escape("(None, 2, 2, 3)")):
        S.conv_output_shape((None, 2, 2, 3), 4, 3)
    with pytest.raises(ValueError, match=esc((3, 3)) + ".*" + re.escape("(None, 2, 5, 1)")):
        S.pool_output_shape((None, 2, 5, 1), 3)
    # "same" padding always fits.
    assert S.conv_output_shape((None, 2, 2, 3), 4, 3, padding="same") == (None, 2, 2, 4)


@pytest.mark.parametrize("cropping,x_shape", [(((2, 2), (0, 0)), (2, 4, 4, 1)), ((0, 3), (2, 5, 6, 1)),
                                              (5, (2, 10, 12, 1))])
def test_cropping_removes_everything(cropping, x_shape):
    msg = check(lambda x: F.crop(x, cropping), zeros(*x_shape), match=r"`cropping`.*" + esc(x_shape))
    check(lambda x: jl.Cropping2D(cropping).apply({}, x), zeros(*x_shape), match=r"`cropping`")
    assert "all" in msg or "nothing" in msg or "remove" in msg, msg


# ----------------------------------------------------------------------------- bias, groups


@pytest.mark.parametrize("fn,want", [
    (lambda x, b: F.conv(x, zeros(3, 3, 2, 4), b), 4),
    (lambda x, b: F.conv_transpose(x, zeros(3, 3, 6, 2), b), 6),
], ids=["conv", "conv_transpose"])
@pytest.mark.parametrize("bias_shape", [(5,), (1, 4), (), (2, 3)])
def test_bias_of_wrong_shape(fn, want, bias_shape):
    msg = check(fn, zeros(2, 8, 8, 2), zeros(*bias_shape), match=r"`bias`.*" + esc((want,)))
    assert str(tuple(bias_shape)) in msg, msg


def test_dense_bias_of_wrong_shape():
    check(lambda x, b: F.dense(x, zeros(3, 5), b), zeros(2, 3), zeros(3), match=r"`bias`.*\(5,\).*\(3,\)")


def test_groups():
    # filters not divisible by groups
    check(lambda x: F.conv(x, zeros(3, 3, 2, 3), groups=2), zeros(2, 8, 8, 4), match=r"groups=2.*|3 filters")
    # channels != in_per_group * groups
    msg = check(lambda x: F.conv(x, zeros(3, 3, 2, 4), groups=2), zeros(2, 8, 8, 6), match=r"groups=2")
    assert str((2, 8, 8, 6)) in msg and str((3, 3, 2, 4)) in msg, msg
    check(lambda x: F.conv(x, zeros(3, 3, 2, 4), groups=0), zeros(2, 8, 8, 2), match=r"`groups`.*>= 1")
    # linen: input channels not divisible by groups
    msg = check(lambda x: jl.Conv2D(6, 3, groups=4).init(jax.random.key(0), x), zeros(2, 8, 8, 6),
                match=r"groups=4")
    assert "6" in msg, msg
    # linen: filters not divisible by groups
    check(lambda x: init(jl.Conv2D(5, 3, groups=2), x), zeros(2, 8, 8, 4), match=r"groups=2")


def test_linen_groups_zero_is_a_value_error():
    """Conv2D(groups=0) must say `groups` must be >= 1 (not ZeroDivisionError)."""
    check(lambda x: init(jl.Conv2D(4, 3, groups=0), x), zeros(2, 8, 8, 4), match=r"`groups`")


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize("make", [
    lambda: jl.Dense(3, activation="relux"),
    lambda: jl.Conv2D(3, 3, activation="ReLu6x"),
    lambda: jl.Conv1DTranspose(3, 3, activation=""),
])
def test_bad_activation_name(make):
    x = zeros(2, 8, 8, 2) if "Conv2D" in type(make()).__name__ else zeros(2, 8, 2)
    name = make().activation
    msg = check(lambda a: init(make(), a), x, match=r"`activation`.*" + re.escape(repr(name)))
    assert "relu" in msg and "sigmoid" in msg  # lists the valid names


@pytest.mark.parametrize("arg", ["kernel_initializer", "bias_initializer"])
def test_bad_initializer_name(arg):
    for make, x in ((lambda: jl.Dense(3, **{arg: "glorot"}), zeros(2, 4)),
                    (lambda: jl.Conv2D(3, 3, **{arg: "he"}), zeros(2, 8, 8, 2))):
        msg = check(lambda a: init(make(), a), x, match=rf"`{arg}`.*'(glorot|he)'")
        assert "glorot_uniform" in msg and "zeros" in msg, msg


def test_bad_upsample_method():
    msg = check(lambda x: F.upsample(x, 2, "cubic"), zeros(2, 4, 4, 2), match=r"'cubic'")
    assert "nearest" in msg and "bilinear" in msg
    check(lambda x: jl.UpSampling2D(2, interpolation="cubic").apply({}, x), zeros(2, 4, 4, 2), match=r"'cubic'")


@pytest.mark.parametrize("x_shape", [(2, 5, 3), (2, 3, 4, 5, 3)])
def test_bilinear_needs_2d(x_shape):
    msg = check(lambda x: F.upsample(x, 2, "bilinear"), zeros(*x_shape), match=r"bilinear.*" + esc(x_shape))
    assert "2" in msg
    rank = len(x_shape) - 2
    check(lambda x: getattr(jl, f"UpSampling{rank}D")(2, interpolation="bilinear").apply({}, x), zeros(*x_shape),
          match=r"bilinear")


@pytest.mark.parametrize("make,arg", [
    (lambda: jl.Conv2D(4, 3, dilation_rate=0), "dilation_rate"),
    (lambda: jl.Conv2DTranspose(4, 3, dilation_rate=(1, 0)), "dilation_rate"),
    (lambda: jl.UpSampling2D(2, interpolation="cubic"), "interpolation"),
], ids=["Conv2D.dilation_rate", "Conv2DTranspose.dilation_rate", "UpSampling2D.interpolation"])
def test_linen_errors_name_the_keras_argument(make, arg):
    """A linen module's error names its own (Keras) argument, not the functional one."""
    check(lambda x: init(make(), x), zeros(2, 8, 8, 2), match=rf"`{arg}`")


# ----------------------------------------------------------------------------- max_unpool


def test_max_unpool_mismatched_shapes():
    y = zeros(2, 4, 4, 3)
    idx = jnp.zeros((2, 4, 4, 3), jnp.int32)
    # indices shape != y shape
    msg = check(lambda a, i: F.max_unpool(a, i, (2, 8, 8, 3)), y, jnp.zeros((2, 4, 5, 3), jnp.int32),
                match=r"`indices`.*" + esc((2, 4, 4, 3)) + ".*" + esc((2, 4, 5, 3)))
    # output_shape with another batch / channels / rank
    for bad in ((3, 8, 8, 3), (2, 8, 8, 4), (2, 8, 3)):
        msg = check(lambda a, i: F.max_unpool(a, i, bad), y, idx, match=r"`output_shape`.*" + esc(bad))
        assert str((2, 4, 4, 3)) in msg, msg
    # float indices
    check(lambda a, i: F.max_unpool(a, i, (2, 8, 8, 3)), y, zeros(2, 4, 4, 3), match=r"`indices`.*int",
          exc=TypeError)
    check(lambda a, i: jl.MaxUnpooling().apply({}, a, i, (2, 8, 8, 4)), y, idx, match=r"`output_shape`")


# ----------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize("fn,arg", [
    (lambda x: F.conv(x, zeros(3, 3, 2, 4), strides="2"), "strides"),
    (lambda x: F.conv(x, zeros(3, 3, 2, 4), dilation=1.5), "dilation"),
    (lambda x: F.max_pool(x, 2.0), "pool_size"),
    (lambda x: F.max_pool(x, (2, "2")), "pool_size"),
    (lambda x: F.upsample(x, [2, None]), "size"),
    (lambda x: F.zero_pad(x, "1"), "padding"),
    (lambda x: F.crop(x, 1.0), "cropping"),
    (lambda x: init(jl.Conv2D(4, (3, 3.0)), x), "kernel_size"),
], ids=["strides_str", "dilation_float", "pool_float", "pool_str", "size_none", "pad_str", "crop_float",
        "kernel_float"])
def test_wrong_types(fn, arg):
    check(fn, zeros(2, 8, 8, 2), match=rf"`{arg}`", exc=TypeError)


@pytest.mark.parametrize("fn,arg", [
    (lambda x: F.conv(x, zeros(3, 3, 2, 4), strides=(1, 1, 1)), "strides"),
    (lambda x: F.max_pool(x, (2, 2, 2)), "pool_size"),
    (lambda x: F.upsample(x, (2,)), "size"),
    (lambda x: F.zero_pad(x, (1, 1, 1)), "padding"),
], ids=["strides", "pool_size", "size", "padding"])
def test_wrong_number_of_axes(fn, arg):
    check(fn, zeros(2, 8, 8, 2), match=rf"`{arg}`.*2")


def test_valid_inputs_still_work_under_jit():
    """The checks do not reject valid calls (sanity: every call above differs only in the bad bit)."""
    x = jnp.ones((2, 8, 8, 2))
    y = jax.jit(lambda a: F.conv(a, jnp.ones((3, 3, 2, 4)), jnp.ones(4), strides=2, padding="same"))(x)
    assert y.shape == (2, 4, 4, 4)
    y, idx = jax.jit(lambda a: F.max_pool_with_indices(a, 2))(x)
    assert F.max_unpool(y, idx, x.shape).shape == x.shape
    assert jax.jit(lambda a: F.crop(a, ((3, 4), (0, 0))))(x).shape == (2, 1, 8, 2)
    assert np.asarray(jax.jit(lambda a: F.upsample(a, 2, "bilinear"))(x)).shape == (2, 16, 16, 2)


@pytest.mark.parametrize("make,x_shape", [(jl.MaxPooling, (2, 3)), (lambda: jl.Conv(3, 2), (3,))],
                         ids=["MaxPooling-2d", "Conv-1d"])
def test_generic_module_input_without_spatial_axis(make, x_shape):
    """A generic (rank-from-input) module on an input with no spatial axis: a consistent message."""
    x = zeros(*x_shape)
    msg = check(lambda a: init(make(), a), x, match=esc(x_shape))
    # It must not claim to expect the very rank it was given, and should ask for >= 3 dimensions.
    assert f"expects a {len(x_shape)}-D input" not in msg, msg
    assert re.search(r"3-D|at least|spatial axis", msg), msg


# ----------------------------------------------------------------------------- every layer argument


@pytest.mark.parametrize("make,x_shape,arg,exc", [
    (lambda: jl.Conv2D(0, 3), (2, 8, 8, 2), "filters", ValueError),
    (lambda: jl.Conv2D(-2, 3), (2, 8, 8, 2), "filters", ValueError),
    (lambda: jl.Conv1D(2.0, 3), (2, 8, 2), "filters", TypeError),
    (lambda: jl.Conv2DTranspose(0, 3), (2, 8, 8, 2), "filters", ValueError),
    (lambda: jl.Conv3DTranspose(-1, 2), (2, 4, 4, 4, 2), "filters", ValueError),
    (lambda: jl.Conv2D(6, 3, groups=4), (2, 8, 8, 8), "filters", ValueError),
    (lambda: jl.Conv2DTranspose(4, 3, padding="causal"), (2, 8, 8, 2), "padding", ValueError),
    (lambda: jl.Dense(0), (2, 4), "units", ValueError),
    (lambda: jl.Dense(-3), (2, 4), "units", ValueError),
    (lambda: jl.Reshape((0, 4)), (2, 8), "target_shape", ValueError),
    (lambda: jl.Reshape((-1, -1)), (2, 8), "target_shape", ValueError),
    (lambda: jl.Reshape((3, 3)), (2, 8), "target_shape", ValueError),
    (lambda: jl.Reshape((3, -1)), (2, 8), "target_shape", ValueError),
], ids=["Conv2D-0", "Conv2D-neg", "Conv1D-float", "Conv2DTranspose-0", "Conv3DTranspose-neg", "Conv2D-groups",
        "Conv2DTranspose-causal", "Dense-0", "Dense-neg", "Reshape-0", "Reshape-two-unknown", "Reshape-size",
        "Reshape-indivisible"])
def test_linen_layer_arguments(make, x_shape, arg, exc):
    """Counts <= 0 (once a ZeroDivisionError or an MLIRError), shapes that cannot hold the input."""
    check(lambda x: init(make(), x), zeros(*x_shape), match=rf"`{arg}`", exc=exc)


@pytest.mark.parametrize("fn,x_shape", [
    (lambda x: F.conv(x, zeros(3, 3, 2, 0)), (2, 8, 8, 2)),
    (lambda x: F.conv(x, zeros(3, 0, 2, 4)), (2, 8, 8, 2)),
    (lambda x: F.conv_transpose(x, zeros(3, 3, 0, 2)), (2, 8, 8, 2)),
    (lambda x: F.dense(x, zeros(4, 0)), (2, 4)),
], ids=["conv-no-filters", "conv-no-width", "conv_transpose-no-filters", "dense-no-units"])
def test_functional_empty_kernels(fn, x_shape):
    msg = check(fn, zeros(*x_shape), match=r"`kernel`.*>= 1")
    assert "0" in msg, msg


R = nnx.Rngs(0)


@pytest.mark.parametrize("make,arg", [
    (lambda: jn.MaxPooling2D(2, strides=-1), "strides"),
    (lambda: jn.MaxPooling2D(2, padding="Same "), "padding"),
    (lambda: jn.AveragePooling1D((2, 2)), "pool_size"),
    (lambda: jn.MaxPooling(pool_size=0), "pool_size"),
    (lambda: jn.MaxPoolingWithIndices(2, strides=(1, 0)), "strides"),
    (lambda: jn.AveragePooling3D(2, padding="causal"), "padding"),
    (lambda: jn.Conv2D(3, 4, 3, strides=0, rngs=R), "strides"),
    (lambda: jn.Conv2D(3, 4, 3, padding="causal", rngs=R), "padding"),
    (lambda: jn.Conv2D(3, 4, 3, padding="Same ", rngs=R), "padding"),
    (lambda: jn.Conv2D(3, 4, 3, padding=((1, 1), (-1, 0)), rngs=R), "padding"),
    (lambda: jn.Conv2D(3, 0, 3, rngs=R), "filters"),
    (lambda: jn.Conv2D(3, -2, 3, rngs=R), "filters"),
    (lambda: jn.Conv2D(0, 4, 3, rngs=R), "in_channels"),
    (lambda: jn.Conv2D(4, 6, 3, groups=4, rngs=R), "filters"),
    (lambda: jn.Conv2D(4, 4, 3, groups=0, rngs=R), "groups"),
    (lambda: jn.Conv2D(3, 4, 3, dilation_rate=0, rngs=R), "dilation_rate"),
    (lambda: jn.Conv1D(3, 4, (3, 3), rngs=R), "kernel_size"),
    (lambda: jn.Conv2DTranspose(3, 4, 3, strides=2, output_padding=2, rngs=R), "output_padding"),
    (lambda: jn.Conv2DTranspose(3, 4, 3, padding="causal", rngs=R), "padding"),
    (lambda: jn.Conv2DTranspose(3, 0, 3, rngs=R), "filters"),
    (lambda: jn.Conv2DTranspose(3, 4, 3, strides=(2, 0), rngs=R), "strides"),
    (lambda: jn.Dense(0, 3, rngs=R), "in_features"),
    (lambda: jn.Dense(3, 0, rngs=R), "units"),
    (lambda: jn.UpSampling2D(0), "size"),
    (lambda: jn.UpSampling2D((2, 2, 2)), "size"),
    (lambda: jn.ZeroPadding2D(-1), "padding"),
    (lambda: jn.ZeroPadding1D((1, 1, 1)), "padding"),
    (lambda: jn.Cropping2D(((0, -1), (0, 0))), "cropping"),
    (lambda: jn.Cropping3D("1"), "cropping"),
    (lambda: jn.Reshape((0, 2)), "target_shape"),
], ids=lambda v: v if isinstance(v, str) else "nnx")
def test_nnx_checks_every_argument_at_construction(make, arg):
    """As Keras: a bad argument fails when the layer is made, not at its first call."""
    with pytest.raises((ValueError, TypeError), match=rf"`{arg}`") as info:
        make()
    assert PKG in _innermost_file(info), _innermost_file(info)


def test_nnx_call_time_checks_name_the_argument():
    """What needs the input (cropping everything, a shape that cannot hold it) fails at the call."""
    check(lambda x: jn.Cropping2D(((2, 2), (0, 0)))(x), zeros(2, 4, 4, 1), match=r"`cropping`.*" + esc((2, 4, 4, 1)))
    check(lambda x: jn.Reshape((3, 3))(x), zeros(2, 8), match=r"`target_shape`.*\(3, 3\).*8")


# ----------------------------------------------------------------------------- precision, keys, flags, statistics


PRECISIONS_LAX_TAKES = [None, "highest", "high", "default", "float32", "bfloat16", "tensorfloat32", "fastest",
                        jax.lax.Precision.HIGH, ("highest", "default"),
                        (jax.lax.Precision.HIGH, jax.lax.Precision.DEFAULT),
                        "F32_F32_F32", "BF16_BF16_F32", jax.lax.DotAlgorithmPreset.F32_F32_F32]
PRECISIONS_LAX_REFUSES = ["bad", "HIGHEST", "f32_f32_f32", ("highest",), ("highest", "high", "high"),
                          ("highest", jax.lax.Precision.HIGH), ("highest", "bad"), 123, 2.0, object()]


def _lax_takes(precision) -> bool:
    """Whether lax's own conv and dot (under jit, as the layers run) accept `precision`."""
    dims = jax.lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    try:
        jax.jit(lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), "VALID", dimension_numbers=dims,
                                                          precision=precision))(zeros(1, 4, 4, 2), zeros(3, 3, 2, 2))
        jax.jit(lambda x, k: jnp.matmul(x, k, precision=precision))(zeros(2, 3), zeros(3, 2))
    except (ValueError, TypeError):
        return False
    return True


@pytest.mark.parametrize("precision", PRECISIONS_LAX_TAKES, ids=repr)
def test_precision_that_lax_takes_is_accepted(precision):
    assert _lax_takes(precision)
    x = zeros(2, 6, 6, 2)
    assert F.conv(x, zeros(3, 3, 2, 4), precision=precision).shape == (2, 4, 4, 4)
    assert F.conv_transpose(x, zeros(3, 3, 4, 2), precision=precision).shape == (2, 8, 8, 4)
    assert F.dense(x, zeros(2, 5), precision=precision).shape == (2, 6, 6, 5)


@pytest.mark.parametrize("precision", PRECISIONS_LAX_REFUSES,
                         ids=lambda p: "object" if type(p) is object else repr(p))  # stable across xdist workers
@pytest.mark.parametrize("op", ["conv", "conv_transpose", "dense"])
def test_precision_that_lax_refuses_is_ours_to_refuse(op, precision):
    assert not _lax_takes(precision)
    call = {"conv": lambda x: F.conv(x, zeros(3, 3, 2, 4), precision=precision),
            "conv_transpose": lambda x: F.conv_transpose(x, zeros(3, 3, 4, 2), precision=precision),
            "dense": lambda x: F.dense(x, zeros(2, 5), precision=precision)}[op]
    names = isinstance(precision, str) or isinstance(precision, tuple) and any(isinstance(p, str) for p in precision)
    msg = check(call, zeros(2, 6, 6, 2), match=r"`precision` must be None, a lax.Precision",
                exc=ValueError if names else TypeError)
    assert repr(precision) in msg and "highest" in msg and "DotAlgorithm" in msg, msg


@pytest.mark.parametrize("key", [123, None, "key", jax.random.split(jax.random.key(0)), jnp.zeros(3, jnp.uint32),
                                 jnp.zeros(2, jnp.int32), jnp.zeros((1, 2), jnp.uint32)],
                         ids=["int", "None", "str", "two-keys", "raw-3", "raw-int32", "raw-1x2"])
def test_dropout_key_must_be_one_prng_key(key):
    got = (rf"dtype {re.escape(str(key.dtype))} and shape {esc(key.shape)}" if hasattr(key, "dtype")
           else re.escape(repr(key)))
    check(lambda x: F.dropout(x, 0.5, key), zeros(4, 8), match=r"`key` must be one PRNG key.*jax.random.key.*" + got,
          exc=TypeError)


def test_dropout_takes_typed_and_raw_keys():
    x = jnp.ones((4, 64))
    for key in (jax.random.key(0), jax.random.PRNGKey(0), np.asarray(jax.random.PRNGKey(0))):
        y = jax.jit(lambda x, k: F.dropout(x, 0.5, k))(x, key)
        assert set(np.unique(np.asarray(y))) <= {0.0, 2.0}


@pytest.mark.parametrize("x_shape", [(3,), ()], ids=["1-D", "scalar"])
def test_dense_needs_two_dimensions_as_keras(x_shape):
    check(lambda x: F.dense(x, zeros(3, 2)), zeros(*x_shape), match=r"`x`.*at least 2 dimensions.*" + esc(x_shape))
    import keras
    with pytest.raises(ValueError, match="expected min_ndim=2"):  # Keras Dense refuses it too
        keras.layers.Dense(2)(np.zeros(x_shape, np.float32))


@pytest.mark.parametrize("bad", [(2, 8.5, 8, 3), (2, "8", 8, 3), (2, 8, None, 3), "2883", 8],
                         ids=["float", "str-entry", "None-entry", "str", "int"])
def test_max_unpool_output_shape_must_be_ints(bad):
    y, idx = F.max_pool_with_indices(zeros(2, 8, 8, 3), 2)
    check(lambda a, i: F.max_unpool(a, i, bad), y, idx, match=r"`output_shape` must be a sequence of ints.*"
          + re.escape(repr(bad)), exc=TypeError)


def test_max_unpool_output_shape_may_be_numpy_ints():
    y, idx = F.max_pool_with_indices(zeros(2, 8, 8, 3), 2)
    assert F.max_unpool(y, idx, np.array([2, 8, 8, 3])).shape == (2, 8, 8, 3)
    assert F.max_unpool(y, idx, [np.int64(2), 8, 8, 3]).shape == (2, 8, 8, 3)


@pytest.mark.parametrize("fn", [F.global_max_pool, F.global_avg_pool], ids=["max", "avg"])
@pytest.mark.parametrize("keepdims", ["x", 1, None, 0.0], ids=repr)
def test_global_pool_keepdims_must_be_a_bool(fn, keepdims):
    check(lambda x: fn(x, keepdims=keepdims), zeros(2, 4, 4, 3), match=r"`keepdims` must be a bool.*"
          + re.escape(repr(keepdims)), exc=TypeError)


@pytest.mark.parametrize("kwargs,arg,exc", [
    ({"momentum": 1.5}, "momentum", ValueError), ({"momentum": -0.1}, "momentum", ValueError),
    ({"momentum": float("nan")}, "momentum", ValueError), ({"momentum": "0.9"}, "momentum", TypeError),
    ({"momentum": True}, "momentum", TypeError), ({"epsilon": 0.0}, "epsilon", ValueError),
    ({"epsilon": -1e-3}, "epsilon", ValueError), ({"epsilon": float("inf")}, "epsilon", ValueError),
    ({"epsilon": float("nan")}, "epsilon", ValueError), ({"epsilon": None}, "epsilon", TypeError),
], ids=["momentum>1", "momentum<0", "momentum-nan", "momentum-str", "momentum-bool", "epsilon-0", "epsilon<0",
        "epsilon-inf", "epsilon-nan", "epsilon-None"])
def test_normalization_statistics_arguments(kwargs, arg, exc):
    features = zeros(3)
    for training in (False, True):
        check(lambda x: F.batch_norm(x, features, features, training=training, **kwargs)[0], zeros(2, 4, 3),
              match=rf"`{arg}`.*{re.escape(repr(kwargs[arg]))}", exc=exc)
    if arg == "epsilon":
        check(lambda x: F.layer_norm(x, **kwargs), zeros(2, 4, 3), match=rf"`{arg}`.*{re.escape(repr(kwargs[arg]))}",
              exc=exc)


def test_normalization_checks_take_the_edges():
    from jaxlayers.functional.normalization import check_epsilon, check_momentum
    assert [check_momentum(m) for m in (0, 0.0, 1, 1.0, np.float32(0.5))] == [0.0, 0.0, 1.0, 1.0, 0.5]
    assert check_epsilon(1e-12) == 1e-12 and check_epsilon(np.float64(2.0)) == 2.0
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 3)), jnp.float32)
    y, mean, _ = F.batch_norm(x, jnp.zeros(3), jnp.ones(3), training=True, momentum=0.0)
    np.testing.assert_allclose(mean, np.asarray(x).mean(0), rtol=1e-6)  # momentum 0: the batch's mean
