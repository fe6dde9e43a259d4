"""GroupNormalization, RMSNormalization, UnitNormalization and SpectralNormalization against Keras 3.

Oracle: Keras's own layers with the same weights on the same batch: outputs, gradients
w.r.t. the inputs and the weights (through `stateless_call`), SpectralNormalization's
updated `vector_u`, from_keras/to_keras round trips of small models (compared with
`model.predict`) and the parameter counts.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
from jaxlayers import functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as J
from jaxlayers.keras import from_keras, to_keras

KL = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)


def _batch(rng, shape) -> np.ndarray:
    """Off-centre, scaled inputs, so that the statistics matter."""
    return (3 * rng.standard_normal(shape) + 2).astype(np.float32)


def _keras(layer, shape, rng):
    """`layer` built for `shape`, its weights random normal (ones-centred for scales)."""
    layer.build(shape)
    layer.set_weights([(1 + 0.5 * rng.standard_normal(w.shape)).astype(np.float32) for w in layer.weights])
    return layer


def _by_name(layer) -> dict[str, np.ndarray]:
    return {w.name: np.asarray(w) for w in layer.weights}


def _check_against_keras(layer, module, shape, rng, nnx_layer=None):
    """Forward and gradients (inputs, weights) of a linen module equal the Keras layer's on its weights.

    Both sides run jitted (one compile each, not one per eager op).
    """
    x, w = jnp.asarray(_batch(rng, shape)), jnp.asarray(rng.standard_normal(shape).astype(np.float32))
    params = {n: jnp.asarray(v) for n, v in _by_name(layer).items()}
    trainable = [v.value for v in layer.trainable_variables]

    def keras_loss(trainable, x):
        y, _ = layer.stateless_call(trainable, [], x)
        return jnp.sum(y * w), y

    def loss(params, x):
        y = module.apply({"params": params}, x)
        return jnp.sum(y * w), y

    grad = jax.grad(keras_loss, argnums=(0, 1), has_aux=True)
    (want_params, want_x), want = jax.jit(grad)(trainable, x)
    (got_params, got_x), got = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(params, x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), **TOL)
    np.testing.assert_allclose(np.asarray(got_x), np.asarray(want_x), rtol=1e-4, atol=1e-4)
    for v, want_g in zip(layer.trainable_variables, want_params):
        np.testing.assert_allclose(np.asarray(got_params[v.name]), np.asarray(want_g), rtol=1e-4, atol=1e-4)
    assert jaxlayers.count_params(params) == layer.count_params()
    if nnx_layer is not None:
        nnx_layer = nnx_layer()
        nnx.update(nnx_layer, nnx.State(params))
        np.testing.assert_allclose(np.asarray(nnx.jit(lambda m, x: m(x))(nnx_layer, x)), np.asarray(want), **TOL)
        assert jaxlayers.count_params(nnx_layer) == layer.count_params()


GROUP_CASES = [
    ((2, 5, 6), dict(groups=3)),
    ((2, 4, 3, 8), dict(groups=2, epsilon=0.1, center=False)),
    ((2, 6, 4, 3), dict(groups=-1, axis=1, scale=False)),
    ((3, 2, 3, 2, 4), dict(groups=2, axis=-2)),
]


@pytest.mark.parametrize("shape, kwargs", GROUP_CASES, ids=[str(k) for _, k in GROUP_CASES])
def test_group_normalization_matches_keras(shape, kwargs, rng):
    layer = _keras(KL.GroupNormalization(**kwargs), shape, rng)
    channels = shape[kwargs.get("axis", -1)]
    _check_against_keras(layer, L.GroupNormalization(**kwargs), shape, rng,
                         lambda: nnx.eval_shape(lambda: J.GroupNormalization(channels, **kwargs, rngs=nnx.Rngs(0))))


RMS_CASES = [((2, 4, 6), dict(epsilon=0.5)), ((2, 3, 4, 5), dict(axis=(-2, -1))), ((2, 3, 4, 5), dict(axis=[3, 1, 2]))]


@pytest.mark.parametrize("shape, kwargs", RMS_CASES, ids=[str(k) for _, k in RMS_CASES])
def test_rms_normalization_matches_keras(shape, kwargs, rng):
    layer = _keras(KL.RMSNormalization(**kwargs), shape, rng)
    axis = kwargs.get("axis", -1)
    sizes = shape[axis] if isinstance(axis, int) else tuple(shape[a] for a in sorted(a % len(shape) for a in axis))
    _check_against_keras(layer, L.RMSNormalization(**kwargs), shape, rng,
                         lambda: nnx.eval_shape(lambda: J.RMSNormalization(sizes, **kwargs, rngs=nnx.Rngs(0))))


def test_rms_normalization_is_keras_ops_rms_normalization(rng):
    x, scale = _batch(rng, (4, 6)), rng.standard_normal(6).astype(np.float32)
    np.testing.assert_allclose(np.asarray(F.rms_norm(jnp.asarray(x), jnp.asarray(scale), epsilon=1e-3)),
                               np.asarray(keras.ops.rms_normalization(x, scale, epsilon=1e-3)), **TOL)
    y = np.asarray(F.rms_norm(jnp.asarray(x)))  # the definition itself: unit root mean square
    np.testing.assert_allclose(np.sqrt(np.mean(y ** 2, -1)), 1.0, rtol=1e-5)


@pytest.mark.parametrize("shape, axis", [((3, 7), -1), ((2, 4, 5), 1), ((2, 3, 4, 5), (1, 2)), ((2, 3, 4), [0, -1])])
def test_unit_normalization_matches_keras(shape, axis, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    x[:, 0] = 0.0  # zeros stay zeros, as Keras's
    w = jnp.asarray(rng.standard_normal(shape), jnp.float32)

    def run(layer):
        return jax.jit(jax.value_and_grad(lambda x: jnp.sum(layer(x) * w), has_aux=False))(jnp.asarray(x))

    module = L.UnitNormalization(axis)
    (got, got_g), (want, want_g) = run(lambda x: module.apply({}, x)), run(KL.UnitNormalization(axis))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), **TOL)
    np.testing.assert_allclose(np.asarray(got_g), np.asarray(want_g), rtol=1e-4, atol=1e-4)
    y = np.asarray(J.UnitNormalization(axis)(jnp.asarray(x)))
    np.testing.assert_allclose(y, np.asarray(KL.UnitNormalization(axis)(x)), **TOL)
    if axis == -1:  # the definition itself: unit rows, zero rows kept
        np.testing.assert_allclose(np.linalg.norm(y[:, 1:], axis=-1), 1.0, rtol=1e-5)
        assert not y[:, 0].any()


def _round_trip(model, shape, rng, api="linen"):
    """from_keras equals model.predict; to_keras back equals it too, with the same weights and count."""
    x = _batch(rng, shape)
    want = model.predict(x, verbose=0)
    if api == "nnx":
        module = from_keras(model, api="nnx")
        np.testing.assert_allclose(np.asarray(module(jnp.asarray(x))), want, **TOL)
        back = to_keras(module, None, (None, *shape[1:]))
    else:
        module, variables = from_keras(model)
        np.testing.assert_allclose(np.asarray(module.apply(variables, x)), want, **TOL)
        assert jaxlayers.count_params(variables) == model.count_params()
        back = to_keras(module, variables, (None, *shape[1:]))
    np.testing.assert_allclose(back.predict(x, verbose=0), want, **TOL)
    assert [type(a).__name__ for a in back.layers] == [type(a).__name__ for a in model.layers]
    assert [a.get_config().get("axis") for a in back.layers] == [a.get_config().get("axis") for a in model.layers]
    assert back.count_params() == model.count_params()
    return module


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_keras_model_round_trip(api, rng):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((5, 4, 6)), KL.GroupNormalization(3, epsilon=0.01),
                              KL.Conv2D(4, 2, kernel_initializer="zeros"), KL.RMSNormalization(axis=[-2, -1]),
                              KL.GroupNormalization(-1, axis=1, center=False), KL.UnitNormalization(axis=(1, 3)),
                              KL.RMSNormalization(epsilon=0.1)])
    model.set_weights([(1 + 0.5 * rng.standard_normal(w.shape)).astype(np.float32) for w in model.weights])
    _round_trip(model, (2, 5, 4, 6), rng, api)


@pytest.mark.parametrize("make, error, match", [
    (lambda: L.GroupNormalization(4).init(jax.random.key(0), jnp.zeros((2, 3, 6))), ValueError,
     "`groups` must divide the number of channels: got groups=4 for 6"),
    (lambda: J.GroupNormalization(6, 12, rngs=nnx.Rngs(0)), ValueError, "groups=12 for 6 channels"),
    (lambda: J.GroupNormalization(6, 0, rngs=nnx.Rngs(0)), ValueError, "positive int or -1.*got 0"),
    (lambda: J.GroupNormalization(6, 2.0, rngs=nnx.Rngs(0)), TypeError, "`groups` must be an int"),
    (lambda: J.GroupNormalization(6, 2, axis=(1, 2), rngs=nnx.Rngs(0)), TypeError, "`axis` must be an int"),
    (lambda: L.GroupNormalization(2, axis=0).init(jax.random.key(0), jnp.zeros((2, 3, 6))), ValueError,
     "batch axis"),
    (lambda: J.GroupNormalization(6, 2, epsilon=0.0, rngs=nnx.Rngs(0)), ValueError, "`epsilon`"),
    (lambda: J.GroupNormalization(6, 2, center=1, rngs=nnx.Rngs(0)), TypeError, "center"),
    (lambda: J.RMSNormalization(6, axis="last", rngs=nnx.Rngs(0)), TypeError, "`axis` must be an int or"),
    (lambda: J.RMSNormalization((3, 6), axis=-1, rngs=nnx.Rngs(0)), ValueError, "one size per axis"),
    (lambda: J.RMSNormalization(6, epsilon=-1.0, rngs=nnx.Rngs(0)), ValueError, "`epsilon`"),
    (lambda: L.RMSNormalization(axis=3).init(jax.random.key(0), jnp.zeros((2, 3, 6))), ValueError,
     r"`axis` must be in \[-3, 3\)"),
    (lambda: J.UnitNormalization(axis=None), TypeError, "`axis` must be an int or"),
    (lambda: J.UnitNormalization(axis=(1, 1))(jnp.zeros((2, 3, 6))), ValueError, "`axis` repeats"),
    (lambda: F.group_norm(jnp.zeros((2, 6)), jnp.ones(5), groups=2), ValueError, r"`gamma` must have shape \(6,\)"),
    (lambda: F.rms_norm(jnp.zeros((2, 6)), jnp.ones(5)), ValueError, r"`scale` must have shape \(6,\)"),
])
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_half_precision_inputs_use_float32_statistics(rng):
    x = _batch(rng, (4, 64)) * 100 + 1000  # float16's sum of squares would overflow
    for fn in (lambda x: F.group_norm(x, groups=4), F.rms_norm):
        y = fn(jnp.asarray(x, jnp.float16))
        assert y.dtype == jnp.float16 and bool(jnp.isfinite(y).all())
        np.testing.assert_allclose(np.asarray(y, np.float32), np.asarray(fn(jnp.asarray(x))), atol=2e-2)


# ------------------------------------------------------------------ SpectralNormalization

SN_CASES = [
    (lambda: KL.Dense(4, activation="tanh"), L.Dense(4, activation="tanh"), (3, 6), 1),
    (lambda: KL.Dense(5, use_bias=False), L.Dense(5, use_bias=False), (2, 3, 4), 3),
    (lambda: KL.Conv2D(4, (2, 3), strides=2), L.Conv2D(4, (2, 3), strides=2), (2, 6, 7, 3), 2),
    (lambda: KL.Conv3D(2, 2), L.Conv3D(2, 2), (1, 3, 4, 3, 2), 1),
]
SN_IDS = [type(c[1]).__name__ + f"-{c[3]}" for c in SN_CASES]


def _keras_sn(make, shape, rng, power_iterations):
    layer = KL.SpectralNormalization(make(), power_iterations=power_iterations)
    layer.build(shape)
    layer.set_weights([(0.02 if w.name == "vector_u" else 1.0) * rng.standard_normal(w.shape).astype(np.float32)
                       for w in layer.weights])
    return layer


@pytest.mark.parametrize("make, inner, shape, power_iterations", SN_CASES, ids=SN_IDS)
def test_spectral_normalization_training_step_matches_keras(make, inner, shape, power_iterations, rng):
    layer = _keras_sn(make, shape, rng, power_iterations)
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    start = _by_name(layer)
    params = {n: jnp.asarray(v) for n, v in start.items() if n != "vector_u"}
    stats = {"vector_u": jnp.asarray(start["vector_u"])}
    module = L.SpectralNormalization(inner, power_iterations)
    out_shape = layer.compute_output_shape(shape)
    w = jnp.asarray(rng.standard_normal(out_shape), jnp.float32)
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def keras_loss(trainable, x):
        y, new = layer.stateless_call(trainable, non_trainable, x, training=True)
        return jnp.sum(y * w), (y, new)

    def loss(params, x):
        y, updates = module.apply({"params": params, "batch_stats": stats}, x, deterministic=False,
                                  mutable=["batch_stats"])
        return jnp.sum(y * w), (y, updates["batch_stats"]["vector_u"])

    (want_params, want_x), (want, (want_u,)) = jax.jit(jax.grad(keras_loss, (0, 1), has_aux=True))(trainable, x)
    (got_params, got_x), (got, got_u) = jax.jit(jax.grad(loss, (0, 1), has_aux=True))(params, x)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), **TOL)
    np.testing.assert_allclose(np.asarray(got_u), np.asarray(want_u), **TOL)
    np.testing.assert_allclose(np.asarray(got_x), np.asarray(want_x), rtol=1e-4, atol=1e-4)
    for v, want_g in zip(layer.trainable_variables, want_params):
        np.testing.assert_allclose(np.asarray(got_params[v.name]), np.asarray(want_g), rtol=1e-4, atol=1e-4)
    # inference: the wrapped layer on the kernel as stored, as Keras's
    np.testing.assert_allclose(np.asarray(module.apply({"params": params, "batch_stats": stats}, x)),
                               np.asarray(layer(x)), **TOL)
    assert jaxlayers.count_params({"params": params, "batch_stats": stats}) == layer.count_params()


def test_spectral_normalization_estimates_the_largest_singular_value(rng):
    kernel = jnp.asarray(rng.standard_normal((3, 3, 4, 6)), jnp.float32)
    u = jnp.asarray(0.02 * rng.standard_normal((1, 6)), jnp.float32)
    u, normalized = F.spectral_normalize(kernel, u, 30)
    sigma = np.linalg.svd(np.asarray(kernel).reshape(-1, 6), compute_uv=False)[0]
    np.testing.assert_allclose(np.asarray(normalized), np.asarray(kernel) / sigma, rtol=1e-4)
    assert np.linalg.svd(np.asarray(normalized).reshape(-1, 6), compute_uv=False)[0] == pytest.approx(1, rel=1e-4)
    zeros = jnp.zeros((4, 6))  # left as it is, as Keras's
    assert all(np.array_equal(a, b) for a, b in zip(F.spectral_normalize(zeros, u), (u, zeros)))


def test_spectral_normalization_training_updates_vector_u_in_both_faces(rng):
    x = jnp.asarray(rng.standard_normal((2, 5)), jnp.float32)
    module = L.SpectralNormalization(L.Dense(3))
    variables = module.init(jax.random.key(0), x)
    assert variables["batch_stats"]["vector_u"].shape == (1, 3)
    with pytest.raises(ValueError, match=r"mutable=\['batch_stats'\]"):
        module.apply(variables, x, deterministic=False)
    _, updates = module.apply(variables, x, deterministic=False, mutable=["batch_stats"])
    assert not np.array_equal(updates["batch_stats"]["vector_u"], variables["batch_stats"]["vector_u"])
    layer = J.SpectralNormalization(5, L.Dense(3), rngs=nnx.Rngs(0))
    assert set(nnx.to_pure_dict(nnx.state(layer))) == {"kernel", "bias", "vector_u"}  # the wrapped layer: arguments
    assert isinstance(layer.vector_u, nnx.BatchStat) and jaxlayers.count_params(layer) == 5 * 3 + 3 + 3
    before = layer.vector_u[...]
    layer(x)
    np.testing.assert_array_equal(layer.vector_u[...], before)  # inference: unchanged
    layer.train()
    layer(x)
    assert not np.array_equal(layer.vector_u[...], before)
    wrapped = J.SpectralNormalization(5, J.Dense(5, 3, rngs=nnx.Rngs(1)), rngs=nnx.Rngs(0))
    assert set(nnx.to_pure_dict(nnx.state(wrapped))) == {"kernel", "bias", "vector_u"}


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_spectral_normalization_keras_model_round_trip(api, rng):
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((6, 5, 2)),
                              KL.SpectralNormalization(KL.Conv2D(3, 2, activation="relu"), power_iterations=2),
                              KL.Flatten(), KL.SpectralNormalization(KL.Dense(4, use_bias=False))])
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.weights])
    x = rng.standard_normal((2, 6, 5, 2)).astype(np.float32)
    module = _round_trip(model, x.shape, rng, api)
    back = to_keras(module, None, (None, 6, 5, 2)) if api == "nnx" else None
    if back is not None:
        assert [a.layer.get_config() | {"name": None} for a in back.layers if hasattr(a, "layer")] == \
            [a.layer.get_config() | {"name": None} for a in model.layers if hasattr(a, "layer")]
        assert [a.power_iterations for a in back.layers if hasattr(a, "layer")] == [2, 1]


@pytest.mark.parametrize("make, error, match", [
    (lambda: J.SpectralNormalization(4, L.MaxPooling2D(), rngs=nnx.Rngs(0)), TypeError,
     "`layer` must be a jaxlayers Dense or Conv.*got MaxPooling2D"),
    (lambda: J.SpectralNormalization(4, KL.Dense(3), rngs=nnx.Rngs(0)), TypeError, "got Dense"),
    (lambda: J.SpectralNormalization(4, L.Conv2DTranspose(3, 2), rngs=nnx.Rngs(0)), TypeError, "Conv2DTranspose"),
    (lambda: J.SpectralNormalization(4, L.Dense(3), 0, rngs=nnx.Rngs(0)), ValueError, "`power_iterations`"),
    (lambda: J.SpectralNormalization(4, L.Dense(0), rngs=nnx.Rngs(0)), ValueError, "`units`"),
    (lambda: J.SpectralNormalization(4, L.Dense(3), param_dtype="bfloat16", rngs=nnx.Rngs(0)), ValueError,
     r"`param_dtype` \(bfloat16\) must be the wrapped layer's \(float32\)"),
    (lambda: F.spectral_normalize(jnp.ones((4, 3)), jnp.ones((1, 4))), ValueError,
     r"`vector_u` must have shape \(1, 3\)"),
    (lambda: F.spectral_normalize(jnp.ones((4, 3)), jnp.ones((1, 3)), 0), ValueError, "greater than zero"),
])
def test_spectral_normalization_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_keras_spectral_normalization_of_other_layers_is_refused():
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((5, 3)), KL.SpectralNormalization(KL.Conv1DTranspose(2, 2))])
    with pytest.raises(ValueError, match="`layer` must be a jaxlayers Dense or Conv"):
        from_keras(model)
    model = keras.Sequential([keras.Input((5,), dtype="int32"), KL.SpectralNormalization(KL.Embedding(10, 3))])
    with pytest.raises(ValueError, match="`layer` must be a jaxlayers Dense or Conv.*got Embedding"):
        from_keras(model)
