"""Keras's attention layers (`keras/src/layers/attention/`)."""
from jaxlayers.layers.attention.attention import AdditiveAttention, Attention, BaseAttention

__all__ = ["AdditiveAttention", "Attention", "BaseAttention"]
