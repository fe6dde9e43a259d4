"""`F.attention` and `F.additive_attention` against Keras 3's `Attention` and `AdditiveAttention`."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from jaxlayers import functional as F

KL = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)
B, TQ, TV, D, DV = 2, 4, 5, 3, 6


def _data(rng, key: bool):
    q = rng.standard_normal((B, TQ, D)).astype(np.float32)
    v = rng.standard_normal((B, TV, DV if key else D)).astype(np.float32)
    k = rng.standard_normal((B, TV, D)).astype(np.float32) if key else None
    return q, v, k


def _masks(rng):
    qm = rng.random((B, TQ)) > 0.3
    vm = rng.random((B, TV)) > 0.3
    vm[:, 0] = True  # Keras needs one True per row
    return qm, vm


def _keras(layer, q, v, k, qm, vm, causal):
    inputs = [q, v] if k is None else [q, v, k]
    mask = None if qm is None else [qm, vm] + ([None] if k is not None else [])
    out, w = layer(inputs, mask=mask, return_attention_scores=True, use_causal_mask=causal)
    return np.asarray(out), np.asarray(w)


CASES = [dict(key=k, masked=m, causal=c) for k in (False, True) for m in (False, True) for c in (False, True)]


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("score_mode, use_scale", [("dot", False), ("dot", True), ("concat", False), ("concat", True)])
def test_attention_matches_keras(score_mode, use_scale, case, rng):
    q, v, k = _data(rng, case["key"])
    qm, vm = _masks(rng) if case["masked"] else (None, None)
    layer = KL.Attention(use_scale=use_scale, score_mode=score_mode)
    layer.build([q.shape, v.shape] + ([] if k is None else [k.shape]))
    weights = {w.name: rng.uniform(0.5, 1.5, ()).astype(np.float32) for w in layer.weights}
    for w in layer.weights:
        w.assign(weights[w.name])
    out, w = _keras(layer, q, v, k, qm, vm, case["causal"])
    ours, ours_w = F.attention(q, v, k, score_mode=score_mode, scale=weights.get("scale"),
                               concat_score_weight=weights.get("concat_score_weight"), query_mask=qm,
                               value_mask=vm, use_causal_mask=case["causal"])
    np.testing.assert_allclose(np.asarray(ours), out, **TOL)
    np.testing.assert_allclose(np.asarray(ours_w), w, **TOL)


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("use_scale", [False, True])
def test_additive_attention_matches_keras(use_scale, case, rng):
    q, v, k = _data(rng, case["key"])
    qm, vm = _masks(rng) if case["masked"] else (None, None)
    layer = KL.AdditiveAttention(use_scale=use_scale)
    layer.build([q.shape, v.shape] + ([] if k is None else [k.shape]))
    scale = rng.standard_normal((D,)).astype(np.float32) if use_scale else None
    if use_scale:
        layer.scale.assign(scale)
    out, w = _keras(layer, q, v, k, qm, vm, case["causal"])
    ours, ours_w = F.additive_attention(q, v, k, scale=scale, query_mask=qm, value_mask=vm,
                                        use_causal_mask=case["causal"])
    np.testing.assert_allclose(np.asarray(ours), out, **TOL)
    np.testing.assert_allclose(np.asarray(ours_w), w, **TOL)


def test_gradients_match_keras(rng):
    q, v, k = _data(rng, True)
    qm, vm = _masks(rng)
    scale = rng.standard_normal((D,)).astype(np.float32)
    layer = KL.AdditiveAttention()
    layer.build([q.shape, v.shape, k.shape])
    layer.scale.assign(scale)

    def keras_loss(q, v, k, s):
        (out, _), _ = layer.stateless_call([s], [], [q, v, k], mask=[qm, vm, None], return_attention_scores=True)
        return jnp.sum(jnp.sin(out))

    def our_loss(q, v, k, s):
        return jnp.sum(jnp.sin(F.additive_attention(q, v, k, scale=s, query_mask=qm, value_mask=vm)[0]))

    expected = jax.grad(keras_loss, argnums=(0, 1, 2, 3))(q, v, k, scale)
    got = jax.grad(our_loss, argnums=(0, 1, 2, 3))(q, v, k, scale)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.asarray(g), np.asarray(e), **TOL)


def test_dropout_drops_weights_and_rescales(rng):
    q, v, _ = _data(rng, False)
    plain, w = F.attention(q, v)
    _, dropped = F.attention(q, v, dropout=0.5, rng_key=jax.random.key(0))
    dropped = np.asarray(dropped)
    zero = dropped == 0
    assert 0.3 < zero.mean() < 0.7
    np.testing.assert_allclose(dropped[~zero], 2 * np.asarray(w)[~zero], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(F.attention(q, v, dropout=0.5)[0]), np.asarray(plain))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(score_mode="dott"), ValueError, "score_mode"),
    (dict(score_mode="concat"), ValueError, "concat_score_weight"),
    (dict(query_mask=np.ones((B, TQ + 1), bool)), ValueError, "query_mask"),
    (dict(value_mask=np.ones((B,), bool)), ValueError, "value_mask"),
])
def test_bad_arguments_are_named(kwargs, error, match, rng):
    q, v, _ = _data(rng, False)
    with pytest.raises(error, match=match):
        F.attention(q, v, **kwargs)


def test_bad_inputs_are_named(rng):
    q, v, k = _data(rng, True)
    with pytest.raises(ValueError, match="query"):
        F.attention(q[0], v, k)
    with pytest.raises(ValueError, match="key"):
        F.attention(q, v, k[:, :-1])
    with pytest.raises(TypeError, match="value"):
        F.attention(q, [v], k)
    with pytest.raises(ValueError, match="scale"):
        F.additive_attention(q, v, k, scale=np.ones((D + 1,), np.float32))


@pytest.mark.parametrize("name, kwargs", [("Attention", dict(use_scale=True, score_mode="concat")),
                                          ("Attention", dict()), ("AdditiveAttention", dict())])
def test_layers_match_keras(name, kwargs, rng):
    from flax import nnx

    from jaxlayers import linen as L
    from jaxlayers import nnx as J
    q, v, k = _data(rng, True)
    qm, vm = _masks(rng)
    layer = getattr(KL, name)(**kwargs)
    layer.build([q.shape, v.shape, k.shape])
    weights = {w.name: rng.uniform(0.5, 1.5, tuple(w.shape)).astype(np.float32) for w in layer.weights}
    for w in layer.weights:
        w.assign(weights[w.name])
    out, w = _keras(layer, q, v, k, qm, vm, True)
    call = dict(mask=[qm, vm], return_attention_scores=True, use_causal_mask=True)
    linen = getattr(L, name)(**kwargs)
    params = linen.init(jax.random.key(0), [q, v, k])
    assert sorted(params.get("params", {})) == sorted(weights)
    ours = linen.apply({"params": weights}, [q, v, k], **call)
    sizes = (D,) if name == "AdditiveAttention" else ()
    module = getattr(J, name)(*sizes, **kwargs, rngs=nnx.Rngs(0))
    for n, value in weights.items():
        getattr(module, n)[...] = value
    for how, (o, s) in {"linen": ours, "nnx": module([q, v, k], **call)}.items():
        np.testing.assert_allclose(np.asarray(o), out, **TOL, err_msg=how)
        np.testing.assert_allclose(np.asarray(s), w, **TOL, err_msg=how)


def test_layer_dropout_only_in_training(rng):
    from jaxlayers import linen as L
    q, v, _ = _data(rng, False)
    layer = L.Attention(dropout=0.5)
    _, w = layer.apply({}, [q, v], return_attention_scores=True)
    _, dropped = layer.apply({}, [q, v], return_attention_scores=True, deterministic=False,
                             rngs={"dropout": jax.random.key(1)})
    dropped = np.asarray(dropped)
    assert 0.3 < (dropped == 0).mean() < 0.7
    np.testing.assert_allclose(dropped[dropped != 0], 2 * np.asarray(w)[dropped != 0], rtol=1e-6)


def test_layer_arguments_are_checked(rng):
    from jaxlayers import linen as L
    q, v, _ = _data(rng, False)
    for kwargs, error, match in [(dict(score_mode="add"), ValueError, "score_mode"),
                                 (dict(dropout=1.5), ValueError, "dropout"),
                                 (dict(use_scale="yes"), TypeError, "use_scale")]:
        with pytest.raises(error, match=match):
            L.Attention(**kwargs).init(jax.random.key(0), [q, v])
    with pytest.raises(TypeError, match="inputs"):
        L.Attention().init(jax.random.key(0), [q])
