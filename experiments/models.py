"""The convolutional autoencoders of the Keras tutorial, built from `jaxlayers.linen`.

All three map (batch, 28, 28, 1) images in [0, 1] to (batch, 28, 28, 1)
probabilities and have 3,369 parameters: the same seven 3x3 convolutions
(1->16->8->4 | 4->4->8->16->1), only the resampling between them differs.

``UpsampleAutoencoder`` (tutorial, "upsample")::

    28 conv16 same -> pool -> 14 conv8 same -> pool -> 7 conv4 same -> pool(same) -> 4
    4 conv4 same -> up -> 8 conv8 same -> up -> 16 conv16 VALID -> 14 -> up -> 28 conv1 same

  `upsampling="bed_of_nails"` swaps nearest-neighbour upsampling for bed of nails
  (each value at the top-left of its 2x2 block, zeros elsewhere).

``TransposeAutoencoder`` (tutorial, "transpose")::

    28 conv16 valid 26 -> pool 13 -> conv8 valid 11 -> pool 5 -> conv4 valid 3
    3 convT4 same -> up 6 -> convT8 same -> up 12 -> convT16 valid 14 -> up 28 -> convT1 same

``UnpoolAutoencoder`` ("unpool"): the `upsample` encoder with max pooling that
remembers where each maximum was, and a decoder that mirrors it exactly. The
`upsample` decoder cannot be reused: it reaches 28 as 4->8->16->(valid conv)14->28,
but max unpooling must restore each pooled shape with the indices of that pool,
so the decoder runs the encoder backwards::

    4 conv4 same -> unpool(pool3: 7x7x4)  -> 7  conv8 same  -> unpool(pool2: 14x14x8)
      -> 14 conv16 same -> unpool(pool1: 28x28x16) -> 28 conv1 same

  Each unpooling needs as many channels as the tensor its pool saw (4, 8, 16),
  which is exactly what the tutorial's decoder convolutions produce; the only
  change is that conv16 is "same" (14->14) instead of "valid" (16->14). Kernel
  shapes are the same seven, so the count stays 3,369. The 7->4 pool uses
  padding "same", and unpooling it back to 7x7 uses the recorded pre-pool shape.
"""
from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxlayers import linen as L

VARIANTS = ("upsample", "transpose", "unpool")
UPSAMPLING = ("nearest", "bed_of_nails")
APIS = ("linen", "nnx")
INPUT_SHAPE = (None, 28, 28, 1)
PARAMS = 3369
DTYPES = {"float32": None, "bfloat16": jnp.bfloat16}  # --dtype: the convolutions' computation dtype


class UpsampleAutoencoder(nn.Module):
    """Tutorial autoencoder with MaxPooling2D / UpSampling2D (`interpolation` selectable)."""

    upsampling: str = "nearest"
    dtype: Any = None  # the convolutions' computation dtype (parameters stay float32)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = L.Conv2D(16, 3, activation="relu", padding="same", dtype=self.dtype)(x)
        x = L.MaxPooling2D(2, padding="same")(x)
        x = L.Conv2D(8, 3, activation="relu", padding="same", dtype=self.dtype)(x)
        x = L.MaxPooling2D(2, padding="same")(x)
        x = L.Conv2D(4, 3, activation="relu", padding="same", dtype=self.dtype)(x)
        x = L.MaxPooling2D(2, padding="same")(x)  # encoded: 4x4x4
        x = L.Conv2D(4, 3, activation="relu", padding="same", dtype=self.dtype)(x)
        x = L.UpSampling2D(2, interpolation=self.upsampling)(x)
        x = L.Conv2D(8, 3, activation="relu", padding="same", dtype=self.dtype)(x)
        x = L.UpSampling2D(2, interpolation=self.upsampling)(x)
        x = L.Conv2D(16, 3, activation="relu", dtype=self.dtype)(x)
        x = L.UpSampling2D(2, interpolation=self.upsampling)(x)
        return L.Conv2D(1, 3, activation="sigmoid", padding="same", dtype=self.dtype)(x)


class TransposeAutoencoder(nn.Module):
    """Tutorial autoencoder with valid convolutions and Conv2DTranspose in the decoder."""

    dtype: Any = None  # the convolutions' computation dtype (parameters stay float32)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = L.Conv2D(16, 3, activation="relu", dtype=self.dtype)(x)
        x = L.MaxPooling2D(2)(x)
        x = L.Conv2D(8, 3, activation="relu", dtype=self.dtype)(x)
        x = L.MaxPooling2D(2)(x)
        x = L.Conv2D(4, 3, activation="relu", dtype=self.dtype)(x)  # encoded: 3x3x4
        x = L.Conv2DTranspose(4, 3, activation="relu", padding="same", dtype=self.dtype)(x)
        x = L.UpSampling2D(2)(x)
        x = L.Conv2DTranspose(8, 3, activation="relu", padding="same", dtype=self.dtype)(x)
        x = L.UpSampling2D(2)(x)
        x = L.Conv2DTranspose(16, 3, activation="relu", dtype=self.dtype)(x)
        x = L.UpSampling2D(2)(x)
        return L.Conv2DTranspose(1, 3, activation="sigmoid", padding="same", dtype=self.dtype)(x)


class UnpoolAutoencoder(nn.Module):
    """`upsample`'s encoder with pooling indices; max unpooling mirrors it (see module doc)."""

    dtype: Any = None  # the convolutions' computation dtype (parameters stay float32)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        skips = []
        for filters in (16, 8, 4):
            x = L.Conv2D(filters, 3, activation="relu", padding="same", dtype=self.dtype)(x)
            shape = x.shape
            x, indices = L.MaxPoolingWithIndices(2, padding="same")(x)
            skips.append((indices, shape))
        # encoded: 4x4x4; decode 4 -> 7 -> 14 -> 28 with the pools' indices, last first.
        for filters, (indices, shape) in zip((4, 8, 16), reversed(skips)):
            x = L.Conv2D(filters, 3, activation="relu", padding="same", dtype=self.dtype)(x)
            x = L.MaxUnpooling()(x, indices, shape)
        return L.Conv2D(1, 3, activation="sigmoid", padding="same", dtype=self.dtype)(x)


def build_model(variant: str, upsampling: str = "nearest", api: str = "linen", dtype: str = "float32") -> nn.Module:
    """The linen autoencoder for `variant` ("upsample", "transpose" or "unpool").

    upsampling: "nearest" (Keras UpSampling2D) or "bed_of_nails"; only the
    `upsample` variant has a choice (the others refuse anything but "nearest").
    api: "linen", or "nnx" for the `jaxlayers.nnx` twin behind the same
    `init`/`apply` face (`experiments.models_nnx.NNXModel`).
    dtype: "float32", or "bfloat16" to compute the convolutions in bfloat16 with
    float32 parameters (mixed precision; the loss stays float32).
    """
    if api not in APIS:
        raise ValueError(f"api must be one of {APIS}, got {api!r}.")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}.")
    if upsampling not in UPSAMPLING:
        raise ValueError(f"upsampling must be one of {UPSAMPLING}, got {upsampling!r}.")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}.")
    if variant != "upsample" and upsampling != "nearest":
        raise ValueError(f"upsampling={upsampling!r} applies only to variant 'upsample', not {variant!r}.")
    if api == "nnx":
        from experiments.models_nnx import build_nnx_model

        return build_nnx_model(variant, upsampling, DTYPES[dtype])
    if variant == "upsample":
        return UpsampleAutoencoder(upsampling=upsampling, dtype=DTYPES[dtype])
    cls = TransposeAutoencoder if variant == "transpose" else UnpoolAutoencoder
    return cls(dtype=DTYPES[dtype])
