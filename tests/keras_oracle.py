"""Test oracles: real Keras 3 layers (JAX backend) and independent NumPy references.

Nothing here imports jaxlayers: these are the "expected" side of every comparison.
"""
from __future__ import annotations

import itertools
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

_BY_RANK = {
    "Conv": ("Conv1D", "Conv2D", "Conv3D"),
    "ConvTranspose": ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"),
    "MaxPooling": ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D"),
    "AveragePooling": ("AveragePooling1D", "AveragePooling2D", "AveragePooling3D"),
    "GlobalMaxPooling": ("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D"),
    "GlobalAveragePooling": ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"),
    "UpSampling": ("UpSampling1D", "UpSampling2D", "UpSampling3D"),
    "ZeroPadding": ("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"),
    "Cropping": ("Cropping1D", "Cropping2D", "Cropping3D"),
}


def keras_class(family: str, rank: int):
    """keras.layers.<family><rank>D, e.g. ("Conv", 2) -> keras.layers.Conv2D."""
    return getattr(keras.layers, _BY_RANK[family][rank - 1])


def keras_layer(family: str, rank: int, input_shape, rng: np.random.Generator | None = None, **kwargs):
    """A built Keras layer; with `rng`, its weights are replaced by random normal values.

    Returns (layer, weights) where weights are the NumPy arrays now in the layer
    (kernel first, then bias if any), in Keras's own layouts.
    """
    if family in ("Conv", "ConvTranspose", "Dense"):
        # Keras's default glorot init costs ~2 s of XLA compiles per layer; the
        # weights are replaced anyway.
        kwargs.setdefault("kernel_initializer", "zeros")
    layer = keras_class(family, rank)(**kwargs) if family in _BY_RANK else getattr(keras.layers, family)(**kwargs)
    layer.build(tuple(input_shape))
    weights = [np.asarray(w) for w in layer.get_weights()]
    if rng is not None and weights:
        weights = [rng.standard_normal(w.shape).astype(np.float32) for w in weights]
        layer.set_weights(weights)
    return layer, weights


def run(layer, x: np.ndarray) -> np.ndarray:
    return np.asarray(layer(x))


def output_shape(layer, input_shape) -> tuple:
    return tuple(layer.compute_output_shape(tuple(input_shape)))


# ---------------------------------------------------------------- NumPy references


def np_conv(x, kernel, bias=None, strides=(1,), pads=((0, 0),), dilation=(1,), groups=1):
    """Direct N-D grouped convolution (cross-correlation), channels-last, Keras kernel layout.

    x: (N, *S, C); kernel: (*K, C // groups, F); pads: (lo, hi) per axis.
    Loops over kernel offsets; each offset adds a strided slice of the padded input.
    """
    x = np.asarray(x, np.float64)
    kernel = np.asarray(kernel, np.float64)
    rank = kernel.ndim - 2
    ksize = kernel.shape[:rank]
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out_sizes = [
        (xp.shape[1 + i] - ((ksize[i] - 1) * dilation[i] + 1)) // strides[i] + 1 for i in range(rank)
    ]
    cin_g = kernel.shape[-2]
    f = kernel.shape[-1]
    f_g = f // groups
    y = np.zeros((x.shape[0], *out_sizes, f))
    for offset in itertools.product(*(range(k) for k in ksize)):
        idx = tuple(
            slice(o * d, o * d + (n - 1) * s + 1, s)
            for o, d, n, s in zip(offset, dilation, out_sizes, strides)
        )
        patch = xp[(slice(None), *idx, slice(None))]  # (N, *out, C)
        for g in range(groups):
            xs = patch[..., g * cin_g:(g + 1) * cin_g]
            w = kernel[offset][:, g * f_g:(g + 1) * f_g]
            y[..., g * f_g:(g + 1) * f_g] += xs @ w
    if bias is not None:
        y = y + np.asarray(bias, np.float64)
    return y


def np_max_pool_with_indices(x, pool, strides, pads):
    """Loops over windows: (y, indices); padded cells never win; first maximum on ties.

    indices: row-major flat index in the (batch, channel) spatial map of x.
    """
    x = np.asarray(x)
    n, *spatial, c = x.shape
    rank = len(spatial)
    out = [(spatial[i] + pads[i][0] + pads[i][1] - pool[i]) // strides[i] + 1 for i in range(rank)]
    y = np.zeros((n, *out, c), x.dtype)
    ind = np.zeros((n, *out, c), np.int64)
    for b in range(n):
        for ch in range(c):
            for o in itertools.product(*(range(k) for k in out)):
                best, best_i = -np.inf, -1
                for w in itertools.product(*(range(k) for k in pool)):  # row-major window order
                    pos = [o[i] * strides[i] - pads[i][0] + w[i] for i in range(rank)]
                    if any(p < 0 or p >= spatial[i] for i, p in enumerate(pos)):
                        continue
                    v = x[(b, *pos, ch)]
                    if v > best:
                        best, best_i = v, int(np.ravel_multi_index(pos, spatial))
                y[(b, *o, ch)] = best
                ind[(b, *o, ch)] = best_i
    return y, ind


def np_max_unpool(y, indices, output_shape):
    y = np.asarray(y)
    out = np.zeros(output_shape, y.dtype)
    n, c = output_shape[0], output_shape[-1]
    spatial = output_shape[1:-1]
    for b in range(n):
        for ch in range(c):
            flat = out[b, ..., ch].reshape(-1)
            for v, i in zip(y[b, ..., ch].reshape(-1), np.asarray(indices)[b, ..., ch].reshape(-1)):
                flat[i] = v
            out[b, ..., ch] = flat.reshape(spatial)
    return out


def np_bed_of_nails(x, size):
    x = np.asarray(x)
    n, *spatial, c = x.shape
    out = np.zeros((n, *(s * k for s, k in zip(spatial, size)), c), x.dtype)
    out[(slice(None), *(slice(0, None, k) for k in size), slice(None))] = x
    return out


def same_pads(sizes, windows, strides):
    """TF/Keras "same" padding, written out independently: the odd cell goes at the end."""
    pads = []
    for n, w, s in zip(sizes, windows, strides):
        out = -(-n // s)
        total = max((out - 1) * s + w - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


def padded_mask(rng: np.random.Generator, batch: int, time: int) -> np.ndarray:
    """A (batch, time) mask: right-padded rows, a left-padded one and one with a hole (every case Keras handles)."""
    lengths = rng.integers(1, time + 1, batch)
    mask = np.arange(time)[None] < lengths[:, None]
    mask[0, : time // 2] = False
    mask[-1, 1] = False
    return mask


def random_weights(layer, rng: np.random.Generator, scale: float = 1.0) -> list[np.ndarray]:
    """Sets a built Keras layer's (or model's) weights to `scale` * standard normals; returns them in its order."""
    weights = [scale * rng.standard_normal(w.shape).astype(np.float32) for w in layer.get_weights()]
    layer.set_weights(weights)
    return weights
