"""jaxlayers.linen modules against Keras 3 layers built with the same arguments.

Keras (JAX backend) is the oracle: its weights are copied into the Flax params
(their shapes must equal the Flax param shapes: same layouts is part of the
contract), both run on the same random input, and outputs and shapes must agree.
Layers Keras does not have (bed-of-nails upsampling, max pooling with indices,
max unpooling) are checked against small NumPy references written here.
"""
from __future__ import annotations

import itertools
import random

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from absl.testing import parameterized

import jaxlayers.linen as jl
from jaxlayers import activations as jl_activations

ATOL = RTOL = 1e-5
LAYOUTS = {
    1: ("width",),
    2: ("height", "width"),
    3: ("depth", "height", "width"),
}
# Keras activation names for the grids (all the names jaxlayers documents).
ACTIVATIONS = [None, "relu", "sigmoid", "tanh", "softmax", "linear", *sorted(jl_activations.BY_NAME)]


# --------------------------------------------------------------------------- helpers


def _np(v) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(v))


def keras_params(layer) -> dict[str, np.ndarray]:
    """{'kernel': ..., 'bias': ...} of a built Keras layer (bias only if it has one)."""
    out = {"kernel": _np(layer.kernel)}
    if getattr(layer, "bias", None) is not None:
        out["bias"] = _np(layer.bias)
    return out


def keras_layer(cls, *args, x: np.ndarray, seed: int = 0, **kwargs):
    """A Keras layer built for `x`, with random (seeded NumPy) kernel and bias.

    Initialising with zeros and assigning NumPy values avoids compiling a JAX PRNG
    kernel for every shape (seconds each on a loaded CPU).
    """
    layer = cls(*args, kernel_initializer="zeros", bias_initializer="zeros", **kwargs)
    layer.build(x.shape)
    r = np.random.default_rng(seed)
    for v in (layer.kernel, getattr(layer, "bias", None)):
        if v is not None:
            v.assign((0.4 * r.standard_normal(v.shape)).astype(np.float32))
    return layer


def param_shapes(module: nn.Module, *args) -> dict:
    """Flax variables' shapes from `init` under `jax.eval_shape` (no PRNG compiled)."""
    return jax.eval_shape(module.init, jax.random.key(0), *args)


def flax_params_from_keras(module: nn.Module, klayer, x: np.ndarray) -> dict:
    """Check `module`'s param tree against Keras's weights; return Keras's weights as params."""
    variables = param_shapes(module, jnp.asarray(x))
    assert set(variables) == {"params"}, set(variables)
    params = variables["params"]
    kp = keras_params(klayer)
    assert set(params) == set(kp), (set(params), set(kp))
    for name, value in kp.items():
        assert tuple(params[name].shape) == value.shape, (name, params[name].shape, value.shape)
        assert params[name].dtype == value.dtype, (name, params[name].dtype, value.dtype)
    return {k: jnp.asarray(v) for k, v in kp.items()}


def keras_out(klayer, x: np.ndarray) -> np.ndarray:
    return _np(klayer(x))


def random_input(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def assert_close(got, want):
    got = np.asarray(got)
    assert got.shape == want.shape, (got.shape, want.shape)
    chex.assert_trees_all_close(got, want, atol=ATOL, rtol=RTOL)


# --------------------------------------------------------------------------- random grids

def _conv_cases(seed: int, n: int):
    r = random.Random(seed)
    cases = []
    for i in range(n):
        rank = 1 + i % 3
        ks = tuple(r.randint(1, 3) for _ in range(rank))
        kernel_size = ks[0] if r.random() < 0.35 else ks
        ks = (kernel_size,) * rank if isinstance(kernel_size, int) else kernel_size
        dilated = r.random() < 0.3
        strides = 1 if dilated else r.choice([1, 2, 3, (1, 2, 1)[:rank] if rank > 1 else 2])
        dilation = r.choice([2, 3]) if dilated else 1
        if dilated and rank > 1 and r.random() < 0.5:
            dilation = tuple(r.choice([1, 2]) for _ in range(rank))
        paddings = ["valid", "same"] + (["causal"] if rank == 1 else [])
        padding = r.choice(paddings)
        groups = r.choice([1, 1, 2])
        cin = groups * r.randint(1, 3)
        filters = groups * r.randint(1, 3)
        dil = (dilation,) * rank if isinstance(dilation, int) else dilation
        sizes = tuple(r.randint((k - 1) * d + 1, (k - 1) * d + 5) for k, d in zip(ks, dil))
        cases.append(dict(
            testcase_name=f"{i}_r{rank}_{padding}",
            rank=rank, kernel_size=kernel_size, strides=strides, padding=padding,
            dilation_rate=dilation, groups=groups, activation=r.choice(ACTIVATIONS),
            use_bias=r.random() < 0.7, shape=(2, *sizes, cin), filters=filters,
            alias=i % 2 == 0,
        ))
    return cases


def _transpose_cases(seed: int, n: int):
    r = random.Random(seed)
    cases = []
    for i in range(n):
        rank = 1 + i % 3
        ks = tuple(r.randint(1, 4) for _ in range(rank))
        kernel_size = ks[0] if r.random() < 0.35 else ks
        ks = (kernel_size,) * rank if isinstance(kernel_size, int) else kernel_size
        dilated = r.random() < 0.2
        strides = 1 if dilated else r.choice([1, 2, 3])
        dilation = 2 if dilated else 1
        padding = r.choice(["valid", "same"])
        output_padding = None
        if strides > 1 and r.random() < 0.5:
            output_padding = r.randrange(strides) if r.random() < 0.5 else tuple(
                r.randrange(strides) for _ in range(rank))
        cases.append(dict(
            testcase_name=f"{i}_r{rank}_{padding}_s{strides}_op{output_padding}",
            rank=rank, kernel_size=kernel_size, strides=strides, padding=padding,
            output_padding=output_padding, dilation_rate=dilation,
            activation=r.choice(ACTIVATIONS), use_bias=r.random() < 0.7,
            shape=(2, *(r.randint(1, 5) for _ in range(rank)), r.randint(1, 4)),
            filters=r.randint(1, 4), alias=i % 2 == 0,
        ))
    return cases


def _pool_cases(seed: int, n: int):
    r = random.Random(seed)
    cases = []
    for i in range(n):
        rank = 1 + i % 3
        pool = tuple(r.randint(1, 3) for _ in range(rank))
        pool_size = pool[0] if r.random() < 0.4 else pool
        pool = (pool_size,) * rank if isinstance(pool_size, int) else pool
        strides = r.choice([None, None, 1, 2, 3])
        padding = r.choice(["valid", "same"])
        sizes = tuple(r.randint(p, p + 5) for p in pool)
        kind = r.choice(["max", "avg"])
        cases.append(dict(
            testcase_name=f"{i}_{kind}_r{rank}_{padding}_p{pool_size}_s{strides}",
            kind=kind, rank=rank, pool_size=pool_size, strides=strides, padding=padding,
            shape=(2, *sizes, r.randint(1, 3)),
        ))
    return cases


CONV_CASES = _conv_cases(20240601, 21)
TRANSPOSE_CASES = _transpose_cases(777, 15)
POOL_CASES = _pool_cases(31337, 15)

CONV_ALIASES = {1: jl.Conv1D, 2: jl.Conv2D, 3: jl.Conv3D}
KERAS_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
TRANSPOSE_ALIASES = {1: jl.Conv1DTranspose, 2: jl.Conv2DTranspose, 3: jl.Conv3DTranspose}
KERAS_TRANSPOSE = {1: keras.layers.Conv1DTranspose, 2: keras.layers.Conv2DTranspose,
                   3: keras.layers.Conv3DTranspose}
POOL_ALIASES = {
    ("max", 1): jl.MaxPooling1D, ("max", 2): jl.MaxPooling2D, ("max", 3): jl.MaxPooling3D,
    ("avg", 1): jl.AveragePooling1D, ("avg", 2): jl.AveragePooling2D, ("avg", 3): jl.AveragePooling3D,
}
KERAS_POOL = {
    ("max", 1): keras.layers.MaxPooling1D, ("max", 2): keras.layers.MaxPooling2D,
    ("max", 3): keras.layers.MaxPooling3D, ("avg", 1): keras.layers.AveragePooling1D,
    ("avg", 2): keras.layers.AveragePooling2D, ("avg", 3): keras.layers.AveragePooling3D,
}


def _keras_kernel_arg(v, rank):
    return v if isinstance(v, int) or v is None else tuple(v)


# --------------------------------------------------------------------------- conv/pool (chex variants)


class ConvPoolAgainstKeras(chex.TestCase):
    """Conv, transposed conv and pooling modules vs Keras, eager and under jit."""

    def _compare(self, module, klayer, x, with_params=True):
        want = keras_out(klayer, x)
        if with_params:
            variables = {"params": flax_params_from_keras(module, klayer, x)}
        else:
            assert jax.tree.leaves(param_shapes(module, jnp.asarray(x))) == []
            variables = {}
        apply = self.variant(lambda v, a: module.apply(v, a))
        assert_close(apply(variables, jnp.asarray(x)), want)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*CONV_CASES)
    def test_conv(self, rank, kernel_size, strides, padding, dilation_rate, groups, activation,
                  use_bias, shape, filters, alias):
        x = random_input(np.random.default_rng(rank * 100 + sum(shape)), shape)
        kwargs = dict(strides=strides, padding=padding, dilation_rate=dilation_rate, groups=groups,
                      activation=activation, use_bias=use_bias)
        klayer = keras_layer(KERAS_CONV[rank], filters, kernel_size, x=x, **kwargs)
        cls = CONV_ALIASES[rank] if alias else jl.Conv
        self._compare(cls(filters, kernel_size, **kwargs), klayer, x)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*TRANSPOSE_CASES)
    def test_conv_transpose(self, rank, kernel_size, strides, padding, output_padding,
                            dilation_rate, activation, use_bias, shape, filters, alias):
        x = random_input(np.random.default_rng(rank * 100 + sum(shape)), shape)
        kwargs = dict(strides=strides, padding=padding, output_padding=output_padding,
                      dilation_rate=dilation_rate, activation=activation, use_bias=use_bias)
        klayer = keras_layer(KERAS_TRANSPOSE[rank], filters, kernel_size, x=x, **kwargs)
        cls = TRANSPOSE_ALIASES[rank] if alias else jl.ConvTranspose
        self._compare(cls(filters, kernel_size, **kwargs), klayer, x)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*POOL_CASES)
    def test_pooling(self, kind, rank, pool_size, strides, padding, shape):
        x = random_input(np.random.default_rng(sum(shape)), shape)
        klayer = KERAS_POOL[kind, rank](pool_size, strides, padding)
        # Positional Keras order: pool_size, strides, padding.
        self._compare(POOL_ALIASES[kind, rank](pool_size, strides, padding), klayer, x, with_params=False)
        generic = jl.MaxPooling if kind == "max" else jl.AveragePooling
        self._compare(generic(pool_size=pool_size, strides=strides, padding=padding), klayer, x,
                      with_params=False)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(rank=(1, 2, 3), kind=("max", "avg"), keepdims=(False, True))
    def test_global_pooling(self, rank, kind, keepdims):
        shape = (3, *(4 - i for i in range(rank)), 5)
        x = random_input(np.random.default_rng(rank), shape)
        kcls = getattr(keras.layers, f"Global{'Max' if kind == 'max' else 'Average'}Pooling{rank}D")
        jcls = getattr(jl, f"Global{'Max' if kind == 'max' else 'Average'}Pooling{rank}D")
        klayer = kcls(keepdims=keepdims)
        self._compare(jcls(keepdims=keepdims), klayer, x, with_params=False)
        want_shape = (3, *(1,) * rank, 5) if keepdims else (3, 5)
        assert keras_out(klayer, x).shape == want_shape

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.product(rank=(1, 2, 3), size=(1, 3, "tuple"))
    def test_upsampling_nearest(self, rank, size):
        if size == "tuple":
            size = (2, 1, 3)[:rank] if rank > 1 else 3
        shape = (2, *(3 + i for i in range(rank)), 2)
        x = random_input(np.random.default_rng(rank), shape)
        klayer = getattr(keras.layers, f"UpSampling{rank}D")(size)
        self._compare(getattr(jl, f"UpSampling{rank}D")(size), klayer, x, with_params=False)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(dict(size=2), dict(size=(2, 3)), dict(size=(3, 1)))
    def test_upsampling_bilinear(self, size):
        x = random_input(np.random.default_rng(5), (2, 4, 5, 3))
        klayer = keras.layers.UpSampling2D(size, interpolation="bilinear")
        self._compare(jl.UpSampling2D(size, interpolation="bilinear"), klayer, x, with_params=False)


# --------------------------------------------------------------------------- Dense


def _scaled_tanh(v):
    return 2.0 * jnp.tanh(v)


@pytest.mark.parametrize("activation,use_bias,shape", [
    (act, i % 3 != 2, [(4, 7), (2, 3, 5), (2, 2, 3, 6)][i % 3])
    for i, act in enumerate([*ACTIVATIONS, _scaled_tanh])
])
def test_dense(activation, use_bias, shape, rng):
    x = random_input(rng, shape)
    klayer = keras_layer(keras.layers.Dense, 6, x=x, activation=activation, use_bias=use_bias)
    want = keras_out(klayer, x)
    module = jl.Dense(6, activation=activation, use_bias=use_bias)
    params = flax_params_from_keras(module, klayer, x)
    assert_close(module.apply({"params": params}, x), want)
    assert want.shape == (*shape[:-1], 3 if activation == "glu" else 6)  # glu halves its axis


# --------------------------------------------------------------------------- reshaping layers


def _nothing_to_copy(module, klayer, x):
    want = keras_out(klayer, x)
    assert jax.tree.leaves(param_shapes(module, jnp.asarray(x))) == []
    assert_close(module.apply({}, jnp.asarray(x)), want)


@pytest.mark.parametrize("shape", [(3,), (3, 4), (3, 4, 5), (2, 3, 4, 5), (2, 2, 3, 4, 5)])
def test_flatten(shape, rng):
    x = random_input(rng, shape)
    _nothing_to_copy(jl.Flatten(), keras.layers.Flatten(), x)


PAD_FORMS = {
    1: [None, 0, 2, (1, 3), (0, 2)],
    2: [None, 1, (2, 0), ((1, 2), (0, 3))],
    3: [None, 1, (1, 0, 2), ((1, 0), (0, 2), (2, 1))],
}


@pytest.mark.parametrize("rank,padding", [(r, p) for r, ps in PAD_FORMS.items() for p in ps])
def test_zero_padding(rank, padding, rng):
    x = random_input(rng, (2, *(3 + i for i in range(rank)), 2))
    kcls = getattr(keras.layers, f"ZeroPadding{rank}D")
    jcls = getattr(jl, f"ZeroPadding{rank}D")
    if padding is None:  # Keras defaults
        _nothing_to_copy(jcls(), kcls(), x)
        _nothing_to_copy(jl.ZeroPadding() if rank == 1 else jcls(), kcls(), x)
    else:
        _nothing_to_copy(jcls(padding), kcls(padding), x)
        _nothing_to_copy(jl.ZeroPadding(padding), kcls(padding), x)


CROP_FORMS = {
    1: [None, 0, 1, (2, 0), (1, 3)],
    2: [None, 1, (2, 0), ((1, 2), (0, 3))],
    3: [None, 1, (1, 0, 2), ((1, 0), (0, 2), (2, 1))],
}


@pytest.mark.parametrize("rank,cropping", [(r, p) for r, ps in CROP_FORMS.items() for p in ps])
def test_cropping(rank, cropping, rng):
    x = random_input(rng, (2, *(6 + i for i in range(rank)), 2))
    kcls = getattr(keras.layers, f"Cropping{rank}D")
    jcls = getattr(jl, f"Cropping{rank}D")
    if cropping is None:  # Keras defaults
        _nothing_to_copy(jcls(), kcls(), x)
    else:
        _nothing_to_copy(jcls(cropping), kcls(cropping), x)
        _nothing_to_copy(jl.Cropping(cropping), kcls(cropping), x)


def test_generic_upsampling_matches_keras(rng):
    for rank in (1, 2, 3):
        x = random_input(rng, (1, *(2,) * rank, 3))
        _nothing_to_copy(jl.UpSampling(2), getattr(keras.layers, f"UpSampling{rank}D")(2), x)


# --------------------------------------------------------------------------- layers Keras lacks


def _bed_of_nails_reference(x: np.ndarray, size) -> np.ndarray:
    rank = x.ndim - 2
    size = (size,) * rank if isinstance(size, int) else tuple(size)
    out = np.zeros((x.shape[0], *(n * s for n, s in zip(x.shape[1:-1], size)), x.shape[-1]), x.dtype)
    out[(slice(None), *(slice(None, None, s) for s in size))] = x
    return out


@pytest.mark.parametrize("rank,size", [(1, 2), (1, 3), (2, 2), (2, (3, 1)), (3, 2), (3, (1, 2, 3))])
def test_upsampling_bed_of_nails(rank, size, rng):
    x = random_input(rng, (2, *(2 + i for i in range(rank)), 3))
    want = _bed_of_nails_reference(x, size)
    for module in (getattr(jl, f"UpSampling{rank}D")(size, interpolation="bed_of_nails"),
                   jl.UpSampling(size, interpolation="bed_of_nails")):
        assert_close(module.apply({}, x), want)
    # Nearest upsampling of x is bed-of-nails plus the copies: both agree on the nails.
    nearest = getattr(keras.layers, f"UpSampling{rank}D")(size)(x)
    np.testing.assert_array_equal(_np(nearest)[want != 0], want[want != 0])


def _windows_reference(x, pool, strides, padding):
    """All (batch, channel, out position) windows as lists of flat spatial indices (NumPy)."""
    rank = x.ndim - 2
    sizes = x.shape[1:-1]
    per_axis = []
    for n, k, s in zip(sizes, pool, strides):
        if padding == "valid":
            out, lo = (n - k) // s + 1, 0
        else:
            out = -(-n // s)
            lo = max((out - 1) * s + k - n, 0) // 2
        per_axis.append([[j for j in range(o * s - lo, o * s - lo + k) if 0 <= j < n] for o in range(out)])
    return per_axis


@pytest.mark.parametrize("rank,pool,strides,padding", [
    (1, 3, 2, "same"), (2, 2, None, "valid"), (2, 2, None, "same"), (2, (2, 3), (1, 2), "same"),
    (3, 2, 1, "same"),
])
def test_max_pooling_with_indices_and_unpooling(rank, pool, strides, padding, rng):
    shape = (2, *(5 - i for i in range(rank)), 3)
    # Small integers: plenty of ties, which must go to the first (row-major) maximum.
    x = rng.integers(0, 3, shape).astype(np.float32)
    pool_t = (pool,) * rank if isinstance(pool, int) else pool
    strides_t = pool_t if strides is None else ((strides,) * rank if isinstance(strides, int) else strides)
    keras_y = _np(getattr(keras.layers, f"MaxPooling{rank}D")(pool, strides, padding)(x))
    y, idx = jl.MaxPoolingWithIndices(pool, strides, padding).apply({}, x)
    assert_close(y, keras_y)
    idx = np.asarray(idx)
    assert idx.shape == keras_y.shape and idx.dtype == np.int32
    # Independent reference of indices: the first maximum, row-major, within each window.
    windows = _windows_reference(x, pool_t, strides_t, padding)
    spatial = x.shape[1:-1]
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    want_idx = np.zeros_like(idx)
    for out_pos in itertools.product(*(range(len(w)) for w in windows)):
        cells = [np.ravel_multi_index(c, spatial)
                 for c in itertools.product(*(windows[a][o] for a, o in enumerate(out_pos)))]
        cells.sort()
        vals = flat[:, cells, :]  # (batch, cells, channels)
        want_idx[(slice(None), *out_pos, slice(None))] = np.asarray(cells)[np.argmax(vals, axis=1)]
    np.testing.assert_array_equal(idx, want_idx)
    # Unpooling: zeros with y written back at the indices (NumPy scatter).
    out = jl.MaxUnpooling().apply({}, y, idx, x.shape)
    want = np.zeros_like(flat)
    b = np.arange(x.shape[0])[:, None, None]
    c = np.arange(x.shape[-1])[None, None, :]
    want[b, idx.reshape(x.shape[0], -1, x.shape[-1]), c] = np.asarray(y).reshape(x.shape[0], -1, x.shape[-1])
    assert_close(out, want.reshape(x.shape))


def test_unpool_after_pool_is_keras_maxpool_gradient_mask(rng):
    """Unpooling ones at the indices == where the gradient of Keras's max pool goes (no ties)."""
    x = random_input(rng, (2, 6, 6, 3))
    y, idx = jl.MaxPoolingWithIndices(2).apply({}, x)
    mask = jax.grad(lambda a: keras.ops.sum(keras.ops.max_pool(a, 2, 2, "valid")))(jnp.asarray(x))
    ones = jl.MaxUnpooling().apply({}, jnp.ones_like(y), idx, x.shape)
    np.testing.assert_array_equal(np.asarray(ones), np.asarray(mask))


# --------------------------------------------------------------------------- rank checks


def _all_aliases():
    rows = []
    for rank in (1, 2, 3):
        rows += [
            (f"Conv{rank}D", lambda r=rank: getattr(jl, f"Conv{r}D")(2, 1)),
            (f"Conv{rank}DTranspose", lambda r=rank: getattr(jl, f"Conv{r}DTranspose")(2, 1)),
            (f"MaxPooling{rank}D", lambda r=rank: getattr(jl, f"MaxPooling{r}D")(1)),
            (f"AveragePooling{rank}D", lambda r=rank: getattr(jl, f"AveragePooling{r}D")(1)),
            (f"GlobalMaxPooling{rank}D", lambda r=rank: getattr(jl, f"GlobalMaxPooling{r}D")()),
            (f"GlobalAveragePooling{rank}D", lambda r=rank: getattr(jl, f"GlobalAveragePooling{r}D")()),
            (f"UpSampling{rank}D", lambda r=rank: getattr(jl, f"UpSampling{r}D")(1)),
            (f"ZeroPadding{rank}D", lambda r=rank: getattr(jl, f"ZeroPadding{r}D")(0)),
            (f"Cropping{rank}D", lambda r=rank: getattr(jl, f"Cropping{r}D")(0)),
        ]
    return rows


def _alias_rank(name):
    return int(name.split("D")[0][-1])


_WRONG_RANK_CASES = [(name, make, nd) for name, make in _all_aliases() for nd in (3, 4, 5, 6)
                     if nd != _alias_rank(name) + 2]


@pytest.mark.parametrize("name,make,wrong_ndim", _WRONG_RANK_CASES,
                         ids=[f"{n}-{nd}d" for n, _, nd in _WRONG_RANK_CASES])
def test_alias_rejects_wrong_rank(name, make, wrong_ndim):
    rank = _alias_rank(name)
    module = make()
    x = jnp.ones((2,) * (wrong_ndim - 1) + (2,))
    with pytest.raises(ValueError) as info:
        param_shapes(module, x)
    msg = str(info.value)
    assert name in msg, msg
    assert str(tuple(x.shape)) in msg, msg
    for axis in LAYOUTS[rank]:
        assert axis in msg, msg
    assert "channels" in msg and "batch" in msg, msg
    # The right rank works.
    ok = jnp.ones((2,) * (rank + 1) + (2,))
    param_shapes(module, ok)


def test_generic_pooling_needs_a_spatial_axis():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        param_shapes(jl.MaxPooling(), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        param_shapes(jl.MaxPoolingWithIndices(), jnp.ones((2, 3)))


# --------------------------------------------------------------------------- generic Conv rank


@pytest.mark.parametrize("kernel_size,x_shape,rank", [
    ((3,), (2, 7, 3), 1), ((3, 3), (2, 7, 7, 3), 2), ((3, 2, 1), (2, 5, 6, 7, 3), 3),
    (3, (2, 7, 3), 1), (3, (2, 7, 7, 3), 2), (3, (2, 5, 6, 7, 3), 3),
])
def test_generic_conv_rank(kernel_size, x_shape, rank):
    for cls in (jl.Conv, jl.ConvTranspose):
        params = param_shapes(cls(4, kernel_size), jnp.ones(x_shape))["params"]
        ks = (kernel_size,) * rank if isinstance(kernel_size, int) else kernel_size
        assert params["kernel"].ndim == rank + 2
        assert tuple(params["kernel"].shape[:-2]) == ks


@pytest.mark.parametrize("cls", [jl.Conv, jl.ConvTranspose])
def test_generic_conv_kernel_tuple_rank_mismatch(cls):
    # kernel_size of length 2 fixes rank 2: a 3-D input (rank 1) is refused with a ValueError.
    with pytest.raises(ValueError, match=r"\(2, 7, 3\)"):
        param_shapes(cls(4, (3, 3)), jnp.ones((2, 7, 3)))


# --------------------------------------------------------------------------- param trees


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("make,x_shape,kernel_shape", [
    (lambda b: jl.Dense(5, use_bias=b), (2, 3), (3, 5)),
    (lambda b: jl.Conv1D(5, 3, use_bias=b), (2, 8, 4), (3, 4, 5)),
    (lambda b: jl.Conv2D(6, (3, 2), groups=2, use_bias=b), (2, 8, 8, 4), (3, 2, 2, 6)),
    (lambda b: jl.Conv3D(5, 2, use_bias=b), (2, 4, 4, 4, 3), (2, 2, 2, 3, 5)),
    (lambda b: jl.Conv(5, (2, 2), use_bias=b), (2, 4, 4, 3), (2, 2, 3, 5)),
    (lambda b: jl.Conv1DTranspose(5, 3, use_bias=b), (2, 8, 4), (3, 5, 4)),
    (lambda b: jl.Conv2DTranspose(5, (3, 2), use_bias=b), (2, 8, 8, 4), (3, 2, 5, 4)),
    (lambda b: jl.Conv3DTranspose(5, 2, use_bias=b), (2, 4, 4, 4, 3), (2, 2, 2, 5, 3)),
    (lambda b: jl.ConvTranspose(5, 2, use_bias=b), (2, 4, 4, 3), (2, 2, 5, 3)),
])
def test_param_tree(make, x_shape, kernel_shape, use_bias):
    variables = param_shapes(make(use_bias), jnp.ones(x_shape))
    assert set(variables) == {"params"}
    params = variables["params"]
    assert set(params) == ({"kernel", "bias"} if use_bias else {"kernel"})
    assert params["kernel"].shape == kernel_shape
    if use_bias:
        filters = kernel_shape[-2] if "Transpose" in type(make(True)).__name__ else kernel_shape[-1]
        assert params["bias"].shape == (filters,)


def test_keras_defaults_positional():
    m = jl.Conv2D(16, 3)
    assert (m.strides, m.padding, m.dilation_rate, m.groups, m.activation, m.use_bias) == (
        1, "valid", 1, 1, None, True)
    assert (m.kernel_initializer, m.bias_initializer) == ("glorot_uniform", "zeros")
    m = jl.Conv2D(16, 3, 2, "same")  # Keras positional order: filters, kernel_size, strides, padding
    assert (m.strides, m.padding) == (2, "same")
    t = jl.Conv2DTranspose(4, 3)
    assert t.output_padding is None
    p = jl.MaxPooling2D(3)
    assert (p.pool_size, p.strides, p.padding) == (3, None, "valid")
    assert jl.UpSampling2D().interpolation == "nearest"
    assert jl.GlobalMaxPooling2D().keepdims is False


def test_custom_initializers_and_callable_activation(rng):
    x = random_input(rng, (2, 6, 6, 3))
    m = jl.Conv2D(4, 3, kernel_initializer="ones", bias_initializer="ones", activation=lambda v: 2 * v)
    variables = m.init(jax.random.key(0), x)
    np.testing.assert_array_equal(variables["params"]["kernel"], 1)
    np.testing.assert_array_equal(variables["params"]["bias"], 1)
    klayer = keras.layers.Conv2D(4, 3, kernel_initializer="ones", bias_initializer="ones",
                                 activation=lambda v: 2 * v)
    assert_close(m.apply(variables, x), keras_out(klayer, x))


# --------------------------------------------------------------------------- Sequential, jit, grad


def _sequential_pair(x, avg_pool_args):
    """The same stack as a Keras model (random NumPy weights) and a flax Sequential."""
    klayers = [
        keras_layer(keras.layers.Conv2D, 4, 3, x=x, seed=1, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras_layer(keras.layers.Conv2DTranspose, 3, 3, x=np.zeros((1, 6, 6, 4), np.float32), seed=2,
                    strides=2, padding="same", activation="tanh"),
        keras.layers.AveragePooling2D(*avg_pool_args),
        keras.layers.UpSampling2D(2),
        keras.layers.ZeroPadding2D(1),
        keras.layers.Cropping2D(((1, 2), (0, 1))),
        keras.layers.GlobalAveragePooling2D(),
        keras_layer(keras.layers.Dense, 5, x=np.zeros((1, 3), np.float32), seed=3, activation="softmax"),
    ]
    kmodel = keras.Sequential([keras.Input(x.shape[1:]), *klayers])
    model = nn.Sequential([
        jl.Conv2D(4, 3, padding="same", activation="relu"),
        jl.MaxPooling2D(2),
        jl.Conv2DTranspose(3, 3, strides=2, padding="same", activation="tanh"),
        jl.AveragePooling2D(*avg_pool_args),
        jl.UpSampling2D(2),
        jl.ZeroPadding2D(1),
        jl.Cropping2D(((1, 2), (0, 1))),
        jl.GlobalAveragePooling2D(),
        jl.Dense(5, activation="softmax"),
    ])
    shapes = param_shapes(model, x)["params"]
    with_weights = {"layers_0": klayers[0], "layers_2": klayers[2], "layers_8": klayers[8]}
    assert set(shapes) == set(with_weights)
    params = {}
    for name, kl in with_weights.items():
        kp = keras_params(kl)
        assert {k: v.shape for k, v in kp.items()} == {k: v.shape for k, v in shapes[name].items()}
        params[name] = {k: jnp.asarray(v) for k, v in kp.items()}
    return kmodel, model, params, with_weights


@pytest.mark.parametrize("avg_pool_args", [
    (2,),  # non-overlapping windows
    (3, 1, "same"),  # overlapping windows (lax.reduce_window path)
], ids=["avgpool_2", "avgpool_3_1_same"])
def test_sequential_jit_grad_against_keras(avg_pool_args, rng):
    x = random_input(rng, (2, 12, 12, 3))
    kmodel, model, params, with_weights = _sequential_pair(x, avg_pool_args)
    want = _np(kmodel(x))
    assert_close(jax.jit(model.apply)({"params": params}, x), want)

    # Gradients of a loss w.r.t. the parameters agree with Keras's (JAX backend) gradients.
    weights = jnp.arange(1.0, 6.0)

    def loss(p):
        return jnp.sum(model.apply({"params": p}, x) * weights)

    grads = jax.jit(jax.grad(loss))(params)
    trainable = kmodel.trainable_variables
    non_trainable = [v.value for v in kmodel.non_trainable_variables]

    def kloss(tv):
        y, _ = kmodel.stateless_call(tv, non_trainable, jnp.asarray(x))
        return jnp.sum(y * weights)

    kgrads = jax.grad(kloss)([v.value for v in trainable])
    by_path = {v.path: g for v, g in zip(trainable, kgrads)}
    for name, kl in with_weights.items():
        chex.assert_trees_all_close(grads[name]["kernel"], by_path[kl.kernel.path], atol=1e-6, rtol=1e-4)
        chex.assert_trees_all_close(grads[name]["bias"], by_path[kl.bias.path], atol=1e-6, rtol=1e-4)
    assert all(np.abs(np.asarray(g)).sum() > 0 for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("jit", [False, True])
def test_overlapping_average_pooling_is_differentiable(jit, rng):
    """grad of AveragePooling with strides != pool_size, eager and under jit, vs Keras."""
    x = jnp.asarray(random_input(rng, (1, 6, 6, 2)))
    weights = jnp.asarray(random_input(rng, (1, 6, 6, 2)))
    module = jl.AveragePooling2D(3, strides=1, padding="same")

    def f(a):
        return jnp.sum(module.apply({}, a) * weights)

    grad = jax.jit(jax.grad(f)) if jit else jax.grad(f)
    want = jax.grad(lambda a: jnp.sum(keras.ops.average_pool(a, 3, 1, "same") * weights))(x)
    assert_close(grad(x), np.asarray(want))


def test_compact_module_of_1d_and_3d_layers_under_jit(rng):
    class Net(nn.Module):
        @nn.compact
        def __call__(self, a, b):
            a = jl.Conv1D(4, 3, padding="causal", activation="relu")(a)
            a = jl.MaxPooling1D(2)(a)
            a = jl.GlobalMaxPooling1D()(a)
            b = jl.Conv3D(4, 2, activation="elu")(b)
            b = jl.UpSampling3D(2)(b)
            b = jl.GlobalAveragePooling3D()(b)
            return jl.Dense(3)(a + b)

    a = random_input(rng, (2, 9, 2))
    b = random_input(rng, (2, 3, 4, 5, 2))
    net = Net()
    shapes = param_shapes(net, a, b)
    assert set(shapes["params"]) == {"Conv1D_0", "Conv3D_0", "Dense_0"}
    variables = jax.tree.map(lambda s: jnp.asarray(random_input(rng, s.shape)), shapes)
    eager = net.apply(variables, a, b)
    jitted = jax.jit(net.apply)(variables, a, b)
    assert eager.shape == (2, 3)
    chex.assert_trees_all_close(eager, jitted, atol=1e-5, rtol=1e-5)
    # Against the same stack in Keras, weights copied.
    zeros = dict(kernel_initializer="zeros", bias_initializer="zeros")
    k1 = keras.layers.Conv1D(4, 3, padding="causal", activation="relu", **zeros)
    k3 = keras.layers.Conv3D(4, 2, activation="elu", **zeros)
    kd = keras.layers.Dense(3, **zeros)
    for kl, name, inp in ((k1, "Conv1D_0", a), (k3, "Conv3D_0", b), (kd, "Dense_0", np.zeros((1, 4), np.float32))):
        kl.build(inp.shape)
        kl.set_weights([np.asarray(variables["params"][name]["kernel"]),
                        np.asarray(variables["params"][name]["bias"])])
    ka = keras.layers.GlobalMaxPooling1D()(keras.layers.MaxPooling1D(2)(k1(a)))
    kb = keras.layers.GlobalAveragePooling3D()(keras.layers.UpSampling3D(2)(k3(b)))
    assert_close(jitted, _np(kd(ka + kb)))
    g = jax.jit(jax.grad(lambda v: jnp.sum(net.apply(v, a, b) ** 2)))(variables)
    chex.assert_tree_all_finite(g)
    chex.assert_trees_all_equal_shapes(g, variables)
