"""Few-input-channel lowering of a convolution: each tap's shifted input times its kernel row, added.

Per axis, a convolution with taps `t`, stride `s`, dilation `d` and padding `(lo, hi)`
computes `out[h] = sum_t xpad[s*h + d*t] @ w[t]`. With few input channels `C` (the
first conv of an image model: 3x3 from 1 or 3 channels) that is `taps * C`
multiply-adds of whole strided slices of `xpad`, one elementwise fusion, where XLA:CPU's
direct convolution is slowest (256x28x28, 1 -> 16 channels: forward 0.5 vs 4.8 ms).

Added up that way, the gradients would be slow (the kernel's: one reduction over the
whole output per tap; the input's: one padded copy per tap, 3x the direct conv's), so a
custom JVP gives the kernel's tangent as one matrix product, `patches @ dw` (`patches`:
the taps' slices side by side, `(batch, *out, taps * C)`), whose transpose, the kernel
gradient, is `patches^T @ g`: one matrix product, split over the batch on CPU
(`_lowering.contract`); and the input's tangent as the caller's direct
convolution of `dx`, so the input gradient is XLA's. Forward and reverse mode both work.
`(lo, hi)` come from `jaxlayers.padding`; the per-tap geometry is `_shift_sum`'s.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers import padding as pad
from jaxlayers.functional import _lowering
from jaxlayers.functional._checks import accumulation
from jaxlayers.functional._shift_sum import Geometry

# An image model's stem: 3x3 over up to 3 channels (RGB), 5x5 over 1, to up to 64 filters.
# Input and kernel gradients on 2 AMD EPYC cores (jaxlib 0.10.2), direct -> tap sum:
# 32x224x224x3 -> 32 stride 2 (MobileNetV2's first conv) 206 -> 134 ms, 64x32x32x3 -> 64
# (a CIFAR ResNet's) 36 -> 22 ms, 256x28x28x1 -> 32 71 -> 31 ms. 3x3 over 4 channels measured
# slower inside a model (the upsampling autoencoder's 4 -> 4 and 4 -> 8 convs: 64 -> 76+ ms
# a train step), 5x5 over 3 no faster.
MAX_TAPS_X_CHANNELS = 27
MAX_FILTERS = 64


def worthwhile(kernel_shape: Sequence[int], groups: int = 1) -> bool:
    """Use this lowering: ungrouped, at most `MAX_TAPS_X_CHANNELS` products per output
    value and at most `MAX_FILTERS` filters."""
    *kernel_size, channels, filters = kernel_shape
    return groups == 1 and math.prod(kernel_size) * channels <= MAX_TAPS_X_CHANNELS and filters <= MAX_FILTERS


def conv_tap_sum(
    x: jax.Array,
    kernel: jax.Array,
    strides: Sequence[int],
    dilation: Sequence[int],
    pairs: pad.Pairs,
    direct: Callable[[jax.Array, jax.Array], jax.Array],
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """`conv` without bias: x: (batch, *spatial, C) * kernel: (*kernel_size, C, F), one dtype.

    `direct(x, kernel)` is the same convolution on its direct path (`lax`), used for the
    input's tangent; `precision` is the kernel tangent's matrix product's.

    Floats narrower than 32 bits are accumulated in float32 and rounded once at the end,
    as a direct convolution does.
    """
    geometry = Geometry.of(x.shape[1:-1], kernel.shape[:-2], strides, dilation, pairs)
    return _tap_conv(x, kernel, geometry, direct, precision)


def _slices(x: jax.Array, geo: Geometry, copy: bool | None = None) -> list[jax.Array]:
    """Each tap's input cells `xpad[s*h + d*t]`, `(batch, *sizes, C)`, in the kernel's row-major order.

    With `copy`, strided slices of one zero-padded copy of `x`; else each tap's slice of
    `x` itself, zero-padded to `sizes` (`_shifted`), which XLA fuses into the consumer
    but computes with a bounds check per cell (2x slower in the fusion, measured on
    XLA:CPU). `copy=None` makes the copy when every stride is 1 (each padded cell is
    read by every tap); a strided window reads a fraction of it (32x56x56x144, 3x3,
    stride 2: 23 ms forward with the copy, 3 ms without).
    """
    if copy is None:
        copy = all(s == 1 for s in geo.strides)
    if not copy:
        return [_shifted(x, offsets, geo) for offsets in geo.tap_offsets()]
    xpad = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), *((lo, hi, 0) for lo, hi in geo.pairs), (0, 0, 0)])
    batch, channels = x.shape[0], x.shape[-1]
    return [
        lax.slice(xpad, (0, *starts, 0), (batch, *(b + s * (n - 1) + 1 for b, s, n in zip(starts, geo.strides, geo.sizes)),
                                         channels), (1, *geo.strides, 1))
        for starts in geo.tap_offsets()
    ]


def _shifted(x: jax.Array, offsets: Sequence[int], geo: Geometry) -> jax.Array:
    """`xpad[s*h + o]` for `h < L` per spatial axis (`o` the tap's offset into the padded input)."""
    starts, limits, pads = [0], [x.shape[0]], [(0, 0, 0)]
    for n, o, s, size, (lo, _) in zip(geo.spatial, offsets, geo.strides, geo.sizes, geo.pairs):
        first = min(size, max(0, -((o - lo) // s)))  # the first h with s*h + o - lo >= 0
        last = max(first, min(size, (n - 1 + lo - o) // s + 1))  # one past the last with s*h + o - lo < n
        start = s * first + o - lo
        starts.append(start if last > first else 0)
        limits.append(start + s * (last - first - 1) + 1 if last > first else 0)
        pads.append((first, size - last, 0))
    part = lax.slice(x, (*starts, 0), (*limits, x.shape[-1]), (1, *geo.strides, 1))
    return lax.pad(part, jnp.zeros((), x.dtype), [*pads, (0, 0, 0)])


def _summed(x: jax.Array, kernel: jax.Array, geo: Geometry) -> jax.Array:
    """sum_t sum_c xpad[s*h + d*t, c] * w[t, c, :], accumulated in `accumulation(x.dtype)`."""
    acc = accumulation(x.dtype)
    rows = kernel.reshape(-1, *kernel.shape[-2:]).astype(acc)  # (taps, C, F)
    y = None
    for part, row in zip(_slices(x.astype(acc), geo), rows):
        for c in range(part.shape[-1]):
            term = part[..., c:c + 1] * row[c]
            y = term if y is None else y + term
    return y.astype(x.dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _tap_conv(x: jax.Array, kernel: jax.Array, geo: Geometry, direct: Callable,
              precision: lax.PrecisionLike) -> jax.Array:
    return _summed(x, kernel, geo)


@functools.partial(_tap_conv.defjvp, symbolic_zeros=True)
def _tap_conv_jvp(geo: Geometry, direct: Callable, precision: lax.PrecisionLike,
                  primals: tuple[jax.Array, jax.Array], tangents: tuple):
    (x, kernel), (dx, dkernel) = primals, tangents
    y = _summed(x, kernel, geo)
    dy = jnp.zeros_like(y)
    if not isinstance(dx, jax.custom_derivatives.SymbolicZero):
        dy = dy + direct(dx, kernel)
    if not isinstance(dkernel, jax.custom_derivatives.SymbolicZero):
        patches = jnp.concatenate(_slices(x, geo), axis=-1)  # (batch, *sizes, taps * C)
        rows = dkernel.reshape(patches.shape[-1], kernel.shape[-1])
        dy = dy + _lowering.contract(patches, rows, precision, accumulation(x.dtype)).astype(y.dtype)
    return y, dy
