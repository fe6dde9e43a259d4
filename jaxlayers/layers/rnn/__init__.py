"""Keras's recurrent layers, cells and wrappers (`keras/src/layers/rnn/`)."""
from jaxlayers.layers.rnn.bidirectional import Bidirectional
from jaxlayers.layers.rnn.cell_rnn import RNN
from jaxlayers.layers.rnn.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from jaxlayers.layers.rnn.gru import GRU, GRUCell
from jaxlayers.layers.rnn.lstm import LSTM, LSTMCell
from jaxlayers.layers.rnn.simple_rnn import SimpleRNN, SimpleRNNCell
from jaxlayers.layers.rnn.stacked_rnn_cells import StackedRNNCells
from jaxlayers.layers.rnn.time_distributed import TimeDistributed

__all__ = ["Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "GRU", "GRUCell", "LSTM", "LSTMCell", "RNN",
           "SimpleRNN", "SimpleRNNCell", "StackedRNNCells", "TimeDistributed"]
