"""Window geometry shared by pooling and max-pooling-with-indices.

`Windows` resolves `pool_size`, `strides` and `padding` against an input once.
Non-overlapping windows (`strides == pool_size`, the common case) are also laid
out as blocks `(batch, o1, k1, o2, k2, ..., channels)` by pad, crop and reshape,
which XLA turns into plain reductions: much faster than `lax.reduce_window`
(and its `select_and_scatter` gradient) for the same numbers.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, as_tuple, spatial_rank


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
        window = as_tuple(pool_size, rank, "pool_size")
        strides = window if strides is None else as_tuple(strides, rank, "strides")
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

    def lax_args(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
        """(window_dimensions, window_strides, padding) for `lax.reduce_window` on NHWC."""
        return (1, *self.window, 1), (1, *self.strides, 1), ((0, 0), *self.pairs, (0, 0))

    def blocks(self, x: jax.Array, fill: float) -> jax.Array:
        """Non-overlapping windows as `(batch, o1, k1, o2, k2, ..., channels)`."""
        widths = [(0, 0), *self.pairs, (0, 0)]
        if any(lo or hi for lo, hi in self.pairs):
            x = jnp.pad(x, widths, constant_values=fill)
        x = x[(slice(None), *(slice(0, o * k) for o, k in zip(self.out_sizes, self.window)))]
        split = [d for o, k in zip(self.out_sizes, self.window) for d in (o, k)]
        return x.reshape(x.shape[0], *split, x.shape[-1])

    @property
    def block_axes(self) -> tuple[int, ...]:
        """The window axes (k1, k2, ...) of `blocks`."""
        return tuple(2 + 2 * i for i in range(len(self.window)))

    def counts(self) -> np.ndarray:
        """Real (unpadded) cells in each window: `(*out_sizes, 1)`, a NumPy constant."""
        per_axis = []
        for n, k, s, (lo, _), o in zip(self.sizes, self.window, self.strides, self.pairs, self.out_sizes):
            start = np.arange(o) * s - lo
            per_axis.append(np.minimum(start + k, n) - np.maximum(start, 0))
        return math.prod(np.ix_(*per_axis)).astype(np.float32)[..., None]


def first_max_position(blocks: jax.Array, y: jax.Array, axes: tuple[int, ...], keepdims: bool = False) -> jax.Array:
    """Row-major position of the first maximum inside each block window (int32).

    This is where `lax.reduce_window`'s gradient sends all of it on ties (common
    after ReLU), and so where Keras's does.
    """
    position = _window_positions(blocks.ndim, axes, [blocks.shape[a] for a in axes])
    is_max = blocks == jnp.expand_dims(y, axes)
    return jnp.min(jnp.where(is_max, position, position.size), axis=axes, keepdims=keepdims)


def first_max_mask(blocks: jax.Array, y: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """One-hot mask of the first maximum (row-major) inside each block window."""
    position = _window_positions(blocks.ndim, axes, [blocks.shape[a] for a in axes])
    return position == first_max_position(blocks, y, axes, keepdims=True)


def _window_positions(ndim: int, axes: tuple[int, ...], window: list[int]) -> np.ndarray:
    """Row-major position of each cell inside its window, broadcastable to the blocks."""
    shape = [1] * ndim
    for a, k in zip(axes, window):
        shape[a] = k
    return np.arange(math.prod(window), dtype=np.int32).reshape(shape)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _block_max(blocks: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    return jnp.max(blocks, axis=axes)


@_block_max.defjvp
def _block_max_jvp(axes: tuple[int, ...], primals: tuple[jax.Array], tangents: tuple[jax.Array]):
    # Linear in the tangent, so reverse mode is its transpose: the cotangent goes to
    # the first maximum only (forward mode works too, unlike with a custom VJP).
    (blocks,), (tangent,) = primals, tangents
    y = jnp.max(blocks, axis=axes)
    mask = first_max_mask(blocks, y, axes)
    return y, jnp.sum(jnp.where(mask, tangent, jnp.zeros((), tangent.dtype)), axis=axes)


def block_max(blocks: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """Max over the window axes, the whole gradient going to the first maximum."""
    return _block_max(blocks, axes)


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
        start = (np.arange(position.shape[axis + 1]) * s - lo).reshape(shape).astype(np.int32)
        index = index * n + start + offset
    return index

