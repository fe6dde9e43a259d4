"""`MultiHeadAttention` (linen and NNX) against Keras 3's on identical weights."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

from jaxlayers import functional as F
from jaxlayers import linen as L
from jaxlayers import nnx as N
from jaxlayers.keras import _convert

TOL = dict(rtol=1e-5, atol=1e-5)
B, T, S, DQ, DV, DK = 2, 4, 5, 6, 3, 7
NAMES = [f"{p}_{w}" for p in ("query", "key", "value", "attention_output") for w in ("kernel", "bias")]


def _data(rng, with_key: bool):
    q = rng.standard_normal((B, T, DQ)).astype(np.float32)
    v = rng.standard_normal((B, S, DV)).astype(np.float32)
    k = rng.standard_normal((B, S, DK)).astype(np.float32) if with_key else None
    return q, v, k


def _keras(rng, q, v, k, **kwargs):
    """A built Keras MHA with random normal weights, and those weights by our names."""
    layer = keras.layers.MultiHeadAttention(kernel_initializer="zeros", **kwargs)
    layer.build(q.shape, v.shape, None if k is None else k.shape)
    values = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.weights]
    layer.set_weights(values)
    names = [n for n in NAMES if kwargs.get("use_bias", True) or not n.endswith("bias")]
    return layer, dict(zip(names, values))


def _params(weights, use_bias=True):
    return {"params": {n: weights.get(n) for n in NAMES if use_bias or not n.endswith("bias")}}


CASES = [dict(num_heads=2, key_dim=3), dict(num_heads=3, key_dim=2, output_shape=5),
         dict(num_heads=2, key_dim=3, use_bias=False), dict(num_heads=1, key_dim=4, output_shape=(2,))]


@pytest.mark.parametrize("kwargs", CASES, ids=str)
@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("causal, scores", [(False, False), (True, False), (True, True)])
def test_forward_matches_keras(kwargs, with_key, causal, scores, rng):
    q, v, k = _data(rng, with_key)
    layer, weights = _keras(rng, q, v, k, **kwargs)
    expected = layer(q, v, k, return_attention_scores=scores, use_causal_mask=causal)
    ours = L.MultiHeadAttention(**kwargs).apply(_params(weights, kwargs.get("use_bias", True)), q, v, k,
                                                return_attention_scores=scores, use_causal_mask=causal)
    if scores:
        np.testing.assert_allclose(np.asarray(ours[1]), np.asarray(expected[1]), **TOL)
        ours, expected = ours[0], expected[0]
    np.testing.assert_allclose(np.asarray(ours), np.asarray(expected), **TOL)


@pytest.mark.parametrize("scores", [False, True])
def test_attention_mask_matches_keras(scores, rng):
    q, v, k = _data(rng, True)
    mask = rng.random((B, T, S)) > 0.4
    mask[:, :, 0] = True
    mask[0, 1] = False  # a fully masked row: uniform weights without scores, zeros with (as Keras)
    layer, weights = _keras(rng, q, v, k, num_heads=2, key_dim=3)
    expected = layer(q, v, k, attention_mask=mask, return_attention_scores=scores, use_causal_mask=True)
    ours = L.MultiHeadAttention(2, 3).apply(_params(weights), q, v, k, attention_mask=mask,
                                            return_attention_scores=scores, use_causal_mask=True)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def test_value_dim_scores_match_keras(rng):
    """value_dim != key_dim: Keras's JAX backend fails without scores, so compare with them."""
    q, v, k = _data(rng, False)
    layer, weights = _keras(rng, q, v, k, num_heads=2, key_dim=3, value_dim=4, output_shape=7)
    out, w = layer(q, v, return_attention_scores=True)
    model = L.MultiHeadAttention(2, 3, value_dim=4, output_shape=7)
    ours, ours_w = model.apply(_params(weights), q, v, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(out), **TOL)
    np.testing.assert_allclose(np.asarray(ours_w), np.asarray(w), **TOL)
    np.testing.assert_allclose(np.asarray(model.apply(_params(weights), q, v)), np.asarray(out), **TOL)


def test_input_masks_are_keras_attention_mask(rng):
    """query_mask and value_mask are Keras's input masks: attention_mask qm[:, :, None] & vm[:, None, :]."""
    q, v, _ = _data(rng, False)
    qm, vm = rng.random((B, T)) > 0.3, rng.random((B, S)) > 0.3
    vm[:, 0] = True
    layer, weights = _keras(rng, q, v, None, num_heads=2, key_dim=3)
    expected = layer(q, v, attention_mask=qm[:, :, None] & vm[:, None, :], return_attention_scores=True)
    ours = L.MultiHeadAttention(2, 3).apply(_params(weights), q, v, query_mask=qm, value_mask=vm,
                                            return_attention_scores=True)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def test_gradients_match_keras(rng):
    q, v, k = _data(rng, True)
    layer, weights = _keras(rng, q, v, k, num_heads=2, key_dim=3, output_shape=4)
    model = L.MultiHeadAttention(2, 3, output_shape=4)

    def keras_loss(values, q, v, k):
        out, _ = layer.stateless_call(values, [], q, v, k, use_causal_mask=True)
        return jnp.sum(jnp.sin(out))

    def our_loss(params, q, v, k):
        return jnp.sum(jnp.sin(model.apply({"params": params}, q, v, k, use_causal_mask=True)))

    expected = jax.grad(keras_loss, argnums=(0, 1, 2, 3))([weights[n] for n in NAMES], q, v, k)
    ours = jax.grad(our_loss, argnums=(0, 1, 2, 3))(_params(weights)["params"], q, v, k)
    for name, g in zip(NAMES, expected[0]):
        np.testing.assert_allclose(np.asarray(ours[0][name]), np.asarray(g), err_msg=name, **TOL)
    for a, b in zip(ours[1:], expected[1:]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def test_init_shapes_and_nnx_match_linen(rng):
    q, v, k = _data(rng, True)
    linen = L.MultiHeadAttention(2, 3, value_dim=4, output_shape=5)
    params = linen.init(jax.random.key(0), q, v, k)["params"]
    shapes = {n: p.shape for n, p in params.items()}
    assert shapes == {"query_kernel": (DQ, 2, 3), "query_bias": (2, 3), "key_kernel": (DK, 2, 3),
                      "key_bias": (2, 3), "value_kernel": (DV, 2, 4), "value_bias": (2, 4),
                      "attention_output_kernel": (2, 4, 5), "attention_output_bias": (5,)}
    layer = N.MultiHeadAttention(DQ, DV, DK, 2, 3, value_dim=4, output_shape=5, rngs=nnx.Rngs(0))
    for n in params:
        getattr(layer, n).value = params[n]
    np.testing.assert_allclose(np.asarray(layer(q, v, k)), np.asarray(linen.apply({"params": params}, q, v, k)),
                               **TOL)


def test_dropout_in_training_only(rng):
    q, v, _ = _data(rng, False)
    model = L.MultiHeadAttention(2, 3, dropout=0.5)
    params = model.init(jax.random.key(0), q, v)
    kept = model.apply(params, q, v)
    np.testing.assert_allclose(np.asarray(kept), np.asarray(L.MultiHeadAttention(2, 3).apply(params, q, v)), **TOL)
    dropped = model.apply(params, q, v, deterministic=False, rngs={"dropout": jax.random.key(1)})
    assert not np.allclose(np.asarray(dropped), np.asarray(kept))
    _, w = model.apply(params, q, v, deterministic=False, rngs={"dropout": jax.random.key(1)},
                       return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-5)  # scores are the weights before dropout


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_heads=0, key_dim=2), "num_heads"), (dict(num_heads=2, key_dim=2.0), "key_dim"),
    (dict(num_heads=2, key_dim=2, value_dim=-1), "value_dim"), (dict(num_heads=2, key_dim=2, dropout=1.5), "dropout"),
    (dict(num_heads=2, key_dim=2, attention_axes=(2,)), "attention_axes"),
    (dict(num_heads=2, key_dim=2, attention_axes="time"), "attention_axes"),
    (dict(num_heads=2, key_dim=2, output_shape=(2, 3)), "output_shape")])
def test_bad_arguments(kwargs, match, rng):
    q, v, _ = _data(rng, False)
    with pytest.raises((ValueError, TypeError), match=match):
        L.MultiHeadAttention(**kwargs).init(jax.random.key(0), q, v)


def test_bad_inputs(rng):
    q, v, _ = _data(rng, False)
    model = L.MultiHeadAttention(2, 3)
    with pytest.raises(ValueError, match="`query` must be"):
        model.init(jax.random.key(0), q[0], v)
    params = model.init(jax.random.key(0), q, v)
    with pytest.raises(ValueError, match="`attention_mask` must broadcast to shape"):
        model.apply(params, q, v, attention_mask=np.ones((B, S, T), bool))
    with pytest.raises(ValueError, match="share batch"):
        F.multi_head_attention(q, v[:1], **{n if n.startswith(("query", "key", "value")) else "output_"
                                            + n.split("_")[-1]: p for n, p in params["params"].items()})


def test_dtype_computes_in_bfloat16(rng):
    q, v, _ = _data(rng, False)
    model = L.MultiHeadAttention(2, 3, dtype="bfloat16")
    params = model.init(jax.random.key(0), q, v)
    out = model.apply(params, q, v)
    assert out.dtype == jnp.bfloat16 and params["params"]["query_kernel"].dtype == jnp.float32
    reference = L.MultiHeadAttention(2, 3).apply(params, q, v)
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(reference), rtol=0.1, atol=0.1)


AXES_CASES = [((2, 3, 4, 5), None), ((2, 3, 4, 5), (1, 2)), ((2, 3, 4, 5), (2,)), ((2, 3, 4, 5), -3),
              ((2, 3, 4, 5), (2, 1)), ((2, 2, 3, 2, 4), (1, 3))]


def _grid_data(rng, shape, value_shape=None):
    q = rng.standard_normal(shape).astype(np.float32)
    v = rng.standard_normal(value_shape or shape[:-1] + (3,)).astype(np.float32)
    return q, v


@pytest.mark.parametrize("shape, axes", AXES_CASES, ids=str)
@pytest.mark.parametrize("scores", [False, True])
def test_attention_axes_match_keras(shape, axes, scores, rng):
    q, v = _grid_data(rng, shape)
    layer, weights = _keras(rng, q, v, None, num_heads=2, key_dim=3, attention_axes=axes)
    expected = layer(q, v, return_attention_scores=scores)
    ours = L.MultiHeadAttention(2, 3, attention_axes=axes).apply(_params(weights), q, v,
                                                                 return_attention_scores=scores)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(expected)):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def test_attention_axes_other_lengths_and_key_match_keras(rng):
    """The value and key may differ from the query along the attention axes (not the others)."""
    q, v = _grid_data(rng, (2, 3, 4, 5), (2, 3, 6, 3))
    k = rng.standard_normal((2, 3, 6, 7)).astype(np.float32)
    layer, weights = _keras(rng, q, v, k, num_heads=2, key_dim=3, attention_axes=(2,), output_shape=4)
    expected = layer(q, v, k, return_attention_scores=True)
    ours = L.MultiHeadAttention(2, 3, attention_axes=(2,), output_shape=4).apply(
        _params(weights), q, v, k, return_attention_scores=True)
    assert ours[1].shape == (2, 3, 2, 4, 6)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


@pytest.mark.parametrize("axes, mask_shape", [((2,), (2, 4, 4)), ((1, 2), (2, 3, 4, 3, 4)), ((2,), (2, 3, 1, 4, 4))])
def test_attention_axes_mask_matches_keras(axes, mask_shape, rng):
    """Keras expands `attention_mask` before the query's attention axes until it has the scores' rank."""
    q, v = _grid_data(rng, (2, 3, 4, 5))
    mask = rng.random(mask_shape) > 0.4
    layer, weights = _keras(rng, q, v, None, num_heads=2, key_dim=3, attention_axes=axes)
    expected = layer(q, v, attention_mask=mask, return_attention_scores=True)
    ours = L.MultiHeadAttention(2, 3, attention_axes=axes).apply(_params(weights), q, v, attention_mask=mask,
                                                                 return_attention_scores=True)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def test_attention_axes_gradients_match_keras(rng):
    q, v = _grid_data(rng, (2, 3, 4, 5))
    layer, weights = _keras(rng, q, v, None, num_heads=2, key_dim=3, attention_axes=(1, 2))
    model = L.MultiHeadAttention(2, 3, attention_axes=(1, 2))
    mask = rng.random((2, 3, 4, 3, 4)) > 0.3

    def keras_loss(values, q, v):
        out, _ = layer.stateless_call(values, [], q, v, attention_mask=mask)
        return jnp.sum(jnp.sin(out))

    def our_loss(params, q, v):
        return jnp.sum(jnp.sin(model.apply({"params": params}, q, v, attention_mask=mask)))

    expected = jax.grad(keras_loss, argnums=(0, 1, 2))([weights[n] for n in NAMES], q, v)
    ours = jax.grad(our_loss, argnums=(0, 1, 2))(_params(weights)["params"], q, v)
    for name, g in zip(NAMES, expected[0]):
        np.testing.assert_allclose(np.asarray(ours[0][name]), np.asarray(g), err_msg=name, **TOL)
    for a, b in zip(ours[1:], expected[1:]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def test_attention_axes_bad_inputs(rng):
    q, v = _grid_data(rng, (2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"`attention_axes` must be distinct axes of a rank-4 input"):
        L.MultiHeadAttention(2, 3, attention_axes=(3,)).init(jax.random.key(0), q, v)
    with pytest.raises(ValueError, match=r"`attention_axes` must be distinct"):
        L.MultiHeadAttention(2, 3, attention_axes=(1, -3)).init(jax.random.key(0), q, v)
    model = L.MultiHeadAttention(2, 3, attention_axes=(2,))
    params = model.init(jax.random.key(0), q, v)
    with pytest.raises(ValueError, match="`query_mask`, `use_causal_mask` need"):
        model.apply(params, q, v, query_mask=np.ones((2, 3), bool), use_causal_mask=True)
    with pytest.raises(ValueError, match=r"`attention_mask` must broadcast to the scores' shape \(2, 3, 2, 4, 4\)"):
        model.apply(params, q, v, attention_mask=np.ones((2, 4, 3), bool))
    with pytest.raises(ValueError, match="off the attention axes"):
        model.apply(params, q, v[:, :2])
    with pytest.raises(ValueError, match="of the query's rank"):
        model.apply(params, q, v[:, 0])


def test_attention_axes_round_trip_through_keras_config(rng):
    q, v = _grid_data(rng, (2, 3, 4, 5))
    layer, weights = _keras(rng, q, v, None, num_heads=2, key_dim=3, attention_axes=(2,), use_bias=False)
    definition, args = _convert.from_layer(layer, keras, "layer")
    assert args["attention_axes"] == (2,) and not args["use_bias"]
    structs = [jax.ShapeDtypeStruct(x.shape, jnp.float32) for x in (q, v)]
    variables = _convert.weights_of(layer, definition, args, _convert.sizes_of(definition, args, structs), "layer")
    ours = L.MultiHeadAttention(**args)
    np.testing.assert_allclose(np.asarray(ours.apply(variables, q, v)), np.asarray(layer(q, v)), **TOL)
    back = _convert.to_layer(ours, 2, keras)
    back.build(q.shape, v.shape)
    back.set_weights([np.asarray(variables["params"][n]) for n in _convert.keras_weight_names(definition, back)])
    np.testing.assert_allclose(np.asarray(back(q, v)), np.asarray(layer(q, v)), **TOL)


# ------------------------------------------------------------------ sliding_window, use_gate (Keras 3.15)


def _keras_named(rng, q, v, k, **kwargs):
    """A built Keras MHA with random weights, and those weights by their Keras paths (`gate_kernel`, ...)."""
    layer = keras.layers.MultiHeadAttention(**kwargs)
    layer.build(q.shape, v.shape, None if k is None else k.shape)
    values = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.weights]
    layer.set_weights(values)
    return layer, {"_".join(w.path.split("/")[-2:]): x for w, x in zip(layer.weights, values)}


@pytest.mark.parametrize("kwargs", [dict(sliding_window=2), dict(sliding_window=1), dict(use_gate=True),
                                    dict(use_gate=True, use_bias=False, output_shape=5),
                                    dict(sliding_window=3, use_gate=True)], ids=str)
@pytest.mark.parametrize("causal", [False, True])
def test_sliding_window_and_gate_match_keras(kwargs, causal, rng):
    """The band |i - j| < sliding_window (with the causal mask too) and the sigmoid gate of the query, forward
    with scores and under grad (inputs and weights)."""
    q, v, k = _data(rng, True)
    q, v, k = q[:, :4], v[:, :4], k[:, :4]  # self-length sequences: the band is about equal positions
    layer, weights = _keras_named(rng, q, v, k, num_heads=2, key_dim=3, **kwargs)
    model = L.MultiHeadAttention(2, 3, **kwargs)
    params = {"params": {n: weights.get(n) for n in model.init(jax.random.key(0), q, v, k)["params"]}}
    assert set(params["params"]) == set(weights)
    out, scores = layer(q, v, k, use_causal_mask=causal, return_attention_scores=True)
    ours, our_scores = model.apply(params, q, v, k, use_causal_mask=causal, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(out), **TOL)
    np.testing.assert_allclose(np.asarray(our_scores), np.asarray(scores), **TOL)
    if "sliding_window" in kwargs:  # the band, independently: no weight beyond it
        far = np.abs(np.arange(4)[:, None] - np.arange(4)[None]) >= kwargs["sliding_window"]
        assert np.all(np.asarray(our_scores)[:, :, far] == 0)

    names = [w.path for w in layer.weights]

    def keras_loss(values, q, v, k):
        return jnp.sum(jnp.sin(layer.stateless_call(values, [], q, v, k, use_causal_mask=causal)[0]))

    def our_loss(p, q, v, k):
        return jnp.sum(jnp.sin(model.apply({"params": p}, q, v, k, use_causal_mask=causal)))

    want = jax.grad(keras_loss, argnums=(0, 1, 2, 3))([weights["_".join(n.split("/")[-2:])] for n in names], q, v, k)
    got = jax.grad(our_loss, argnums=(0, 1, 2, 3))(params["params"], q, v, k)
    for name, g in zip(names, want[0]):
        np.testing.assert_allclose(np.asarray(got[0]["_".join(name.split("/")[-2:])]), np.asarray(g), err_msg=name,
                                   **TOL)
    for a, b in zip(got[1:], want[1:]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def test_gated_windowed_attention_converts_and_round_trips(rng):
    """from_keras (linen and NNX) and to_keras of a model with a gated, windowed, causal MultiHeadAttention."""
    from jaxlayers.keras import from_keras, to_keras

    x = keras.Input((6, 8))
    out = keras.layers.MultiHeadAttention(2, 4, sliding_window=2, use_gate=True)(x, x, use_causal_mask=True)
    model = keras.Model(x, keras.layers.Dense(3)(out))
    for w in model.weights:
        w.assign(rng.standard_normal(w.shape).astype(np.float32) * 0.5)
    data = rng.standard_normal((3, 6, 8)).astype(np.float32)
    want = model.predict(data, verbose=0)
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, data)), want, **TOL)
    np.testing.assert_allclose(np.asarray(from_keras(model, api="nnx")(data)), want, **TOL)
    np.testing.assert_allclose(to_keras(module, variables, (None, 6, 8)).predict(data, verbose=0), want, **TOL)


@pytest.mark.parametrize("kwargs, match", [(dict(sliding_window=0), "sliding_window"),
                                           (dict(sliding_window=2.5), "sliding_window"),
                                           (dict(use_gate="yes"), "use_gate")])
def test_bad_window_and_gate(kwargs, match, rng):
    q, v, _ = _data(rng, False)
    with pytest.raises((ValueError, TypeError), match=match):
        L.MultiHeadAttention(2, 3, **kwargs).init(jax.random.key(0), q, v)


def test_sliding_window_needs_a_time_axis(rng):
    """Keras's band is over axis 1 of (batch, time, features); over other axes it is refused, named."""
    q = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="`sliding_window` need"):
        L.MultiHeadAttention(2, 3, sliding_window=2).init(jax.random.key(0), q, q)


# ------------------------------------------------------------------ the fused path's numbers


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
@pytest.mark.parametrize("heads, kv_heads", [(4, 4), (4, 2), (3, 1)])
def test_attend_computes_dot_product_attentions_numbers(dtype, heads, kv_heads, rng):
    """`attend`'s fused path (no scores, no dropout) against `jax.nn.dot_product_attention` (Keras's JAX backend):
    query groups, a fully masked row (uniform weights), batch 1 and odd lengths, a NaN, under vmap and grad."""
    from jaxlayers.functional.multi_head_attention import attend

    tol = dict(rtol=2e-2, atol=2e-2) if dtype == jnp.bfloat16 else dict(rtol=1e-5, atol=1e-6)
    for batch, tq, ts in ((2, 5, 7), (1, 3, 1)):
        q = jnp.asarray(rng.standard_normal((batch, tq, heads, 6)), dtype)
        k = jnp.asarray(rng.standard_normal((batch, ts, kv_heads, 6)), dtype)
        v = jnp.asarray(rng.standard_normal((batch, ts, kv_heads, 6)), dtype)
        mask = rng.uniform(size=(batch, tq, ts)) > 0.3
        mask[0, 0] = False
        for m in (None, jnp.asarray(mask)):
            want = jax.nn.dot_product_attention(q, k, v, mask=None if m is None else m[:, None], scale=6 ** -0.5)
            got, _ = attend(q, k, v, m)
            assert got.dtype == want.dtype
            np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32), **tol)
    q_nan = q.at[0, 0, 0, 0].set(jnp.nan)
    got, want = attend(q_nan, k, v, None)[0], jax.nn.dot_product_attention(q_nan, k, v, scale=6 ** -0.5)
    np.testing.assert_array_equal(np.isnan(np.asarray(got, np.float32)), np.isnan(np.asarray(want, np.float32)))
    batched = jax.vmap(lambda q: attend(q, k, v, None)[0])(jnp.stack([q, q * 2]))
    np.testing.assert_allclose(np.asarray(batched[1], np.float32), np.asarray(jax.nn.dot_product_attention(
        q * 2, k, v, scale=6 ** -0.5), np.float32), **tol)
    if dtype == jnp.float32:
        grads = [jax.grad(lambda q, k, v: jnp.sum(jnp.sin(f(q, k, v))), argnums=(0, 1, 2))(q, k, v) for f in (
            lambda q, k, v: attend(q, k, v, jnp.asarray(mask))[0],
            lambda q, k, v: jax.nn.dot_product_attention(q, k, v, mask=jnp.asarray(mask)[:, None], scale=6 ** -0.5))]
        for a, b in zip(*grads):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
