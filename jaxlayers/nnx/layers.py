"""Keras layers as Flax NNX modules, over `jaxlayers.functional` (same math as `jaxlayers.linen`).

Layers with weights take their input size at construction and `rngs=`, e.g.
`Conv2D(in_channels, filters, kernel_size, rngs=rngs)`; their parameters are `kernel`
and `bias` (`nnx.Param`) in Keras layouts. The others are plain `nnx.Module`s.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from jaxlayers import activations, initializers
from jaxlayers import functional as F
from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, as_pairs, check_bool, positive_int
from jaxlayers.functional.conv import check_arguments as check_conv_arguments
from jaxlayers.linen.pooling import check_arguments as check_pool_arguments
from jaxlayers.linen.reshaping import check_upsampling
from jaxlayers.nnx._base import KernelLayer, Layer


class Dense(KernelLayer):
    """Keras `Dense(units)`: x: (..., in_features) -> (..., units); kernel (in, units), bias (units,).

    Args:
        in_features: the input's last axis.
        units: output features.
        activation: a Keras activation name, a callable or None (linear), applied last
            (keyword-only, as all the arguments below).
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
        rngs: the `params` stream draws the initial kernel and bias.

    Raises:
        ValueError, TypeError: a bad argument, named, at construction.
    """

    keeps_grid = True

    def __init__(
        self, in_features: int, units: int, *, activation: activations.Activation = None, use_bias: bool = True,
        kernel_initializer: initializers.Initializer = "glorot_uniform",
        bias_initializer: initializers.Initializer = "zeros", dtype: Any = None, param_dtype: Any = jnp.float32,
        precision: lax.PrecisionLike = None, rngs: nnx.Rngs,
    ):
        self.in_features, self.units = positive_int(in_features, "in_features"), positive_int(units, "units")
        self.init_kernel_and_bias(
            (in_features, units), units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer, dtype=dtype,
            param_dtype=param_dtype, precision=precision, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x, kernel, bias = self.cast(x, *self.kernel_and_bias())
        return self.activate(F.dense(x, kernel, bias, precision=self.precision))


class _ConvBase(KernelLayer):
    def _rank(self, kernel_size: IntOrSeq) -> int:
        if self.rank is None:
            if not isinstance(kernel_size, Sequence):
                raise ValueError(f"{type(self).__name__}: give `kernel_size` as a sequence (one int per spatial "
                                 f"axis) or use the 1D/2D/3D classes, got {kernel_size!r}.")
            return len(kernel_size)
        return self.rank


class Conv(_ConvBase):
    """Keras `ConvND(filters, kernel_size)`: (batch, *spatial, in_channels) -> (batch, *out, filters).

    Parameters `kernel` (*kernel_size, in_channels // groups, filters) and `bias`
    (filters,). The rank comes from the class (`Conv2D`, ...) or `len(kernel_size)`.

    Args:
        in_channels: the input's channels.
        filters: output channels.
        kernel_size: an int or one per spatial axis (a sequence for `Conv` itself).
        strides: an int or one per spatial axis.
        padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis.
        dilation_rate: an int or one per spatial axis.
        groups: feature groups, dividing `in_channels` and `filters`.
        activation: a Keras activation name, a callable or None (linear), applied last
            (keyword-only, as all the arguments below).
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
        rngs: the `params` stream draws the initial kernel and bias.

    Raises:
        ValueError, TypeError: a bad argument, named, at construction.
    """

    def __init__(
        self, in_channels: int, filters: int, kernel_size: IntOrSeq, strides: IntOrSeq = 1,
        padding: pad.Padding = "valid", dilation_rate: IntOrSeq = 1, groups: int = 1, *,
        activation: activations.Activation = None, use_bias: bool = True,
        kernel_initializer: initializers.Initializer = "glorot_uniform",
        bias_initializer: initializers.Initializer = "zeros", dtype: Any = None, param_dtype: Any = jnp.float32,
        precision: lax.PrecisionLike = None, rngs: nnx.Rngs,
    ):
        size, dilation_rate, groups = check_conv_arguments(
            self._rank(kernel_size), filters, kernel_size, strides, padding, dilation_rate, groups=groups,
            channels=in_channels, owner=type(self).__name__)
        self.in_channels, self.filters, self.kernel_size = in_channels, filters, kernel_size
        self.strides, self.padding, self.dilation_rate, self.groups = strides, padding, dilation_rate, groups
        self.init_kernel_and_bias(
            (*size, in_channels // groups, filters), filters, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer, dtype=dtype,
            param_dtype=param_dtype, precision=precision, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x, self.kernel_size)
        x, kernel, bias = self.cast(x, *self.kernel_and_bias())
        y = F.conv(x, kernel, bias, strides=self.strides, padding=self.padding,
                   dilation_rate=self.dilation_rate, groups=self.groups, precision=self.precision)
        return self.activate(y)

    def window_geometry(self) -> tuple[IntOrSeq, IntOrSeq, IntOrSeq]:
        """The window, for `jaxlayers.shapes.receptive_field`.

        Returns:
            `(kernel_size, strides, dilation_rate)`.
        """
        return self.kernel_size, self.strides, self.dilation_rate


class ConvTranspose(_ConvBase):
    """Keras `ConvNDTranspose(filters, kernel_size)`: (batch, *spatial, in_channels) -> (batch, *out, filters).

    Parameters `kernel` (*kernel_size, filters, in_channels), Keras's layout, and `bias`
    (filters,); output sizes as Keras, `output_padding` included.

    Args:
        in_channels: the input's channels.
        filters: output channels.
        kernel_size: an int or one per spatial axis (a sequence for `ConvTranspose` itself).
        strides: an int or one per spatial axis.
        padding: "valid" or "same".
        output_padding: None, or an int or one per axis, each smaller than its stride.
        dilation_rate: an int or one per spatial axis.
        activation: a Keras activation name, a callable or None (linear), applied last
            (keyword-only, as all the arguments below).
        use_bias: whether the layer has a `bias`.
        kernel_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        bias_initializer: a Keras initializer name or a callable `(key, shape, dtype)`.
        dtype: the computation's dtype; None: promoted from the input and parameters.
        param_dtype: the parameters' dtype.
        precision: passed to `lax` (`lax.Precision`).
        rngs: the `params` stream draws the initial kernel and bias.

    Raises:
        ValueError, TypeError: a bad argument, named, at construction.
    """

    def __init__(
        self, in_channels: int, filters: int, kernel_size: IntOrSeq, strides: IntOrSeq = 1,
        padding: pad.Padding = "valid", output_padding: IntOrSeq | None = None, dilation_rate: IntOrSeq = 1, *,
        activation: activations.Activation = None, use_bias: bool = True,
        kernel_initializer: initializers.Initializer = "glorot_uniform",
        bias_initializer: initializers.Initializer = "zeros", dtype: Any = None, param_dtype: Any = jnp.float32,
        precision: lax.PrecisionLike = None, rngs: nnx.Rngs,
    ):
        size, dilation_rate, _ = check_conv_arguments(
            self._rank(kernel_size), filters, kernel_size, strides, padding, dilation_rate,
            output_padding=output_padding, transpose=True, channels=in_channels, owner=type(self).__name__)
        self.in_channels, self.filters, self.kernel_size = in_channels, filters, kernel_size
        self.strides, self.padding, self.output_padding = strides, padding, output_padding
        self.dilation_rate = dilation_rate
        self.init_kernel_and_bias(
            (*size, filters, in_channels), filters, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, bias_initializer=bias_initializer, dtype=dtype,
            param_dtype=param_dtype, precision=precision, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x, self.kernel_size)
        x, kernel, bias = self.cast(x, *self.kernel_and_bias())
        y = F.conv_transpose(x, kernel, bias, strides=self.strides, padding=self.padding,
                             output_padding=self.output_padding, dilation_rate=self.dilation_rate,
                             precision=self.precision)
        return self.activate(y)


class _Pooling(Layer):
    def __init__(self, pool_size: IntOrSeq = 2, strides: IntOrSeq | None = None, padding: pad.Padding = "valid", *,
                 dtype: Any = None):
        super().__init__(dtype=dtype)
        check_pool_arguments(self.rank, pool_size, strides, padding)
        self.pool_size, self.strides, self.padding = pool_size, strides, padding

    def window_geometry(self) -> tuple[IntOrSeq, IntOrSeq, int]:
        """The window, for `jaxlayers.shapes.receptive_field`.

        Returns:
            `(pool_size, strides, 1)`, strides defaulting to `pool_size`.
        """
        return self.pool_size, self.pool_size if self.strides is None else self.strides, 1


class MaxPooling(_Pooling):
    """Keras `MaxPoolingND`: max over `pool_size` windows (`jaxlayers.functional.max_pool`).

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.max_pool(x, self.pool_size, self.strides, self.padding)


class AveragePooling(_Pooling):
    """Keras `AveragePoolingND`: mean over windows, padded cells left out of the count.

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.avg_pool(x, self.pool_size, self.strides, self.padding)


class MaxPoolingWithIndices(_Pooling):
    """Max pooling that also returns int32 flat indices of the maxima, for `MaxUnpooling`.

    `layer(x)` gives `(y, indices)`, as `jaxlayers.functional.max_pool_with_indices`.

    Args:
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".
    """

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        self.spatial_rank(x)
        return F.max_pool_with_indices(x, self.pool_size, self.strides, self.padding)


class MaxUnpooling(Layer):
    """Put pooled values back where their maxima were: `(y, indices, output_shape) -> x-shaped`.

    `layer(y, indices, output_shape)`, as `jaxlayers.functional.max_unpool`; no arguments.
    """

    def __call__(self, y: jax.Array, indices: jax.Array, output_shape: Sequence[int]) -> jax.Array:
        self.spatial_rank(y)
        return F.max_unpool(y, indices, output_shape)


class _GlobalPooling(Layer):
    def __init__(self, keepdims: bool = False, *, dtype: Any = None):
        super().__init__(dtype=dtype)
        self.keepdims = check_bool(keepdims, "keepdims")


class GlobalMaxPooling(_GlobalPooling):
    """Keras `GlobalMaxPoolingND`: (batch, *spatial, C) -> (batch, C).

    Args:
        keepdims: keep the spatial axes, of size 1.
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.global_max_pool(x, self.keepdims)


class GlobalAveragePooling(_GlobalPooling):
    """Keras `GlobalAveragePoolingND`: (batch, *spatial, C) -> (batch, C).

    Args:
        keepdims: keep the spatial axes, of size 1.
    """

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.global_avg_pool(x, self.keepdims)


class UpSampling(Layer):
    """Keras `UpSamplingND(size)`: each spatial axis times `size` (`jaxlayers.functional.upsample`).

    Args:
        size: the factor, an int or one per spatial axis.
        interpolation: "nearest" (Keras), "bilinear" (2-D, Keras) or "bed_of_nails".
    """

    def __init__(self, size: IntOrSeq = 2, interpolation: str = "nearest", *, dtype: Any = None):
        super().__init__(dtype=dtype)
        self.size, self.interpolation = size, check_upsampling(self.rank, size, interpolation)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_upsampling(self.spatial_rank(x), self.size, self.interpolation)
        return F.upsample(x, self.size, self.interpolation)


class Flatten(Layer):
    """Keras `Flatten`: (batch, ...) -> (batch, prod(...))."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return F.flatten(x)


class ZeroPadding(Layer):
    """Keras `ZeroPaddingND(padding)`: zeros around each spatial axis.

    Args:
        padding: an int, one int per axis (symmetric), or one (lo, hi) pair per axis;
            None: Keras's default for the rank (`ZeroPadding1D`: 1, `2D`: (1, 1), `3D`:
            ((1, 1), (1, 1), (1, 1)); rank-generic: 1).
    """

    keeps_grid = True
    default_padding: Any = 1

    def __init__(self, padding: Any = None, *, dtype: Any = None):
        super().__init__(dtype=dtype)
        self.padding = self.default_padding if padding is None else padding
        as_pairs(self.padding, self.rank, "padding")

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.zero_pad(x, self.padding)


class Cropping(Layer):
    """Keras `CroppingND(cropping)`: cells removed from both ends of each spatial axis.

    Args:
        cropping: an int, one int per axis (symmetric), or one (lo, hi) pair per axis;
            None: Keras's default for the rank (`Cropping1D`: (1, 1), `2D`: ((0, 0),
            (0, 0)), `3D`: ((1, 1), (1, 1), (1, 1)); rank-generic: 1).
    """

    keeps_grid = True
    default_cropping: Any = 1

    def __init__(self, cropping: Any = None, *, dtype: Any = None):
        super().__init__(dtype=dtype)
        self.cropping = self.default_cropping if cropping is None else cropping
        as_pairs(self.cropping, self.rank, "cropping")

    def __call__(self, x: jax.Array) -> jax.Array:
        self.spatial_rank(x)
        return F.crop(x, self.cropping)


def _rank_alias(base: type, name: str, rank: int, doc: str, **attrs: Any) -> type:
    return type(name, (base,), {"rank": rank, "__doc__": doc, "__module__": __name__, **attrs})


_AXES = {1: "(batch, width, channels)", 2: "(batch, height, width, channels)",
         3: "(batch, depth, height, width, channels)"}

Conv1D, Conv2D, Conv3D = (_rank_alias(Conv, f"Conv{n}D", n, f"Keras `Conv{n}D`: x: {_AXES[n]}.") for n in (1, 2, 3))
Conv1DTranspose, Conv2DTranspose, Conv3DTranspose = (
    _rank_alias(ConvTranspose, f"Conv{n}DTranspose", n, f"Keras `Conv{n}DTranspose`: x: {_AXES[n]}.")
    for n in (1, 2, 3))
MaxPooling1D, MaxPooling2D, MaxPooling3D = (
    _rank_alias(MaxPooling, f"MaxPooling{n}D", n, f"Keras `MaxPooling{n}D`: x: {_AXES[n]}.") for n in (1, 2, 3))
AveragePooling1D, AveragePooling2D, AveragePooling3D = (
    _rank_alias(AveragePooling, f"AveragePooling{n}D", n, f"Keras `AveragePooling{n}D`: x: {_AXES[n]}.")
    for n in (1, 2, 3))
GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D = (
    _rank_alias(GlobalMaxPooling, f"GlobalMaxPooling{n}D", n, f"Keras `GlobalMaxPooling{n}D`: x: {_AXES[n]}.")
    for n in (1, 2, 3))
GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D = (
    _rank_alias(GlobalAveragePooling, f"GlobalAveragePooling{n}D", n,
                f"Keras `GlobalAveragePooling{n}D`: x: {_AXES[n]}.") for n in (1, 2, 3))
UpSampling1D, UpSampling2D, UpSampling3D = (
    _rank_alias(UpSampling, f"UpSampling{n}D", n, f"Keras `UpSampling{n}D`: x: {_AXES[n]}.") for n in (1, 2, 3))
# Keras's per-rank defaults (as `jaxlayers.linen`).
ZeroPadding1D, ZeroPadding2D, ZeroPadding3D = (
    _rank_alias(ZeroPadding, f"ZeroPadding{n}D", n, f"Keras `ZeroPadding{n}D`: x: {_AXES[n]}.",
                default_padding=d) for n, d in ((1, 1), (2, (1, 1)), (3, ((1, 1), (1, 1), (1, 1)))))
Cropping1D, Cropping2D, Cropping3D = (
    _rank_alias(Cropping, f"Cropping{n}D", n, f"Keras `Cropping{n}D`: x: {_AXES[n]}.", default_cropping=d)
    for n, d in ((1, (1, 1)), (2, ((0, 0), (0, 0))), (3, ((1, 1), (1, 1), (1, 1)))))
