"""Keras `GRUCell` and `GRU`."""
from __future__ import annotations

import dataclasses
from typing import Any

from jaxlayers import activations
from jaxlayers import functional as F
from jaxlayers._args import check_bool
from jaxlayers.layers.rnn.rnn import Cell, RecurrentLayer, _arguments


class GRUCell(Cell):
    __doc__ = """Keras `GRUCell(units)`: (x_t (batch, features), h (batch, units)) -> (h_t, h_t).

    Gates z, r, h (Keras's order): kernel (features, 3 * units), recurrent_kernel (units,
    3 * units), bias (2, 3 * units) with `reset_after` (input and recurrent biases), else
    (3 * units,). `states` is h or [h]; the new state comes back in the same form,
    as Keras's.
""" + _arguments(", for the candidate state", recurrent=True, layer=False, reset=True)

    gates = 3
    loop = staticmethod(F.gru)

    _: dataclasses.KW_ONLY
    recurrent_activation: activations.Activation = "sigmoid"
    reset_after: bool = True

    def check(self) -> None:
        super().check()
        activations.get(self.recurrent_activation)
        check_bool(self.reset_after, "reset_after")

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _loop_arguments(self) -> dict[str, Any]:
        return {**super()._loop_arguments(), "recurrent_activation": activations.get(self.recurrent_activation),
                "reset_after": self.reset_after}


class GRU(RecurrentLayer, GRUCell):
    __doc__ = """Keras `GRU(units)`: x (batch, time, features) -> (batch, units), or (batch, time, units).

    Gates z, r, h (Keras's order): kernel (features, 3 * units), recurrent_kernel (units,
    3 * units), bias (2, 3 * units) with `reset_after` (input and recurrent biases), else
    (3 * units,). The call takes `mask=` (batch, time) and `initial_state=` ([h_0]); with
    `return_state` it returns `(output, h)`.
""" + _arguments(", for the candidate state", recurrent=True, reset=True)
