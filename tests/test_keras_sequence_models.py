"""Keras's sequence models <-> jaxlayers Graphs (linen and NNX), against real Keras 3.

Layers called as Keras calls them: `MultiHeadAttention()(query, value, key)` (also as
keywords, with `attention_mask=`, `use_causal_mask=True`, `return_attention_scores=True`),
`Attention()([q, v], use_causal_mask=True)`, an LSTM's `initial_state=[h, c]` from another's
`return_state`. Each model converts with identical (random) weights and gives
`model.predict`'s outputs, gradients as Keras's (`stateless_call`), and goes back by
`to_keras` (and `.keras`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import jaxlayers
from jaxlayers.keras import from_keras, to_keras
from tests.keras_oracle import padded_mask

KL = keras.layers
TOL = dict(rtol=1e-4, atol=1e-4)
VOCAB, TIME = 20, 6


def randomize(model: keras.Model, seed: int) -> keras.Model:
    rng = np.random.default_rng(seed)
    model.set_weights([(0.4 * rng.standard_normal(w.shape)).astype(w.dtype) for w in model.weights])
    return model


def text_classifier() -> keras.Model:
    """Embedding(mask_zero) -> Bidirectional(LSTM, sequences) -> GRU -> Dense, on zero-padded token ids."""
    i = keras.Input((TIME,), dtype="int32")
    x = KL.Embedding(VOCAB, 5, mask_zero=True)(i)
    x = KL.Bidirectional(KL.LSTM(4, return_sequences=True))(x)
    x = KL.GRU(3)(x)
    return keras.Model(i, KL.Dense(2, activation="softmax")(x), name="text_classifier")


def encoder_block(rate: float = 0.1) -> keras.Model:
    """Embedding, then a causal Transformer encoder block (post-norm)."""
    i = keras.Input((TIME,), dtype="int32")
    x = KL.Embedding(VOCAB, 16)(i)
    a = KL.MultiHeadAttention(num_heads=2, key_dim=8)(x, x, use_causal_mask=True)
    x = KL.LayerNormalization()(KL.Add()([x, KL.Dropout(rate)(a)]))
    f = KL.Dense(16)(KL.Dense(32, activation="relu")(x))
    return keras.Model(i, KL.LayerNormalization()(KL.Add()([x, f])), name="encoder_block")


def seq2seq() -> keras.Model:
    """An encoder LSTM's final states start the decoder LSTM (`initial_state=[h, c]`)."""
    source, target = keras.Input((5, 3)), keras.Input((4, 2))
    _, h, c = KL.LSTM(6, return_state=True)(source)
    decoded = KL.LSTM(6, return_sequences=True)(target, initial_state=[h, c])
    return keras.Model([source, target], KL.Dense(3)(decoded), name="seq2seq")


def masked_seq2seq() -> keras.Model:
    """seq2seq on zero-padded token ids: the encoder skips its padding; the decoder, given `initial_state=`
    (two tensor arguments), gets no `mask=` in Keras and runs every step, yet its output carries its input's
    mask on to GlobalAveragePooling1D, which averages over the unmasked steps."""
    source, target = keras.Input((TIME,), dtype="int32"), keras.Input((TIME,), dtype="int32")
    _, h, c = KL.LSTM(4, return_state=True)(KL.Embedding(VOCAB, 3, mask_zero=True)(source))
    decoded = KL.LSTM(4, return_sequences=True)(KL.Embedding(VOCAB, 3, mask_zero=True)(target), initial_state=[h, c])
    return keras.Model([source, target], KL.Dense(2)(KL.GlobalAveragePooling1D()(decoded)), name="masked_seq2seq")


def attentions() -> keras.Model:
    """MultiHeadAttention with query=, value=, key= as keywords, an attention_mask input and the scores as a
    second output; Attention([q, v]) with use_causal_mask; `(query, value, key)` positionally; `training=False`."""
    q, v, k, m = keras.Input((4, 6)), keras.Input((5, 3)), keras.Input((5, 2)), keras.Input((4, 5))
    out, scores = KL.MultiHeadAttention(2, 3, value_dim=4)(query=q, value=v, key=k, attention_mask=m,
                                                           return_attention_scores=True)
    causal = KL.Attention(use_scale=True)([q, KL.Dense(6)(v)], use_causal_mask=True)
    g = KL.MultiHeadAttention(1, 2)(q, v, k)
    return keras.Model([q, v, k, m], [KL.Dense(2)(out), scores, causal, KL.Dropout(0.3)(g, training=False)],
                       name="attentions")


def attention_axes() -> keras.Model:
    """MultiHeadAttention over a 4-D input: over axis 1 alone, and over (1, 2) (the default, None)."""
    x = keras.Input((3, 4, 6))
    return keras.Model(x, [KL.MultiHeadAttention(2, 3, attention_axes=(1,))(x, x), KL.MultiHeadAttention(2, 3)(x, x)],
                       name="attention_axes")


def data(name: str, rng: np.random.Generator) -> list[np.ndarray]:
    if name in ("text_classifier", "encoder_block"):
        ids = rng.integers(1, VOCAB, (4, TIME))
        return [(ids * padded_mask(rng, 4, TIME) if name == "text_classifier" else ids).astype(np.int32)]
    if name == "masked_seq2seq":  # the decoder's rows keep a step each (GlobalAveragePooling1D of none is NaN)
        target = np.arange(TIME)[None] < np.array([[TIME], [4], [2], [5]])
        target[0, 1] = target[3, 2] = False
        return [(rng.integers(1, VOCAB, (4, TIME)) * m).astype(np.int32) for m in (padded_mask(rng, 4, TIME), target)]
    shapes = {"seq2seq": [(3, 5, 3), (3, 4, 2)], "attentions": [(2, 4, 6), (2, 5, 3), (2, 5, 2)],
              "attention_axes": [(2, 3, 4, 6)]}[name]
    xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return xs + [(rng.random((2, 4, 5)) > 0.3).astype(np.float32)] if name == "attentions" else xs


BUILDERS = {f.__name__: f for f in (text_classifier, encoder_block, seq2seq, masked_seq2seq, attentions,
                                    attention_axes)}


_CASES: dict[str, tuple] = {}


def case_of(name: str) -> tuple[keras.Model, list[np.ndarray], np.ndarray]:
    """The model (random weights), its inputs and `model.predict`'s outputs, made once."""
    if name not in _CASES:
        model = randomize(BUILDERS[name](), seed=len(name))
        xs = data(name, np.random.default_rng(1))
        _CASES[name] = model, xs, model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    return _CASES[name]


CHAINS = ("text_classifier", "encoder_block")  # no Call edges: their round trip only under -m slow


def as_list(y) -> list[np.ndarray]:
    return [np.asarray(t) for t in (y if isinstance(y, (list, tuple)) else [y])]


def assert_outputs(got, want) -> None:
    got, want = as_list(got), as_list(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.isfinite(w).all()  # NaN would equal NaN
        np.testing.assert_allclose(g, w, **TOL)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_predict_linen_and_nnx(name):
    model, xs, want = case_of(name)
    module, variables = from_keras(model)
    assert_outputs(module.apply(variables, *xs), want)
    if name not in CHAINS:  # NNX on the graphs with Call edges (its chains are test_nnx's and test_recurrent's)
        assert_outputs(from_keras(model, api="nnx")(*xs), want)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in CHAINS else n
                                  for n in sorted(BUILDERS)])
def test_to_keras_round_trip(name, tmp_path):
    model, xs, want = case_of(name)
    module, variables = from_keras(model)
    back = to_keras(module, variables, [x.shape for x in xs] if len(xs) > 1 else xs[0].shape)
    assert [type(layer).__name__ for layer in back.layers if type(layer).__name__ != "InputLayer"] == [
        type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer"]
    assert_outputs(back.predict(xs if len(xs) > 1 else xs[0], verbose=0), want)
    if model.name == "seq2seq":  # the Call edges survive a `.keras` file
        back.save(tmp_path / "back.keras")
        again, again_variables = from_keras(tmp_path / "back.keras")
        assert_outputs(again.apply(again_variables, *xs), want)
        assert_summary_connects_keyword_tensors(model, module)
    if model.name == "attentions":  # and come back from NNX too
        nnx_back = to_keras(from_keras(model, api="nnx"), None, [x.shape for x in xs])
        assert_outputs(nnx_back.predict(xs, verbose=0), want)


def keras_gradients(model: keras.Model, xs: list[np.ndarray]):
    """Keras's gradients of sum(sin(outputs)) wrt its trainable weights (by path) and inputs."""
    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def loss(weights, inputs):
        y, _ = model.stateless_call(weights, frozen, inputs if len(inputs) > 1 else inputs[0])
        return sum(jnp.sum(jnp.sin(t)) for t in jax.tree.leaves(y))

    dw, dx = jax.jit(jax.grad(loss, argnums=(0, 1), allow_int=True))(trainable, [jnp.asarray(x) for x in xs])
    return {v.path: g for v, g in zip(model.trainable_variables, dw)}, dx


@pytest.mark.parametrize("build", [pytest.param(encoder_block, marks=pytest.mark.slow), seq2seq])
def test_gradients(build):
    model = randomize(build() if build is not encoder_block else encoder_block(rate=0.0), seed=3)
    xs = data(model.name, np.random.default_rng(2))
    want_w, want_x = keras_gradients(model, xs)
    module, variables = from_keras(model)

    def loss(params, inputs):
        y = module.apply({**variables, "params": params}, *inputs)
        return sum(jnp.sum(jnp.sin(t)) for t in jax.tree.leaves(y))

    dw, dx = jax.jit(jax.grad(loss, argnums=(0, 1), allow_int=True))(variables["params"],
                                                                      [jnp.asarray(x) for x in xs])
    if model.name != "encoder_block":  # its input is token ids
        for g, w in zip(dx, want_x):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), **TOL)
    # each layer's weights' gradients: the same total per layer (names differ: Keras's paths nest sublayers)
    for layer in model.layers:
        theirs = [g for path, g in want_w.items() if path.split("/")[0] == layer.name]
        if theirs:
            ours = jax.tree.leaves(dw[layer.name])
            assert sorted(g.size for g in ours) == sorted(g.size for g in theirs), layer.name
            np.testing.assert_allclose(sum(float(jnp.sum(g ** 2)) for g in ours),
                                       sum(float(jnp.sum(g ** 2)) for g in theirs), rtol=1e-4, err_msg=layer.name)


def test_training_mode():
    xs = data("encoder_block", np.random.default_rng(4))
    model = randomize(encoder_block(rate=0.0), seed=5)  # dropout off: Keras's training call is deterministic
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, *xs, training=True)),
                               np.asarray(model(xs[0], training=True)), **TOL)
    model = randomize(encoder_block(rate=0.5), seed=5)  # dropout on: the Graph's training flag reaches it
    module, variables = from_keras(model)
    infer = module.apply(variables, *xs)
    np.testing.assert_allclose(np.asarray(infer), model.predict(xs[0], verbose=0), **TOL)
    train = [module.apply(variables, *xs, training=True, rngs={"dropout": jax.random.key(k)}) for k in (0, 0, 1)]
    assert not np.allclose(train[0], infer, atol=1e-3) and not np.allclose(train[0], train[2], atol=1e-3)
    np.testing.assert_array_equal(np.asarray(train[0]), np.asarray(train[1]))


def assert_summary_connects_keyword_tensors(model: keras.Model, module) -> None:
    """`summary`'s "Connected to" names the states a decoder takes by `initial_state=`, as Keras's."""
    rows = str(jaxlayers.summary(module, [(None, *x.shape[1:]) for x in model.inputs])).splitlines()

    def name(t):
        j = next((j for j, x in enumerate(model.inputs) if x is t), None)
        op, node, index = t._keras_history
        return f"input_layer{f'_{j}' if j else ''}[0][0]" if j is not None else f"{op.name}[{node}][{index}]"

    decoder = next(layer for layer in model.layers if len(layer._inbound_nodes[0].input_tensors) == 3)
    want = ", ".join(name(t) for t in decoder._inbound_nodes[0].input_tensors)
    assert any(r.startswith(decoder.name + " ") and r.rstrip().endswith(want) for r in rows), (want, rows)


def test_positional_initial_state():
    """`GRU()(x, [h])` binds `[h]` as Keras does, to `initial_state`: a tensor keyword of the Graph's edge."""
    from jaxlayers._graph import Call, Item

    source, target = keras.Input((5, 3)), keras.Input((4, 3))
    _, h = KL.GRU(4, return_state=True)(source, training=False)
    module, _ = from_keras(keras.Model([source, target], KL.GRU(4, return_sequences=True)(target, [h])))
    assert module.edges == (0, Call((1,), (("initial_state", (Item(2, 1),)),)))


def test_errors(monkeypatch):
    x = keras.Input((4, 3))
    with pytest.raises(ValueError, match=r"'noisy' \(Dropout\) is called with training=True"):
        from_keras(keras.Model(x, KL.Dropout(0.5, name="noisy")(x, training=True)))
    i, m = keras.Input((4,), dtype="int32"), keras.Input((4,), dtype="bool")
    lstm = KL.LSTM(2, name="lstm")(KL.Embedding(5, 3)(i), mask=m)
    with pytest.raises(ValueError, match="'lstm' .*mask= other than its input's own Keras mask"):
        from_keras(keras.Model([i, m], lstm))
    e = KL.Embedding(5, 3, mask_zero=True)(i)
    _, h = KL.GRU(2, return_state=True)(e)
    given = KL.GRU(2, name="given_gru")(e, initial_state=[h], mask=e._keras_mask)  # not Keras's own "gru"
    with pytest.raises(ValueError, match="'given_gru' .*mask= beside other tensor arguments"):
        from_keras(keras.Model(i, given))
    q, v = keras.Input((4, 6)), keras.Input((5, 6))
    model = keras.Model([q, v], KL.Attention(name="att")([q, v], use_causal_mask=True))
    from jaxlayers.layers.attention.attention import Attention

    def narrower(self, inputs, scale, concat_score_weight, training, rng, mask=None, return_attention_scores=False):
        raise AssertionError("not called")

    monkeypatch.setattr(Attention, "call", narrower)  # a converted layer without Keras's keyword
    with pytest.raises(ValueError, match=r"'att'.* keyword use_causal_mask=True, which the converted layer does "
                                         r"not take; it takes \['return_attention_scores'\] besides its input"):
        from_keras(model)


def test_graph_checks_call_edges():
    """A Graph's `Call` and `Item` edges are checked before anything runs, naming the edge."""
    from jaxlayers import linen as L
    from jaxlayers._graph import Call, Item

    dense = [L.Dense(2), L.Dense(2)]
    with pytest.raises(TypeError, match=r"`edges\[1\]`.args must be a non-empty tuple"):
        L.Graph(dense, [0, Call(())]).init(jax.random.key(0), jnp.ones((1, 3)))
    with pytest.raises(ValueError, match=r"`edges\[1\]`.keywords\['initial_state'\] must name tensors 0..1"):
        L.Graph(dense, [0, Call((0,), (("initial_state", (5,)),))]).init(jax.random.key(0), jnp.ones((1, 3)))
    with pytest.raises(TypeError, match=r"`outputs` must be a tensor id \(int, or Item\(id, index >= 0\)\)"):
        L.Graph(dense, [0, 1], outputs=Item(1, -1)).init(jax.random.key(0), jnp.ones((1, 3)))
