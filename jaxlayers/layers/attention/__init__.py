"""Keras's attention layers (`keras/src/layers/attention/`)."""
from jaxlayers.layers.attention.attention import AdditiveAttention, Attention, BaseAttention
from jaxlayers.layers.attention.grouped_query_attention import GroupedQueryAttention
from jaxlayers.layers.attention.multi_head_attention import MultiHeadAttention

__all__ = ["AdditiveAttention", "Attention", "BaseAttention", "GroupedQueryAttention", "MultiHeadAttention"]
