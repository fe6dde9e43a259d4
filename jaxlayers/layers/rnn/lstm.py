"""Keras `LSTMCell` and `LSTM`."""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import activations, initializers
from jaxlayers import functional as F
from jaxlayers._args import check_bool
from jaxlayers.layers.rnn.rnn import Cell, RecurrentLayer, _arguments


class LSTMCell(Cell):
    __doc__ = """Keras `LSTMCell(units)`: (x_t (batch, features), states) -> (h_t, new_states).

    Gates i, f, c, o (Keras's order): kernel (features, 4 * units), recurrent_kernel
    (units, 4 * units), bias (4 * units,). `states` is [h, c]
    (batch, units) each; it returns `(h_t, [h_t, c_t])`, as Keras's.
""" + _arguments(", for the cell and output", recurrent=True, layer=False, forget=True)

    gates = 4
    keras_states = 2
    loop = staticmethod(F.lstm)

    _: dataclasses.KW_ONLY
    recurrent_activation: activations.Activation = "sigmoid"
    unit_forget_bias: bool = True

    def check(self) -> None:
        super().check()
        activations.get(self.recurrent_activation)
        check_bool(self.unit_forget_bias, "unit_forget_bias")

    def _bias_init(self) -> initializers.Initializer:
        if not self.unit_forget_bias:
            return self.bias_initializer
        init, units = initializers.get(self.bias_initializer, "bias_initializer"), self.units

        def forget_ones(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
            return jnp.concatenate([init(key, (units,), dtype), jnp.ones((units,), dtype), init(key, (2 * units,), dtype)])

        return forget_ones

    def _loop_arguments(self) -> dict[str, Any]:
        return {**super()._loop_arguments(), "recurrent_activation": activations.get(self.recurrent_activation)}


class LSTM(RecurrentLayer, LSTMCell):
    __doc__ = """Keras `LSTM(units)`: x (batch, time, features) -> (batch, units), or (batch, time, units).

    Gates i, f, c, o (Keras's order): kernel (features, 4 * units), recurrent_kernel
    (units, 4 * units), bias (4 * units,). The call takes `mask=` (batch, time) and
    `initial_state=` ([h_0, c_0]); with `return_state` it returns `(output, h, c)`.
""" + _arguments(", for the cell and output", recurrent=True, forget=True)
