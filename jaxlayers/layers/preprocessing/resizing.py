"""Keras `Resizing`."""
from __future__ import annotations

import jax

from jaxlayers import functional as F
from jaxlayers.functional.preprocessing import check_resize_arguments
from jaxlayers.layers.layer import Layer


class Resizing(Layer):
    """Keras `Resizing(height, width, interpolation="bilinear", ...)`: images resized by `jax.image.resize`.

    x: (batch, height, width, channels) or one image (height, width, channels) -> the
    same with the new height and width, x's dtype (integers rounded and saturated, as
    Keras). See `jaxlayers.functional.resize`.

    Args:
        height: the output height.
        width: the output width.
        interpolation: "bilinear", "nearest", "bicubic", "lanczos3" or "lanczos5".
        crop_to_aspect_ratio: resize the largest centred window of the target's aspect
            ratio (no distortion).
        pad_to_aspect_ratio: pad the short side evenly to the target's aspect ratio first.
        fill_mode: the padding's mode: "constant" (Keras's only one).
        fill_value: the padding's value.
        antialias: antialiasing when downsampling.
        dtype: the computation's dtype (keyword-only); None: the input's.
    """

    height: int
    width: int
    interpolation: str = "bilinear"
    crop_to_aspect_ratio: bool = False
    pad_to_aspect_ratio: bool = False
    fill_mode: str = "constant"
    fill_value: float = 0.0
    antialias: bool = False

    def check(self) -> None:
        super().check()
        check_resize_arguments(self.height, self.width, self.interpolation, self.crop_to_aspect_ratio,
                               self.pad_to_aspect_ratio, self.fill_mode, self.fill_value, self.antialias)

    def call(self, x: jax.Array) -> jax.Array:
        return F.resize(x, self.height, self.width, self.interpolation, self.crop_to_aspect_ratio,
                        self.pad_to_aspect_ratio, self.fill_mode, self.fill_value, self.antialias)
