"""Keras's recurrent layers (`keras/src/layers/rnn/`)."""
from jaxlayers.layers.rnn.gru import GRU
from jaxlayers.layers.rnn.lstm import LSTM
from jaxlayers.layers.rnn.simple_rnn import SimpleRNN

__all__ = ["GRU", "LSTM", "SimpleRNN"]
