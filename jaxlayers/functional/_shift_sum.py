"""Few-filter lowering of a convolution: contract the channels first, then add shifted slices.

Per axis, a convolution with taps `t`, stride `s`, dilation `d` and padding
`(lo, hi)` computes `out[h] = sum_t xpad[s*h + d*t] @ w[t]`. Contracting the
channels of every input pixel with every tap first,

    z[n, t] = x[n] @ w[t]                   (one (C -> T*F) matrix product per pixel)

and since zero padding commutes with it (a padded zero stays zero),

    out[h] = sum_t zpad[s*h + d*t, t]       (T strided slices of zpad, added).

`z` holds `T*F` values per pixel where `x` holds `C`, so when `T*F <= C` (a 3x3
kernel from 16 channels to 1 filter: 9 <= 16) it is no larger than `x`; the
contraction is a plain matrix product, the shifted sum one elementwise fusion, and
the gradients are matrix products and pads too. This is the case where XLA:CPU's
direct convolution is slowest (forward + both gradients of a 3x3, 16 -> 1 conv at
256x28x28 on 2 CPU cores: 29 ms direct, 13.5 ms here; `benchmarks/` has the
`conv_few` layer case).
`(lo, hi)` come from `jaxlayers.padding`: this module has no padding rule of its own.
"""
from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers import padding as pad


def worthwhile(kernel_shape: Sequence[int], groups: int = 1) -> bool:
    """Use this lowering: ungrouped, and `z` (taps * filters per pixel) is no larger than `x`."""
    *kernel_size, channels, filters = kernel_shape
    return groups == 1 and math.prod(kernel_size) * filters <= channels


@dataclass(frozen=True)
class Geometry:
    """Static shapes of one shifted sum, per spatial axis."""

    spatial: tuple[int, ...]  # input sizes n
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    dilation: tuple[int, ...]
    pairs: pad.Pairs  # (lo, hi)
    sizes: tuple[int, ...]  # output sizes L

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
    """`conv` without bias: x: (batch, *spatial, C) * kernel: (*kernel_size, C, F)."""
    rank = kernel.ndim - 2
    kernel_size, (channels, filters) = tuple(kernel.shape[:rank]), kernel.shape[rank:]
    taps = math.prod(kernel_size)
    w = jnp.moveaxis(kernel.reshape(taps, channels, filters), 0, 1).reshape(channels, taps * filters)
    z = lax.dot_general(x, w, (((rank + 1,), (0,)), ((), ())), precision=precision)
    sizes = pad.output_sizes(x.shape[1:-1], pad.effective_window(kernel_size, dilation), strides, pairs)
    geometry = Geometry(tuple(x.shape[1:-1]), kernel_size, tuple(strides), tuple(dilation), tuple(pairs), sizes)
    return _shifted_sum(z.reshape(*x.shape[:-1], taps, filters), geometry)


def _shift_and_add(z: jax.Array, g: Geometry) -> jax.Array:
    """out[h] = sum_t zpad[s*h + d*t, t]: z: (batch, *spatial, taps, F) -> (batch, *sizes, F).

    Each term is a strided slice of `z` itself, zero-padded to the output (padding
    `z` once instead would materialise a padded copy that all taps read).
    """
    batch, filters = z.shape[0], z.shape[-1]
    zero = jnp.zeros((), z.dtype)
    y = None
    for t, starts in enumerate(g.tap_offsets()):
        ranges = [_reads(b - lo, n, s, size) for b, n, s, size, (lo, _) in zip(starts, g.spatial, g.strides, g.sizes, g.pairs)]
        if any(first > last for first, last, _ in ranges):
            continue  # this tap reads only padding
        term = lax.slice(
            z,
            (0, *(s * first + j0 for (first, _, j0), s in zip(ranges, g.strides)), t, 0),
            (batch, *(s * last + j0 + 1 for (_, last, j0), s in zip(ranges, g.strides)), t + 1, filters),
            (1, *g.strides, 1, 1),
        )
        widths = [(0, 0, 0), *((first, size - 1 - last, 0) for (first, last, _), size in zip(ranges, g.sizes))]
        term = lax.pad(term, zero, [*widths, (0, 0, 0), (0, 0, 0)])
        y = term if y is None else y + term
    if y is None:
        return jnp.zeros((batch, *g.sizes, filters), z.dtype)
    return y.reshape(batch, *g.sizes, filters)


def _reads(j0: int, n: int, s: int, size: int) -> tuple[int, int, int]:
    """Output positions `[first, last]` whose cell `s*h + j0` lies inside `[0, n)`; and j0."""
    first = max(0, -(j0 // s))  # ceil(-j0 / s) when j0 < 0
    last = min(size - 1, (n - 1 - j0) // s)
    return first, last, j0


def _spread(cotangent: jax.Array, g: Geometry) -> jax.Array:
    """The transpose of `_shift_and_add`: (batch, *sizes, F) -> (batch, *spatial, taps, F).

    Tap `t` of input cell `i` received `cotangent[h]` where `s*h + d*t - lo = i`:
    the stride-dilated cotangent shifted by `d*t - lo` (one pad; negative ends crop).
    """
    zero = jnp.zeros((), cotangent.dtype)
    taps = []
    for starts in g.tap_offsets():
        config = [(0, 0, 0)]
        for b, n, size, s, (lo, _) in zip(starts, g.spatial, g.sizes, g.strides, g.pairs):
            config.append((b - lo, n - (b - lo) - s * (size - 1) - 1, s - 1))
        taps.append(lax.pad(cotangent, zero, [*config, (0, 0, 0)]))
    return jnp.stack(taps, axis=-2)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _shifted_sum(z: jax.Array, g: Geometry) -> jax.Array:
    return _shift_and_add(z, g)


def _shifted_sum_fwd(z: jax.Array, g: Geometry) -> tuple[jax.Array, None]:
    return _shift_and_add(z, g), None


def _shifted_sum_bwd(g: Geometry, _: None, cotangent: jax.Array) -> tuple[jax.Array]:
    # One stacked tensor built straight from the cotangent: autodiff's transpose of the
    # slices materialises one zero-padded copy of z per tap and adds them (2x slower
    # training steps, measured). The barrier makes XLA compute the cotangent once
    # rather than fusing its producer (e.g. a loss gradient) into every tap.
    return (_spread(lax.optimization_barrier(cotangent), g),)


_shifted_sum.defvjp(_shifted_sum_fwd, _shifted_sum_bwd)
