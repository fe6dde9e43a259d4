"""Keras's activation layers (`keras/src/layers/activations/`)."""
from jaxlayers.layers.activations.activation import Activation
from jaxlayers.layers.activations.relu import ReLU

__all__ = ["Activation", "ReLU"]
