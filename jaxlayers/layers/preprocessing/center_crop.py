"""Keras `CenterCrop`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers._args import positive_int
from jaxlayers.functional.preprocessing import float_dtype
from jaxlayers.layers.layer import Layer


class CenterCrop(Layer):
    """Keras `CenterCrop(height, width)`: the centred (height, width) window of each image.

    x: (batch, height, width, channels) or one image (height, width, channels) -> the
    same with the new height and width. An image smaller than the target on either
    axis is resized instead, as Keras: its largest centred window of the target's
    aspect ratio, bilinearly (`jaxlayers.functional.center_crop`). Integer inputs give
    float32 (Keras's compute dtype), floating ones keep their dtype (or `dtype`).

    Args:
        height: the output height.
        width: the output width.
        dtype: the computation's dtype (keyword-only); None: the input's if floating,
            else float32.
    """

    height: int
    width: int

    def check(self) -> None:
        super().check()
        positive_int(self.height, "height")
        positive_int(self.width, "width")

    def call(self, x: jax.Array) -> jax.Array:
        return F.center_crop(x.astype(float_dtype(x, self.dtype)), self.height, self.width)
