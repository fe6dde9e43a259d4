"""Keras masks in imported graphs: made by Embedding(mask_zero=True), passed through the layers
that support masking, read by recurrent layers, GlobalAveragePooling1D and the attention layers
(MultiHeadAttention's query, value and key masks, Attention's [query, value]); Keras is the oracle.
Models whose masks jaxlayers cannot carry as Keras does are refused, naming the layer."""
from __future__ import annotations

import jax
import keras
import numpy as np
import pytest

from jaxlayers import functional as F
from jaxlayers.keras import from_keras, to_keras
from tests.keras_oracle import random_weights

K = keras.layers
TOL = dict(rtol=1e-5, atol=1e-5)


def padded_ids(rng: np.random.Generator, batch: int = 5, time: int = 7, vocabulary: int = 12) -> np.ndarray:
    """Token ids with zero padding on the right of each row (one row also on the left, one empty step inside)."""
    ids = rng.integers(1, vocabulary, (batch, time))
    for row, length in enumerate(rng.integers(1, time + 1, batch)):
        ids[row, length:] = 0
    ids[0, :2], ids[-1, 1] = 0, 0
    ids[1, 0] = 3  # no row is all padding (Keras's average of nothing is NaN)
    return ids.astype(np.int32)


def functional(*layers, time: int = 7) -> keras.Model:
    inputs = keras.Input((time,), dtype="int32")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_masks_pass_through_layers_that_support_them(api, rng):
    """Embedding -> Dropout -> Dense -> LSTM(sequences) -> LayerNormalization -> GlobalAveragePooling1D -> Dense."""
    model = functional(K.Embedding(12, 6, mask_zero=True), K.Dropout(0.2), K.Dense(5, activation="tanh"),
                       K.LSTM(4, return_sequences=True), K.LayerNormalization(), K.GlobalAveragePooling1D(),
                       K.Dense(3))
    ids = padded_ids(rng)
    expected = np.asarray(model(ids))
    if api == "nnx":
        np.testing.assert_allclose(np.asarray(from_keras(model, api="nnx")(ids)), expected, **TOL)
        return
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, ids)), expected, **TOL)
    np.testing.assert_allclose(np.asarray(to_keras(module, variables, (None, 7))(ids)), expected, **TOL)


def test_global_average_pooling_1d_averages_over_the_unmasked_steps(rng):
    model = functional(K.Embedding(12, 4, mask_zero=True), K.GlobalAveragePooling1D())
    ids = padded_ids(rng)
    module, variables = from_keras(model)
    got = np.asarray(module.apply(variables, ids))
    np.testing.assert_allclose(got, np.asarray(model(ids)), **TOL)
    table = np.asarray(variables["params"][model.layers[1].name]["embeddings"])
    keep = ids != 0
    reference = (table[ids] * keep[..., None]).sum(1) / keep.sum(1, keepdims=True)  # NumPy, independently
    np.testing.assert_allclose(got, reference, **TOL)


def test_functional_masked_global_average(rng):
    x = rng.standard_normal((3, 4, 5, 2)).astype(np.float32)
    mask = rng.uniform(size=(3, 4, 5)) > 0.4
    mask[:, 0, 0] = True
    want = (x * mask[..., None]).sum((1, 2)) / mask.sum((1, 2))[:, None]
    np.testing.assert_allclose(np.asarray(F.global_avg_pool(x, mask=mask)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(F.global_avg_pool(x, True, mask))[:, 0, 0], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"`mask` must be \(batch, \*spatial\) = \(3, 4, 5\), got shape \(3, 4\)"):
        F.global_avg_pool(x, mask=mask[..., 0])


def refused(model: keras.Model, layer: str) -> None:
    with pytest.raises(ValueError, match=f"'{layer}'.*takes the mask of an Embedding"):
        from_keras(model)


@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_batch_normalization_statistics_over_the_unmasked_steps(api, rng):
    """Embedding(mask_zero) -> LSTM(sequences) -> BatchNormalization -> GlobalAveragePooling1D -> Dense: Keras's
    training-mode statistics are over the unmasked steps; outputs and moving statistics as Keras's, in both modes."""
    model = functional(K.Embedding(12, 4, mask_zero=True), K.LSTM(5, return_sequences=True),
                       K.BatchNormalization(momentum=0.5, name="bn"), K.GlobalAveragePooling1D(), K.Dense(3))
    random_weights(model, rng, 0.5)
    ids = padded_ids(rng)
    want = model.predict(ids, verbose=0)
    if api == "nnx":
        layer = from_keras(model, api="nnx")
        np.testing.assert_allclose(np.asarray(layer(ids)), want, **TOL)
        layer.train()
        got = np.asarray(layer(ids))
        stats = {n: np.asarray(getattr(layer.layers[2], n)[...]) for n in ("moving_mean", "moving_variance")}
    else:
        module, variables = from_keras(model)
        np.testing.assert_allclose(np.asarray(module.apply(variables, ids)), want, **TOL)
        got, updates = module.apply(variables, ids, training=True, mutable=["batch_stats"])
        stats = {n: np.asarray(updates["batch_stats"]["bn"][n]) for n in ("moving_mean", "moving_variance")}
    np.testing.assert_allclose(np.asarray(got), np.asarray(model(ids, training=True)), **TOL)
    bn = model.get_layer("bn")
    for name in stats:
        np.testing.assert_allclose(stats[name], np.asarray(getattr(bn, name)), err_msg=name, **TOL)


def test_functional_masked_batch_norm_matches_keras(rng):
    """F.batch_norm(mask=) against Keras's layer called with the mask: a step masked everywhere in a batch row,
    a features axis other than the last, the gradients; inference ignores the mask."""
    x = rng.standard_normal((3, 6, 4)).astype(np.float32) * 3 + 1
    mask = rng.uniform(size=(3, 6)) > 0.4
    mask[1] = False
    for axis in (-1, 1):
        layer = K.BatchNormalization(axis=axis, momentum=0.8)
        layer.build(x.shape)
        weights = [rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights]
        weights[3] = np.abs(weights[3]) + 0.5
        layer.set_weights(weights)
        gamma, beta, mean, var = map(jax.numpy.asarray, weights)
        want = np.asarray(layer(x, training=True, mask=mask))
        y, new_mean, new_var = F.batch_norm(x, mean, var, gamma, beta, training=True, axis=axis, momentum=0.8,
                                            mask=mask)
        np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(np.asarray(new_mean), np.asarray(layer.moving_mean), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(new_var), np.asarray(layer.moving_variance), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(F.batch_norm(x, mean, var, gamma, beta, axis=axis, mask=mask)[0]),
                                   np.asarray(F.batch_norm(x, mean, var, gamma, beta, axis=axis)[0]))

        def keras_loss(x):
            values = [jax.numpy.asarray(w) for w in weights]
            out = layer.stateless_call(values[:2], values[2:], x, training=True, mask=mask)[0]
            return jax.numpy.sum(jax.numpy.sin(out))

        def our_loss(x):
            return jax.numpy.sum(jax.numpy.sin(F.batch_norm(x, mean, var, gamma, beta, training=True, axis=axis,
                                                             mask=mask)[0]))

        np.testing.assert_allclose(np.asarray(jax.grad(our_loss)(x)), np.asarray(jax.grad(keras_loss)(x)),
                                   rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"`mask` must be x's shape but the last axis, \(3, 6\), got shape \(3,\)"):
        F.batch_norm(x, mean, var, training=True, mask=mask[:, 0])


def test_masked_input_to_a_nested_model_is_refused():
    inner = keras.Sequential([keras.Input((7, 4)), K.LSTM(3)], name="inner")
    refused(functional(K.Embedding(12, 4, mask_zero=True), inner), "inner")


def test_unmasked_graphs_are_unaffected(rng):
    """Without mask_zero no layer gets a mask: padding ids are averaged as any other."""
    model = functional(K.Embedding(12, 4), K.Dense(3), K.GlobalAveragePooling1D())
    ids = padded_ids(rng)
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, ids)), np.asarray(model(ids)), **TOL)


# ------------------------------------------------------------------ attention layers

ATTENTION_TOL = dict(rtol=1e-4, atol=1e-4)


def check_attention(build, inputs, api: str = "linen") -> None:
    """`build(mask_zero)` -> a Keras model: the masked one's `predict` equals the conversion's (to 1e-4),
    and differs from the same weights unmasked (so the masks are what is being checked)."""
    model, plain = build(True), build(False)
    weights = random_weights(model, np.random.default_rng(1), 0.5)
    plain.set_weights(weights)
    want = model.predict(inputs, verbose=0)
    assert np.abs(want - plain.predict(inputs, verbose=0)).max() > 1e-3
    if api == "nnx":
        got = from_keras(model, api="nnx")(*inputs) if isinstance(inputs, list) else from_keras(model, api="nnx")(inputs)
    else:
        module, variables = from_keras(model)
        got = module.apply(variables, *inputs) if isinstance(inputs, list) else module.apply(variables, inputs)
    np.testing.assert_allclose(np.asarray(got), want, **ATTENTION_TOL)


def self_attention(attention, mask_zero: bool) -> keras.Model:
    """The Keras Transformer text model's core: Embedding -> attention(x, x) -> GlobalAveragePooling1D -> Dense."""
    ids = keras.Input((7,), dtype="int32")
    x = K.Embedding(12, 8, mask_zero=mask_zero)(ids)
    return keras.Model(ids, K.Dense(3)(K.GlobalAveragePooling1D()(attention(x))))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_masked_self_attention(causal, api, rng):
    """MultiHeadAttention takes the Embedding's mask as query_mask and value_mask; its output carries the
    query's mask on to GlobalAveragePooling1D."""
    check_attention(lambda mask_zero: self_attention(
        lambda x: K.MultiHeadAttention(2, 4)(x, x, use_causal_mask=causal), mask_zero), padded_ids(rng), api)


def test_masked_self_attention_round_trips(tmp_path, rng):
    """The converted masked Transformer core back to Keras (masks made there again), and from a `.keras` file."""
    model = self_attention(lambda x: K.MultiHeadAttention(2, 4)(x, x), True)
    random_weights(model, rng, 0.5)
    ids = padded_ids(rng)
    want = model.predict(ids, verbose=0)
    module, variables = from_keras(model)
    np.testing.assert_allclose(to_keras(module, variables, (None, 7)).predict(ids, verbose=0), want, **ATTENTION_TOL)
    model.save(tmp_path / "m.keras")
    module, variables = from_keras(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(module.apply(variables, ids)), want, **ATTENTION_TOL)


def test_masked_grouped_query_attention(rng):
    check_attention(lambda mask_zero: self_attention(
        lambda x: K.GroupQueryAttention(4, 2, 1)(x, x), mask_zero), padded_ids(rng))


def two_inputs(mask_zero: bool, query_mask_zero: bool, call) -> keras.Model:
    """query ids (batch, 5) and value ids (batch, 7), each embedded; `call(query, value)` -> GAP1D -> Dense."""
    q_ids, v_ids = keras.Input((5,), dtype="int32"), keras.Input((7,), dtype="int32")
    q = K.Embedding(12, 8, mask_zero=mask_zero and query_mask_zero)(q_ids)
    v = K.Embedding(12, 6, mask_zero=mask_zero)(v_ids)
    return keras.Model([q_ids, v_ids], K.Dense(3)(K.GlobalAveragePooling1D()(call(q, v))))


@pytest.mark.parametrize("layer", [K.Attention, K.AdditiveAttention])
@pytest.mark.parametrize("with_key", [False, True])
def test_masked_attention_list(layer, with_key, rng):
    """Attention([q, v(, k)]) takes mask=[q_mask, v_mask(, k_mask)]; its output has the query's mask."""
    def call(q, v):
        return layer(use_scale=True)([q, v, K.Dense(8)(v)] if with_key else [q, K.Dense(8)(v)])

    check_attention(lambda mask_zero: two_inputs(mask_zero, True, call), [padded_ids(rng, time=5), padded_ids(rng)])


def test_cross_attention_with_only_the_value_masked(rng):
    """An unmasked query attends to a masked value (and key): value_mask (and key_mask) alone."""
    check_attention(lambda mask_zero: two_inputs(mask_zero, False, lambda q, v: K.MultiHeadAttention(2, 4)(q, v)),
                    [padded_ids(rng, time=5), padded_ids(rng)])
    check_attention(lambda mask_zero: two_inputs(mask_zero, False, lambda q, v: K.MultiHeadAttention(2, 4)(
        q, v, K.Dense(5)(v))), [padded_ids(rng, time=5), padded_ids(rng)])


@pytest.mark.parametrize("masked", ["query", "value"])
def test_one_masked_argument_beside_a_float_input(masked, rng):
    """A masked Embedding as the query (query_mask alone, on to the output) or the value of a float input."""
    def build(mask_zero: bool) -> keras.Model:
        ids, floats = keras.Input((7,), dtype="int32"), keras.Input((7, 4))
        e = K.Embedding(12, 4, mask_zero=mask_zero)(ids)
        args = (e, floats) if masked == "query" else (floats, e)
        return keras.Model([ids, floats], K.Dense(3)(K.GlobalAveragePooling1D()(K.MultiHeadAttention(1, 2)(*args))))

    check_attention(build, [padded_ids(rng), rng.standard_normal((5, 7, 4)).astype(np.float32)])


def test_masked_residual_attention_block(rng):
    """Embedding(mask_zero) -> x + MultiHeadAttention(x, x) -> LayerNormalization -> Flatten -> Dense: the
    residual Add takes the tensor whose mask MultiHeadAttention clears (Flatten drops the mask)."""
    def build(mask_zero: bool) -> keras.Model:
        ids = keras.Input((7,), dtype="int32")
        x = K.Embedding(12, 8, mask_zero=mask_zero)(ids)
        y = K.LayerNormalization()(K.Add()([x, K.MultiHeadAttention(2, 4)(x, x)]))
        return keras.Model(ids, K.Dense(3)(K.Flatten()(y)))

    check_attention(build, padded_ids(rng))


def test_attention_masks_that_do_not_carry_are_refused():
    """Keras's MultiHeadAttention clears its arguments' masks off them when it runs, and Keras's own order decides
    whether another reading a mask off a tensor (a query, Maximum's operands) sees it: where that order is not
    fixed, or the mask was cleared off another tensor of the same array (Dropout gives back its input itself), the
    model is refused; so is a given value_mask=."""
    ids = keras.Input((7,), dtype="int32")
    x = K.Embedding(12, 8, mask_zero=True)(ids)
    match = "'{}'.*reads a mask that 'first' \\(MultiHeadAttention\\) clears off its arguments"
    d = K.Dropout(0.1)(x)
    a = K.MultiHeadAttention(2, 4, name="first")(d, d)
    with pytest.raises(ValueError, match=match.format("second")):
        from_keras(keras.Model(ids, K.MultiHeadAttention(2, 4, name="second")(x, a)))
    a = K.MultiHeadAttention(2, 4, name="first")(x, x)
    unrelated = K.Maximum(name="max")([x, K.Dense(8)(x)])  # may run before or after "first"
    with pytest.raises(ValueError, match=match.format("max")):
        from_keras(keras.Model(ids, [K.GlobalAveragePooling1D()(a), K.GlobalAveragePooling1D()(unrelated)]))
    late = K.LSTM(3, name="lstm")(x, training=False)  # a keyword: Keras reads the mask on x, may be cleared by then
    with pytest.raises(ValueError, match=match.format("lstm")):
        from_keras(keras.Model(ids, [K.GlobalAveragePooling1D()(a), late]))
    from_keras(keras.Model(ids, [K.GlobalAveragePooling1D()(a), K.LSTM(3)(x)]))  # the recorded mask: converts
    floats = keras.Input((7, 8))
    given = K.MultiHeadAttention(2, 4, name="given")(floats, floats, value_mask=K.Lambda(lambda t: t[..., 0] > 0)(floats))
    with pytest.raises(ValueError, match="'given'.*value_mask="):
        from_keras(keras.Model(floats, given))


def cleared_by_attention(kind: str, mask_zero: bool) -> keras.Model:
    """Models whose masks Keras's MultiHeadAttention clears before another layer reads them off the tensors."""
    ids = keras.Input((7,), dtype="int32")
    x = K.Embedding(12, 8, mask_zero=mask_zero)(ids)
    a = K.MultiHeadAttention(2, 4)(x, x)
    if kind == "second query":  # the second's query x has lost its mask; its value a keeps the graph's
        y = K.MultiHeadAttention(2, 4)(x, a)
    elif kind == "maximum":  # x unmasked by then, a masked (the query's mask, read before clearing)
        y = K.Maximum()([x, a])
    else:  # two Transformer blocks: the second's query, the first's residual Add of x, has none
        h = K.LayerNormalization()(K.Add()([x, a]))
        h = K.LayerNormalization()(K.Add()([h, K.MultiHeadAttention(2, 4)(h, h, use_causal_mask=True)]))
        y = K.LayerNormalization()(K.Add()([h, K.Dense(8)(K.Dense(16, activation="relu")(h))]))
    return keras.Model(ids, K.Dense(3)(K.GlobalAveragePooling1D()(y)))


@pytest.mark.parametrize("kind", ["second query", "maximum", "two blocks"])
@pytest.mark.parametrize("api", ["linen", "nnx"])
def test_masks_cleared_by_attention_as_keras(kind, api, rng):
    """The Graph clears the masks as Keras's MultiHeadAttention does, so layers reading them off the tensors after
    it (a second attention's query, Maximum, a second Transformer block) see what Keras's see."""
    check_attention(lambda mask_zero: cleared_by_attention(kind, mask_zero), padded_ids(rng), api)


def test_cleared_masks_matter(rng):
    """The clearing is real: the second block's attention given the masks its model recorded (its query's and
    value's) computes other values at the valid steps than with none, as Keras runs it."""
    model = cleared_by_attention("two blocks", True)
    random_weights(model, np.random.default_rng(1), 0.5)
    ids = padded_ids(rng)
    second = [layer for layer in model.layers if isinstance(layer, K.MultiHeadAttention)][1]
    h = keras.Model(model.inputs, second.input[0]).predict(ids, verbose=0)
    valid = ids != 0
    recorded = second(h, h, query_mask=valid, value_mask=valid, use_causal_mask=True)
    cleared = second(h, h, use_causal_mask=True)
    assert np.abs(np.asarray(recorded) - np.asarray(cleared))[valid].max() > 1e-3


def test_masked_transformer_encoder_block(rng):
    """The Keras text Transformer: Embedding(mask_zero) -> x + MultiHeadAttention(x, x) -> LayerNormalization ->
    h + Dense(Dense(h)) -> LayerNormalization -> GlobalAveragePooling1D -> Dense. Keras's residual Adds pass on
    the OR of their inputs' masks (MultiHeadAttention's output has the query's), so the pooling averages over
    the unmasked steps."""
    def build(mask_zero: bool) -> keras.Model:
        ids = keras.Input((7,), dtype="int32")
        x = K.Embedding(12, 8, mask_zero=mask_zero)(ids)
        h = K.LayerNormalization()(K.Add()([x, K.MultiHeadAttention(2, 4)(x, x, use_causal_mask=True)]))
        h = K.LayerNormalization()(K.Add()([h, K.Dense(8)(K.Dense(16, activation="relu")(h))]))
        return keras.Model(ids, K.Dense(3)(K.GlobalAveragePooling1D()(h)))

    check_attention(build, padded_ids(rng))
    check_attention(build, padded_ids(rng), "nnx")


# ------------------------------------------------------------------ merges


def merged(merge, masked: tuple[bool, bool], time: int = 7) -> keras.Model:
    """ids (batch, time), ids2 (batch, time) -> [Embedding(mask_zero=masked[0]), Dense(Embedding(mask_zero=
    masked[1]))] -> merge -> GlobalAveragePooling1D -> Dense."""
    ids, ids2 = keras.Input((time,), dtype="int32"), keras.Input((time,), dtype="int32")
    a = K.Embedding(12, 4, mask_zero=masked[0])(ids)
    b = K.Dense(4)(K.Embedding(12, 4, mask_zero=masked[1])(ids2))
    return keras.Model([ids, ids2], K.Dense(3)(K.GlobalAveragePooling1D()(merge([a, b]))))


def two_padded(rng: np.random.Generator) -> list[np.ndarray]:
    """Two id batches whose paddings differ, with steps padded in both."""
    first, second = padded_ids(rng), np.flip(padded_ids(rng), 1).copy()
    first[2], second[2] = [0, 0, 5, 6, 0, 0, 0], [0, 3, 0, 4, 0, 0, 0]
    return [first, second]


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Average", "Concatenate"])
def test_merges_pass_on_the_or_of_their_inputs_masks(merge, rng):
    """Two masked inputs -> merge -> GlobalAveragePooling1D: Keras's output mask is the OR of both (a step
    padded in both is left out of the average); Concatenate on the features axis gives the same."""
    check_attention(lambda mask_zero: merged(getattr(K, merge)(), (mask_zero, mask_zero)), two_padded(rng))


def test_a_merge_with_an_unmasked_input_passes_no_mask_on(rng):
    """Keras's elementwise merges pass on no mask if any input has none: the average is over every step."""
    model = merged(K.Add(), (True, False))
    random_weights(model, rng, 0.5)
    inputs = two_padded(rng)
    module, variables = from_keras(model)
    np.testing.assert_allclose(np.asarray(module.apply(variables, *inputs)), model.predict(inputs, verbose=0),
                               **ATTENTION_TOL)
    pooled = keras.Model(model.inputs, model.layers[-2].output).predict(inputs, verbose=0)
    summed = keras.Model(model.inputs, model.layers[-3].output).predict(inputs, verbose=0)
    np.testing.assert_allclose(pooled, summed.mean(1), rtol=1e-5, atol=1e-6)  # Keras's own: unmasked


@pytest.mark.parametrize("masked", [(True, True), (True, False), (False, True)])
def test_concatenate_along_time_joins_the_masks(masked, rng):
    """Concatenate(axis=1) of two sequences: the mask is both masks joined (an unmasked input's steps all
    valid), read by an LSTM after it."""
    def build(mask_zero: bool) -> keras.Model:
        ids, ids2 = keras.Input((7,), dtype="int32"), keras.Input((5,), dtype="int32")
        a = K.Embedding(12, 4, mask_zero=mask_zero and masked[0])(ids)
        b = K.Embedding(12, 4, mask_zero=mask_zero and masked[1])(ids2)
        return keras.Model([ids, ids2], K.Dense(3)(K.LSTM(4)(K.Concatenate(axis=1)([a, b]))))

    check_attention(build, [padded_ids(rng), padded_ids(rng, time=5)])


def test_merge_masks_in_a_hand_written_graph(rng):
    """linen Input/Model: the mask of Embedding(mask_zero) flows through Add (both masked) to the pooling, and an
    Add with an unmasked input passes none on; checked against NumPy."""
    from jaxlayers import linen as L

    ids = L.Input((7,))
    e = L.Embedding(12, 4, mask_zero=True, name="e")(ids)
    both = L.GlobalAveragePooling1D()(L.Add()([e, L.Dense(4, name="d")(e)]))
    model = L.Model(ids, [both, L.GlobalAveragePooling1D()(L.Add()([e, L.Dense(4, name="u")(L.Embedding(
        12, 4, name="e2")(ids))]))])
    tokens = padded_ids(rng)
    variables = model.init(jax.random.key(0), tokens)
    got_both, got_none = model.apply(variables, tokens)
    p = variables["params"]
    table = np.asarray(p["e"]["embeddings"])
    emb = table[tokens]
    summed = emb + emb @ np.asarray(p["d"]["kernel"]) + np.asarray(p["d"]["bias"])
    keep = (tokens != 0)[..., None]
    np.testing.assert_allclose(np.asarray(got_both), (summed * keep).sum(1) / keep.sum(1), rtol=1e-5, atol=1e-5)
    plain = emb + np.asarray(p["e2"]["embeddings"])[tokens] @ np.asarray(p["u"]["kernel"]) + np.asarray(p["u"]["bias"])
    np.testing.assert_allclose(np.asarray(got_none), plain.mean(1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("merge", ["Maximum", "Minimum", "Multiply"])
@pytest.mark.parametrize("masked", [(True, True), (True, False), (False, True)])
def test_masked_maximum_minimum_multiply(merge, masked, rng):
    """Keras's Maximum, Minimum and Multiply replace masked operands' values (the other's, or 1; Multiply's steps
    masked in both give 0), then pass on the OR of the masks if both have one."""
    check_attention(lambda mask_zero: merged(getattr(K, merge)(), (mask_zero and masked[0], mask_zero and masked[1])),
                    two_padded(rng))


@pytest.mark.parametrize("op", ["maximum", "minimum", "multiply"])
def test_functional_masked_merges_match_keras(op, rng):
    """F.maximum/minimum/multiply with `masks` against Keras's layer called on tensors carrying those masks: three
    inputs, some unmasked, with ties, NaN and infinities among the values."""
    from keras.src.backend import set_keras_mask

    xs = [rng.standard_normal((3, 5, 4)).astype(np.float32) for _ in range(3)]
    xs[1][0, 0] = xs[0][0, 0]  # ties
    xs[0][1, 2, 0], xs[2][2, 1, 1], xs[1][0, 3, 2] = np.nan, np.inf, -np.inf
    layer = getattr(K, op.capitalize())()
    for pattern in [(True, True, True), (True, False, True), (False, True, True), (True, True, False)]:
        masks = [rng.uniform(size=(3, 5)) > 0.4 if on else None for on in pattern]
        tensors = [keras.ops.convert_to_tensor(x) for x in xs]
        for t, m in zip(tensors, masks):
            if m is not None:
                set_keras_mask(t, keras.ops.convert_to_tensor(m))
        want = np.asarray(layer(tensors))
        got = np.asarray(getattr(F, op)([jax.numpy.asarray(x) for x in xs], masks))
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=str(pattern))
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    with pytest.raises(ValueError, match="`masks` must be a list of one mask"):
        getattr(F, op)(xs, [None])
    with pytest.raises(ValueError, match=r"mask shape \(3, 4\) for an input of shape \(3, 5, 4\)"):
        getattr(F, op)(xs, [np.ones((3, 4), bool), None, None])
