"""Pure layer functions on `jax.lax`: channels-last, Keras kernel layouts, jit/grad/vmap-safe.

Inputs are `(batch, *spatial, channels)`; the spatial rank comes from the kernel
(`kernel.ndim - 2`) for convolutions and from the input (`x.ndim - 2`) otherwise.
"""
from jaxlayers.functional.conv import conv, conv_transpose
from jaxlayers.functional.dense import dense
from jaxlayers.functional.depthwise import depthwise_conv, separable_conv
from jaxlayers.functional.dropout import dropout
from jaxlayers.functional.merging import add, average, concatenate, maximum, minimum, multiply, subtract
from jaxlayers.functional.normalization import batch_norm, layer_norm
from jaxlayers.functional.pooling import avg_pool, global_avg_pool, global_max_pool, max_pool
from jaxlayers.functional.reshaping import crop, flatten, zero_pad
from jaxlayers.functional.unpooling import max_pool_with_indices, max_unpool
from jaxlayers.functional.upsampling import upsample

__all__ = [
    "add",
    "average",
    "avg_pool",
    "batch_norm",
    "concatenate",
    "conv",
    "conv_transpose",
    "crop",
    "dense",
    "depthwise_conv",
    "dropout",
    "flatten",
    "global_avg_pool",
    "global_max_pool",
    "layer_norm",
    "max_pool",
    "max_pool_with_indices",
    "max_unpool",
    "maximum",
    "minimum",
    "multiply",
    "separable_conv",
    "subtract",
    "upsample",
    "zero_pad",
]
