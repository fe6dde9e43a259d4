"""The Keras RNN guide's MNIST classifier, built from `jaxlayers.linen`.

Each (28, 28) image is read as 28 time steps of 28 features::

    (batch, 28, 28) -> LSTM(64) | GRU(64) | SimpleRNN(64) [Bidirectional: 128]
                    -> BatchNormalization -> Dense(10) logits
"""
from __future__ import annotations

import flax.linen as nn
import jax

import jaxlayers.linen as L

CELLS = {"lstm": L.LSTM, "gru": L.GRU, "simple_rnn": L.SimpleRNN}
UNITS = 64
CLASSES = 10
INPUT_SHAPE = (None, 28, 28)  # (batch, time, features)


class RowClassifier(nn.Module):
    """x: (batch, 28, 28) images in [0, 1] -> (batch, 10) logits."""

    cell: str = "lstm"
    bidirectional: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, training: bool = False) -> jax.Array:
        recurrent = CELLS[self.cell](UNITS)
        if self.bidirectional:
            recurrent = L.Bidirectional(recurrent)
        h = recurrent(x)
        h = L.BatchNormalization()(h, use_running_average=not training)
        return L.Dense(CLASSES)(h)


def build_classifier(cell: str = "lstm", bidirectional: bool = False) -> RowClassifier:
    """The classifier; ValueError for an unknown `cell`."""
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {tuple(CELLS)}, got {cell!r}")
    return RowClassifier(cell, bidirectional)
