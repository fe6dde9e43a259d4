"""Keras's recurrent layers and cells (`keras/src/layers/rnn/`)."""
from jaxlayers.layers.rnn.bidirectional import Bidirectional
from jaxlayers.layers.rnn.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from jaxlayers.layers.rnn.gru import GRU, GRUCell
from jaxlayers.layers.rnn.lstm import LSTM, LSTMCell
from jaxlayers.layers.rnn.simple_rnn import SimpleRNN, SimpleRNNCell

__all__ = ["Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "GRU", "GRUCell", "LSTM", "LSTMCell", "SimpleRNN",
           "SimpleRNNCell"]
