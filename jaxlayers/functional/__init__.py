"""Pure layer functions on `jax.lax`: channels-last, Keras kernel layouts, jit/grad/vmap-safe.

Inputs are `(batch, *spatial, channels)`; the spatial rank comes from the kernel
(`kernel.ndim - 2`) for convolutions and from the input (`x.ndim - 2`) otherwise.
An array argument that is not one array (a list of arrays, say) is a TypeError naming
the op and the argument, raised before anything is traced.
"""
from jaxlayers.functional.adaptive_pooling import adaptive_avg_pool, adaptive_max_pool
from jaxlayers.functional.attention import additive_attention, attention
from jaxlayers.functional.conv import conv, conv_transpose
from jaxlayers.functional.conv_lstm import conv_lstm
from jaxlayers.functional.dense import dense
from jaxlayers.functional.depthwise import depthwise_conv, separable_conv
from jaxlayers.functional.dropout import (
    activity_regularization, alpha_dropout, dropout, gaussian_dropout, gaussian_noise,
)
from jaxlayers.functional.einsum_dense import einsum_dense
from jaxlayers.functional.embedding import embedding, masking
from jaxlayers.functional.merging import add, average, concatenate, dot, maximum, minimum, multiply, subtract
from jaxlayers.functional.grouped_query_attention import grouped_query_attention
from jaxlayers.functional.multi_head_attention import multi_head_attention
from jaxlayers.functional.normalization import (
    batch_norm, group_norm, layer_norm, rms_norm, spectral_normalize, unit_norm,
)
from jaxlayers.functional.pooling import avg_pool, global_avg_pool, global_max_pool, max_pool
from jaxlayers.functional.preprocessing import center_crop, normalization_statistics, normalize, rescale, resize
from jaxlayers.functional.recurrent import gru, lstm, simple_rnn
from jaxlayers.functional.reshaping import crop, flatten, permute, repeat_vector, zero_pad
from jaxlayers.functional.unpooling import max_pool_with_indices, max_unpool
from jaxlayers.functional.upsampling import upsample

# every op imported above (not the submodules)
__all__ = sorted(name for name, obj in globals().items()
                 if not name.startswith("_") and str(getattr(obj, "__module__", "")).startswith(__name__))
