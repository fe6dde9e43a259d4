"""Keras's preprocessing layers as functions: `Rescaling`, `Normalization`, `Resizing`, `CenterCrop`.

Images are channels-last, `(batch, height, width, channels)` or one image
`(height, width, channels)`, as Keras's image layers take them. Resizing is
`jax.image.resize` with Keras's method names and `antialias=False` by default, as
Keras's JAX backend calls it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxlayers._args import _is_int, check_bool, positive_int

INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic")  # Keras's, on JAX
FILL_MODES = ("constant",)
EPSILON = 1e-7  # keras.config.epsilon()'s default: Normalization's floor on the standard deviation


def float_dtype(x: jax.Array, dtype: Any = None) -> Any:
    """The dtype a preprocessing layer computes in: `dtype`, else x's if floating, else float32.

    Args:
        x: the input.
        dtype: the layer's `dtype`, or None.

    Returns:
        A floating dtype (Keras casts integer inputs to its float32 compute dtype).
    """
    if dtype is not None:
        return jnp.dtype(dtype)
    return x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.dtype(jnp.float32)


def check_numbers(value: Any, name: str) -> np.ndarray:
    """A number or a (nested) sequence of numbers, as a float64 NumPy array (or a JAX array of them).

    Args:
        value: the value given (`scale`, `offset`, `mean`, ...).
        name: the argument, for errors.

    Returns:
        The values as an array (0-d for a number); a JAX array (a traced NNX attribute) as it is.

    Raises:
        TypeError: not a real number or numbers.
    """
    if isinstance(value, jax.Array):
        if not jnp.issubdtype(value.dtype, jnp.integer) and not jnp.issubdtype(value.dtype, jnp.floating):
            raise TypeError(f"`{name}` must be real numbers, got an array of dtype {value.dtype}.")
        return value
    try:
        array = np.asarray(value)
    except ValueError:  # ragged
        array = None
    if (array is None or array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool)
            or np.iscomplexobj(array) or isinstance(value, (str, bytes))):
        raise TypeError(f"`{name}` must be a number or a (nested) sequence of numbers, got {value!r}.")
    return array.astype(np.float64)


def _image_rank(x: jax.Array, what: str) -> None:
    if x.ndim not in (3, 4):
        raise ValueError(f"{what} expects an image (height, width, channels) or a batch of them (batch, height, "
                         f"width, channels), got shape {tuple(x.shape)}.")


def rescale(x: jax.Array, scale: Any, offset: Any = 0.0, dtype: Any = None) -> jax.Array:
    """Keras `Rescaling`: `x * scale + offset`, in a floating dtype.

    Args:
        x: any shape, any numeric dtype.
        scale: a number, or numbers broadcast against x's trailing axes (e.g. one per
            channel).
        offset: the same.
        dtype: the computation's dtype; None: x's if floating, else float32.

    Returns:
        `x * scale + offset` in that dtype; the broadcast shape of x, scale and offset.

    Raises:
        TypeError: `scale` or `offset` is not a number or numbers.
        ValueError: they do not broadcast against x.
    """
    dtype = float_dtype(x, dtype)
    s, o = check_numbers(scale, "scale"), check_numbers(offset, "offset")
    for name, v in (("scale", s), ("offset", o)):
        try:
            np.broadcast_shapes(x.shape, v.shape)
        except ValueError:
            raise ValueError(f"`{name}` of shape {v.shape} does not broadcast against the input of shape "
                             f"{tuple(x.shape)}.") from None
    return x.astype(dtype) * jnp.asarray(s, dtype) + jnp.asarray(o, dtype)


def normalization_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """Keras `Normalization`'s kept axes (each with its own mean and variance), non-negative and sorted.

    Args:
        axis: an int, a sequence of ints, or None (one mean and variance for all).
        ndim: the input's rank.

    Returns:
        The kept axes.

    Raises:
        TypeError: `axis` is not an int, ints or None.
        ValueError: an axis out of range or given twice.
    """
    axes = check_normalization_axis(axis)
    if any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"`axis` values must be in the range [-ndim, ndim) for an input of rank {ndim}, got "
                         f"axis={axis!r}.")
    kept = sorted(a % ndim for a in axes)
    if len(set(kept)) != len(kept):
        raise ValueError(f"`axis` names an axis twice for an input of rank {ndim}: axis={axis!r}.")
    return tuple(kept)


def check_normalization_axis(axis: Any) -> tuple[int, ...]:
    """Keras `Normalization`'s `axis` as a tuple (None: `()`).

    Args:
        axis: an int, a sequence of ints, or None.

    Returns:
        The axes as given, as a tuple.

    Raises:
        TypeError: not an int, ints or None.
    """
    if axis is None:
        return ()
    if _is_int(axis):
        return (int(axis),)
    if isinstance(axis, Sequence) and not isinstance(axis, str) and all(map(_is_int, axis)):
        return tuple(int(a) for a in axis)
    raise TypeError(f"`axis` must be an int, a sequence of ints or None, got {axis!r}.")


def normalization_shape(x_shape: Sequence[int], axis: Any) -> tuple[int, ...]:
    """The shape of an adapted `Normalization`'s `mean` and `variance`: the kept axes' sizes.

    Args:
        x_shape: the input's shape.
        axis: Keras's `axis`.

    Returns:
        `tuple(x_shape[a] for a in kept axes)`, `()` for axis=None.
    """
    return tuple(int(x_shape[a]) for a in normalization_axes(axis, len(x_shape)))


def _broadcast_statistic(value: Any, name: str, x_shape: tuple[int, ...], kept: tuple[int, ...]) -> Any:
    """`mean` or `variance` laid on the kept axes right to left, then broadcast over x's rank (as Keras)."""
    shape = tuple(np.shape(value))
    if len(shape) > len(kept):
        raise ValueError(f"`{name}` of shape {shape} has more axes than `axis` keeps ({len(kept)}).")
    target = [x_shape[d] if d in kept else 1 for d in range(len(x_shape))]
    expanded = [1] * len(x_shape)
    for size, d in zip(reversed(shape), reversed(kept)):
        expanded[d] = size
    if any(e not in (1, t) for e, t in zip(expanded, target)):
        raise ValueError(f"`{name}` of shape {shape} does not broadcast to the kept axes {kept} of the input of "
                         f"shape {x_shape}: it would need {tuple(target[d] for d in kept)}.")
    return jnp.broadcast_to(jnp.reshape(value, expanded), target)


def normalize(x: jax.Array, mean: Any, variance: Any, axis: Any = -1, invert: bool = False,
              dtype: Any = None) -> jax.Array:
    """Keras `Normalization`: `(x - mean) / max(sqrt(variance), 1e-7)`, or its inverse.

    Args:
        x: any shape.
        mean: the kept axes' means: a number, or an array whose axes lie on the kept axes
            right to left (e.g. (channels,) with axis=-1), broadcast where of size 1.
        variance: the same, for the variances.
        axis: the kept axes (each index its own mean and variance): an int, ints, or
            None (one mean and variance).
        invert: `mean + x * max(sqrt(variance), 1e-7)` instead (un-normalise).
        dtype: the computation's dtype; None: x's if floating, else float32.

    Returns:
        x's shape, in that dtype.

    Raises:
        TypeError: a bad `axis` or `invert`.
        ValueError: an axis out of range, or statistics that do not fit the kept axes.
    """
    invert = check_bool(invert, "invert")
    dtype = float_dtype(x, dtype)
    kept = normalization_axes(axis, x.ndim)
    shape = tuple(x.shape)
    mean = _broadcast_statistic(jnp.asarray(mean, dtype), "mean", shape, kept)
    std = jnp.maximum(jnp.sqrt(_broadcast_statistic(jnp.asarray(variance, dtype), "variance", shape, kept)),
                      jnp.asarray(EPSILON, dtype))
    x = x.astype(dtype)
    return mean + x * std if invert else (x - mean) / std


def normalization_statistics(x: jax.Array, axis: Any = -1) -> tuple[jax.Array, jax.Array]:
    """What Keras `Normalization.adapt` computes on an array: the mean and variance over the other axes.

    Args:
        x: the data, any shape (e.g. (samples, features)).
        axis: the kept axes, as `Normalization`'s.

    Returns:
        `(mean, variance)`, shaped as the kept axes' sizes (`normalization_shape`); the
        population variance, as NumPy's.
    """
    kept = normalization_axes(axis, x.ndim)
    reduced = tuple(d for d in range(x.ndim) if d not in kept)
    x = x.astype(float_dtype(x))
    return jnp.mean(x, axis=reduced), jnp.var(x, axis=reduced)


def check_resize_arguments(height: Any, width: Any, interpolation: str = "bilinear",
                           crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False,
                           fill_mode: str = "constant", fill_value: Any = 0.0, antialias: bool = False) -> None:
    """Keras `Resizing`'s arguments.

    Args:
        height: the output height, an int >= 1.
        width: the output width, an int >= 1.
        interpolation: one of `INTERPOLATIONS`.
        crop_to_aspect_ratio: a bool.
        pad_to_aspect_ratio: a bool; not with `crop_to_aspect_ratio`.
        fill_mode: "constant" (Keras's only one).
        fill_value: a number.
        antialias: a bool.

    Raises:
        TypeError, ValueError: a bad argument, named.
    """
    positive_int(height, "height")
    positive_int(width, "width")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"`interpolation` must be one of {INTERPOLATIONS}, got {interpolation!r}.")
    crop, pad = check_bool(crop_to_aspect_ratio, "crop_to_aspect_ratio"), check_bool(pad_to_aspect_ratio,
                                                                                       "pad_to_aspect_ratio")
    if crop and pad:
        raise ValueError("Only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True.")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"`fill_mode` must be one of {FILL_MODES}, got {fill_mode!r}.")
    if np.ndim(check_numbers(fill_value, "fill_value")):
        raise TypeError(f"`fill_value` must be a number, got {fill_value!r}.")
    check_bool(antialias, "antialias")


def _aspect(other: int, target: int, target_other: int) -> int:
    """Keras's aspect-ratio extent along one axis, `int(other * target / target_other)`, in integers."""
    return (other * target) // target_other


def _saturate(x: jax.Array, dtype: Any) -> jax.Array:
    """Floats rounded and cast to an integer dtype, clipped to what both dtypes hold (Keras's saturating cast)."""
    info, source = jnp.iinfo(dtype), np.dtype(x.dtype)
    lo, hi = np.array(info.min, source), np.array(info.max, source)
    lo = np.nextafter(lo, np.zeros((), source)) if lo < info.min else lo
    hi = np.nextafter(hi, np.zeros((), source)) if hi > info.max else hi
    return jnp.clip(jnp.round(x), lo, hi).astype(dtype)


def resize(x: jax.Array, height: int, width: int, interpolation: str = "bilinear",
           crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False, fill_mode: str = "constant",
           fill_value: float = 0.0, antialias: bool = False) -> jax.Array:
    """Keras `Resizing`: images resized to (height, width) by `jax.image.resize`.

    With `crop_to_aspect_ratio` the largest centred window of the target's aspect ratio
    is resized; with `pad_to_aspect_ratio` the short side is first padded evenly with
    `fill_value`. Integer images come back rounded and saturated in their dtype (as
    Keras); floats keep theirs.

    Args:
        x: (batch, height, width, channels) or (height, width, channels).
        height: the output height.
        width: the output width.
        interpolation: "bilinear", "nearest", "bicubic", "lanczos3" or "lanczos5".
        crop_to_aspect_ratio: crop to the target's aspect ratio first.
        pad_to_aspect_ratio: pad to the target's aspect ratio first.
        fill_mode: "constant".
        fill_value: the padding's value.
        antialias: `jax.image.resize`'s antialiasing when downsampling.

    Returns:
        (batch, height, width, channels) (or without batch, as x), x's dtype.

    Raises:
        TypeError, ValueError: a bad argument, or x not an image or batch of images.
    """
    check_resize_arguments(height, width, interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio, fill_mode,
                           fill_value, antialias)
    _image_rank(x, "resize")
    resized = _resize(x, int(height), int(width), interpolation, crop_to_aspect_ratio, pad_to_aspect_ratio,
                      fill_value, bool(antialias))
    if resized.dtype == x.dtype:
        return resized
    return _saturate(resized, x.dtype) if jnp.issubdtype(x.dtype, jnp.integer) else resized.astype(x.dtype)


def _resize(x: jax.Array, height: int, width: int, interpolation: str, crop: bool, pad: bool, fill_value: Any,
            antialias: bool) -> jax.Array:
    """The resize of Keras's JAX backend (`keras.ops.image.resize`), channels-last."""
    h_axis = x.ndim - 3
    h, w = x.shape[h_axis], x.shape[h_axis + 1]
    if crop:
        crop_h = max(min(h, _aspect(w, height, width)), 1)
        crop_w = max(min(w, _aspect(h, width, height)), 1)
        top, left = (h - crop_h) // 2, (w - crop_w) // 2
        x = jax.lax.slice_in_dim(x, top, top + crop_h, axis=h_axis)
        x = jax.lax.slice_in_dim(x, left, left + crop_w, axis=h_axis + 1)
    elif pad:
        top = (max(h, _aspect(w, height, width)) - h) // 2
        left = (max(w, _aspect(h, width, height)) - w) // 2
        # Keras pads the height if it must, else the width, by the same amount on both sides.
        axis, amount = (h_axis, top) if top > 0 else (h_axis + 1, left)
        if amount > 0:
            shape = list(x.shape)
            shape[axis] = amount
            border = jnp.ones(shape, x.dtype) * fill_value  # the dtype Keras's fill gets (float for int x)
            x = jnp.concatenate([border, x, border], axis=axis)
    size = (*x.shape[:h_axis], height, width, x.shape[-1])
    return jax.image.resize(x, size, method=interpolation, antialias=antialias)


def center_crop(x: jax.Array, height: int, width: int) -> jax.Array:
    """Keras `CenterCrop`: the centred (height, width) window; a smaller image is resized instead.

    Where the image is at least (height, width), the window starts at half the excess
    (rounded down). Otherwise, as Keras, the largest centred window of the target's
    aspect ratio is resized to (height, width) (bilinear, no antialiasing).

    Args:
        x: (batch, height, width, channels) or (height, width, channels).
        height: the output height, an int >= 1.
        width: the output width, an int >= 1.

    Returns:
        (batch, height, width, channels) (or without batch, as x); x's dtype (a resize
        of integers gives float32, as `jax.image.resize`).

    Raises:
        TypeError, ValueError: a bad size, or x not an image or batch of images.
    """
    height, width = positive_int(height, "height"), positive_int(width, "width")
    _image_rank(x, "center_crop")
    h_axis = x.ndim - 3
    h, w = x.shape[h_axis], x.shape[h_axis + 1]
    if h >= height and w >= width:
        top, left = (h - height) // 2, (w - width) // 2
        x = jax.lax.slice_in_dim(x, top, top + height, axis=h_axis)
        return jax.lax.slice_in_dim(x, left, left + width, axis=h_axis + 1)
    return _resize(x, height, width, "bilinear", True, False, 0.0, False)
