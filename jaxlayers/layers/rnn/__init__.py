"""Keras's recurrent layers (`keras/src/layers/rnn/`)."""
from jaxlayers.layers.rnn.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from jaxlayers.layers.rnn.gru import GRU
from jaxlayers.layers.rnn.lstm import LSTM
from jaxlayers.layers.rnn.simple_rnn import SimpleRNN

__all__ = ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "GRU", "LSTM", "SimpleRNN"]
