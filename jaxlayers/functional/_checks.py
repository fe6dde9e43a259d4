"""What the functional ops share: shape checks (static, before tracing reaches XLA), dtype
rules, and what the reshape-based lowerings need under explicit sharding."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxlayers._args import check_array, check_ndim, layout


def check_arrays(op: str, **arrays: Any) -> None:
    """`check_array` on each argument (name=value) of `op`; `bias` may be None."""
    for name, value in arrays.items():
        if not (name == "bias" and value is None):
            check_array(value, op, name)


def check_input(x: Any, rank: int, name: str = "x") -> None:
    """`x` must be `(batch, *spatial, channels)` with `rank` spatial axes."""
    check_ndim(x, rank + 2, name, layout(rank))


def check_bias(bias: Any, units: int, kernel_shape: tuple[int, ...]) -> None:
    """`bias` must be `(units,)` to match a kernel of `kernel_shape`."""
    if bias is not None and tuple(bias.shape) != (units,):
        raise ValueError(
            f"`bias` must have shape ({units},) to match `kernel` of shape {kernel_shape}, "
            f"got {tuple(bias.shape)}."
        )


def check_channels(x: Any, expected: int, kernel_shape: tuple[int, ...], detail: str = "") -> None:
    """The channel axis of `x` must match what the kernel expects."""
    if x.shape[-1] != expected:
        raise ValueError(
            f"`x` has {x.shape[-1]} channels but `kernel` of shape {kernel_shape} expects "
            f"{expected}{detail}: x shape {tuple(x.shape)}."
        )


def check_kernel(kernel: Any, ndim: int | None, expected: str) -> None:
    """`kernel` must have `ndim` axes (None: at least 3), none of size 0; `expected` names them."""
    if (kernel.ndim != ndim) if ndim is not None else kernel.ndim < 3:
        raise ValueError(f"`kernel` must be {expected}, got shape {tuple(kernel.shape)}.")
    if 0 in kernel.shape:
        raise ValueError(f"`kernel` must be {expected} with every size >= 1, got shape {tuple(kernel.shape)}.")


def promote(x: jax.Array, kernel: jax.Array, bias: jax.Array | None) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """The dtype rule of `conv`, `conv_transpose` and `dense`: all in `jnp.result_type(x, kernel, bias)`.

    Applied before any lowering, so every lowering computes in (and returns) that dtype.
    """
    dtype = jnp.result_type(*(a for a in (x, kernel, bias) if a is not None))
    return x.astype(dtype), kernel.astype(dtype), None if bias is None else bias.astype(dtype)


def accumulation(dtype: Any) -> jnp.dtype:
    """The dtype a lowering accumulates `dtype` in: float32 for floats narrower than 32 bits
    (rounded once at the end, as a direct convolution does), else `dtype` itself."""
    narrow = jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32
    return jnp.dtype(jnp.float32) if narrow else jnp.dtype(dtype)


def add_bias(y: jax.Array, bias: jax.Array | None) -> jax.Array:
    """`y + bias` (bias: (channels,), y's dtype), added in `accumulation(y.dtype)` and rounded back.

    The same numbers as adding in y's dtype (one rounding either way), but the bias
    gradient, a sum over every other axis of y, is then summed in float32: summed in
    bfloat16, 256 x 28 x 28 ones add up to 2048, not 200,704.
    """
    if bias is None:
        return y
    acc = accumulation(y.dtype)
    return (y.astype(acc) + bias.astype(acc)).astype(y.dtype)


def explicit_sharding(x: jax.Array) -> jax.sharding.NamedSharding | None:
    """x's sharding where some axis is sharded over an explicit mesh axis
    (`jax.sharding.AxisType.Explicit`), else None (for `out_sharding=`: inferred)."""
    sharding = jax.typeof(x).sharding
    return sharding if any(s is not None for s in sharding.spec) else None


def batch_sharded_at_most(x: jax.Array) -> bool:
    """Whether x (batch, ...) has no explicit sharding but on its batch axis: what the
    reshape-based lowerings keep (`reshape`); elsewhere they give way to the plain path."""
    return all(s is None for s in jax.typeof(x).sharding.spec[1:])


def reshape(x: jax.Array, shape: Sequence[Any]) -> jax.Array:
    """`x.reshape(shape)` for a reshape that keeps the batch axis (axis 0 of both) whole.

    Under explicit sharding a batch-sharded x gives a batch-sharded result (`lax` does
    not infer it for a reshape that splits or merges other axes); x must be sharded
    nowhere else (`batch_sharded_at_most`).
    """
    batch = jax.typeof(x).sharding.spec[0]
    if batch is None:
        return x.reshape(shape)
    return lax.reshape(x, tuple(shape), out_sharding=jax.sharding.PartitionSpec(batch, *(None,) * (len(shape) - 1)))


def _is_precision(value: Any) -> bool:
    """A `lax.Precision` or one of the names `lax.Precision` takes ("highest", "float32", ...)."""
    if isinstance(value, str):
        try:
            lax.Precision(value)
        except ValueError:
            return False
        return True
    return isinstance(value, lax.Precision)


def check_precision(precision: Any) -> lax.PrecisionLike:
    """The `precision` of `conv`, `conv_transpose` and `dense`: what `lax` takes for all three.

    Args:
        precision: None; a `lax.Precision` or its name ("default", "high", "highest",
            "float32", "bfloat16", ...); a tuple of two of those, both enums or both
            names; a `lax.DotAlgorithm`; or a `lax.DotAlgorithmPreset` or its exact name
            ("F32_F32_F32", ...).

    Returns:
        `precision`, unchanged.

    Raises:
        ValueError: a name `lax` does not know (also in a pair).
        TypeError: any other value.
    """
    if (precision is None or isinstance(precision, (lax.DotAlgorithm, lax.DotAlgorithmPreset))
            or _is_precision(precision)
            or isinstance(precision, str) and precision in lax.DotAlgorithmPreset.__members__
            or isinstance(precision, tuple) and len(precision) == 2 and all(map(_is_precision, precision))
            and len({type(p) for p in precision}) == 1):
        return precision
    names = isinstance(precision, str) or isinstance(precision, tuple) and any(isinstance(p, str) for p in precision)
    raise (ValueError if names else TypeError)(
        "`precision` must be None, a lax.Precision or its name ('default', 'high', 'highest', 'float32', ...), "
        "a tuple of two of those, a lax.DotAlgorithm, or a lax.DotAlgorithmPreset or its name "
        f"('F32_F32_F32', ...), got {precision!r}."
    )
