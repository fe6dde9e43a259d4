"""jaxlayers.nnx: the NNX layers equal the linen ones on the same weights, and summarise alike."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn
from flax import nnx

import jaxlayers
from jaxlayers import linen as L
from jaxlayers import nnx as J

TOL = dict(rtol=1e-6, atol=1e-6)

# (id, nnx layer from rngs, the linen twin, input shape)
CASES = [
    ("Dense", lambda r: J.Dense(5, 3, activation="tanh", rngs=r), L.Dense(3, activation="tanh"), (2, 4, 5)),
    ("Dense-nobias", lambda r: J.Dense(5, 3, use_bias=False, rngs=r), L.Dense(3, use_bias=False), (2, 5)),
    ("Conv1D", lambda r: J.Conv1D(3, 4, 3, padding="causal", dilation_rate=2, rngs=r),
     L.Conv1D(4, 3, padding="causal", dilation_rate=2), (2, 9, 3)),
    ("Conv2D", lambda r: J.Conv2D(4, 6, (3, 2), strides=(2, 1), padding="same", groups=2, activation="relu", rngs=r),
     L.Conv2D(6, (3, 2), strides=(2, 1), padding="same", groups=2, activation="relu"), (2, 7, 6, 4)),
    ("Conv3D", lambda r: J.Conv3D(2, 3, 2, strides=2, rngs=r), L.Conv3D(3, 2, strides=2), (1, 5, 4, 5, 2)),
    ("Conv", lambda r: J.Conv(3, 2, (2, 2), rngs=r), L.Conv(2, (2, 2)), (2, 5, 5, 3)),
    ("Conv1DTranspose", lambda r: J.Conv1DTranspose(3, 4, 3, strides=2, output_padding=1, rngs=r),
     L.Conv1DTranspose(4, 3, strides=2, output_padding=1), (2, 6, 3)),
    ("Conv2DTranspose", lambda r: J.Conv2DTranspose(2, 3, (3, 3), strides=2, padding="same", rngs=r),
     L.Conv2DTranspose(3, (3, 3), strides=2, padding="same"), (2, 4, 5, 2)),
    ("Conv3DTranspose", lambda r: J.Conv3DTranspose(2, 2, 2, strides=2, activation="sigmoid", rngs=r),
     L.Conv3DTranspose(2, 2, strides=2, activation="sigmoid"), (1, 3, 2, 3, 2)),
    ("ConvTranspose", lambda r: J.ConvTranspose(3, 2, (2, 3), rngs=r), L.ConvTranspose(2, (2, 3)), (2, 4, 4, 3)),
    ("DepthwiseConv1D", lambda r: J.DepthwiseConv1D(3, 3, 2, "same", 2, rngs=r), L.DepthwiseConv1D(3, 2, "same", 2),
     (2, 9, 3)),
    ("DepthwiseConv2D", lambda r: J.DepthwiseConv2D(2, (3, 2), dilation_rate=(1, 2), activation="relu", rngs=r),
     L.DepthwiseConv2D((3, 2), dilation_rate=(1, 2), activation="relu"), (2, 7, 6, 2)),
    ("DepthwiseConv", lambda r: J.DepthwiseConv(3, (2, 2), use_bias=False, rngs=r),
     L.DepthwiseConv((2, 2), use_bias=False), (2, 5, 5, 3)),
    ("SeparableConv1D", lambda r: J.SeparableConv1D(3, 4, 3, 2, "same", depth_multiplier=2, rngs=r),
     L.SeparableConv1D(4, 3, 2, "same", depth_multiplier=2), (2, 9, 3)),
    ("SeparableConv2D", lambda r: J.SeparableConv2D(2, 3, (3, 3), padding="same", activation="tanh", rngs=r),
     L.SeparableConv2D(3, (3, 3), padding="same", activation="tanh"), (2, 6, 5, 2)),
    ("SeparableConv", lambda r: J.SeparableConv(2, 3, (2, 2), use_bias=False, rngs=r),
     L.SeparableConv(3, (2, 2), use_bias=False), (2, 5, 4, 2)),
    ("MaxPooling1D", lambda r: J.MaxPooling1D(3, 2, "same"), L.MaxPooling1D(3, 2, "same"), (2, 9, 3)),
    ("MaxPooling2D", lambda r: J.MaxPooling2D((2, 3)), L.MaxPooling2D((2, 3)), (2, 6, 7, 3)),
    ("MaxPooling3D", lambda r: J.MaxPooling3D(2, 1), L.MaxPooling3D(2, 1), (1, 4, 3, 4, 2)),
    ("MaxPooling", lambda r: J.MaxPooling(), L.MaxPooling(), (2, 6, 6, 2)),
    ("AveragePooling1D", lambda r: J.AveragePooling1D(2, padding="same"), L.AveragePooling1D(2, padding="same"),
     (2, 7, 3)),
    ("AveragePooling2D", lambda r: J.AveragePooling2D(3, 2, "same"), L.AveragePooling2D(3, 2, "same"), (2, 7, 6, 2)),
    ("AveragePooling3D", lambda r: J.AveragePooling3D(2), L.AveragePooling3D(2), (1, 4, 4, 5, 2)),
    ("AveragePooling", lambda r: J.AveragePooling(3, 1), L.AveragePooling(3, 1), (2, 6, 3)),
    ("GlobalMaxPooling1D", lambda r: J.GlobalMaxPooling1D(), L.GlobalMaxPooling1D(), (2, 5, 3)),
    ("GlobalMaxPooling2D", lambda r: J.GlobalMaxPooling2D(keepdims=True), L.GlobalMaxPooling2D(keepdims=True),
     (2, 4, 5, 3)),
    ("GlobalMaxPooling3D", lambda r: J.GlobalMaxPooling3D(), L.GlobalMaxPooling3D(), (2, 3, 4, 2, 3)),
    ("GlobalAveragePooling1D", lambda r: J.GlobalAveragePooling1D(True), L.GlobalAveragePooling1D(True), (2, 5, 3)),
    ("GlobalAveragePooling2D", lambda r: J.GlobalAveragePooling2D(), L.GlobalAveragePooling2D(), (2, 4, 5, 3)),
    ("GlobalAveragePooling3D", lambda r: J.GlobalAveragePooling3D(), L.GlobalAveragePooling3D(), (2, 3, 4, 2, 3)),
    ("GlobalMaxPooling", lambda r: J.GlobalMaxPooling(), L.GlobalMaxPooling(), (2, 3, 4)),
    ("GlobalAveragePooling", lambda r: J.GlobalAveragePooling(True), L.GlobalAveragePooling(True), (2, 3, 3, 4)),
    ("UpSampling1D", lambda r: J.UpSampling1D(3), L.UpSampling1D(3), (2, 4, 3)),
    ("UpSampling2D", lambda r: J.UpSampling2D((2, 3), "bilinear"), L.UpSampling2D((2, 3), "bilinear"), (2, 3, 4, 2)),
    ("UpSampling2D-nails", lambda r: J.UpSampling2D(2, "bed_of_nails"), L.UpSampling2D(2, "bed_of_nails"),
     (2, 3, 4, 2)),
    ("UpSampling3D", lambda r: J.UpSampling3D(), L.UpSampling3D(), (1, 2, 3, 2, 2)),
    ("UpSampling", lambda r: J.UpSampling(2), L.UpSampling(2), (2, 3, 2)),
    ("Flatten", lambda r: J.Flatten(), L.Flatten(), (2, 3, 4, 5)),
    ("Activation", lambda r: J.Activation("softmax"), L.Activation("softmax"), (2, 3, 5)),
    ("ReLU", lambda r: J.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2),
     L.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2), (2, 3, 5)),
    ("Reshape", lambda r: J.Reshape((5, -1)), L.Reshape((5, -1)), (2, 3, 5)),
    ("Dropout", lambda r: J.Dropout(0.3), L.Dropout(0.3), (2, 3, 5)),
    ("LayerNormalization", lambda r: J.LayerNormalization(5, rngs=r), L.LayerNormalization(), (2, 3, 5)),
    ("LayerNormalization-axes", lambda r: J.LayerNormalization((3, 5), (1, 2), center=False, rngs=r),
     L.LayerNormalization((1, 2), center=False), (2, 3, 5)),
    ("ZeroPadding1D", lambda r: J.ZeroPadding1D(), L.ZeroPadding1D(), (2, 4, 3)),
    ("ZeroPadding1D-pair", lambda r: J.ZeroPadding1D((2, 0)), L.ZeroPadding1D((2, 0)), (2, 4, 3)),
    ("ZeroPadding2D", lambda r: J.ZeroPadding2D(), L.ZeroPadding2D(), (2, 3, 4, 2)),
    ("ZeroPadding2D-pairs", lambda r: J.ZeroPadding2D(((1, 2), (0, 3))), L.ZeroPadding2D(((1, 2), (0, 3))),
     (2, 3, 4, 2)),
    ("ZeroPadding3D", lambda r: J.ZeroPadding3D(), L.ZeroPadding3D(), (1, 2, 3, 2, 2)),
    ("ZeroPadding", lambda r: J.ZeroPadding(2), L.ZeroPadding(2), (1, 2, 3, 2)),
    ("Cropping1D", lambda r: J.Cropping1D(), L.Cropping1D(), (2, 5, 3)),
    ("Cropping2D", lambda r: J.Cropping2D(), L.Cropping2D(), (2, 5, 4, 3)),
    ("Cropping2D-pairs", lambda r: J.Cropping2D(((1, 0), (2, 1))), L.Cropping2D(((1, 0), (2, 1))), (2, 5, 4, 3)),
    ("Cropping3D", lambda r: J.Cropping3D(), L.Cropping3D(), (1, 4, 3, 5, 2)),
    ("Cropping", lambda r: J.Cropping(1), L.Cropping(1), (1, 4, 5, 2)),
    ("MaxPoolingWithIndices", lambda r: J.MaxPoolingWithIndices(2, padding="same"),
     L.MaxPoolingWithIndices(2, padding="same"), (2, 5, 4, 3)),
    ("AdaptiveAveragePooling1D", lambda r: J.AdaptiveAveragePooling1D(3), L.AdaptiveAveragePooling1D(3), (2, 7, 3)),
    ("AdaptiveAveragePooling2D", lambda r: J.AdaptiveAveragePooling2D((2, 3)), L.AdaptiveAveragePooling2D((2, 3)),
     (2, 5, 7, 2)),
    ("AdaptiveAveragePooling3D", lambda r: J.AdaptiveAveragePooling3D(2), L.AdaptiveAveragePooling3D(2),
     (1, 3, 4, 5, 2)),
    ("AdaptiveAveragePooling", lambda r: J.AdaptiveAveragePooling(2), L.AdaptiveAveragePooling(2), (2, 5, 3)),
    ("AdaptiveMaxPooling1D", lambda r: J.AdaptiveMaxPooling1D(4), L.AdaptiveMaxPooling1D(4), (2, 7, 3)),
    ("AdaptiveMaxPooling2D", lambda r: J.AdaptiveMaxPooling2D((3, 2)), L.AdaptiveMaxPooling2D((3, 2)), (2, 5, 7, 2)),
    ("AdaptiveMaxPooling3D", lambda r: J.AdaptiveMaxPooling3D((1, 2, 3)), L.AdaptiveMaxPooling3D((1, 2, 3)),
     (1, 3, 4, 5, 2)),
    ("AdaptiveMaxPooling", lambda r: J.AdaptiveMaxPooling((2, 2)), L.AdaptiveMaxPooling((2, 2)), (2, 5, 4, 3)),
    ("Rescaling", lambda r: J.Rescaling([1.0, 2.0, 3.0], 0.5), L.Rescaling([1.0, 2.0, 3.0], 0.5), (2, 4, 3)),
    ("Normalization-fixed", lambda r: J.Normalization(3, mean=[1.0, 2.0, 3.0], variance=[2.0, 0.5, 1.0], rngs=r),
     L.Normalization(mean=[1.0, 2.0, 3.0], variance=[2.0, 0.5, 1.0]), (2, 4, 3)),
    ("Resizing", lambda r: J.Resizing(3, 5, "bicubic", pad_to_aspect_ratio=True), L.Resizing(3, 5, "bicubic",
                                                                                             pad_to_aspect_ratio=True),
     (2, 4, 6, 2)),
    ("CenterCrop", lambda r: J.CenterCrop(3, 2), L.CenterCrop(3, 2), (2, 5, 4, 2)),
    ("Masking", lambda r: J.Masking(0.5), L.Masking(0.5), (2, 4, 3)),
    ("Embedding", lambda r: J.Embedding(7, 3, rngs=r), L.Embedding(7, 3), (2, 4)),
    ("SimpleRNN", lambda r: J.SimpleRNN(3, 4, return_sequences=True, rngs=r), L.SimpleRNN(4, return_sequences=True),
     (2, 5, 3)),
    ("LSTM", lambda r: J.LSTM(3, 4, return_state=True, go_backwards=True, rngs=r),
     L.LSTM(4, return_state=True, go_backwards=True), (2, 5, 3)),
    ("GRU", lambda r: J.GRU(3, 2, reset_after=False, rngs=r), L.GRU(2, reset_after=False), (2, 5, 3)),
    ("GroupNormalization", lambda r: J.GroupNormalization(6, 3, rngs=r), L.GroupNormalization(3), (2, 4, 6)),
    ("GroupNormalization-axis", lambda r: J.GroupNormalization(4, -1, axis=1, center=False, rngs=r),
     L.GroupNormalization(-1, axis=1, center=False), (2, 4, 3, 2)),
    ("RMSNormalization", lambda r: J.RMSNormalization(5, rngs=r), L.RMSNormalization(), (2, 3, 5)),
    ("RMSNormalization-axes", lambda r: J.RMSNormalization((3, 5), (1, 2), epsilon=0.1, rngs=r),
     L.RMSNormalization((1, 2), epsilon=0.1), (2, 3, 5)),
    ("UnitNormalization", lambda r: J.UnitNormalization((1, 2)), L.UnitNormalization((1, 2)), (2, 3, 5)),
    ("SpatialDropout1D", lambda r: J.SpatialDropout1D(0.3), L.SpatialDropout1D(0.3), (2, 4, 3)),
    ("SpatialDropout2D", lambda r: J.SpatialDropout2D(0.3), L.SpatialDropout2D(0.3), (2, 4, 3, 2)),
    ("SpatialDropout3D", lambda r: J.SpatialDropout3D(0.3), L.SpatialDropout3D(0.3), (1, 2, 4, 3, 2)),
    ("GaussianDropout", lambda r: J.GaussianDropout(0.3), L.GaussianDropout(0.3), (2, 3, 5)),
    ("GaussianNoise", lambda r: J.GaussianNoise(0.3), L.GaussianNoise(0.3), (2, 3, 5)),
    ("AlphaDropout", lambda r: J.AlphaDropout(0.3), L.AlphaDropout(0.3), (2, 3, 5)),
    ("ActivityRegularization", lambda r: J.ActivityRegularization(0.1, 0.2), L.ActivityRegularization(0.1, 0.2),
     (2, 3, 5)),
    ("ELU", lambda r: J.ELU(0.5), L.ELU(0.5), (2, 3, 5)),
    ("LeakyReLU", lambda r: J.LeakyReLU(0.1), L.LeakyReLU(0.1), (2, 3, 5)),
    ("PReLU", lambda r: J.PReLU((None, None, 5), shared_axes=1, rngs=r), L.PReLU(shared_axes=1), (2, 3, 5)),
    ("Softmax", lambda r: J.Softmax((1, 2)), L.Softmax((1, 2)), (2, 3, 5)),
    ("Identity", lambda r: J.Identity(), L.Identity(), (2, 3, 5)),
    ("Permute", lambda r: J.Permute((2, 1)), L.Permute((2, 1)), (2, 3, 5)),
    ("RepeatVector", lambda r: J.RepeatVector(3), L.RepeatVector(3), (2, 5)),
    ("EinsumDense", lambda r: J.EinsumDense((None, None, 5), "abc,cd->abd", (None, 4), bias_axes="d", rngs=r),
     L.EinsumDense("abc,cd->abd", (None, 4), bias_axes="d"), (2, 3, 5)),
]


def params_of(layer: nnx.Module) -> dict:
    """The nnx layer's parameters as linen `params` (same names, same layouts)."""
    return nnx.to_pure_dict(nnx.state(layer, nnx.Param))


def with_random_weights(make, rng: np.random.Generator, scale: float = 1.0) -> nnx.Module:
    """`make(rngs)` built abstractly, then given random normal weights.

    Flax's random initializers compile once per shape (seconds each on a shared CPU);
    `test_parameters_are_created_eagerly` runs them for real.
    """
    layer = nnx.eval_shape(lambda: make(nnx.Rngs(0)))
    nnx.update(layer, jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype),
                                   params_of(layer)))
    return layer


@pytest.mark.parametrize("make, twin, shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_layer_equals_linen_on_the_same_weights(make, twin, shape, rng):
    layer = with_random_weights(make, rng)
    x = jnp.asarray(rng.standard_normal(shape), jnp.float32)
    params = params_of(layer)
    linen_shapes = jax.eval_shape(twin.init, jax.random.key(0), x).get("params", {})
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, dict(linen_shapes))
    got, expected = layer(x), twin.apply({"params": params}, x)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL), got, expected)
    assert jaxlayers.count_params(layer) == jaxlayers.count_params(params)


# Twins tested elsewhere: they take lists of arrays or hold batch statistics (and the bases, not layers).
ELSEWHERE = {"MaxUnpooling": "below", "BatchNormalization": "test_normalization.py",
             "SpectralNormalization": "test_normalization_layers.py", "Graph": "test_keras_graphs.py",
             "Layer": "bases", "KernelLayer": "bases", "WeightedLayer": "bases",
             "Arithmetic": "test_keras_interop.py", "LayerScale": "test_application_layers.py",
             "CustomScaleLayer": "test_application_layers.py", "Model": "test_graph_builder.py", "face": "bases",
             "Input": "test_graph_builder.py", "Tensor": "test_graph_builder.py",
             **dict.fromkeys(["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"],
                             "test_merging.py"), "Dot": "test_core_layers.py", "BaseAttention": "bases",
             **dict.fromkeys(["Attention", "AdditiveAttention"], "test_attention.py"),
             **dict.fromkeys(["SimpleRNNCell", "LSTMCell", "GRUCell"], "test_rnn_cells.py"),
             **dict.fromkeys(["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"], "test_conv_lstm.py"),
             "MultiHeadAttention": "test_multi_head_attention.py", "Bidirectional": "test_bidirectional.py",
             "GroupedQueryAttention": "test_grouped_query_attention.py",
             **dict.fromkeys(["RNN", "StackedRNNCells", "TimeDistributed"], "test_rnn_wrappers.py")}


def test_every_linen_layer_has_an_nnx_twin():
    names = {c[0].split("-")[0] for c in CASES}
    classes = {name for name in L.__all__ if getattr(L, name).__name__ == name}  # Keras's aliases: the same classes
    assert classes - set(ELSEWHERE) <= names
    assert set(L.__all__) <= set(J.__all__)


def test_max_unpooling_equals_linen(rng):
    x = jnp.asarray(rng.standard_normal((2, 6, 5, 3)), jnp.float32)
    y, idx = J.MaxPoolingWithIndices(2, padding="same")(x)
    np.testing.assert_array_equal(J.MaxUnpooling()(y, idx, x.shape), L.MaxUnpooling().apply({}, y, idx, x.shape))
    assert J.MaxUnpooling()(y, idx, x.shape).shape == x.shape


def test_parameters_are_created_eagerly():
    dense = J.Dense(5, 3, rngs=nnx.Rngs(0))
    kernel, bias = dense.kernel[...], dense.bias[...]
    assert isinstance(dense.kernel, nnx.Param) and kernel.shape == (5, 3) and bias.shape == (3,)
    limit = np.sqrt(6 / (5 + 3))  # Keras's glorot_uniform
    assert 0 < float(jnp.abs(kernel).max()) <= limit and float(jnp.std(kernel)) > limit / 4
    assert not bias.any()
    conv = J.Conv2DTranspose(2, 3, (3, 1), kernel_initializer="ones", use_bias=False, rngs=nnx.Rngs(0))
    assert conv.bias is None and conv.kernel[...].shape == (3, 1, 3, 2) and bool((conv.kernel[...] == 1).all())
    assert jaxlayers.count_params(conv) == 18


def test_rank_checks_are_linen_s():
    with pytest.raises(ValueError, match=r"Conv2D expects a 4-D input \(batch, height, width, channels\)"):
        J.Conv2D(1, 2, 3, rngs=nnx.Rngs(0))(jnp.zeros((2, 5, 1)))
    with pytest.raises(ValueError, match="MaxPooling1D expects a 3-D input"):
        J.MaxPooling1D()(jnp.zeros((2, 5, 5, 1)))
    with pytest.raises(ValueError, match="kernel_size"):
        J.Conv(1, 2, 3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="not divisible by groups"):
        J.Conv2D(3, 4, 3, groups=2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="activation"):
        J.Dense(2, 3, activation="nope", rngs=nnx.Rngs(0))


def nnx_autoencoder(rngs: nnx.Rngs, transpose: bool = False) -> nnx.Sequential:
    """The tutorial's MNIST autoencoders from jaxlayers.nnx blocks."""
    if not transpose:
        return nnx.Sequential(
            J.Conv2D(1, 16, (3, 3), activation="relu", padding="same", rngs=rngs), J.MaxPooling2D((2, 2), padding="same"),
            J.Conv2D(16, 8, (3, 3), activation="relu", padding="same", rngs=rngs), J.MaxPooling2D((2, 2), padding="same"),
            J.Conv2D(8, 4, (3, 3), activation="relu", padding="same", rngs=rngs), J.MaxPooling2D((2, 2), padding="same"),
            J.Conv2D(4, 4, (3, 3), activation="relu", padding="same", rngs=rngs), J.UpSampling2D((2, 2)),
            J.Conv2D(4, 8, (3, 3), activation="relu", padding="same", rngs=rngs), J.UpSampling2D((2, 2)),
            J.Conv2D(8, 16, (3, 3), activation="relu", rngs=rngs), J.UpSampling2D((2, 2)),
            J.Conv2D(16, 1, (3, 3), activation="sigmoid", padding="same", rngs=rngs),
        )
    return nnx.Sequential(
        J.Conv2D(1, 16, (3, 3), activation="relu", rngs=rngs), J.MaxPooling2D((2, 2)),
        J.Conv2D(16, 8, (3, 3), activation="relu", rngs=rngs), J.MaxPooling2D((2, 2)),
        J.Conv2D(8, 4, (3, 3), activation="relu", rngs=rngs),
        J.Conv2DTranspose(4, 4, (3, 3), activation="relu", padding="same", rngs=rngs), J.UpSampling2D((2, 2)),
        J.Conv2DTranspose(4, 8, (3, 3), activation="relu", padding="same", rngs=rngs), J.UpSampling2D((2, 2)),
        J.Conv2DTranspose(8, 16, (3, 3), activation="relu", rngs=rngs), J.UpSampling2D((2, 2)),
        J.Conv2DTranspose(16, 1, (3, 3), activation="sigmoid", padding="same", rngs=rngs),
    )


def linen_autoencoder(transpose: bool = False) -> nn.Sequential:
    up = L.Conv2DTranspose if transpose else L.Conv2D
    if not transpose:
        encoder = []
        for f in (16, 8, 4):
            encoder += [L.Conv2D(f, (3, 3), activation="relu", padding="same"), L.MaxPooling2D((2, 2), padding="same")]
    else:
        encoder = [L.Conv2D(16, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)),
                   L.Conv2D(8, (3, 3), activation="relu"), L.MaxPooling2D((2, 2)), L.Conv2D(4, (3, 3), activation="relu")]
    return nn.Sequential([
        *encoder,
        up(4, (3, 3), activation="relu", padding="same"), L.UpSampling2D((2, 2)),
        up(8, (3, 3), activation="relu", padding="same"), L.UpSampling2D((2, 2)),
        up(16, (3, 3), activation="relu"), L.UpSampling2D((2, 2)),
        up(1, (3, 3), activation="sigmoid", padding="same"),
    ])


@pytest.mark.parametrize("transpose, total", [(False, 3369), (True, 3369)], ids=["upsampling", "conv_transpose"])
def test_autoencoder_equals_linen(transpose, total, rng):
    model = with_random_weights(lambda r: nnx_autoencoder(r, transpose), rng, 0.3)
    assert jaxlayers.count_params(model) == total
    linen = linen_autoencoder(transpose)
    layers = params_of(model)["layers"]
    params = {f"layers_{i}": p for i, p in layers.items()}
    x = jnp.asarray(rng.random((2, 28, 28, 1)), jnp.float32)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(
        jnp.shape, dict(jax.eval_shape(linen.init, jax.random.key(0), x)["params"]))
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(linen.apply({"params": params}, x)), **TOL)
    got, expected = jaxlayers.summary(model, (None, 28, 28, 1)), jaxlayers.summary(linen, (None, 28, 28, 1))
    assert [r[:4] for r in map(lambda r: (r.name, r.type, r.output_shape, r.params), got.rows)] == \
        [(r.name, r.type, r.output_shape, r.params) for r in expected.rows]
    assert (got.trainable_params, got.non_trainable_params) == (total, 0) == \
        (expected.trainable_params, expected.non_trainable_params)
    assert str(got).splitlines()[1:] == str(expected).splitlines()[1:]


def test_summary_leaves_classes_as_they_were_and_names_attributes():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.encoder = J.Conv1D(2, 3, 3, rngs=rngs)
            self.pool = J.GlobalMaxPooling1D()
            self.head = J.Dense(3, 1, rngs=rngs)

        def __call__(self, x):
            return self.head(self.pool(self.encoder(x)))

    before = {cls: cls.__dict__.get("__call__") for cls in (J.Conv1D, J.Conv, J.Dense, J.GlobalMaxPooling1D, Net)}
    s = jaxlayers.summary(Net(nnx.Rngs(0)), (4, 8, 2))
    assert [(r.name, r.type, r.output_shape, r.params) for r in s.rows] == [
        ("encoder", "Conv1D", (4, 6, 3), 21), ("pool", "GlobalMaxPooling1D", (4, 3), 0), ("head", "Dense", (4, 1), 4)]
    assert s.model_name == "Net" and s.total_params == 25
    assert {cls: cls.__dict__.get("__call__") for cls in before} == before


def test_trains_with_nnx_transforms(rng):
    model = nnx.Sequential(J.Conv1D(2, 4, 3, activation="relu", rngs=nnx.Rngs(0)), J.Flatten(),
                           J.Dense(24, 1, rngs=nnx.Rngs(1)))
    x = jnp.asarray(rng.standard_normal((8, 8, 2)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((8, 1)), jnp.float32)

    @nnx.jit
    def step(model):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        nnx.update(model, jax.tree.map(lambda p, g: p - 0.05 * g, nnx.state(model, nnx.Param), grads))
        return loss

    losses = [float(step(model)) for _ in range(5)]
    assert losses[-1] < losses[0]
