"""Which exact lowering each op uses, per backend: one table, read at trace time.

Every lowering here computes the same numbers as the plain `lax` op (tests check
values and gradients); which is faster depends on the backend, so the choice is
made per `jax.default_backend()` from measurements (benchmarks/RESULTS.md).

- "shift_sum": a conv with few filters (taps x filters <= channels), or 1x1 (any stride),
  as one channel contraction plus shifted slices added (`_shift_sum`); else
  `lax.conv_general_dilated`.
- "tap_sum": a conv with few input channels (taps x channels <= 27, filters <= 64) as
  its taps' shifted input slices times their kernel rows, added (`_tap_sum`; the kernel
  gradient one matrix product); else `lax.conv_general_dilated`.
- "subpixel": a strided transposed conv as one stride-1 conv + depth-to-space
  (`_subpixel`), where it does fewer multiply-adds; else the stride-dilated input.
- "block_pool": non-overlapping pooling as pad + reshape + reduce (`_windows`);
  else `lax.reduce_window` (for max pooling: its derivatives, with the values from
  strided slices, `_windows.window_max`).
- "broadcast_upsample": nearest upsampling by broadcast + reshape; else `jnp.repeat`.
- "explicit_pad": a conv whose output grid is larger than its input (e.g. a "valid"
  stride-1 transposed conv) pads its input with `lax.pad` and convolves unpadded;
  else the padding is the conv's own. The numbers are the same; XLA:CPU lowers the
  kernel gradient of such a padded conv to a generic loop (5-10x slower).
- "depthwise_shift": a depthwise conv as its taps' shifted input slices times their
  kernel rows, added (`_depthwise_shift`); else a grouped `lax.conv_general_dilated`
  (one group per channel), which XLA:CPU runs far below dense speed.

Two limits on top of each rule (`jax.export`, explicit sharding): with symbolic spatial
sizes the shift, tap and depthwise sums give way (they slice by concrete sizes); under
explicit sharding (`jax.sharding.AxisType.Explicit`) the reshape-based lowerings and the
depthwise and tap sums keep a batch-sharded input batch-sharded (`_checks.reshape`,
`contract`) and give way where the input is sharded off its batch axis, the shift sum
(whose contraction merges the batch axis) wherever it is sharded.

A mode is "auto" (use where its own rule says it pays), "never", or, only through
`forced` (tests and benchmarks), "always" (use wherever it applies).
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers.functional._checks import explicit_sharding

CHOICES = ("shift_sum", "tap_sum", "subpixel", "block_pool", "broadcast_upsample", "explicit_pad", "depthwise_shift")
MODES = ("auto", "never", "always")

# Measured backends (benchmarks/RESULTS.md). Elsewhere (TPU, for now) the plain
# `lax` convolutions, and the reshape/broadcast paths, which are only data movement.
UNMEASURED: Mapping[str, str] = {
    "shift_sum": "never", "subpixel": "never", "block_pool": "auto", "broadcast_upsample": "auto",
    "tap_sum": "never", "explicit_pad": "never", "depthwise_shift": "never",
}
_ALL_AUTO = {choice: "auto" for choice in CHOICES}
BY_BACKEND: Mapping[str, Mapping[str, str]] = {
    "cpu": _ALL_AUTO,  # 2-core AMD EPYC and Intel Xeon
    # NVIDIA H200: shift-sum 2.8x, sub-pixel 1.3x, block max pool 1.15x faster (fwd+bwd);
    # tap_sum and explicit_pad not measured there.
    "gpu": {**_ALL_AUTO, "tap_sum": "never", "explicit_pad": "never", "depthwise_shift": "never"},
}

# The shift-sum's channel contraction as this many batched matrix products (over equal
# parts of the batch; the kernel broadcast): XLA:CPU runs the kernel gradient, one dot
# with a contraction over every pixel, on one core, and each part on a core of its own
# (2-core CPU: 10 -> 7 ms for the 256x28x28x16 -> 9 contraction and its gradients).
CONTRACTION_PARTS: Mapping[str, int] = {"cpu": 2}

_FORCED: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("jaxlayers_lowering", default={})


def mode(choice: str, backend: str | None = None) -> str:
    """The mode of `choice` now: a `forced` one, else `backend`'s (default: JAX's default)."""
    forced = _FORCED.get()
    if choice in forced:
        return forced[choice]
    return BY_BACKEND.get(backend or jax.default_backend(), UNMEASURED)[choice]


def use(choice: str, worthwhile: bool, applicable: bool = True) -> bool:
    """Whether to take `choice`'s lowering, given its own rule (`worthwhile`) and shape limits."""
    m = mode(choice)
    return applicable and (m == "always" or (m == "auto" and worthwhile))


@contextlib.contextmanager
def forced(**modes: str) -> Iterator[None]:
    """Within the block, trace with these modes, e.g. `forced(shift_sum="never")`.

    JAX caches traces by function and input shapes, not by these modes: trace a fresh
    function (a new lambda or `jax.jit`) inside the block.
    """
    for choice, m in modes.items():
        if choice not in CHOICES or m not in MODES:
            raise ValueError(f"forced() takes {CHOICES} set to one of {MODES}, got {choice}={m!r}.")
    token = _FORCED.set({**_FORCED.get(), **modes})
    try:
        yield
    finally:
        _FORCED.reset(token)


def direct() -> contextlib.AbstractContextManager[None]:
    """Every op on its plain `lax` path (the reference the lowerings are tested against)."""
    return forced(**{choice: "never" for choice in CHOICES})


def contraction_parts(batch: int, backend: str | None = None) -> int:
    """Parts the shift and tap sums' contractions split a batch of `batch` into (1: none)."""
    parts = CONTRACTION_PARTS.get(backend or jax.default_backend(), 1)
    return parts if batch % parts == 0 else 1


def contract(x: jax.Array, w: jax.Array, precision: lax.PrecisionLike, dtype: jax.typing.DTypeLike) -> jax.Array:
    """x: (batch, ..., K) @ w: (K, N) -> (batch, ..., N) in `dtype` (`preferred_element_type`).

    As `contraction_parts` batched matrix products over equal parts of the batch (the
    kernel broadcast), except for an explicitly sharded x: there one product over x's own
    axes, so that the batch axis is not merged with the others and keeps its sharding.
    """
    parts = 1 if explicit_sharding(x) is not None else contraction_parts(x.shape[0])
    if parts == 1:
        return lax.dot_general(x, w, (((x.ndim - 1,), (0,)), ((), ())), precision=precision,
                               preferred_element_type=dtype)
    z = lax.dot_general(x.reshape(parts, -1, x.shape[-1]), jnp.broadcast_to(w, (parts, *w.shape)),
                        (((2,), (1,)), ((0,), (0,))), precision=precision, preferred_element_type=dtype)
    return z.reshape(*x.shape[:-1], w.shape[-1])
