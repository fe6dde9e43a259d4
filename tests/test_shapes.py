"""jaxlayers.shapes against Keras `compute_output_shape`, the ops themselves, and gradient support.

- a seeded random grid against Keras layers' `compute_output_shape` (None batch and
  None spatial sizes included where Keras supports them);
- hypothesis properties: each shape function predicts exactly what the op returns
  (`jax.eval_shape`, nothing allocated) and what an independently written formula says;
- `receptive_field` against the support of the input gradient of one output cell
  of a real conv/pool stack built on `jax.lax` with all-ones weights.
"""
from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxlayers.functional as F
import jaxlayers.linen as L
import jaxlayers.nnx as J
from flax import nnx
from jaxlayers import shapes
try:
    import keras_oracle as K
except ImportError:  # tests/ imported as a package
    from tests import keras_oracle as K

# ------------------------------------------------------------------- independent formulas


def _eff(k, d):
    return (k - 1) * d + 1


def conv_size(n, k, s, d, padding):
    """Keras/TF conv output length, written out per mode (explicit: a (lo, hi) pair)."""
    if n is None:
        return None
    w = _eff(k, d)
    if padding == "same":
        return -(-n // s)
    if padding == "causal":
        return (n - 1) // s + 1
    lo, hi = (0, 0) if padding == "valid" else padding
    return (n + lo + hi - w) // s + 1


def conv_transpose_size(n, k, s, d, padding, output_padding):
    """Keras `deconv_output_length`."""
    if n is None:
        return None
    w = _eff(k, d)
    if output_padding is None:
        return n * s + max(w - s, 0) if padding == "valid" else n * s
    pad = w // 2 if padding == "same" else 0
    return (n - 1) * s + w - 2 * pad + output_padding


def pool_size_out(n, p, s, padding):
    if n is None:
        return None
    return -(-n // s) if padding == "same" else (n - p) // s + 1


def _t(v, rank):
    return (v,) * rank if isinstance(v, int) else tuple(v)


# ------------------------------------------------------------------- Keras grid


def _keras_grid(seed, n):
    r = np.random.default_rng(seed)
    cases = []
    for i in range(n):
        rank = int(r.integers(1, 4))
        kind = ["conv", "conv_transpose", "pool"][i % 3]
        k = tuple(int(v) for v in r.integers(1, 6, size=rank))
        if r.random() < 0.3:
            strides, dilation = (1,) * rank, tuple(int(v) for v in r.integers(1, 4, size=rank))
        else:
            strides, dilation = tuple(int(v) for v in r.integers(1, 4, size=rank)), (1,) * rank
        if kind == "pool":
            dilation = (1,) * rank
        modes = ["valid", "same"] + (["causal"] if kind == "conv" and rank == 1 else [])
        padding = str(r.choice(modes))
        sizes = [_eff(kk, d) + int(r.integers(0, 9)) for kk, d in zip(k, dilation)]
        if r.random() < 0.3:  # an unknown spatial size
            sizes[int(r.integers(0, rank))] = None
        batch = None if r.random() < 0.5 else int(r.integers(1, 4))
        output_padding = None
        if kind == "conv_transpose" and r.random() < 0.6:
            output_padding = tuple(int(r.integers(0, s)) for s in strides)
        cases.append(dict(kind=kind, rank=rank, k=k, strides=strides, dilation=dilation, padding=padding,
                          shape=(batch, *sizes, int(r.integers(1, 5))), filters=int(r.integers(1, 7)),
                          output_padding=output_padding,
                          pool_strides=None if r.random() < 0.3 else strides))
    return cases


KERAS_CASES = _keras_grid(7, 60)


@pytest.mark.parametrize("case", KERAS_CASES, ids=lambda c: f"{c['kind']}{c['rank']}d-{c['padding']}-{c['shape']}")
def test_shape_functions_match_keras_compute_output_shape(case):
    rank, shape = case["rank"], case["shape"]
    if case["kind"] == "conv":
        layer = K.keras_class("Conv", rank)(case["filters"], case["k"], strides=case["strides"],
                                             padding=case["padding"], dilation_rate=case["dilation"])
        got = shapes.conv_output_shape(shape, case["filters"], case["k"], case["strides"], case["padding"],
                                       case["dilation"])
    elif case["kind"] == "conv_transpose":
        layer = K.keras_class("ConvTranspose", rank)(
            case["filters"], case["k"], strides=case["strides"], padding=case["padding"],
            output_padding=case["output_padding"], dilation_rate=case["dilation"])
        got = shapes.conv_transpose_output_shape(shape, case["filters"], case["k"], case["strides"],
                                                 case["padding"], case["output_padding"], case["dilation"])
    else:
        layer = K.keras_class("MaxPooling", rank)(case["k"], strides=case["pool_strides"], padding=case["padding"])
        got = shapes.pool_output_shape(shape, case["k"], case["pool_strides"], case["padding"])
        avg = K.keras_class("AveragePooling", rank)(case["k"], strides=case["pool_strides"], padding=case["padding"])
        assert tuple(avg.compute_output_shape(shape)) == got
    expected = tuple(layer.compute_output_shape(shape))
    assert isinstance(got, tuple)
    assert got == expected
    assert got[0] == shape[0]  # a None batch stays None


def test_int_arguments_and_case_insensitive_padding():
    assert shapes.conv_output_shape((None, 9, 8, 3), 5, 3, 2, "SAME") == (None, 5, 4, 5)
    assert shapes.conv_output_shape((2, 9, 8, 3), 5, (3, 2), (2, 1), "Valid", 1) == (2, 4, 7, 5)
    assert shapes.conv_output_shape((2, 10, 3), 4, 3, 1, "Causal", 2) == (2, 10, 4)
    assert shapes.conv_transpose_output_shape((None, 4, 5, 3), 2, 3, 2, "Same") == (None, 8, 10, 2)
    assert shapes.pool_output_shape((None, 7, 7, 2), 2, padding="SAME") == (None, 4, 4, 2)
    assert shapes.pool_output_shape((1, 7, 2), 3, 1, "VALID") == (1, 5, 2)


@pytest.mark.parametrize("call", [
    lambda: shapes.conv_output_shape((1, 3, 8, 2), 4, 5),
    lambda: shapes.conv_output_shape((1, 6, 8, 2), 4, 3, dilation=3),
    lambda: shapes.pool_output_shape((1, 2, 8, 2), 3),
])
def test_window_larger_than_input_is_refused(call):
    # Keras refuses these too ("Computed output size would be zero or negative").
    with pytest.raises(ValueError):
        call()


# ------------------------------------------------------------------- hypothesis: shapes == op shapes


@st.composite
def conv_setups(draw):
    rank = draw(st.integers(1, 3))
    k = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    s = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    d = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))  # both > 1 allowed here
    modes = ["valid", "same", "explicit"] + (["causal"] if rank == 1 else [])
    mode = draw(st.sampled_from(modes))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(rank))
    sizes = tuple(_eff(kk, dd) + draw(st.integers(0, 7)) for kk, dd in zip(k, d))
    groups = draw(st.sampled_from([1, 2]))
    cin = groups * draw(st.integers(1, 2))
    filters = groups * draw(st.integers(1, 2))
    padding = pads if mode == "explicit" else draw(st.sampled_from([mode, mode.upper()]))
    return rank, k, s, d, padding, sizes, groups, cin, filters


def _sds(shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


@settings(max_examples=60, deadline=None)
@given(conv_setups(), st.integers(1, 3))
def test_conv_output_shape_predicts_conv(setup, batch):
    rank, k, s, d, padding, sizes, groups, cin, filters = setup
    x_shape = (batch, *sizes, cin)
    op = functools.partial(F.conv, strides=s, padding=padding, dilation=d, groups=groups)
    out = jax.eval_shape(op, _sds(x_shape), _sds((*k, cin // groups, filters)), _sds((filters,)))
    predicted = shapes.conv_output_shape(x_shape, filters, k, s, padding, d)
    assert tuple(out.shape) == predicted
    mode = padding.lower() if isinstance(padding, str) else None
    expected = tuple(conv_size(n, kk, ss, dd, mode or p) for n, kk, ss, dd, p in zip(sizes, k, s, d, padding))
    assert predicted == (batch, *expected, filters)


@st.composite
def conv_transpose_setups(draw):
    rank = draw(st.integers(1, 3))
    k = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    s = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
    if draw(st.booleans()):
        d = tuple(draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank)))
        s = (1,) * rank  # Keras's formula (our oracle) is for one of the two only
    else:
        d = (1,) * rank
    output_padding = None
    if draw(st.booleans()):
        output_padding = tuple(draw(st.integers(0, ss - 1)) for ss in s)
    padding = draw(st.sampled_from(["valid", "same", "Same", "VALID"]))
    sizes = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    return rank, k, s, d, padding, output_padding, sizes


@settings(max_examples=60, deadline=None)
@given(conv_transpose_setups(), st.integers(1, 5), st.integers(1, 5))
def test_conv_transpose_output_shape_predicts_conv_transpose(setup, cin, filters):
    rank, k, s, d, padding, output_padding, sizes = setup
    x_shape = (2, *sizes, cin)
    op = functools.partial(F.conv_transpose, strides=s, padding=padding, output_padding=output_padding, dilation=d)
    out = jax.eval_shape(op, _sds(x_shape), _sds((*k, filters, cin)))
    predicted = shapes.conv_transpose_output_shape(x_shape, filters, k, s, padding, output_padding, d)
    assert tuple(out.shape) == predicted
    ops = (None,) * rank if output_padding is None else output_padding
    expected = tuple(conv_transpose_size(n, kk, ss, dd, padding.lower(), op)
                     for n, kk, ss, dd, op in zip(sizes, k, s, d, ops))
    assert predicted == (2, *expected, filters)


@st.composite
def pool_setups(draw):
    rank = draw(st.integers(1, 3))
    p = tuple(draw(st.lists(st.integers(1, 4), min_size=rank, max_size=rank)))
    s = draw(st.one_of(st.none(), st.lists(st.integers(1, 3), min_size=rank, max_size=rank).map(tuple)))
    padding = draw(st.sampled_from(["valid", "same", "SAME", "Valid"]))
    sizes = tuple(pp + draw(st.integers(0, 6)) if padding.lower() == "valid" else draw(st.integers(1, 9))
                  for pp in p)
    return rank, p, s, padding, sizes


@settings(max_examples=60, deadline=None)
@given(pool_setups(), st.sampled_from(["max", "avg", "max_with_indices"]))
def test_pool_output_shape_predicts_pooling(setup, kind):
    rank, p, s, padding, sizes = setup
    x_shape = (2, *sizes, 3)
    fn = {"max": F.max_pool, "avg": F.avg_pool, "max_with_indices": F.max_pool_with_indices}[kind]
    out = jax.eval_shape(functools.partial(fn, pool_size=p, strides=s, padding=padding), _sds(x_shape))
    predicted = shapes.pool_output_shape(x_shape, p, s, padding)
    if kind == "max_with_indices":
        y, indices = out
        assert tuple(indices.shape) == predicted and indices.dtype == jnp.int32
        out = y
    assert tuple(out.shape) == predicted
    strides = p if s is None else s
    expected = tuple(pool_size_out(n, pp, ss, padding.lower()) for n, pp, ss in zip(sizes, p, strides))
    assert predicted == (2, *expected, 3)


# ------------------------------------------------------------------- receptive field vs gradient support


def _oracle_field(specs, rank):
    """Receptive field size and jump per axis from the gradient of real outputs.

    specs: ("conv", k, s, d) | ("pool", k, s) with per-axis tuples. The stack is built
    directly on jax.lax (valid padding, all-ones kernels, sum pooling so that every
    cell of a window gets gradient); the input is all ones, so nothing cancels.
    """
    n = {1: 96, 2: 48, 3: 20}[rank]
    x = jnp.ones((1, *(n,) * rank, 1))
    spatial = "DHW"[-rank:] if rank > 1 else "W"
    dn = jax.lax.conv_dimension_numbers(x.shape, (*(1,) * rank, 1, 1), (f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"))

    def net(x):
        for spec in specs:
            if spec[0] == "conv":
                _, k, s, d = spec
                x = jax.lax.conv_general_dilated(x, jnp.ones((*k, 1, 1)), s, "VALID", rhs_dilation=d,
                                                 dimension_numbers=dn)
            else:
                _, k, s = spec
                x = jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, *k, 1), (1, *s, 1), "VALID")
        return x

    out_shape = jax.eval_shape(net, x).shape
    assert all(o >= 2 for o in out_shape[1:-1]), "oracle input too small"

    def support(cell):
        g = jax.grad(lambda x: net(x)[(0, *cell, 0)])(x)[0, ..., 0]
        g = np.asarray(g)
        lo, hi = [], []
        for axis in range(rank):
            nz = np.nonzero(np.abs(g).sum(axis=tuple(a for a in range(rank) if a != axis)))[0]
            lo.append(nz.min())
            hi.append(nz.max())
        return np.array(lo), np.array(hi)

    lo0, hi0 = support((0,) * rank)
    size = tuple(int(v) for v in hi0 - lo0 + 1)
    jump = []
    for axis in range(rank):
        cell = [0] * rank
        cell[axis] = 1
        lo1, _ = support(tuple(cell))
        jump.append(int(lo1[axis] - lo0[axis]))
    return size, tuple(jump)


def _linen(spec, rank):
    conv = {1: L.Conv1D, 2: L.Conv2D, 3: L.Conv3D}[rank]
    pool = {1: L.MaxPooling1D, 2: L.MaxPooling2D, 3: L.MaxPooling3D}[rank]
    if spec[0] == "conv":
        _, k, s, d = spec
        return conv(filters=2, kernel_size=k, strides=s, dilation_rate=d)
    _, k, s = spec
    return pool(pool_size=k, strides=s)


def _nnx(spec, rank):
    rngs = nnx.Rngs(0)
    if spec[0] == "conv":
        _, k, s, d = spec
        return {1: J.Conv1D, 2: J.Conv2D, 3: J.Conv3D}[rank](1, 2, k, strides=s, dilation_rate=d, rngs=rngs)
    _, k, s = spec
    return {1: J.MaxPooling1D, 2: J.MaxPooling2D, 3: J.MaxPooling3D}[rank](pool_size=k, strides=s)


STACKS = {
    "1d_dilated": (1, [("conv", (3,), (1,), (1,)), ("conv", (3,), (1,), (2,)), ("conv", (3,), (1,), (4,))]),
    "1d_strided": (1, [("conv", (5,), (2,), (1,)), ("pool", (2,), (2,)), ("conv", (3,), (3,), (1,)),
                       ("conv", (2,), (1,), (3,))]),
    "1d_stride_and_dilation": (1, [("conv", (3,), (2,), (2,)), ("conv", (4,), (3,), (3,)), ("pool", (3,), (1,))]),
    "2d_mixed": (2, [("conv", (3, 3), (2, 2), (1, 1)), ("pool", (2, 2), (2, 2)), ("conv", (3, 2), (1, 1), (2, 1)),
                     ("pool", (3, 2), (1, 2))]),
    "2d_anisotropic": (2, [("conv", (5, 1), (1, 3), (1, 1)), ("conv", (2, 3), (2, 1), (3, 2))]),
    "3d": (3, [("conv", (3, 2, 1), (1, 2, 1), (1, 1, 2)), ("pool", (2, 2, 2), (2, 1, 2)), ("conv", (2, 3, 2), (1, 1, 1), (2, 1, 1))]),
}


@pytest.mark.parametrize("form", ["linen", "sequential", "tuples", "nnx", "nnx_sequential"])
@pytest.mark.parametrize("name", list(STACKS))
def test_receptive_field_matches_gradient_support(name, form):
    rank, specs = STACKS[name]
    expected = _oracle_field(specs, rank)
    if form == "tuples":
        layers = [(spec[1], spec[2], spec[3]) if spec[0] == "conv" else (spec[1], spec[2]) for spec in specs]
    elif form.startswith("nnx"):
        layers = [_nnx(spec, rank) for spec in specs]
        if form == "nnx_sequential":  # NNX grid-keeping layers and plain activations in between
            layers = nnx.Sequential(*(m for layer in layers for m in (layer, nnx.relu, J.Activation("tanh"))))
    else:
        layers = [_linen(spec, rank) for spec in specs]
        if form == "sequential":  # activations in between are skipped
            layers = nn.Sequential([m for layer in layers for m in (layer, nn.relu)])
    field = shapes.receptive_field(layers)
    assert isinstance(field, shapes.ReceptiveField)
    assert (field.size, field.jump) == expected


def test_receptive_field_of_nd_modules_with_int_arguments_has_one_entry_per_axis():
    # Conv2D(kernel_size=3) means (3, 3): the field is 2-D even though every argument is an int.
    expected = _oracle_field([("conv", (3, 3), (2, 2), (1, 1)), ("pool", (2, 2), (2, 2)),
                              ("conv", (3, 3), (1, 1), (2, 2))], 2)
    field = shapes.receptive_field([L.Conv2D(4, 3, strides=2), L.MaxPooling2D(2), L.Conv2D(4, 3, dilation_rate=2)])
    assert (field.size, field.jump) == expected


def test_receptive_field_passes_dense_through():
    field = shapes.receptive_field([L.Conv1D(2, (3,)), L.Dense(4), (3, 2)])
    assert (field.size, field.jump) == _oracle_field([("conv", (3,), (1,), (1,)), ("conv", (3,), (2,), (1,))], 1)


@pytest.mark.parametrize("layer", [L.Flatten(), L.UpSampling2D(2), L.GlobalMaxPooling2D(), L.Conv2DTranspose(2, (3, 3))],
                         ids=["Flatten", "UpSampling2D", "GlobalMaxPooling2D", "Conv2DTranspose"])
def test_receptive_field_refuses_layers_without_a_finite_field(layer):
    with pytest.raises(TypeError):
        shapes.receptive_field([L.Conv2D(2, (3, 3)), layer, L.Conv2D(2, (3, 3))])


GRID_KEEPING_STACK = [("conv", (3, 3), (2, 2), (1, 1)), ("pool", (2, 2), (2, 2)), ("conv", (3, 3), (1, 1), (2, 2))]


def test_receptive_field_passes_nnx_grid_keeping_layers_through():
    rngs = nnx.Rngs(0)
    model = nnx.Sequential(J.Conv2D(1, 4, 3, strides=2, rngs=rngs), J.ReLU(), J.ZeroPadding2D(1),
                           J.Dense(4, 4, rngs=rngs), J.Dropout(0.5), J.BatchNormalization(4, rngs=rngs),
                           J.LayerNormalization(4, rngs=rngs), J.Cropping2D(1), J.MaxPooling2D(2),
                           J.Conv2D(4, 4, 3, dilation_rate=2, rngs=rngs))
    field = shapes.receptive_field(model)
    assert (field.size, field.jump) == _oracle_field(GRID_KEEPING_STACK, 2)


def test_receptive_field_passes_linen_grid_keeping_layers_through():
    model = nn.Sequential([L.Conv2D(4, 3, strides=2), L.ReLU(), L.ZeroPadding2D(1), L.Dense(4), L.Dropout(0.5),
                           L.BatchNormalization(), L.LayerNormalization(), L.Cropping2D(1), L.MaxPooling2D(2),
                           L.Conv2D(4, 3, dilation_rate=2)])
    field = shapes.receptive_field(model)
    assert (field.size, field.jump) == _oracle_field(GRID_KEEPING_STACK, 2)


def _module_field(call, x_shape, rank):
    """Size and jump per axis from the gradient support of one output channel of `call` (a real model)."""
    x = jnp.asarray(np.random.default_rng(0).standard_normal(x_shape), jnp.float32)

    def support(cell):
        g = np.abs(np.asarray(jax.grad(lambda x: call(x)[(0, *cell, 0)])(x)[0])).sum(-1)
        axes = [np.nonzero(g.sum(axis=tuple(a for a in range(rank) if a != axis)))[0] for axis in range(rank)]
        return np.array([a.min() for a in axes]), np.array([a.max() for a in axes])

    lo, hi = support((0,) * rank)
    jumps = tuple(int(support(tuple(int(a == axis) for a in range(rank)))[0][axis] - lo[axis]) for axis in range(rank))
    return tuple(int(v) for v in hi - lo + 1), jumps


@pytest.mark.parametrize("norm", [
    L.BatchNormalization(axis=1), L.BatchNormalization(axis=-1), L.LayerNormalization(axis=-1),
    L.LayerNormalization(axis=3),
], ids=["BatchNormalization-axis1", "BatchNormalization", "LayerNormalization", "LayerNormalization-axis3"])
def test_receptive_field_of_grid_keeping_normalizations_is_the_models(norm):
    """Inference BatchNormalization is elementwise on any axis; LayerNormalization over channels only mixes channels."""
    model = nn.Sequential([L.Conv2D(3, 3), norm, L.Conv2D(2, 3, strides=2, dilation_rate=2)])
    x_shape = (1, 15, 15, 2)
    variables = model.init(jax.random.key(1), jnp.ones(x_shape))
    variables = jax.tree.map(lambda v: v + 0.5 * jax.random.uniform(jax.random.key(2), v.shape), variables)
    field = shapes.receptive_field(model)
    assert (field.size, field.jump) == _module_field(lambda x: model.apply(variables, x), x_shape, 2) == \
        ((7, 7), (2, 2))


@pytest.mark.parametrize("api", ["linen", "nnx"])
@pytest.mark.parametrize("axis", [(1, 2, 3), 1, (-3, -1)])
def test_receptive_field_refuses_layer_normalization_over_spatial_axes(api, axis):
    sizes = {(1, 2, 3): (9, 9, 3), 1: 9, (-3, -1): (9, 3)}[axis]
    norm = L.LayerNormalization(axis) if api == "linen" else J.LayerNormalization(sizes, axis, rngs=nnx.Rngs(0))
    conv = L.Conv2D(3, 3) if api == "linen" else J.Conv2D(2, 3, 3, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match=r"cannot follow LayerNormalization with axis=.*every output depends.*"
                                        r"only a LayerNormalization over the channel axis alone"):
        shapes.receptive_field([conv, norm])
    # Why: an output cell depends on every cell along the normalised axes (here: the whole height).
    module = nn.Sequential([L.Conv2D(3, 3), L.LayerNormalization(axis)])
    x_shape = (1, 11, 11, 2)
    variables = module.init(jax.random.key(0), jnp.ones(x_shape))
    size, _ = _module_field(lambda x: module.apply(variables, x), x_shape, 2)
    assert size[0] == 11


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_receptive_field_follows_nested_sequentials(api):
    if api == "linen":
        model = nn.Sequential([L.Conv2D(4, 3, strides=2), nn.Sequential([nn.Sequential([L.MaxPooling2D(2)]),
                                                                         L.ReLU()]), L.Conv2D(4, 3, dilation_rate=2)])
    else:
        rngs = nnx.Rngs(0)
        model = nnx.Sequential(J.Conv2D(1, 4, 3, strides=2, rngs=rngs),
                               nnx.Sequential(nnx.Sequential(J.MaxPooling2D(2)), J.ReLU()),
                               J.Conv2D(4, 4, 3, dilation_rate=2, rngs=rngs))
    field = shapes.receptive_field(model)
    assert (field.size, field.jump) == _oracle_field(GRID_KEEPING_STACK, 2)
    assert shapes.receptive_field([model, (3, 1)]).size == tuple(n + 2 * 4 for n in field.size)


def _graphs(api):
    """(a chain Graph of GRID_KEEPING_STACK, a Graph with two branches from the input)."""
    if api == "linen":
        chain = L.Graph([L.Conv2D(4, 3, strides=2), L.MaxPooling2D(2), L.Conv2D(4, 3, dilation_rate=2)], [0, 1, 2])
        forked = L.Graph([L.Conv2D(3, 5), L.Conv2D(3, 5)], [0, 0], outputs=(1, 2))
        return chain, forked, L.Graph([L.Conv2D(3, 5), L.Conv2D(3, 5), L.Add()], [0, 0, (1, 2)])
    r = nnx.Rngs(0)
    chain = J.Graph([J.Conv2D(1, 4, 3, strides=2, rngs=r), J.MaxPooling2D(2), J.Conv2D(4, 4, 3, dilation_rate=2,
                                                                                      rngs=r)], [0, 1, 2])
    forked = J.Graph([J.Conv2D(3, 4, 5, rngs=r), J.Conv2D(3, 4, 5, rngs=r)], [0, 0], outputs=[1, 2])
    return chain, forked, J.Graph([J.Conv2D(3, 4, 5, rngs=r), J.Conv2D(3, 4, 5, rngs=r), J.Add()], [0, 0, (1, 2)])


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_receptive_field_follows_a_chain_graph(api):
    chain, forked, merged = _graphs(api)
    field = shapes.receptive_field(chain)
    assert (field.size, field.jump) == _oracle_field(GRID_KEEPING_STACK, 2)
    assert shapes.receptive_field([chain]) == field
    for graph in (forked, merged):  # two conv5 paths: 5 (the forked one once read as a chain: (9, 9))
        assert shapes.receptive_field(graph) == shapes.ReceptiveField((5, 5), (1, 1))


def _dag(api):
    """Paths of different fields meeting in an Add and a Concatenate, a nested Graph on one branch.

    31 -> conv7 (25) | crop3 (25) -> add -> [conv3/2 | Graph(pool2/2)] (12) -> concat -> conv3 (10).
    """
    if api == "linen":
        return L.Graph([L.Conv2D(2, 7), L.Cropping2D(3), L.Add(), L.Conv2D(2, 3, strides=2),
                        L.Graph([L.MaxPooling2D(2)], [0]), L.Concatenate(), L.Conv2D(1, 3)],
                       edges=[0, 0, (1, 2), 3, 3, (4, 5), 6])
    r = nnx.Rngs(0)
    return J.Graph([J.Conv2D(2, 2, 7, rngs=r), J.Cropping2D(3), J.Add(), J.Conv2D(2, 2, 3, strides=2, rngs=r),
                    J.Graph([J.MaxPooling2D(2)], [0]), J.Concatenate(), J.Conv2D(4, 1, 3, rngs=r)],
                   edges=[0, 0, (1, 2), 3, 3, (4, 5), 6])


def test_receptive_field_of_a_graph_is_the_widest_over_its_paths():
    model = _dag("linen")
    x_shape = (1, 31, 31, 2)
    variables = model.init(jax.random.key(0), jnp.ones(x_shape))
    oracle = _module_field(lambda x: model.apply(variables, x), x_shape, 2)
    field = shapes.receptive_field(model)
    assert (field.size, field.jump) == oracle == ((13, 13), (2, 2))
    assert shapes.receptive_field(_dag("nnx")) == field
    assert shapes.receptive_field([model, (3, 1)]).size == (17, 17)


def test_receptive_field_refuses_a_concatenate_along_a_spatial_axis():
    model = L.Graph([L.Conv2D(2, 3), L.Concatenate(axis=1)], edges=[0, (0, 1)])
    with pytest.raises(TypeError, match=r"Concatenate with axis=1.*along axes \(1,\)"):
        shapes.receptive_field(model)


@pytest.mark.parametrize("layer", [J.Flatten(), J.UpSampling2D(2), J.GlobalMaxPooling2D(),
                                   J.Conv2DTranspose(2, 2, (3, 3), rngs=nnx.Rngs(0))],
                         ids=["Flatten", "UpSampling2D", "GlobalMaxPooling2D", "Conv2DTranspose"])
def test_receptive_field_refuses_nnx_layers_without_a_finite_field(layer):
    rngs = nnx.Rngs(0)
    with pytest.raises(TypeError, match=rf"cannot follow {type(layer).__name__}.*takes.*nnx"):
        shapes.receptive_field(nnx.Sequential(J.Conv2D(2, 2, (3, 3), rngs=rngs), layer))


def test_receptive_field_of_a_compact_module_says_what_it_takes():
    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            return L.Conv2D(2, 3)(x)

    with pytest.raises(TypeError, match=r"M.*not known before it runs.*takes.*Sequential"):
        shapes.receptive_field(M())
    # one jaxlayers layer on its own is a stack of one
    assert shapes.receptive_field(L.Conv2D(2, (5, 3))) == shapes.ReceptiveField((5, 3), (1, 1))
    assert shapes.receptive_field(J.MaxPooling1D(4, strides=2)) == shapes.ReceptiveField((4,), (2,))
