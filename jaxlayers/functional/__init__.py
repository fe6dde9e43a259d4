"""Pure layer functions on `jax.lax`: channels-last, Keras kernel layouts, jit/grad/vmap-safe.

Inputs are `(batch, *spatial, channels)`; the spatial rank comes from the kernel
(`kernel.ndim - 2`) for convolutions and from the input (`x.ndim - 2`) otherwise.
"""
from jaxlayers.functional.conv import conv, conv_transpose
from jaxlayers.functional.dense import dense
from jaxlayers.functional.dropout import (
    activity_regularization, alpha_dropout, dropout, gaussian_dropout, gaussian_noise,
)
from jaxlayers.functional.merging import add, average, concatenate, maximum, minimum, multiply, subtract
from jaxlayers.functional.normalization import (
    batch_norm, group_norm, layer_norm, rms_norm, spectral_normalize, unit_norm,
)
from jaxlayers.functional.pooling import avg_pool, global_avg_pool, global_max_pool, max_pool
from jaxlayers.functional.reshaping import crop, flatten, zero_pad
from jaxlayers.functional.unpooling import max_pool_with_indices, max_unpool
from jaxlayers.functional.upsampling import upsample

__all__ = [
    "activity_regularization",
    "add",
    "alpha_dropout",
    "average",
    "avg_pool",
    "batch_norm",
    "concatenate",
    "conv",
    "conv_transpose",
    "crop",
    "dense",
    "dropout",
    "flatten",
    "gaussian_dropout",
    "gaussian_noise",
    "global_avg_pool",
    "global_max_pool",
    "group_norm",
    "layer_norm",
    "max_pool",
    "max_pool_with_indices",
    "max_unpool",
    "maximum",
    "minimum",
    "multiply",
    "rms_norm",
    "spectral_normalize",
    "subtract",
    "unit_norm",
    "upsample",
    "zero_pad",
]
