"""Window geometry shared by pooling and max-pooling-with-indices.

`Windows` resolves `pool_size`, `strides` and `padding` against an input once.
Non-overlapping windows (`strides == pool_size`, the common case) are also laid
out as blocks `(batch, o1, k1, o2, k2, ..., channels)` by pad, crop and reshape,
which XLA turns into plain fused loops: much faster than `lax.reduce_window`
(and its `select_and_scatter` gradient) for the same numbers.

Two rules pick one cell of a max window, by position in row-major order:

- `gradient_position`: where `lax.reduce_window`'s max gradient goes (measured on
  XLA:CPU). Its select-and-scatter folds the window in row-major order, padded cells
  included (they hold the padding value), keeping its choice `c` over the next cell
  `v` while `c >= v`. So: the first maximum; with a NaN (`c >= NaN` and `NaN >= v`
  are false), the first maximum after the last NaN, or that NaN when it ends the
  window. A gradient that lands on padding is dropped.
- `index_position`: what `max_pool_with_indices` reports: the first maximum among
  real cells, a NaN counting as the largest value (as `jnp.argmax`). It always
  points at a real cell holding the window's value.

A max over cells that may hold NaN (every pooled value) is taken with the elementwise
`jnp.maximum` (`nan_max`, `window_max`), never a max reduction: XLA:CPU (jaxlib 0.10)
hands large ones, `lax.reduce_window`'s included, to YNNPACK, which skips NaN. So a
NaN in a window makes it NaN on every backend.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, as_tuple, spatial_rank
from jaxlayers.functional._checks import reshape

PADDINGS = ("valid", "same")


def check_arguments(
    rank: int | None, pool_size: IntOrSeq, strides: IntOrSeq | None, padding: pad.Padding
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Keras `MaxPoolingND`/`AveragePoolingND` arguments: `(window, strides)` as ints.

    rank None (a rank-generic layer before its first call): any number of axes.
    """
    window = as_tuple(pool_size, rank, "pool_size")
    strides = window if strides is None else as_tuple(strides, rank, "strides")
    pad.resolve(padding, PADDINGS, rank)
    return window, strides


def lowest(dtype: Any) -> np.ndarray:
    """The identity of `max` in `dtype` (the padding value): -inf, the integer minimum, or False."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.zeros((), dtype)
    if np.issubdtype(dtype, np.integer):
        return np.array(np.iinfo(dtype).min, dtype)
    return np.array(-np.inf, dtype)


def can_be_nan(dtype: Any) -> bool:
    """Whether `dtype` has NaN (floating and complex types)."""
    return bool(jnp.issubdtype(dtype, jnp.inexact))


def nan_max(x: jax.Array, axis: tuple[int, ...], keepdims: bool = False) -> jax.Array:
    """`jnp.max` over `axis`, NaN wherever the reduced cells hold one, on every backend.

    Floating `x` is reduced by halving each axis with `jnp.maximum` (module
    docstring): about log2(size) fused steps, about as fast as `jnp.max` on pooling
    windows; with symbolic sizes (`jax.export`), by `jnp.max` made NaN where a cell is.
    Not differentiable on its own account: callers define the gradient (`block_max`,
    `max_keep_ties`).
    """
    if not can_be_nan(x.dtype):
        return jnp.max(x, axis=axis, keepdims=keepdims)
    if not pad.static([x.shape[a] for a in axis]):
        nan = jnp.isnan(x).any(axis=axis, keepdims=keepdims)
        return jnp.where(nan, np.array(np.nan, x.dtype), jnp.max(x, axis=axis, keepdims=keepdims))
    for a in axis:
        while x.shape[a] > 1:
            n, half = x.shape[a], x.shape[a] // 2
            top = jnp.maximum(lax.slice_in_dim(x, 0, half, axis=a), lax.slice_in_dim(x, half, 2 * half, axis=a))
            x = top if n % 2 == 0 else jnp.concatenate([top, lax.slice_in_dim(x, 2 * half, n, axis=a)], axis=a)
    return x if keepdims else jnp.squeeze(x, axis)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def max_keep_ties(x: jax.Array, axis: tuple[int, ...], keepdims: bool = False) -> jax.Array:
    """`nan_max` (floating `x`) with `jnp.max`'s gradient: shared by the cells equal to the max.

    In a window holding a NaN no cell equals it, so its gradient is NaN, as `jnp.max`'s
    where the backend propagates NaN.
    """
    return nan_max(x, axis, keepdims)


@max_keep_ties.defjvp
def _max_keep_ties_jvp(axis: tuple[int, ...], keepdims: bool, primals: tuple[jax.Array], tangents: tuple[jax.Array]):
    (x,), (tangent,) = primals, tangents
    y = nan_max(x, axis, keepdims=True)
    hit = (x == y).astype(tangent.dtype)
    dy = jnp.sum(tangent * hit, axis=axis, keepdims=keepdims) / jnp.sum(hit, axis=axis, keepdims=keepdims)
    return (y if keepdims else jnp.squeeze(y, axis)), dy


@dataclasses.dataclass(frozen=True)
class Windows:
    """Pooling windows over `sizes` (the spatial sizes of the input)."""

    sizes: tuple[int, ...]
    window: tuple[int, ...]
    strides: tuple[int, ...]
    pairs: pad.Pairs

    @classmethod
    def resolve(
        cls, x: jax.Array, pool_size: IntOrSeq, strides: IntOrSeq | None, padding: pad.Padding
    ) -> "Windows":
        rank = spatial_rank(x)
        window, strides = check_arguments(rank, pool_size, strides, padding)
        sizes = tuple(x.shape[1:-1])
        pairs = pad.forward_pairs(padding, sizes, window, strides)
        pad.check_window_fits(sizes, window, pairs, x.shape, "`pool_size`")
        return cls(sizes, window, strides, pairs)

    @property
    def out_sizes(self) -> tuple[int, ...]:
        return pad.output_sizes(self.sizes, self.window, self.strides, self.pairs)

    @property
    def non_overlapping(self) -> bool:
        return self.strides == self.window

    @property
    def padded(self) -> bool:
        return any(not pad.static(pair) or pair != (0, 0) for pair in self.pairs)

    def lax_args(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
        """(window_dimensions, window_strides, padding) for `lax.reduce_window` on NHWC."""
        return (1, *self.window, 1), (1, *self.strides, 1), ((0, 0), *self.pairs, (0, 0))

    def blocks(self, x: Any, fill: Any) -> Any:
        """Non-overlapping windows as `(batch, o1, k1, o2, k2, ..., channels)` (NumPy stays NumPy)."""
        xp = np if isinstance(x, np.ndarray) else jnp
        if self.padded:
            x = xp.pad(x, [(0, 0), *self.pairs, (0, 0)], constant_values=fill)
        x = x[(slice(None), *(slice(0, o * k) for o, k in zip(self.out_sizes, self.window)))]
        split = [d for o, k in zip(self.out_sizes, self.window) for d in (o, k)]
        return x.reshape(x.shape[0], *split, x.shape[-1]) if xp is np else reshape(x, (x.shape[0], *split, x.shape[-1]))

    def real_cells(self) -> np.ndarray | jax.Array | None:
        """True where a cell of `blocks` is input, not padding (None without padding;
        a NumPy constant unless the sizes are symbolic)."""
        xp = np if pad.static(self.sizes) else jnp
        return self.blocks(xp.ones((1, *self.sizes, 1), bool), False) if self.padded else None

    @property
    def block_axes(self) -> tuple[int, ...]:
        """The window axes (k1, k2, ...) of `blocks`."""
        return tuple(2 + 2 * i for i in range(len(self.window)))

    def counts(self) -> np.ndarray | jax.Array:
        """Real (unpadded) cells in each window: `(*out_sizes, 1)` float32, a NumPy
        constant unless the sizes are symbolic."""
        xp = np if pad.static(self.sizes) else jnp
        rank, count = len(self.sizes), np.ones((), np.float32)
        for axis, (n, k, s, (lo, _), o) in enumerate(
                zip(self.sizes, self.window, self.strides, self.pairs, self.out_sizes)):
            start = xp.arange(o, dtype=np.int32) * s - lo
            cells = xp.minimum(start + k, n) - xp.maximum(start, 0)
            count = count * cells.astype(np.float32).reshape((1,) * axis + (o,) + (1,) * (rank - 1 - axis))
        return count[..., None]


def window_positions(blocks: jax.Array, axes: tuple[int, ...]) -> np.ndarray:
    """Row-major position of each cell inside its window, broadcastable to the blocks."""
    shape = [1] * blocks.ndim
    for a in axes:
        shape[a] = blocks.shape[a]
    return np.arange(math.prod(blocks.shape[a] for a in axes), dtype=np.int32).reshape(shape)


def gradient_position(blocks: jax.Array, y: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """Where `lax.reduce_window`'s max gradient goes in each window (module docstring).

    blocks: padded with `lowest`; y: their max over `axes` (`nan_max`: NaN exactly where
    a window holds one). Returns int32 positions, kept as size-1 window axes. The NaN
    rule costs three more reductions, so it runs only when some window holds a NaN
    (`lax.cond` on y, a quarter of the blocks' size for 2x2 windows; both branches give
    the same answer without one).
    """
    position = window_positions(blocks, axes)
    first_max = functools.partial(_first_max, position=position, axes=axes)
    if not can_be_nan(blocks.dtype):
        return first_max(blocks, y)
    nan_rule = functools.partial(_after_last_nan, position=position, axes=axes)
    # The branches return the positions without the size-1 window axes: a conditional's
    # result with them is copied into another layout (measured: max pool fwd+bwd 8% slower).
    def squeezed(rule: Callable[[jax.Array, jax.Array], jax.Array]) -> Callable[[jax.Array, jax.Array], jax.Array]:
        return lambda b, top: jnp.squeeze(rule(b, top), axes)

    return jnp.expand_dims(jax.lax.cond(jnp.isnan(y).any(), squeezed(nan_rule), squeezed(first_max), blocks, y), axes)


def _first_max(blocks: jax.Array, y: jax.Array, position: np.ndarray, axes: tuple[int, ...]) -> jax.Array:
    top = jnp.expand_dims(y, axes)
    return jnp.min(jnp.where(blocks == top, position, position.size), axis=axes, keepdims=True)


def _after_last_nan(blocks: jax.Array, y: jax.Array, position: np.ndarray, axes: tuple[int, ...]) -> jax.Array:
    """The first maximum after the last NaN of each window, or that NaN if it ends the window."""
    size = position.size
    last_nan = jnp.max(jnp.where(jnp.isnan(blocks), position, -1), axis=axes, keepdims=True)
    after = position > last_nan
    top_after = jnp.max(jnp.where(after, blocks, lowest(blocks.dtype)), axis=axes, keepdims=True)
    top = jnp.where(last_nan < 0, jnp.expand_dims(y, axes), top_after)
    first = jnp.min(jnp.where(after & (blocks == top), position, size), axis=axes, keepdims=True)
    return jnp.where(first < size, first, last_nan)


def index_position(blocks: jax.Array, y: jax.Array, axes: tuple[int, ...], real: np.ndarray | None) -> jax.Array:
    """First maximum among the real cells of each window, NaN the largest (module docstring).

    blocks: padded with `lowest`; y: their max over `axes`; real: `Windows.real_cells`.
    Returns int32 positions `(batch, *out, channels)`.
    """
    position = window_positions(blocks, axes)
    hit = blocks == jnp.expand_dims(y, axes)
    if can_be_nan(blocks.dtype):
        hit = hit | jnp.isnan(blocks)
    if real is not None:
        hit = hit & real
    return jnp.min(jnp.where(hit, position, position.size), axis=axes)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def block_max(blocks: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """`nan_max` over the window axes, differentiated as `lax.reduce_window`'s max (`gradient_position`)."""
    return nan_max(blocks, axes)


@block_max.defjvp
def _block_max_jvp(axes: tuple[int, ...], primals: tuple[jax.Array], tangents: tuple[jax.Array]):
    # Linear in the tangent, so reverse mode is its transpose: the cotangent goes to
    # one cell per window (forward mode works too, unlike with a custom VJP).
    (blocks,), (tangent,) = primals, tangents
    y = nan_max(blocks, axes)
    mask = window_positions(blocks, axes) == gradient_position(blocks, y, axes)
    return y, jnp.sum(jnp.where(mask, tangent, jnp.zeros((), tangent.dtype)), axis=axes)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def block_max_at(blocks: jax.Array, position: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """`nan_max` over the window axes, differentiated at `position` (int32 `(batch, *out, channels)`)."""
    return nan_max(blocks, axes)


@block_max_at.defjvp
def _block_max_at_jvp(axes: tuple[int, ...], primals: tuple[jax.Array, jax.Array], tangents: tuple[jax.Array, Any]):
    (blocks, position), (tangent, _) = primals, tangents
    mask = window_positions(blocks, axes) == jnp.expand_dims(position, axes)
    return nan_max(blocks, axes), jnp.sum(jnp.where(mask, tangent, jnp.zeros((), tangent.dtype)), axis=axes)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def window_max(x: jax.Array, windows: Windows) -> jax.Array:
    """Max over each (possibly overlapping) window, differentiated as `lax.reduce_window`'s max.

    Padded with `lowest`, then reduced one spatial axis at a time: the elementwise max
    of the window's strided slices (module docstring). With symbolic sizes (`jax.export`,
    where those slices' bounds may not be decided): `lax.reduce_window`'s max, made NaN
    where a window holds one by a second reduction. Its derivatives are
    `lax.reduce_window`'s own (select-and-gather forward, select-and-scatter reverse).
    """
    if not pad.static(windows.sizes):
        top = lax.reduce_window(x, lowest(x.dtype), lax.max, *windows.lax_args())
        if not can_be_nan(x.dtype):
            return top
        nan = lax.reduce_window(jnp.isnan(x), np.zeros((), bool), lax.bitwise_or, *windows.lax_args())
        return jnp.where(nan, np.array(np.nan, x.dtype), top)
    x = jnp.pad(x, [(0, 0), *windows.pairs, (0, 0)], constant_values=lowest(x.dtype))
    for axis, (k, s, out) in enumerate(zip(windows.window, windows.strides, windows.out_sizes), start=1):
        x = functools.reduce(jnp.maximum, [lax.slice_in_dim(x, j, j + (out - 1) * s + 1, s, axis) for j in range(k)])
    return x


@window_max.defjvp
def _window_max_jvp(windows: Windows, primals: tuple[jax.Array], tangents: tuple[jax.Array]):
    (x,), (tangent,) = primals, tangents
    _, dy = jax.jvp(lambda x: lax.reduce_window(x, lowest(x.dtype), lax.max, *windows.lax_args()), (x,), (tangent,))
    return window_max(x, windows), dy


def flat_index_of(windows: Windows, position: jax.Array) -> jax.Array:
    """Row-major flat input index from a window's position `(batch, *out, channels)`."""
    index = jnp.zeros_like(position)
    remaining = position
    offsets = []
    for k in reversed(windows.window):
        offsets.append(remaining % k)
        remaining = remaining // k
    offsets.reverse()
    for axis, (n, s, (lo, _), offset) in enumerate(zip(windows.sizes, windows.strides, windows.pairs, offsets)):
        shape = [1] * position.ndim
        shape[axis + 1] = position.shape[axis + 1]
        start = lax.broadcasted_iota(jnp.int32, shape, axis + 1) * s - lo
        index = index * n + start + offset
    return index
