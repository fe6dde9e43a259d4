"""Every array argument of a single-input functional op refuses a list (or a number) with a
TypeError naming the op and the argument, before anything reaches XLA."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlayers.functional as F

X = jnp.zeros((1, 4, 4, 2))
K2 = jnp.zeros((3, 3, 2, 2))
KEY = jax.random.key(0)
STATS = jnp.zeros((2,)), jnp.ones((2,))
Y, IDX = F.max_pool_with_indices(X)
Q, V = jnp.zeros((1, 3, 2)), jnp.zeros((1, 4, 2))  # attention's query (batch, T, dim), value (batch, S, dim)
MHA = dict(query_kernel=jnp.zeros((2, 2, 3)), key_kernel=jnp.zeros((2, 2, 3)), value_kernel=jnp.zeros((2, 2, 3)),
           output_kernel=jnp.zeros((2, 3, 2)))
GQA = {**MHA, "key_kernel": jnp.zeros((2, 1, 3)), "value_kernel": jnp.zeros((2, 1, 3))}  # 2 query heads, 1 key head

# op name -> (call taking the arguments by name, the valid arguments)
SINGLE_INPUT = {
    "conv": (lambda x, kernel, bias: F.conv(x, kernel, bias), dict(x=X, kernel=K2, bias=jnp.zeros(2))),
    "conv_transpose": (lambda x, kernel, bias: F.conv_transpose(x, kernel, bias),
                       dict(x=X, kernel=K2, bias=jnp.zeros(2))),
    "dense": (lambda x, kernel, bias: F.dense(x, kernel, bias), dict(x=X, kernel=jnp.zeros((2, 3)), bias=jnp.zeros(3))),
    "dropout": (lambda x: F.dropout(x, 0.5, KEY), dict(x=X)),
    "max_pool": (F.max_pool, dict(x=X)),
    "avg_pool": (F.avg_pool, dict(x=X)),
    "global_max_pool": (F.global_max_pool, dict(x=X)),
    "global_avg_pool": (F.global_avg_pool, dict(x=X)),
    "max_pool_with_indices": (F.max_pool_with_indices, dict(x=X)),
    "max_unpool": (lambda y, indices: F.max_unpool(y, indices, X.shape), dict(y=Y, indices=IDX)),
    "upsample": (F.upsample, dict(x=X)),
    "zero_pad": (F.zero_pad, dict(x=X)),
    "crop": (F.crop, dict(x=X)),
    "flatten": (F.flatten, dict(x=X)),
    "batch_norm": (lambda x: F.batch_norm(x, *STATS), dict(x=X)),
    "layer_norm": (F.layer_norm, dict(x=X)),
    "group_norm": (lambda x: F.group_norm(x, groups=1), dict(x=X)),
    "rms_norm": (F.rms_norm, dict(x=X)),
    "unit_norm": (F.unit_norm, dict(x=X)),
    "attention": (lambda query, value, key: F.attention(query, value, key),
                  dict(query=Q, value=V, key=V)),
    "additive_attention": (lambda query, value, key: F.additive_attention(query, value, key),
                           dict(query=Q, value=V, key=V)),
    "multi_head_attention": (F.multi_head_attention, dict(query=Q, value=V, key=V, **MHA)),
    "grouped_query_attention": (F.grouped_query_attention, dict(query=Q, value=V, key=V, **GQA)),
    "conv_lstm": (F.conv_lstm, dict(x=jnp.zeros((1, 3, 4, 2)), kernel=jnp.zeros((3, 2, 8)),
                                    recurrent_kernel=jnp.zeros((3, 2, 8)), bias=jnp.zeros(8))),
}
MERGES = {"add", "average", "concatenate", "maximum", "minimum", "multiply", "subtract"}
NOT_YET: set[str] = set()

CASES = [
    pytest.param(op, arg, bad, id=f"{op}-{arg}-{type(bad).__name__}",
                 marks=[pytest.mark.xfail(strict=True, raises=AttributeError)] if op in NOT_YET else [])
    for op, (_, args) in SINGLE_INPUT.items() for arg in args
    for bad in ([args[arg]], (args[arg], args[arg]), 1.0)
]


# The ops added with the vision and sequence layers check their inputs through their layers
# (`check_single_input` in the faces); their functional forms are not covered here yet.
NEWER = {"activity_regularization", "adaptive_avg_pool", "adaptive_max_pool", "alpha_dropout", "center_crop",
         "depthwise_conv", "dot", "einsum_dense", "embedding", "gaussian_dropout", "gaussian_noise", "gru", "lstm",
         "masking", "normalization_statistics", "normalize", "permute", "repeat_vector", "rescale", "resize",
         "separable_conv", "simple_rnn", "spectral_normalize"}


def test_every_op_is_covered():
    assert set(SINGLE_INPUT) | MERGES | NEWER == set(F.__all__)


def test_valid_arguments_run():
    for call, args in SINGLE_INPUT.values():
        jax.eval_shape(lambda a, call=call: call(**a), args)


@pytest.mark.parametrize("op, arg, bad", CASES)
def test_a_non_array_is_a_type_error_naming_op_and_argument(op, arg, bad):
    call, args = SINGLE_INPUT[op]
    with pytest.raises(TypeError, match=rf"^{op}: `{arg}` must be an array, got {type(bad).__name__}") as info:
        call(**{**args, arg: bad})
    if isinstance(bad, (list, tuple)):
        assert "not a sequence" in str(info.value)


def test_numpy_arrays_are_arrays():
    np.testing.assert_array_equal(F.max_pool(np.ones((1, 4, 4, 1), np.float32)), np.ones((1, 2, 2, 1)))
