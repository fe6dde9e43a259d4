"""Few-filter lowering of a convolution: contract the channels first, then add shifted slices.

Per axis, a convolution with taps `t`, stride `s`, dilation `d` and padding
`(lo, hi)` computes `out[h] = sum_t xpad[s*h + d*t] @ w[t]`. Contracting the
channels of every input pixel with every tap first,

    z[n, t] = x[n] @ w[t]                   (one (C -> T*F) matrix product per pixel)

and since zero padding commutes with it (a padded zero stays zero),

    out[h] = sum_t zpad[s*h + d*t, t]       (T strided slices of zpad, added).

`z` holds `T*F` values per pixel where `x` holds `C`, so when `T*F <= C` (a 3x3
kernel from 16 channels to 1 filter: 9 <= 16) it is no larger than `x` (a 1x1 conv is
the matrix product alone, `z` its output, whatever `F`; strided and unpadded, of the
pixels it reads, sliced first); the
contraction is a plain matrix product, the shifted sum one elementwise fusion, and
the gradients are matrix products and pads too. This is the case where XLA:CPU's
direct convolution is slowest (forward + both gradients of a 3x3, 16 -> 1 conv at
256x28x28 on 2 CPU cores: 29 ms direct, 13.5 ms here; `benchmarks/` has the
`conv_few` layer case).
`(lo, hi)` come from `jaxlayers.padding`: this module has no padding rule of its own.
On CPU the contraction is split over the batch (`_lowering.contract`), so that its
kernel gradient runs on every core.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers import padding as pad
from jaxlayers.functional import _lowering
from jaxlayers.functional._checks import accumulation


def worthwhile(kernel_shape: Sequence[int], groups: int = 1) -> bool:
    """Use this lowering: ungrouped, and `z` (taps * filters per pixel) no larger than `x`,
    or the conv is 1x1, where `z` is the output itself (strided: of the pixels it reads).

    A 1x1 conv is then one matrix product; XLA:CPU's direct convolution computes its
    gradients 3-13x slower (2 AMD EPYC cores, input and kernel gradients: 32x48x48x8 -> 48
    17 -> 2 ms, 32x12x12x16 -> 96 1.7 -> 0.4 ms, MobileNetV2's expansions; stride 2
    32x56x56x64 -> 128 76 -> 9 ms, a ResNet shortcut).
    """
    *kernel_size, channels, filters = kernel_shape
    taps = math.prod(kernel_size)
    return groups == 1 and (taps * filters <= channels or taps == 1)


@dataclass(frozen=True)
class Geometry:
    """Static shapes of one shifted sum, per spatial axis."""

    spatial: tuple[int, ...]  # input sizes n
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    pairs: pad.Pairs  # (lo, hi)
    sizes: tuple[int, ...]  # output sizes L

    @classmethod
    def of(cls, spatial: Sequence[int], kernel_size: Sequence[int], strides: Sequence[int],
           dilation: Sequence[int], pairs: pad.Pairs) -> Geometry:
        """The geometry of a conv over `spatial` (its output sizes from `jaxlayers.padding`)."""
        sizes = pad.output_sizes(spatial, pad.effective_window(kernel_size, dilation), strides, pairs)
        return cls(tuple(spatial), tuple(kernel_size), tuple(strides), tuple(dilation), tuple(pairs), sizes)

    def tap_offsets(self) -> list[tuple[int, ...]]:
        """`d*t` per axis for every tap, in the kernel's row-major order."""
        return [tuple(o * d for o, d in zip(t, self.dilation)) for t in itertools.product(*map(range, self.kernel_size))]


def conv_shift_sum(
    x: jax.Array,
    kernel: jax.Array,
    strides: Sequence[int],
    dilation: Sequence[int],
    pairs: pad.Pairs,
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """`conv` without bias: x: (batch, *spatial, C) * kernel: (*kernel_size, C, F), one dtype.

    Floats narrower than 32 bits (bfloat16, float16) are accumulated in float32 and
    rounded once at the end, as a direct convolution does: the products and the
    shifted sum would otherwise each round to the narrow type.
    """
    rank = kernel.ndim - 2
    kernel_size, (channels, filters) = tuple(kernel.shape[:rank]), kernel.shape[rank:]
    taps = math.prod(kernel_size)
    if taps == 1 and not any(lo or hi for lo, hi in pairs):  # 1x1, unpadded: the pixels it reads alone
        x = lax.slice(x, (0,) * x.ndim, x.shape, (1, *strides, 1))
        strides = (1,) * rank
    w = jnp.moveaxis(kernel.reshape(taps, channels, filters), 0, 1).reshape(channels, taps * filters)
    z = _lowering.contract(x, w, precision, accumulation(x.dtype))
    geometry = Geometry.of(x.shape[1:-1], kernel_size, strides, dilation, pairs)
    return _shifted_sum(z.reshape(*x.shape[:-1], taps, filters), geometry).astype(x.dtype)


def _shifted_sum(z: jax.Array, geo: Geometry) -> jax.Array:
    """out[h] = sum_t zpad[s*h + d*t, t]: z: (batch, *spatial, taps, F) -> (batch, *sizes, F).

    `z` is split into its taps (`lax.split`, whose transpose is one concatenation: the
    gradient is a single tensor built from the cotangent, not one zero-padded copy of
    `z` per tap added up), and each tap's strided slice is zero-padded to the output
    (padding `z` once instead would materialise a padded copy that all taps read).
    Plain JAX ops, so forward- and reverse-mode autodiff both work.
    """
    batch, filters = z.shape[0], z.shape[-1]
    zero = jnp.zeros((), z.dtype)
    y = None
    for part, starts in zip(lax.split(z, [1] * z.shape[-2], axis=z.ndim - 2), geo.tap_offsets()):
        shifts = [b - lo for b, (lo, _) in zip(starts, geo.pairs)]  # the input cell output 0 reads
        ranges = [_reads(j, n, s, size) for j, n, s, size in zip(shifts, geo.spatial, geo.strides, geo.sizes)]
        if any(first > last for first, last in ranges):
            continue  # this tap reads only padding
        term = lax.slice(
            part,
            (0, *(s * first + j for (first, _), s, j in zip(ranges, geo.strides, shifts)), 0, 0),
            (batch, *(s * last + j + 1 for (_, last), s, j in zip(ranges, geo.strides, shifts)), 1, filters),
            (1, *geo.strides, 1, 1),
        )
        widths = [(first, size - 1 - last, 0) for (first, last), size in zip(ranges, geo.sizes)]
        term = lax.pad(term, zero, [(0, 0, 0), *widths, (0, 0, 0), (0, 0, 0)])
        y = term if y is None else y + term
    if y is None:
        return jnp.zeros((batch, *geo.sizes, filters), z.dtype)
    return y.reshape(batch, *geo.sizes, filters)


def _reads(j: int, n: int, s: int, size: int) -> tuple[int, int]:
    """Output positions `[first, last]` whose input cell `s*h + j` lies inside `[0, n)`."""
    return max(0, -(j // s)), min(size - 1, (n - 1 - j) // s)  # first = ceil(-j / s) when j < 0
