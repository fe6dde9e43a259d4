"""Sub-pixel (phase-decomposition) lowering of a strided transposed convolution.

The general lowering (`conv._conv_transpose_dilated`) dilates the input by the
stride `s` (zero-stuffing), pads it by `(lo, hi)` from
`jaxlayers.padding.transpose_pairs` and correlates it with the spatially flipped
kernel dilated by `d`. Per axis, with `K` taps, effective window `W = (K-1)*d + 1`
and input size `n`, the output size is `L = (n-1)*s + 1 + lo + hi - W + 1`, and

    out[o] = sum_j xd[o + j*d - lo] * w[K-1-j]        (xd[i*s] = x[i], zero elsewhere)
           = sum_t x[(o + c - t*d) / s] * w[t]        with c = W - 1 - lo, t = K-1-j,

the sum running over the taps `t` for which `o + c - t*d` is a multiple of `s` and
the quotient is a valid index (else the term is a padded zero). So input `i`
reaches output `i*s + t*d - c`: only about `1/s` of the taps touch real data at
each output, and the general lowering spends `s` times the needed work per axis.

Phase decomposition. Write `o = q*s + r` with phase `r` in `[0, s)`. A tap `t`
contributes to phase `r` iff `t*d = r + c (mod s)`, and then reads
`x[q + e]` with the *offset* `e = (r + c - t*d) / s` (an integer, maybe negative;
distinct taps of one phase have distinct offsets). Hence every phase is an
ordinary stride-1 correlation of the *original* `x`:

    P_r[q] = sum_{m} x[q + m] * V[m, r],   V[m, r] = w[t] if tap t of phase r has e = m, else 0.

Taking `m` over `[m_min, m_max]`, the union of all phases' offsets (`M` values),
all phases share one kernel `V` of `M` taps with `s` columns, so ALL phases are ONE
stride-1 convolution of `x` with `s * filters` output features (per axis; the
product over axes in N-D), padded by `(-m_min, (Q-1) + m_max - (n-1))` so it yields
`Q = ceil(L / s)` positions (negative padding crops). A depth-to-space reshape
(`(Q, s) -> Q*s`) interleaves the phases, and cropping to `L` gives exactly the
general lowering's output. A phase without taps (kernel smaller than the stride,
or `gcd(s, d) > 1`) has an all-zero column of `V`: its outputs are zeros (+ bias).

Everything above is static (shapes and Python ints); the kernel gather is a fixed
index, so gradients w.r.t. `x` and `kernel` are ordinary convolution gradients.
Per axis the fused conv does `L * M` multiply-adds where the dilated lowering does
`L * K`; `M` is about `ceil(W / s)` (+1 when phases are misaligned), so it wins
when `M < K`, which `worthwhile` checks. `(lo, hi)` always comes from
`transpose_pairs`: this module has no padding rule of its own.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxlayers import padding as pad
from jaxlayers.functional._checks import reshape


@dataclass(frozen=True)
class AxisPlan:
    """The phase split of one spatial axis (all static)."""

    size: int  # output size L
    phases: int  # stride s
    steps: int  # Q = ceil(L / s)
    taps: int  # M, taps of the fused kernel
    pad: tuple[int, int]  # padding of x for the fused stride-1 conv (may be negative)
    index: np.ndarray  # (M, s): kernel tap feeding (offset m_min + row, phase col); K = zero tap


def axis_plan(n: int, k: int, s: int, d: int, pair: tuple[int, int]) -> AxisPlan:
    """Split one axis of a transposed conv (input size n, k taps, stride s, dilation d)."""
    lo, hi = pair
    window = (k - 1) * d + 1
    size = (n - 1) * s + 1 + lo + hi - window + 1
    c = window - 1 - lo
    hits = [((r + c - t * d) // s, r, t) for r in range(s) for t in range(k) if (r + c - t * d) % s == 0]
    m_min, m_max = min(e for e, _, _ in hits), max(e for e, _, _ in hits)
    steps = -(-size // s)
    index = np.full((m_max - m_min + 1, s), k, np.int32)
    for e, r, t in hits:
        index[e - m_min, r] = t
    return AxisPlan(size, s, steps, m_max - m_min + 1, (-m_min, steps - 1 + m_max - (n - 1)), index)


def plans(
    sizes: Sequence[int], kernel_size: Sequence[int], strides: Sequence[int],
    dilation: Sequence[int], pairs: Sequence[tuple[int, int]],
) -> tuple[AxisPlan, ...]:
    return tuple(axis_plan(*a) for a in zip(sizes, kernel_size, strides, dilation, pairs))


def worthwhile(
    sizes: Sequence[int], kernel_size: Sequence[int], strides: Sequence[int],
    dilation: Sequence[int], pairs: Sequence[tuple[int, int]],
) -> bool:
    """Use the sub-pixel lowering: some stride > 1, and it does fewer multiply-adds.

    Cost model (per batch row and channel pair): fused `prod(Q*s * M)` vs dilated
    `prod(L * K)`. Degenerate outputs (an empty axis) stay on the general path, and
    so do symbolic sizes where either is not decided.
    """
    if all(s == 1 for s in strides) or any(n < 1 for n in sizes):
        return False
    ps = plans(sizes, kernel_size, strides, dilation, pairs)
    if not all(pad.surely(lambda: p.size >= 1) for p in ps):
        return False
    fused = math.prod(p.steps * p.phases * p.taps for p in ps)
    dilated = math.prod(p.size * k for p, k in zip(ps, kernel_size))
    return pad.surely(lambda: fused < dilated)


def fused_kernel(kernel: jax.Array, ps: Sequence[AxisPlan]) -> jax.Array:
    """Kernel (*K, filters, in) -> fused (*M, in, prod(s) * filters), outputs ordered (*r, f)."""
    rank = len(ps)
    w = jnp.pad(kernel, [(0, 1)] * rank + [(0, 0), (0, 0)])  # index K = the zero tap
    for axis, p in enumerate(ps):
        w = jnp.take(w, jnp.asarray(p.index.reshape(-1)), axis=axis)  # axis -> M*s, (m, r) order
    filters, cin = kernel.shape[-2:]
    w = w.reshape(*(v for p in ps for v in (p.taps, p.phases)), filters, cin)
    perm = (*range(0, 2 * rank, 2), 2 * rank + 1, *range(1, 2 * rank, 2), 2 * rank)
    w = w.transpose(perm)  # (*M, in, *s, filters)
    return w.reshape(*(p.taps for p in ps), cin, -1)


def conv_transpose_subpixel(
    x: jax.Array,
    kernel: jax.Array,
    strides: Sequence[int],
    dilation: Sequence[int],
    pairs: Sequence[tuple[int, int]],
    precision: lax.PrecisionLike = None,
) -> jax.Array:
    """The transposed conv (no bias) as one stride-1 conv + depth-to-space + crop."""
    rank = kernel.ndim - 2
    ps = plans(x.shape[1:-1], kernel.shape[:rank], strides, dilation, pairs)
    w = fused_kernel(kernel, ps)
    activations = (0, rank + 1, *range(1, rank + 1))
    dims = lax.ConvDimensionNumbers(activations, (rank + 1, rank, *range(rank)), activations)
    if any(p.pad != (0, 0) for p in ps):
        # Pad (or crop) explicitly, then a VALID conv: XLA:CPU lowers the kernel
        # gradient of a *padded* conv to a much slower path (13 ms vs 1 ms measured).
        config = [(0, 0, 0), *((lo, hi, 0) for lo, hi in (p.pad for p in ps)), (0, 0, 0)]
        x = lax.pad(x, jnp.zeros((), x.dtype), config)
    y = lax.conv_general_dilated(
        x, w, (1,) * rank, "VALID", dimension_numbers=dims, precision=precision
    )
    batch, filters = x.shape[0], kernel.shape[-2]
    if rank > 1:  # (B, *Q, *s, F) -> (B, Q1, s1, Q2, s2, ..., F)
        y = reshape(y, (batch, *(p.steps for p in ps), *(p.phases for p in ps), filters))
        perm = (0, *(v for a in range(rank) for v in (1 + a, 1 + rank + a)), 1 + 2 * rank)
        y = y.transpose(perm)
    y = reshape(y, (batch, *(p.steps * p.phases for p in ps), filters))
    if any(p.steps * p.phases != p.size for p in ps):
        y = y[(slice(None), *(slice(0, p.size) for p in ps))]
    return y
