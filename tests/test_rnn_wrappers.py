"""RNN(cell), StackedRNNCells and TimeDistributed against Keras 3 (JAX backend) on identical weights."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from flax import nnx

import jaxlayers
from jaxlayers import linen as L
from jaxlayers import nnx as J

try:
    from keras_oracle import padded_mask
except ImportError:  # tests/ imported as a package
    from tests.keras_oracle import padded_mask

TOL = dict(rtol=1e-5, atol=1e-5)


def close(got, expected, tol=TOL):
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol)


def keras_cells(specs):
    """Keras cells of (name, kwargs) specs: one cell, or a list for a stack."""
    cells = [getattr(keras.layers, name)(**kwargs) for name, kwargs in specs]
    return cells[0] if len(cells) == 1 else cells


def ours(face, specs, in_features=None):
    """The same cells as jaxlayers linen (face L) or NNX (face J, given the first input size) cells."""
    cells = []
    for name, kwargs in specs:
        if face is J:
            cells.append(getattr(J, name)(in_features, **kwargs, rngs=nnx.Rngs(0)))
            in_features = kwargs["units"]
        else:
            cells.append(getattr(L, name)(**kwargs))
    return cells[0] if len(cells) == 1 else cells


def keras_rnn(specs, x_shape, rng, **kwargs):
    """A built Keras RNN with random weights, and those weights by jaxlayers's names (`cells_<i>_` for a stack)."""
    layer = keras.layers.RNN(keras_cells(specs), **kwargs)
    layer.build(x_shape)
    weights = [0.5 * rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    cells = layer.cell.cells if len(specs) > 1 else [layer.cell]
    names = [f"cells_{i}_{w.name}" if len(specs) > 1 else w.name for i, c in enumerate(cells) for w in c.weights]
    return layer, dict(zip(names, weights, strict=True))


LSTM3, GRU2 = ("LSTMCell", dict(units=3)), ("GRUCell", dict(units=2))
CASES = [([LSTM3], dict(return_sequences=True, zero_output_for_mask=True, go_backwards=True), True),
         ([("GRUCell", dict(units=4, reset_after=False))], dict(return_state=True), True),
         ([("SimpleRNNCell", dict(units=3, activation="relu"))],
          dict(return_sequences=True, zero_output_for_mask=True, unroll=True), True),
         ([LSTM3, GRU2], dict(return_sequences=True, return_state=True, go_backwards=True), True),
         pytest.param([GRU2, ("SimpleRNNCell", dict(units=3)), LSTM3], dict(return_state=True), False,
                      marks=pytest.mark.slow)]


@pytest.mark.parametrize("specs,kwargs,masked", CASES,
                         ids=["-".join([*(s[0] for s in c[0]), *c[1], "masked" * c[2]])
                              for c in (getattr(c, "values", c) for c in CASES)])
def test_rnn_equals_keras(specs, kwargs, masked, rng):
    batch, time, features = 3, 6, 4
    layer, weights = keras_rnn(specs, (batch, time, features), rng, **kwargs)
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    mask = padded_mask(rng, batch, time) if masked else None
    expected = layer(x, mask=mask)
    module = L.RNN(ours(L, specs), **kwargs)
    assert jax.tree.map(jnp.shape, module.init(jax.random.key(0), x)["params"]) == \
        {k: v.shape for k, v in weights.items()}
    close(module.apply({"params": weights}, x, mask=mask), expected)
    close(module.compute_mask(x, mask), layer.compute_mask(x, mask))
    if len(specs) == 1 and not kwargs.get("return_state"):
        return  # the NNX face on the others: the same definition
    nnx_layer = J.RNN(features, ours(J, specs, features), **kwargs, rngs=nnx.Rngs(0))
    for key, value in weights.items():
        getattr(nnx_layer, key).set_value(jnp.asarray(value))
    close(nnx_layer(x, mask=mask), expected)
    assert jaxlayers.count_params(nnx_layer) == layer.count_params()


def test_initial_state_equals_keras(rng):
    batch, time, features = 2, 5, 3
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    layer, weights = keras_rnn([LSTM3], x.shape, rng, return_state=True)
    states = [rng.standard_normal((batch, 3)).astype(np.float32) for _ in range(2)]
    close(L.RNN(L.LSTMCell(3), return_state=True).apply({"params": weights}, x, initial_state=states),
          tuple(layer(x, initial_state=states)))
    layer, weights = keras_rnn([LSTM3, GRU2], x.shape, rng, return_sequences=True)
    states = [[rng.standard_normal((batch, 3)).astype(np.float32) for _ in range(2)],
              [rng.standard_normal((batch, 2)).astype(np.float32)]]
    close(L.RNN([L.LSTMCell(3), L.GRUCell(2)], return_sequences=True).apply({"params": weights}, x,
                                                                            initial_state=states),
          layer(x, initial_state=states))


def test_gradients_equal_keras(rng):
    batch, time, features = 3, 5, 4
    layer, weights = keras_rnn([GRU2, LSTM3], (batch, time, features), rng, return_sequences=True)
    x = rng.standard_normal((batch, time, features)).astype(np.float32)
    mask = padded_mask(rng, batch, time)
    cotangent = rng.standard_normal((batch, time, 3)).astype(np.float32)
    order = list(weights)

    def keras_loss(values, x):
        out, _ = layer.stateless_call(list(values), [v.value for v in layer.non_trainable_variables], x, mask=mask)
        return jnp.sum(out * cotangent)

    expected = jax.grad(keras_loss, argnums=(0, 1))([jnp.asarray(weights[k]) for k in order], jnp.asarray(x))
    module = L.RNN([L.GRUCell(2), L.LSTMCell(3)], return_sequences=True)
    got = jax.grad(lambda p, x: jnp.sum(module.apply({"params": p}, x, mask=mask) * cotangent),
                   argnums=(0, 1))(weights, jnp.asarray(x))
    close(([got[0][k] for k in order], got[1]), expected)


def test_stacked_cells_one_step_equals_keras(rng):
    batch, features = 3, 4
    stack = keras.layers.StackedRNNCells(keras_cells([LSTM3, GRU2]))
    stack.build((batch, features))
    weights = [0.5 * rng.standard_normal(w.shape).astype(np.float32) for w in stack.get_weights()]
    stack.set_weights(weights)
    names = [f"cells_{i}_{w.name}" for i, c in enumerate(stack.cells) for w in c.weights]
    x = rng.standard_normal((batch, features)).astype(np.float32)
    states = [[rng.standard_normal((batch, 3)).astype(np.float32) for _ in range(2)],
              [rng.standard_normal((batch, 2)).astype(np.float32)]]
    expected = stack(x, states)
    module = L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)])
    close(module.apply({"params": dict(zip(names, weights))}, x, states), expected)


def keras_time_distributed(inner, x_shape, rng):
    layer = keras.layers.TimeDistributed(inner)
    layer.build(x_shape)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    return layer, dict(zip([w.name for w in layer.weights], weights, strict=True))


TD_CASES = [("Dense", (2, 5, 4), dict(units=3, activation="tanh"), (4,)),
            ("Conv2D", (2, 2, 7, 6, 2), dict(filters=4, kernel_size=3, strides=2, padding="same"), (2,)),
            pytest.param("Conv1D", (2, 3, 8, 3), dict(filters=2, kernel_size=3, dilation_rate=2), (3,),
                         marks=pytest.mark.slow),
            ("MaxPooling2D", (2, 3, 6, 6, 2), dict(pool_size=2), ()),
            ("Flatten", (2, 3, 2, 2, 2), dict(), ())]


@pytest.mark.parametrize("name,x_shape,kwargs,sizes", TD_CASES, ids=[getattr(c, "values", c)[0] for c in TD_CASES])
def test_time_distributed_equals_keras(name, x_shape, kwargs, sizes, rng):
    layer, weights = keras_time_distributed(getattr(keras.layers, name)(**kwargs), x_shape, rng)
    x = rng.standard_normal(x_shape).astype(np.float32)
    mask = padded_mask(rng, *x_shape[:2])
    expected = layer(x)
    module = L.TimeDistributed(getattr(L, name)(**kwargs))
    variables = module.init(jax.random.key(0), x)
    assert jax.tree.map(jnp.shape, variables.get("params", {})) == {k: v.shape for k, v in weights.items()}
    close(module.apply({"params": weights}, x), expected)
    close(module.compute_mask(x, mask), layer.compute_mask(x, mask))
    nnx_inner = getattr(J, name)(*sizes, **kwargs, **({"rngs": nnx.Rngs(0)} if sizes else {}))
    nnx_layer = J.TimeDistributed(nnx_inner, rngs=nnx.Rngs(0))
    for key, value in weights.items():
        getattr(nnx_layer, key).set_value(jnp.asarray(value))
    close(nnx_layer(x), expected)
    assert jaxlayers.count_params(nnx_layer) == layer.count_params()


def test_time_distributed_gradients_equal_keras(rng):
    x_shape = (2, 2, 5, 5, 2)
    layer, weights = keras_time_distributed(keras.layers.Conv2D(3, 2, activation="relu"), x_shape, rng)
    x = rng.standard_normal(x_shape).astype(np.float32)
    cotangent = rng.standard_normal((2, 2, 4, 4, 3)).astype(np.float32)
    order = list(weights)

    def keras_loss(values, x):
        out, _ = layer.stateless_call(list(values), [v.value for v in layer.non_trainable_variables], x)
        return jnp.sum(out * cotangent)

    expected = jax.grad(keras_loss, argnums=(0, 1))([jnp.asarray(weights[k]) for k in order], jnp.asarray(x))
    module = L.TimeDistributed(L.Conv2D(3, 2, activation="relu"))
    got = jax.grad(lambda p, x: jnp.sum(module.apply({"params": p}, x) * cotangent),
                   argnums=(0, 1))(weights, jnp.asarray(x))
    close(([got[0][k] for k in order], got[1]), expected, dict(rtol=1e-4, atol=1e-4))


def test_summary_counts_like_keras():
    model = nn.Sequential([L.TimeDistributed(L.Dense(4)), L.RNN([L.LSTMCell(3), L.GRUCell(2)])])
    text = str(jaxlayers.summary(model, (None, 5, 3)))
    keras_model = keras.Sequential([keras.Input((5, 3)), keras.layers.TimeDistributed(keras.layers.Dense(4)),
                                    keras.layers.RNN([keras.layers.LSTMCell(3), keras.layers.GRUCell(2)])])
    assert f"Total params: {keras_model.count_params()}" in text
    assert "(None, 5, 4)" in text and "(None, 2)" in text
    variables = model.init(jax.random.key(0), jnp.ones((1, 5, 3)))
    assert jaxlayers.count_params(variables) == keras_model.count_params()


def test_from_keras_to_keras_with_masks(rng, tmp_path):
    from jaxlayers.keras import from_keras, to_keras

    ids_in = keras.Input((7,), dtype="int32")
    h = keras.layers.Embedding(12, 4, mask_zero=True)(ids_in)
    h = keras.layers.TimeDistributed(keras.layers.Dense(5, activation="tanh"))(h)
    h = keras.layers.RNN(keras.layers.LSTMCell(5), return_sequences=True, zero_output_for_mask=True)(h)
    h = keras.layers.RNN([keras.layers.GRUCell(3), keras.layers.SimpleRNNCell(2)], go_backwards=True)(h)
    model = keras.Model(ids_in, keras.layers.Dense(2)(h))
    model.set_weights([0.5 * rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path / "wrappers.keras"
    model.save(path)
    ids = rng.integers(1, 12, (5, 7)).astype(np.int32) * padded_mask(rng, 5, 7)
    expected = model(ids)
    module, variables = from_keras(str(path))
    close(module.apply(variables, ids), expected)
    close(from_keras(model, api="nnx")(ids), expected)
    back = to_keras(module, variables, (None, 7))
    assert [type(layer).__name__ for layer in back.layers[1:4]] == ["TimeDistributed", "RNN", "RNN"]
    assert type(back.layers[3].cell).__name__ == "StackedRNNCells" and back.layers[2].zero_output_for_mask
    back.save(tmp_path / "back.keras")
    close(keras.saving.load_model(tmp_path / "back.keras")(ids), expected)


def test_time_distributed_conv_models_round_trip(rng):
    from jaxlayers.keras import from_keras, to_keras

    x_in = keras.Input((3, 8, 8, 2))
    h = keras.layers.TimeDistributed(keras.layers.Conv2D(4, 3))(x_in)
    h = keras.layers.TimeDistributed(keras.layers.MaxPooling2D())(h)
    model = keras.Model(x_in, keras.layers.TimeDistributed(keras.layers.Flatten())(h))
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    x = rng.standard_normal((2, 3, 8, 8, 2)).astype(np.float32)
    expected = model(x)
    module, variables = from_keras(model)
    close(module.apply(variables, x), expected)
    converted = from_keras(model, api="nnx")
    for back in (to_keras(module, variables, (None, 3, 8, 8, 2)), to_keras(converted, None, (None, 3, 8, 8, 2))):
        assert [type(layer.layer).__name__ for layer in back.layers] == ["Conv2D", "MaxPooling2D", "Flatten"]
        close(back(x), expected)


def test_training_draws_dropout():
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 5, 3)), jnp.float32)
    for module in (L.RNN([L.GRUCell(4, dropout=0.5), L.SimpleRNNCell(3, recurrent_dropout=0.5)]),
                   L.TimeDistributed(L.Dropout(0.5))):
        variables = module.init(jax.random.key(0), x)
        train = jax.jit(lambda key, m=module: m.apply(variables, x, deterministic=False, rngs={"dropout": key}))
        first = train(jax.random.key(1))
        close(first, train(jax.random.key(1)))
        assert np.abs(np.asarray(first) - np.asarray(module.apply(variables, x))).max() > 1e-3


@pytest.mark.parametrize("make,x,error,match", [
    (lambda: L.RNN(L.Dense(3)), (2, 4, 3), TypeError, "`cell` must be a recurrent cell.*got Dense"),
    (lambda: L.RNN(L.LSTM(3)), (2, 4, 3), TypeError, "`cell` must be a recurrent cell.*got LSTM"),
    (lambda: L.RNN([L.LSTMCell(3), L.Dense(2)]), (2, 4, 3), TypeError, r"`cells\[1\]` must be a recurrent cell"),
    (lambda: L.RNN(L.GRUCell(3), stateful=True), (2, 4, 3), ValueError, "stateful=True"),
    (lambda: L.RNN(L.GRUCell(3), unroll=1), (2, 4, 3), TypeError, "unroll"),
    (lambda: L.RNN(L.GRUCell(3)), (2, 4), ValueError, r"3-D input \(batch, time, features\), got shape \(2, 4\)"),
    (lambda: L.TimeDistributed(L.Dense(3)), (2, 4), ValueError, r"at least 3 dimensions, got shape \(2, 4\)"),
    (lambda: L.TimeDistributed(L.Add()), (2, 4, 3), TypeError, "must take one array.*got Add"),
    (lambda: L.TimeDistributed(L.BatchNormalization()), (2, 4, 3), TypeError, "update no state"),
    (lambda: L.TimeDistributed(jnp.tanh), (2, 4, 3), TypeError, "must be a jaxlayers layer"),
])
def test_bad_arguments_raise(make, x, error, match):
    with pytest.raises(error, match=match):
        make().init(jax.random.key(0), jnp.ones(x))


def test_bad_calls_raise():
    x = jnp.ones((2, 4, 3))
    module = L.RNN([L.LSTMCell(3), L.GRUCell(2)])
    variables = module.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"one list of states per cell \(2\), got 3"):
        module.apply(variables, x, initial_state=[jnp.zeros((2, 3))] * 3)
    with pytest.raises(TypeError, match="must be a recurrent cell"):
        J.RNN(3, J.Dense(3, 2, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    layer = J.TimeDistributed(J.Dense(4, 2, rngs=nnx.Rngs(0)), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"built for `in_features`=4, got an input with in_features=3"):
        layer(x)
    with pytest.raises(ValueError, match=r"from its \['in_features'\]"):
        J.TimeDistributed(L.Dense(2), rngs=nnx.Rngs(0))
