"""Argument normalisation and validation shared by every layer.

Errors are raised here, on Python values and static shapes, before XLA sees
anything; each names the argument and shows what was expected and received.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

IntOrSeq = int | Sequence[int]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def as_tuple(value: IntOrSeq, rank: int | None, name: str, *, minimum: int = 1) -> tuple[int, ...]:
    """`value` as `rank` ints, each >= `minimum`; an int means the same on every axis.

    rank None (not known yet, e.g. at construction of a rank-generic layer): any
    number of ints is accepted, and an int comes back as one.
    """
    if _is_int(value):
        values = (int(value),) * (1 if rank is None else rank)
    elif isinstance(value, Sequence) and not isinstance(value, str) and all(map(_is_int, value)):
        values = tuple(int(v) for v in value)
        if rank is not None and len(values) != rank:
            raise ValueError(
                f"`{name}` must be an int or a sequence of {rank} ints (one per spatial "
                f"axis), got {value!r} of length {len(values)}."
            )
    else:
        raise TypeError(f"`{name}` must be an int or a sequence of {rank or 'N'} ints, got {value!r}.")
    if any(v < minimum for v in values):
        raise ValueError(f"`{name}` must be >= {minimum} on every axis, got {value!r}.")
    return values


def check_bool(value: Any, name: str) -> bool:
    """`value` as a Python bool; a TypeError naming `name` unless it is a bool (a NumPy bool too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool, got {value!r}.")
    return bool(value)


def positive_int(value: Any, name: str) -> int:
    """`value` as an int >= 1 (a count such as `filters`, `units` or `groups`)."""
    if not _is_int(value):
        raise TypeError(f"`{name}` must be an int >= 1, got {value!r}.")
    if value < 1:
        raise ValueError(f"`{name}` must be an int >= 1, got {value!r}.")
    return int(value)


def dilation_rate(value: IntOrSeq | None, alias: IntOrSeq | None, rank: int | None) -> tuple[int, ...]:
    """`dilation_rate` (Keras's name, default 1) as `rank` ints; `dilation` is its old alias.

    Errors name the spelling that was passed; passing both is a TypeError.
    """
    if alias is None:
        return as_tuple(1 if value is None else value, rank, "dilation_rate")
    if value is not None:
        raise TypeError(
            f"pass `dilation_rate` or its alias `dilation`, not both: got dilation_rate={value!r}, "
            f"dilation={alias!r}."
        )
    return as_tuple(alias, rank, "dilation")


def check_groups(filters: int, groups: int, channels: int | None = None, channels_name: str = "in_channels",
                 owner: str = "", filters_name: str = "filters") -> None:
    """`filters` and (when known) the input `channels` must be multiples of `groups`, as Keras.

    The names are the caller's (e.g. `kernel.shape[-1]` for a functional conv).
    """
    for name, value in ((filters_name, filters), (channels_name, channels)):
        if value is not None and value % groups:
            raise ValueError(f"{owner + ': ' if owner else ''}`{name}`={value} is not divisible by groups={groups}.")


def target_shape(value: Any, input_shape: Sequence[int] | None = None) -> tuple[int, ...]:
    """Keras `Reshape(target_shape)`: ints >= 1 and at most one -1 (batch axis excluded).

    With `input_shape` (batch first), the sizes must also hold the input's cells.
    """
    if not isinstance(value, Sequence) or isinstance(value, str) or not all(map(_is_int, value)):
        raise TypeError(f"`target_shape` must be a sequence of ints, got {value!r}.")
    shape = tuple(int(v) for v in value)
    if any(v < 1 and v != -1 for v in shape) or shape.count(-1) > 1:
        raise ValueError(f"`target_shape` must be ints >= 1 with at most one -1, got {value!r}.")
    if input_shape is not None:
        cells, known = math.prod(input_shape[1:]), math.prod(v for v in shape if v != -1)
        if (cells % known) if -1 in shape else (cells != known):
            raise ValueError(
                f"`target_shape` {shape} cannot hold the {cells} cells per example of an input "
                f"of shape {tuple(input_shape)}."
            )
    return shape


def as_pairs(value: Any, rank: int | None, name: str) -> tuple[tuple[int, int], ...]:
    """Keras `ZeroPaddingND`/`CroppingND` forms as one `(lo, hi)` pair per axis.

    int -> same pair everywhere; `rank` ints -> symmetric per axis; `rank` pairs -> as
    given. With rank 1 a pair of ints is `(lo, hi)`, as in Keras `ZeroPadding1D`.
    rank None (not known yet): any number of axes, for validation.
    """
    def pair(v: Any) -> tuple[int, int]:
        if _is_int(v):
            return int(v), int(v)
        if isinstance(v, Sequence) and len(v) == 2 and all(map(_is_int, v)):
            return int(v[0]), int(v[1])
        raise TypeError(f"`{name}` entries must be ints or (lo, hi) pairs, got {v!r} in {value!r}.")

    if rank is None and isinstance(value, Sequence) and not isinstance(value, str):
        rank = len(value)
    if _is_int(value):
        pairs = (pair(value),) * (rank or 1)
    elif not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(f"`{name}` must be an int, {rank or 'N'} ints or {rank or 'N'} (lo, hi) pairs, got {value!r}.")
    elif rank == 1 and len(value) == 2 and all(map(_is_int, value)):
        pairs = (pair(value),)
    elif len(value) == rank:
        pairs = tuple(pair(v) for v in value)
    else:
        raise ValueError(
            f"`{name}` must be an int, {rank} ints or {rank} (lo, hi) pairs (one per spatial "
            f"axis), got {value!r}."
        )
    if any(v < 0 for p in pairs for v in p):
        raise ValueError(f"`{name}` must be non-negative, got {value!r}.")
    return pairs


def check_array(value: Any, op: str, name: str = "x") -> None:
    """Raise a TypeError naming `op` and `name` unless `value` is one array.

    An array is anything with `shape`, `dtype` and `ndim` (a JAX or NumPy array, a
    tracer); a list or tuple of arrays, a Python number or None is refused before XLA.
    """
    if not all(hasattr(value, a) for a in ("shape", "dtype", "ndim")):
        hint = " (pass one array, not a sequence of them)" if isinstance(value, (list, tuple)) else ""
        raise TypeError(f"{op}: `{name}` must be an array, got {type(value).__name__}{hint}.")


def check_ndim(x: Any, ndim: int, name: str, layout: str) -> None:
    """Raise unless `x.ndim == ndim`; `layout` describes the expected axes."""
    if x.ndim != ndim:
        raise ValueError(
            f"`{name}` must have {ndim} dimensions {layout}, got shape {tuple(x.shape)} "
            f"({x.ndim} dimensions)."
        )


def spatial_rank(x: Any, name: str = "x") -> int:
    """Number of spatial axes of a channels-last batch `(batch, *spatial, channels)`."""
    if x.ndim < 3:
        raise ValueError(
            f"`{name}` must be (batch, *spatial, channels) with at least one spatial axis, "
            f"got shape {tuple(x.shape)}."
        )
    return x.ndim - 2


def call_rank(x: Any, rank: int | None, kernel_size: Any, owner: str) -> int:
    """Spatial rank of a layer call: fixed `rank`, else `len(kernel_size)`, else the input's.

    Raises a ValueError naming `owner` when `x` is not `(batch, *spatial, channels)`
    with that many spatial axes.
    """
    if rank is None and isinstance(kernel_size, Sequence):
        rank = len(kernel_size)
    if rank is None:
        rank = x.ndim - 2
        if rank < 1:
            raise ValueError(
                f"{owner} expects an input (batch, *spatial, channels) with at least one spatial "
                f"axis, got shape {tuple(x.shape)}."
            )
    if x.ndim != rank + 2:
        raise ValueError(
            f"{owner} expects a {rank + 2}-D input {layout(rank)}, got shape {tuple(x.shape)}."
        )
    return rank


def layout(rank: int) -> str:
    """Human-readable channels-last layout for `rank` spatial axes."""
    return "(batch, " + ", ".join(("width",) if rank == 1 else
                                   ("height", "width") if rank == 2 else
                                   ("depth", "height", "width") if rank == 3 else
                                   [f"s{i}" for i in range(rank)]) + ", channels)"
