"""Keras's activation layers (`keras/src/layers/activations/`)."""
from jaxlayers.layers.activations.activation import Activation
from jaxlayers.layers.activations.elu import ELU
from jaxlayers.layers.activations.leaky_relu import LeakyReLU
from jaxlayers.layers.activations.prelu import PReLU
from jaxlayers.layers.activations.relu import ReLU
from jaxlayers.layers.activations.softmax import Softmax

__all__ = ["Activation", "ELU", "LeakyReLU", "PReLU", "ReLU", "Softmax"]
