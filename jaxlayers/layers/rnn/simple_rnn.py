"""Keras `SimpleRNN`."""
from __future__ import annotations

from jaxlayers import functional as F
from jaxlayers.layers.rnn.rnn import RNN

_ARGS = """
    Args:
        units: the state's (and output's) size.
        activation: a Keras activation name, a callable or None (linear){activation}
            (keyword-only, as all the arguments below).{recurrent}
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        recurrent_initializer: the same, for `recurrent_kernel`.
        bias_initializer: the same, for `bias`.{forget}
        dropout: the fraction of the inputs' features dropped in training (the same at
            every step), in [0, 1].
        recurrent_dropout: the fraction of the state's units dropped in training, in [0, 1].
        seed: an int folded into the dropout key (NNX: the layer's own stream), or None.
        return_sequences: return every step's output (batch, time, units), not the last.
        return_state: also return the final states, `(output, *states)`.
        go_backwards: process the sequence from its last step (sequences come reversed).
        stateful: Keras's carried state: only False (refused otherwise).
        unroll: unroll the loop (`lax.scan(unroll=True)`).{reset}
        deterministic: inference mode (no dropout).
        rng_collection: the rng stream of the dropout masks.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
"""


def arguments(activation: str = "", recurrent: bool = False, forget: bool = False, reset: bool = False) -> str:
    """The Args section of a recurrent layer's docstring (the shared arguments, and its own)."""
    return _ARGS.format(
        activation=activation,
        recurrent="\n        recurrent_activation: the gates' activation (a name, callable or None)." if recurrent
        else "",
        forget="\n        unit_forget_bias: initialise the forget gate's bias to 1 (and its others by\n"
               "            `bias_initializer`)." if forget else "",
        reset="\n        reset_after: apply the reset gate after the recurrent product (Keras's and\n"
              "            cuDNN's default; its bias is then (2, 3 * units)), else before." if reset else "")


class SimpleRNN(RNN):
    __doc__ = """Keras `SimpleRNN(units)`: x (batch, time, features) -> (batch, units), or (batch, time, units).

    h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias); kernel (features,
    units), recurrent_kernel (units, units), bias (units,). The call takes `mask=`
    (batch, time) and `initial_state=` ([h_0]); with `return_state` it returns
    `(output, h)`.
""" + arguments(", for the state")

    loop = staticmethod(F.simple_rnn)

    def applies(self, rate: float) -> bool:
        return rate > 0.0  # Keras's SimpleRNNCell drops even at a rate of 1
