"""Keras's regularization layers (`keras/src/layers/regularization/`)."""
from jaxlayers.layers.regularization.dropout import Dropout

__all__ = ["Dropout"]
