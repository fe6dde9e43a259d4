"""Keras's merge layers (`keras/src/layers/merging/`)."""
from jaxlayers.layers.merging.concatenate import Concatenate
from jaxlayers.layers.merging.dot import Dot
from jaxlayers.layers.merging.elementwise import Add, Average, Maximum, Minimum, Multiply, Subtract

__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract"]
