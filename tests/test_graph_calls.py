"""Graphs written with `Input`/`Model` whose layers are called as Keras calls them.

Several tensors (`MultiHeadAttention()(q, v)`, also by name), tensor keywords
(`initial_state=[h, c]`, `attention_mask=m`), constant keywords (`use_causal_mask=True`,
`return_attention_scores=True`) and the unpacked outputs of a layer giving several
(`seq, h, c = LSTM(..., return_state=True)(x)`). The oracle is Keras 3: the same model
written with `keras.Input`/`keras.Model`, its (random) weights brought over by `from_keras`,
which must give the very same edges; outputs to 1e-5 (linen and NNX), `to_keras` back,
`summary`'s "Connected to", masks from Embedding(mask_zero=True), and the errors, which
are `from_keras`'s (one rule, `jaxlayers._graph.sort_keywords`).
"""
from __future__ import annotations

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
import jaxlayers.linen as L
import jaxlayers.nnx as J
from jaxlayers._graph import Call, Item, check_graph
from jaxlayers.keras import from_keras, to_keras

KL = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)
ROOT = Path(__file__).resolve().parents[1]


# Each case: the model written three times, with the same layer calls: Keras's, linen's and NNX's.
# `lib` is `L` or `J`; `r` gives NNX's rngs (None for linen) and `n` the NNX input sizes.

def mha_two(lib, r=None):
    q, v = lib.Input((8, 16)), lib.Input((6, 16))
    return [q, v], lib.MultiHeadAttention(*sizes(r, 16, 16, 16), num_heads=2, key_dim=4, **rngs(r))(q, v)


def keras_mha_two():
    q, v = keras.Input((8, 16)), keras.Input((6, 16))
    return [q, v], KL.MultiHeadAttention(num_heads=2, key_dim=4)(q, v)


def mha_scores(lib, r=None):
    q, v, m = lib.Input((8, 16)), lib.Input((6, 16)), lib.Input((8, 6))
    out, scores = lib.MultiHeadAttention(*sizes(r, 16, 16, 16), num_heads=2, key_dim=4, **rngs(r))(
        q, v, attention_mask=m, return_attention_scores=True)
    return [q, v, m], [lib.Dense(*sizes(r, 16), 3, **rngs(r))(out), scores]


def keras_mha_scores():
    q, v, m = keras.Input((8, 16)), keras.Input((6, 16)), keras.Input((8, 6))
    out, scores = KL.MultiHeadAttention(num_heads=2, key_dim=4)(q, v, attention_mask=m, return_attention_scores=True)
    return [q, v, m], [KL.Dense(3)(out), scores]


def mha_keywords(lib, r=None):
    q, v = lib.Input((8, 16)), lib.Input((6, 16))
    y = lib.MultiHeadAttention(*sizes(r, 16, 16, 16), num_heads=2, key_dim=4, **rngs(r))(
        query=q, value=v, key=v, use_causal_mask=True)
    return [q, v], y


def keras_mha_keywords():
    q, v = keras.Input((8, 16)), keras.Input((6, 16))
    return [q, v], KL.MultiHeadAttention(num_heads=2, key_dim=4)(query=q, value=v, key=v, use_causal_mask=True)


def lstm_states(lib, r=None):
    x, x2 = lib.Input((5, 3)), lib.Input((4, 2))
    seq, h, c = lib.LSTM(*sizes(r, 3), 8, return_sequences=True, return_state=True, **rngs(r))(x)
    y = lib.LSTM(*sizes(r, 2), 8, **rngs(r))(x2, initial_state=[h, c])
    return [x, x2], [seq, y]


def keras_lstm_states():
    x, x2 = keras.Input((5, 3)), keras.Input((4, 2))
    seq, h, c = KL.LSTM(8, return_sequences=True, return_state=True)(x)
    return [x, x2], [seq, KL.LSTM(8)(x2, initial_state=[h, c])]


def attention(lib, r=None):
    q, v = lib.Input((8, 16)), lib.Input((6, 16))
    a = lib.Attention(**rngs(r))([q, v])
    b, scores = lib.Attention(use_scale=True, **rngs(r))([q, v], use_causal_mask=True, return_attention_scores=True)
    return [q, v], [a, b, scores]


def keras_attention():
    q, v = keras.Input((8, 16)), keras.Input((6, 16))
    a = KL.Attention()([q, v])
    b, scores = KL.Attention(use_scale=True)([q, v], use_causal_mask=True, return_attention_scores=True)
    return [q, v], [a, b, scores]


def masked(lib, r=None):
    """Embedding(mask_zero) -> LSTM(sequences, states) -> MultiHeadAttention(seq, seq): masks flow into the
    new call form (the LSTM's `mask=`, the attention's `query_mask`/`value_mask`)."""
    i = lib.Input((6,))
    e = lib.Embedding(20, 5, mask_zero=True, **rngs(r))(i)
    seq, h, _ = lib.LSTM(*sizes(r, 5), 4, return_sequences=True, return_state=True, **rngs(r))(e)
    return [i], [lib.MultiHeadAttention(*sizes(r, 4, 4, 4), num_heads=2, key_dim=3, **rngs(r))(seq, seq), h]


def keras_masked():
    i = keras.Input((6,), dtype="int32")
    seq, h, _ = KL.LSTM(4, return_sequences=True, return_state=True)(KL.Embedding(20, 5, mask_zero=True)(i))
    return [i], [KL.MultiHeadAttention(num_heads=2, key_dim=3)(seq, seq), h]


CASES = {f.__name__: (f, globals()[f"keras_{f.__name__}"])
         for f in (mha_two, mha_scores, mha_keywords, lstm_states, attention, masked)}


def sizes(r, *n):
    return n if r is not None else ()


def rngs(r):
    return {} if r is None else {"rngs": r}


def data(inputs, rng):
    xs = []
    for t in inputs:
        shape = (2, *t.shape[1:])
        if t.dtype == "int32":
            ids = rng.integers(1, 20, shape)
            ids[:, 4:] = 0  # padding, masked by the Embedding
            ids[1, 2:] = 0
            xs.append(ids.astype(np.int32))
        elif len(shape) == 3 and shape[1:] == (8, 6):  # an attention mask
            xs.append((rng.random(shape) > 0.3).astype(np.float32))
        else:
            xs.append(rng.standard_normal(shape).astype(np.float32))
    return xs


_KERAS: dict[str, tuple] = {}


def keras_case(name):
    """The Keras model (random weights), its inputs, `predict`'s outputs and `from_keras`'s Graph, made once."""
    if name not in _KERAS:
        keras.backend.clear_session()
        inputs, outputs = CASES[name][1]()
        model = keras.Model(inputs, outputs, name=name)
        rng = np.random.default_rng(len(name))
        model.set_weights([(0.4 * rng.standard_normal(w.shape)).astype(w.dtype) for w in model.weights])
        xs = data(model.inputs, rng)
        want = model.predict(xs, verbose=0)
        _KERAS[name] = model, xs, [np.asarray(w) for w in (want if isinstance(want, list) else [want])]
    return _KERAS[name]


def assert_outputs(got, want):
    got = list(got) if isinstance(got, (list, tuple)) else [got]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, **TOL)


def wiring(graph):
    """A Graph's edges and outputs as `check_graph` reads them (`outputs=None`: the last layer's)."""
    return check_graph(len(graph.layers), graph.edges, graph.outputs, graph.num_inputs)


def linen_model(name):
    inputs, outputs = CASES[name][0](L)
    return L.Model(inputs, outputs)


def nnx_model(name):
    inputs, outputs = CASES[name][0](J, nnx.Rngs(0))
    return J.Model(inputs, outputs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_linen_graph_equals_keras(name):
    kmodel, xs, want = keras_case(name)
    imported, variables = from_keras(kmodel)
    model = linen_model(name)
    assert model.names == imported.names
    assert wiring(model) == wiring(imported)
    assert any(isinstance(e, Call) for e in model.edges)
    shapes = jax.tree.map(jnp.shape, jax.eval_shape(model.init, jax.random.key(0), *xs))
    assert shapes == jax.tree.map(jnp.shape, variables)
    assert_outputs(model.apply(variables, *xs), want)


@pytest.mark.parametrize("name", sorted(CASES))
def test_nnx_graph_equals_keras(name):
    kmodel, xs, want = keras_case(name)
    imported = from_keras(kmodel, api="nnx")
    model = nnx_model(name)
    assert model.names == imported.names and wiring(model) == wiring(imported)
    nnx.update(model, nnx.state(imported, nnx.Param))
    assert_outputs(model(*xs), want)


@pytest.mark.parametrize("name", ["lstm_states", "mha_scores", "masked"])
def test_to_keras_of_a_written_graph(name):
    kmodel, xs, want = keras_case(name)
    _, variables = from_keras(kmodel)
    shapes = [x.shape for x in xs] if len(xs) > 1 else xs[0].shape
    back = to_keras(linen_model(name), variables, shapes)
    assert [type(layer).__name__ for layer in back.layers] == [type(layer).__name__ for layer in kmodel.layers]
    assert_outputs(back.predict(xs if len(xs) > 1 else xs[0], verbose=0), want)
    if name == "lstm_states":  # and from NNX
        model = nnx_model(name)
        nnx.update(model, nnx.state(from_keras(kmodel, api="nnx"), nnx.Param))
        assert_outputs(to_keras(model, None, shapes).predict(xs, verbose=0), want)


def test_summary_connects_keyword_tensors_as_from_keras():
    kmodel, xs, _ = keras_case("lstm_states")
    shapes = [(None, *x.shape[1:]) for x in xs]
    ours = jaxlayers.summary(linen_model("lstm_states"), shapes)
    theirs = jaxlayers.summary(from_keras(kmodel)[0], shapes)
    assert ours.rows == theirs.rows
    assert {r.name: r.connected_to for r in ours.rows} == {
        "lstm": ("input_layer[0][0]",), "lstm_1": ("input_layer_1[0][0]", "lstm[0][1]", "lstm[0][2]")}
    assert [r.output_shape for r in ours.rows] == [((None, 5, 8), (None, 8), (None, 8)), (None, 8)]
    assert "input_layer_1[0][0], lstm[0][1], lstm[0][2]" in str(ours)
    nnx_rows = jaxlayers.summary(nnx_model("lstm_states"), shapes).rows
    assert [r.connected_to for r in nnx_rows] == [r.connected_to for r in ours.rows]


def test_outputs_index_and_slice():
    x, x2 = L.Input((5, 3)), L.Input((4, 2))
    out = L.LSTM(8, return_state=True)(x)
    y = L.LSTM(8)(x2, initial_state=out[1:])
    model = L.Model([x, x2], [out[0], out[-1], y])
    assert model.edges == (0, Call((1,), (("initial_state", (Item(2, 1), Item(2, 2))),)))
    assert model.outputs == (Item(2, 0), Item(2, 2), 3)
    whole = L.Model([x, x2], out)  # the tuple as one output
    xs = [jnp.ones((2, 5, 3)), jnp.ones((2, 4, 2))]
    got = whole.apply(whole.init(jax.random.key(0), *xs), *xs)
    assert [g.shape for g in got] == [(2, 8)] * 3


def test_a_keyword_only_call():
    """`layer(query=q, value=v)` has no positional argument and is recorded all the same."""
    q, v = L.Input((4, 6)), L.Input((5, 6))
    model = L.Model([q, v], L.MultiHeadAttention(2, 3)(value=v, query=q))
    assert model.edges == (Call((0, 1)),)


def keras_error(build):
    """from_keras's error for a Keras model, to compare with the builder's."""
    with pytest.raises(ValueError) as info:
        from_keras(build())
    return str(info.value)


def test_errors_are_from_keras_rule(monkeypatch):
    """A layer whose call lacks a keyword Keras's has: the same rule refuses it in both."""
    from jaxlayers.layers.attention.attention import Attention

    def narrower(self, inputs, scale, concat_score_weight, training, rng, mask=None, return_attention_scores=False):
        raise AssertionError("not called")

    monkeypatch.setattr(Attention, "call", narrower)
    q, v = keras.Input((4, 6)), keras.Input((5, 6))
    theirs = keras_error(lambda: keras.Model([q, v], KL.Attention(name="att")([q, v], use_causal_mask=True)))
    with pytest.raises(ValueError) as info:
        L.Attention(name="att")([L.Input((4, 6)), L.Input((5, 6))], use_causal_mask=True)
    tail = ("keyword use_causal_mask=True, which {} does not take; it takes ['return_attention_scores'] besides "
            "its input(s).")
    assert theirs.endswith(tail.format("the converted layer")) and "'att'" in theirs
    assert str(info.value) == "Attention 'att' is called with " + tail.format("the layer")


X = L.Input((5, 3))
Q, V = L.Input((8, 16)), L.Input((6, 16))
H = L.Input((8,))


@pytest.mark.parametrize("call, error, match", [
    (lambda: L.MultiHeadAttention(2, 4)(Q, V, foo=1), ValueError,
     r"^MultiHeadAttention is called with keyword foo=1, which the layer does not take; it takes "
     r"\['attention_mask', 'return_attention_scores', 'use_causal_mask'\] besides its input\(s\)\.$"),
    (lambda: L.MultiHeadAttention(2, 4, name="mha")(Q, V, attention_mask=jnp.ones((1, 8, 6))), ValueError,
     r"(?s)^MultiHeadAttention 'mha' is called with keyword attention_mask=.*: only tensors, bools, numbers and "
     r"strings convert\.$"),
    (lambda: L.MultiHeadAttention(2, 4)(Q, V, use_causal_mask=[True]), ValueError,
     r"keyword use_causal_mask=\[True\]: only tensors, bools, numbers and strings"),
    (lambda: L.LSTM(8)(X, initial_state=[H, jnp.zeros((1, 8))]), ValueError,
     r"(?s)^LSTM is called with keyword initial_state=.*: only a tensor or a list of tensors converts\.$"),
    (lambda: L.MultiHeadAttention(2, 4)(Q, V, query_mask=H), ValueError,
     r"MultiHeadAttention is called with query_mask=.*only the masks Keras attaches"),
    (lambda: L.MultiHeadAttention(2, 4)(query=Q, key=V), ValueError,
     r"MultiHeadAttention is called without its argument\(s\) \['query', 'value', 'key'\] in order"),
    (lambda: L.LSTM(8)(X, [H, H]), ValueError,
     r"LSTM is called with arguments its call does not bind .*takes its tensor argument\(s\) \['x'\]"),
    (lambda: L.MultiHeadAttention(2, 4)(Q, V, query=Q), ValueError, r"does not bind .*multiple values"),
    (lambda: L.MultiHeadAttention(2, 4)(Q, jnp.zeros((1, 6, 16))), TypeError,
     r"MultiHeadAttention called on symbolic tensors takes Tensors .* got a ArrayImpl"),
    (lambda: L.Dropout(0.5)(X, deterministic=False), ValueError,
     r"Dropout is called with keyword deterministic=False: a Graph's layers take their mode"),
    (lambda: L.LSTM(8)(X, training=True), ValueError, r"LSTM is called with keyword training=True"),
    (lambda: J.LSTM(3, 8, rngs=nnx.Rngs(0))(J.Input((5, 3)), foo=1), ValueError,
     r"^LSTM is called with keyword foo=1, which the layer does not take; it takes \['initial_state'\]"),
])
def test_bad_calls_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_only_several_outputs_unpack():
    with pytest.raises(TypeError, match=r"Dense gives one tensor here .* does not unpack"):
        _, _ = L.Dense(2)(X)
    with pytest.raises(TypeError, match="an Input is one tensor"):
        _ = X[0]
    seq, h, c = L.LSTM(8, return_sequences=True, return_state=True)(X)
    with pytest.raises(TypeError, match="one output of LSTM is one tensor"):
        _ = h[0]
    with pytest.raises(ValueError, match="too many values to unpack"):
        _, _ = L.LSTM(8, return_state=True)(X)
    with pytest.raises(ValueError, match=r"counting the outputs of MultiHeadAttention .*\[\(1, 5, 3\)\]\): "
                                         r"MultiHeadAttention `query` must be"):
        _ = L.MultiHeadAttention(2, 4)(L.Flatten()(X), X, return_attention_scores=True)[1]


def test_readme_example_runs():
    """The README's graph example with several arguments and outputs runs as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Graphs, as Keras's functional API writes them"):readme.index("### Dtypes")]
    snippet = next(s for s in re.findall(r"```python\n(.*?)```", section, re.S) if "return_state" in s)
    scope: dict = {}
    exec(snippet, scope)  # noqa: S102  (the README's own code)
    assert isinstance(scope["model"], L.Graph)
