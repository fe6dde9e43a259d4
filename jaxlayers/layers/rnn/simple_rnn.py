"""Keras `SimpleRNN`."""
from __future__ import annotations

from jaxlayers import functional as F
from jaxlayers.layers.rnn.rnn import RNN, _arguments

class SimpleRNN(RNN):
    __doc__ = """Keras `SimpleRNN(units)`: x (batch, time, features) -> (batch, units), or (batch, time, units).

    h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias); kernel (features,
    units), recurrent_kernel (units, units), bias (units,). The call takes `mask=`
    (batch, time) and `initial_state=` ([h_0]); with `return_state` it returns
    `(output, h)`.
""" + _arguments(", for the state")

    loop = staticmethod(F.simple_rnn)

    def _applies(self, rate: float) -> bool:
        return rate > 0.0  # Keras's SimpleRNNCell drops even at a rate of 1
