"""`GroupedQueryAttention` (linen and NNX) against Keras 3's `GroupQueryAttention` on identical weights."""
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
B, T, S, DQ, DV, DK = 2, 5, 6, 6, 3, 7


def _data(rng, with_key: bool):
    q = rng.standard_normal((B, T, DQ)).astype(np.float32)
    v = rng.standard_normal((B, S, DV)).astype(np.float32)
    k = rng.standard_normal((B, S, DK)).astype(np.float32) if with_key else None
    return q, v, k


def _keras(rng, q, v, k, **kwargs):
    """A built Keras GroupQueryAttention with random normal weights, and those weights by our names."""
    layer = keras.layers.GroupQueryAttention(kernel_initializer="zeros", **kwargs)
    layer.build(q.shape, v.shape, None if k is None else k.shape)
    values = [rng.standard_normal(w.shape).astype(np.float32) * 0.5 for w in layer.weights]
    layer.set_weights(values)
    names = [f"{p}_{w}" for p in ("query", "key", "gate", "value", "attention_output") for w in ("kernel", "bias")
             if (p != "gate" or kwargs.get("use_gate")) and (w == "kernel" or kwargs.get("use_bias", True))]
    assert len(names) == len(values)
    return layer, dict(zip(names, values))


CASES = [dict(head_dim=3, num_query_heads=4, num_key_value_heads=2),
         dict(head_dim=2, num_query_heads=3, num_key_value_heads=1),
         dict(head_dim=3, num_query_heads=2, num_key_value_heads=2, use_bias=False),
         dict(head_dim=2, num_query_heads=4, num_key_value_heads=2, use_gate=True),
         dict(head_dim=2, num_query_heads=4, num_key_value_heads=1, sliding_window=2)]


@pytest.mark.parametrize("kwargs", CASES, ids=str)
@pytest.mark.parametrize("with_key, causal, scores", [(False, False, False), (True, True, False), (False, True, True),
                                                      (True, False, True)])
def test_forward_matches_keras(kwargs, with_key, causal, scores, rng):
    q, v, k = _data(rng, with_key)
    layer, weights = _keras(rng, q, v, k, **kwargs)
    expected = layer(q, v, k, return_attention_scores=scores, use_causal_mask=causal)
    ours = L.GroupedQueryAttention(**kwargs).apply({"params": weights}, q, v, k,
                                                   return_attention_scores=scores, use_causal_mask=causal)
    if scores:
        assert ours[1].shape == (B, kwargs["num_query_heads"], T, S)
        np.testing.assert_allclose(np.asarray(ours[1]), np.asarray(expected[1]), **TOL)
        ours, expected = ours[0], expected[0]
    assert ours.shape == (B, T, DQ)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(expected), **TOL)


@pytest.mark.parametrize("scores", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_masks_match_keras(scores, causal, rng):
    """attention_mask with a fully masked row (uniform weights without scores, zeros with: as Keras), and
    Keras's input masks query_mask, value_mask and key_mask."""
    q, v, k = _data(rng, True)
    mask = rng.random((B, T, S)) > 0.4
    mask[:, :, 0] = True
    mask[0, 1] = False
    qm, vm, km = rng.random((B, T)) > 0.3, rng.random((B, S)) > 0.2, rng.random((B, S)) > 0.2
    masks = dict(attention_mask=mask, query_mask=qm, value_mask=vm, key_mask=km)
    layer, weights = _keras(rng, q, v, k, head_dim=3, num_query_heads=4, num_key_value_heads=2)
    expected = layer(q, v, k, return_attention_scores=scores, use_causal_mask=causal, **masks)
    ours = L.GroupedQueryAttention(3, 4, 2).apply({"params": weights}, q, v, k, return_attention_scores=scores,
                                                  use_causal_mask=causal, **masks)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def test_gradients_match_keras(rng):
    q, v, k = _data(rng, True)
    kwargs = dict(head_dim=3, num_query_heads=4, num_key_value_heads=2, use_gate=True)
    layer, weights = _keras(rng, q, v, k, **kwargs)
    names = list(weights)
    model = L.GroupedQueryAttention(**kwargs)
    mask = rng.random((B, T, S)) > 0.3

    def keras_loss(values, q, v, k):
        out, _ = layer.stateless_call(values, [], q, v, k, attention_mask=mask, use_causal_mask=True)
        return jnp.sum(jnp.sin(out))

    def our_loss(params, q, v, k):
        return jnp.sum(jnp.sin(model.apply({"params": params}, q, v, k, attention_mask=mask, use_causal_mask=True)))

    expected = jax.jit(jax.grad(keras_loss, argnums=(0, 1, 2, 3)))([weights[n] for n in names], q, v, k)
    ours = jax.jit(jax.grad(our_loss, argnums=(0, 1, 2, 3)))(weights, q, v, k)
    for name, g in zip(names, expected[0]):
        np.testing.assert_allclose(np.asarray(ours[0][name]), np.asarray(g), err_msg=name, **TOL)
    for a, b in zip(ours[1:], expected[1:]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL)


def test_functional_op_groups_heads_as_keras_repeat(rng):
    """Independent reference: each query head n with key/value head n // groups, NumPy softmax."""
    q, v, _ = _data(rng, False)
    wq, wk, wv = (rng.standard_normal((d, h, 2)).astype(np.float32) for d, h in ((DQ, 4), (DV, 2), (DV, 2)))
    wo = rng.standard_normal((4, 2, 5)).astype(np.float32)
    out, scores = F.grouped_query_attention(q, v, query_kernel=wq, key_kernel=wk, value_kernel=wv,
                                            output_kernel=wo, return_attention_scores=True)
    pq, pk, pv = np.einsum("btd,dnh->btnh", q, wq), np.einsum("bsd,dkh->bskh", v, wk), np.einsum("bsd,dkh->bskh", v, wv)
    pk, pv = pk[:, :, [0, 0, 1, 1]], pv[:, :, [0, 0, 1, 1]]
    logits = np.einsum("btnh,bsnh->bnts", pq, pk) / np.sqrt(2.0)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.asarray(scores), w, **TOL)
    np.testing.assert_allclose(np.asarray(out), np.einsum("bnts,bsnh,nho->bto", w, pv, wo), rtol=1e-4, atol=1e-4)


def test_init_shapes_and_nnx_match_linen(rng):
    q, v, k = _data(rng, True)
    linen = L.GroupedQueryAttention(2, 4, 2, use_gate=True)
    params = linen.init(jax.random.key(0), q, v, k)["params"]
    assert {n: p.shape for n, p in params.items()} == {
        "query_kernel": (DQ, 4, 2), "query_bias": (4, 2), "key_kernel": (DK, 2, 2), "key_bias": (2, 2),
        "gate_kernel": (DQ, 4, 2), "gate_bias": (4, 2), "value_kernel": (DV, 2, 2), "value_bias": (2, 2),
        "attention_output_kernel": (4, 2, DQ), "attention_output_bias": (DQ,)}
    layer = N.GroupedQueryAttention(DQ, DV, DK, 2, 4, 2, use_gate=True, rngs=nnx.Rngs(0))
    for n in params:
        getattr(layer, n).value = params[n]
    np.testing.assert_allclose(np.asarray(layer(q, v, k, use_causal_mask=True)),
                               np.asarray(linen.apply({"params": params}, q, v, k, use_causal_mask=True)), **TOL)


def _two_input_model(layer, q, v):
    qi, vi = keras.Input(q.shape[1:]), keras.Input(v.shape[1:])
    return keras.Model([qi, vi], layer(qi, vi, use_causal_mask=True))


def test_from_keras_and_keras_file_round_trip(rng, tmp_path):
    """A saved `.keras` model's GroupQueryAttention converts by class name (arguments and weights), and back."""
    q, _, _ = _data(rng, False)
    v = rng.standard_normal((B, S, DQ)).astype(np.float32)  # a symbolic Keras call needs dim_v == dim_q
    kwargs = dict(head_dim=2, num_query_heads=4, num_key_value_heads=2, use_gate=True, sliding_window=3,
                  use_bias=False)
    layer, _ = _keras(rng, q, v, None, **kwargs)
    _two_input_model(layer, q, v).save(tmp_path / "gqa.keras")
    loaded = keras.models.load_model(tmp_path / "gqa.keras")
    keras_layer = loaded.layers[-1]
    expected = np.asarray(loaded.predict([q, v], verbose=0))
    definition, args = _convert.from_layer(keras_layer, keras, "layer")
    assert definition.__name__ == "GroupedQueryAttention" and args["sliding_window"] == 3 and args["use_gate"]
    structs = [jax.ShapeDtypeStruct(x.shape, jnp.float32) for x in (q, v)]
    variables = _convert.weights_of(keras_layer, definition, args,
                                    _convert.sizes_of(definition, args, structs), "layer")
    ours = L.GroupedQueryAttention(**args)
    out = ours.apply(variables, q, v, use_causal_mask=True)
    np.testing.assert_allclose(np.asarray(out), expected, **TOL)
    back = _convert.to_layer(ours, 1, keras)
    assert type(back) is keras.layers.GroupQueryAttention and back.get_config()["sliding_window"] == 3
    back.build(q.shape, v.shape)
    back.set_weights([np.asarray(variables["params"][n]) for n in _convert.keras_weight_names(definition, back)])
    np.testing.assert_allclose(np.asarray(back(q, v, use_causal_mask=True)), expected, **TOL)


def test_dropout_in_training_only(rng):
    q, v, _ = _data(rng, False)
    model = L.GroupedQueryAttention(2, 4, 2, dropout=0.5)
    params = model.init(jax.random.key(0), q, v)
    kept = model.apply(params, q, v)
    np.testing.assert_allclose(np.asarray(kept), np.asarray(L.GroupedQueryAttention(2, 4, 2).apply(params, q, v)),
                               **TOL)
    dropped = model.apply(params, q, v, deterministic=False, rngs={"dropout": jax.random.key(1)})
    assert not np.allclose(np.asarray(dropped), np.asarray(kept))
    _, w = model.apply(params, q, v, deterministic=False, rngs={"dropout": jax.random.key(1)},
                       return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-5)  # scores are the weights before dropout


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(head_dim=2, num_query_heads=3, num_key_value_heads=2), ValueError, "divisible by `num_key_value_heads`"),
    (dict(head_dim=0, num_query_heads=2, num_key_value_heads=1), ValueError, "`head_dim` must be a positive int"),
    (dict(head_dim=2, num_query_heads=2.0, num_key_value_heads=1), ValueError, "`num_query_heads`"),
    (dict(head_dim=2, num_query_heads=2, num_key_value_heads=0), ValueError, "`num_key_value_heads`"),
    (dict(head_dim=2, num_query_heads=2, num_key_value_heads=1, dropout=1.5), ValueError, "dropout"),
    (dict(head_dim=2, num_query_heads=2, num_key_value_heads=1, sliding_window=0), ValueError, "sliding_window"),
    (dict(head_dim=2, num_query_heads=2, num_key_value_heads=1, use_gate="yes"), TypeError, "use_gate"),
    (dict(head_dim=2, num_query_heads=2, num_key_value_heads=1, seed=1.5), TypeError, "seed"),
    (dict(head_dim=2, num_query_heads=2, num_key_value_heads=1, flash_attention=True, dropout=0.1), ValueError,
     "flash_attention")])
def test_bad_arguments(kwargs, error, match, rng):
    q, v, _ = _data(rng, False)
    with pytest.raises(error, match=match):
        L.GroupedQueryAttention(**kwargs).init(jax.random.key(0), q, v)


def test_bad_inputs(rng):
    q, v, _ = _data(rng, False)
    model = L.GroupedQueryAttention(2, 4, 2)
    with pytest.raises(ValueError, match="`query` must be"):
        model.init(jax.random.key(0), q[0], v)
    params = model.init(jax.random.key(0), q, v)
    with pytest.raises(ValueError, match=r"`attention_mask` must broadcast to shape \(2, 5, 6\)"):
        model.apply(params, q, v, attention_mask=np.ones((B, S, T), bool))
    with pytest.raises(ValueError, match="`value_mask` must broadcast"):
        model.apply(params, q, v, value_mask=np.ones((B, T), bool))
    weights = {n if n.startswith(("query", "key", "value")) else "output_" + n.split("_")[-1]: p
               for n, p in params["params"].items()}
    with pytest.raises(ValueError, match="share batch"):
        F.grouped_query_attention(q, v[:1], **weights)
    with pytest.raises(ValueError, match="heads a multiple of kv_heads"):
        F.grouped_query_attention(q, v, **{**weights, "key_kernel": np.ones((DV, 3, 2), np.float32),
                                           "key_bias": None})
    with pytest.raises(TypeError, match="`query` must be an array"):
        F.grouped_query_attention([q], v, **weights)
    with pytest.raises(ValueError, match="flash_attention"):
        F.grouped_query_attention(q, v, **weights, flash_attention=True, return_attention_scores=True)
    if jax.default_backend() != "gpu":
        with pytest.raises(ValueError, match="`flash_attention=True` needs a GPU"):
            F.grouped_query_attention(q, v, **weights, flash_attention=True)


def test_dtype_computes_in_bfloat16(rng):
    q, v, _ = _data(rng, False)
    model = L.GroupedQueryAttention(2, 4, 2, dtype="bfloat16")
    params = model.init(jax.random.key(0), q, v)
    out = model.apply(params, q, v)
    assert out.dtype == jnp.bfloat16 and params["params"]["query_kernel"].dtype == jnp.float32
    reference = L.GroupedQueryAttention(2, 4, 2).apply(params, q, v)
    np.testing.assert_allclose(np.asarray(out, np.float32), np.asarray(reference), rtol=0.1, atol=0.1)
