"""Keras `SimpleRNNCell` and `SimpleRNN`."""
from __future__ import annotations

from jaxlayers import functional as F
from jaxlayers.layers.rnn.rnn import Cell, RecurrentLayer, _arguments

_STEP = "h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias); kernel (features,\n    units), " \
        "recurrent_kernel (units, units), bias (units,)."


class SimpleRNNCell(Cell):
    __doc__ = f"""Keras `SimpleRNNCell(units)`: (x_t (batch, features), h (batch, units)) -> (h_t, h_t).

    {_STEP} `states` is h or [h]; the new state comes back
    in the same form, as Keras's.
""" + _arguments(", for the state", layer=False)

    loop = staticmethod(F.simple_rnn)

    def _applies(self, rate: float) -> bool:
        return rate > 0.0  # Keras's SimpleRNNCell drops even at a rate of 1


class SimpleRNN(RecurrentLayer, SimpleRNNCell):
    __doc__ = f"""Keras `SimpleRNN(units)`: x (batch, time, features) -> (batch, units), or (batch, time, units).

    {_STEP} The call takes `mask=`
    (batch, time) and `initial_state=` ([h_0]); with `return_state` it returns
    `(output, h)`.
""" + _arguments(", for the state")
