"""Depthwise lowering of a convolution: each tap's shifted input slice times its kernel row, added.

A depthwise conv (`feature_group_count` = channels) computes, per axis with taps `t`,
stride `s`, dilation `d` and padding `(lo, hi)`,

    out[h, c*m + j] = sum_t xpad[s*h + d*t, c] * w[t, c, j]

(`m` the depth multiplier): `taps` multiply-adds of whole strided slices of `xpad` by
a `(C*m,)` kernel row, one elementwise fusion (for `m > 1` the channels are repeated
first). XLA:CPU runs the grouped `lax.conv_general_dilated` far below dense speed
(32x56x56x144, 3x3: forward about 470 ms there, about 55 ms here on 2 cores).

The input's tangent is the same sum written as a scatter (`_scattered`), so that its
transpose, the input gradient, reads one padded copy of the cotangent. The kernel's
would be one reduction of a strided slice of `xpad` times the cotangent per tap, which
XLA:CPU materialises before reducing (4-5x slower than the rest), so a custom JVP gives
the kernel's tangent with each row broadcast by doubling concatenations along the batch
and spatial axes (`_spread`): its transpose, the kernel gradient, is a tree of halving
elementwise adds, and only a small remainder is reduced (done on the 4-D arrays: with
the rows flattened first, XLA wrote each tap's product out before adding, 3x slower at
32x112x112x32). That tangent runs a few images at a time (`_kernel_tangent`, one
`lax.map` of a rematerialised body), so each tap of the gradient reads its chunk from
cache rather than the whole input and cotangent from memory (3x3, kernel gradient on a
2-core AMD EPYC VM: 32x56x56x144 79-82 -> 28 ms at stride 1, 43-46 -> 12 ms at stride
2; 32x112x112x32 54-57 -> 30-40 ms). Forward and reverse mode both work. `(lo, hi)`
come from `jaxlayers.padding`; the per-tap geometry is `_shift_sum`'s, the slices
`_tap_sum`'s.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers import padding as pad
from jaxlayers.functional._checks import accumulation, explicit_sharding
from jaxlayers.functional._shift_sum import Geometry
from jaxlayers.functional._tap_sum import _slices

CHUNK_BYTES = 8 << 20  # within a last-level cache (32 MiB measured, shared)
MIN_CHUNK = 2
MAX_TAPS = 49  # up to a 7x7 kernel: one slice and one multiply-add per tap in the graph


def worthwhile(kernel_size: Sequence[int]) -> bool:
    """Use this lowering: at most `MAX_TAPS` taps (the graph holds one slice per tap)."""
    return math.prod(kernel_size) <= MAX_TAPS


def depthwise_shift_sum(
    x: jax.Array, kernel: jax.Array, strides: Sequence[int], dilation: Sequence[int], pairs: pad.Pairs
) -> jax.Array:
    """`depthwise_conv` without bias: x: (batch, *spatial, C) * kernel: (*kernel_size, C, m), one dtype.

    Returns (batch, *out, C*m), output channel `c*m + j` from input channel `c`. Floats
    narrower than 32 bits are accumulated in float32 and rounded once at the end, as a
    direct convolution does.
    """
    geometry = Geometry.of(x.shape[1:-1], kernel.shape[:-2], strides, dilation, pairs)
    return _depthwise(x, kernel, geometry)


def _operands(x: jax.Array, kernel: jax.Array) -> tuple[jax.Array, jax.Array]:
    """`x` in `accumulation(x.dtype)` with each channel repeated `m` times, and the kernel's
    rows (taps, C*m) in that dtype: output channel `c*m + j` from input channel `c`."""
    acc = accumulation(x.dtype)
    multiplier = kernel.shape[-1]
    x = x.astype(acc)
    if multiplier > 1:
        x = jnp.repeat(x, multiplier, axis=-1)
    return x, kernel.astype(acc).reshape(-1, x.shape[-1])


def _terms(x: jax.Array, kernel: jax.Array, geo: Geometry, spread: bool = False) -> jax.Array:
    """sum_t xpad[s*h + d*t, c] * w[t, c, j] in `accumulation(x.dtype)`, kernel rows broadcast
    by `_spread` with `spread` (the kernel tangent), else by broadcasting."""
    x, rows = _operands(x, kernel)
    y = None
    for part, row in zip(_slices(x, geo, copy=True if spread else None), rows):
        term = part * (_spread(row, part.shape) if spread else row)
        y = term if y is None else y + term
    return y


def _scattered(dx: jax.Array, kernel: jax.Array, geo: Geometry) -> jax.Array:
    """`_terms(dx, kernel, geo)` written as a scatter, for its transpose: the input gradient.

    Per axis, tap offset `o` reads `x[s*h + r]` (`r = o - lo`), which is `phase[h + k]`
    for `phase = x[p::s]`, `(k, p) = divmod(r, s)`. Each tap's product `phase * w[t]` is
    padded into one grid at its shift, the taps are added and the output is sliced from
    the grid. The transpose is then one padded copy of the cotangent, its fused producers
    (a BatchNorm's backward, an activation's mask) run once, read by every tap at stride 1
    and scattered back into the tap's phase; the gather form's transpose pads each tap's
    product, recomputing those producers per tap (MobileNetV2 0.35 at 96x96, training on 2
    CPU cores: 1.25x the images/s). The padding is multiplied by every tap, as in the
    forward: a non-finite tap makes NaN of the border cells it meets in padding.
    """
    dx, rows = _operands(dx, kernel)
    acc = dx.dtype
    taps = []  # (row, per axis (p, k, phase length)) of each tap that reads any input
    for offsets, row in zip(geo.tap_offsets(), rows):
        axes = [(p, k, -(-(n - p) // s)) for o, s, n, (lo, _) in zip(offsets, geo.strides, geo.spatial, geo.pairs)
                for k, p in [divmod(o - lo, s)]]
        if all(m > 0 for _, _, m in axes):
            taps.append((row, axes))
    if not taps:  # every tap reads only padding
        return jnp.zeros((dx.shape[0], *geo.sizes, dx.shape[-1]), acc)
    starts = [max(0, *(axes[i][1] for _, axes in taps)) for i in range(len(geo.spatial))]
    grid = [max(a + size, *(a - axes[i][1] + axes[i][2] for _, axes in taps))
            for i, (a, size) in enumerate(zip(starts, geo.sizes))]
    total = None
    for row, axes in taps:
        phase = lax.slice(dx, (0, *(p for p, _, _ in axes), 0), dx.shape, (1, *geo.strides, 1))
        widths = [(a - k, g - (a - k) - m, 0) for (_, k, m), a, g in zip(axes, starts, grid)]
        term = lax.pad(phase * row, jnp.zeros((), acc), [(0, 0, 0), *widths, (0, 0, 0)])
        total = term if total is None else total + term
    limits = (dx.shape[0], *(a + size for a, size in zip(starts, geo.sizes)), dx.shape[-1])
    return lax.slice(total, (0, *starts, 0), limits)


def _spread(row: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """`row` (channels,) broadcast to `shape` (batch, *sizes, channels) by doubling concatenations.

    Along the batch and every spatial axis but the last, the size is an odd count times a
    power of two: `row` is broadcast to the odd count, then concatenated with itself. The
    transpose of a concatenation of two equal halves is their sum, so the transpose of
    this broadcast is halving adds along those axes, then one small reduction.
    """
    out = jnp.broadcast_to(row, (1,) * (len(shape) - 2) + tuple(shape[-2:]))
    for axis, n in enumerate(shape[:-2]):
        odd = n // (n & -n) if pad.static([n]) else n  # a symbolic batch (`jax.export`): broadcast
        out = jnp.broadcast_to(out, (*out.shape[:axis], odd, *out.shape[axis + 1:]))
        while out.shape[axis] < n:
            out = jnp.concatenate([out, out], axis)
    return out


def _kernel_tangent(x: jax.Array, dkernel: jax.Array, geo: Geometry) -> jax.Array:
    """`_terms(x, dkernel, geo, spread=True)`, `_chunk` images at a time (one `lax.map`).

    Its transpose, the kernel gradient, then reads each chunk's input and cotangent once
    for all taps from cache, instead of the whole arrays from memory once per tap; the
    chunks' sums are accumulated in `accumulation(x.dtype)`. Under explicit sharding
    (a map cannot run over a sharded axis), for a symbolic batch and where one chunk
    holds the batch, it runs on the whole batch at once.
    """
    dkernel = dkernel.astype(accumulation(x.dtype))
    batch = x.shape[0]
    if explicit_sharding(x) is not None or not pad.static([batch]):
        return _terms(x, dkernel, geo, spread=True)
    chunk = _chunk(x, math.prod(dkernel.shape[-2:]), geo)
    if chunk >= batch:
        return _terms(x, dkernel, geo, spread=True)
    whole = batch - batch % chunk
    chunks = x[:whole].reshape(whole // chunk, chunk, *x.shape[1:])
    ys = lax.map(jax.checkpoint(lambda part: _terms(part, dkernel, geo, spread=True)), chunks)
    parts = [ys.reshape(whole, *ys.shape[2:])]
    if whole < batch:
        parts.append(_terms(x[whole:], dkernel, geo, spread=True))
    return jnp.concatenate(parts) if len(parts) > 1 else parts[0]


def _chunk(x: jax.Array, channels: int, geo: Geometry) -> int:
    """Images per `_kernel_tangent` chunk: the most, a power of two (halved by `_spread`),
    that keep its input and its output (`channels` per cell) within `CHUNK_BYTES`, but at
    least `MIN_CHUNK` (XLA:CPU splits a fusion over its leading axis between threads)."""
    per_image = (math.prod(x.shape[1:]) + math.prod(geo.sizes) * channels) * x.dtype.itemsize
    fits = max(MIN_CHUNK, CHUNK_BYTES // per_image)
    return min(x.shape[0], 1 << (fits.bit_length() - 1))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _depthwise(x: jax.Array, kernel: jax.Array, geo: Geometry) -> jax.Array:
    return _terms(x, kernel, geo).astype(x.dtype)


@functools.partial(_depthwise.defjvp, symbolic_zeros=True)
def _depthwise_jvp(geo: Geometry, primals: tuple[jax.Array, jax.Array], tangents: tuple):
    (x, kernel), (dx, dkernel) = primals, tangents
    y = _terms(x, kernel, geo)
    dy = jnp.zeros_like(y)
    if not isinstance(dx, jax.custom_derivatives.SymbolicZero):
        dy = dy + _scattered(dx, kernel, geo)
    if not isinstance(dkernel, jax.custom_derivatives.SymbolicZero):
        dy = dy + _kernel_tangent(x, dkernel, geo)
    return y.astype(x.dtype), dy.astype(x.dtype)
