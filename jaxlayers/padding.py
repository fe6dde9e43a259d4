"""Every padding rule in one place: conv, transposed conv and pooling all call here.

A rule turns the user's `padding` argument into one `(lo, hi)` pair per spatial
axis for `lax`; output sizes (`jaxlayers.shapes`) are derived from the same pairs,
so what the ops do and what the shape tools predict cannot drift apart.

- "valid": no padding.
- "same" (TensorFlow/Keras rule): output size `ceil(size / stride)`; total padding
  `max((out - 1) * stride + window - size, 0)`, the odd cell going to the end (`hi`).
- "causal" (1-D conv only): `(window - 1, 0)`, so output t sees inputs <= t.
- explicit (conv only): ints or `(lo, hi)` pairs per axis, as `_args.as_pairs`.

`window` is always the *effective* window, `(kernel - 1) * dilation_rate + 1`.

Sizes may be symbolic (`jax.export.symbolic_shape`): the rules are the same
arithmetic (`jax.core.max_dim` for a maximum), their pairs symbolic too, and a check
that the symbolic sizes leave undecided (`surely`) is left to run time.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from jaxlayers._args import as_pairs

Pairs = tuple[tuple[int, int], ...]
Padding = str | int | Sequence[Any]


def mode(padding: Padding, allowed: Sequence[str]) -> str | None:
    """The lower-cased padding string, or None for explicit padding (if allowed).

    Args:
        padding: a padding string (any case) or explicit padding.
        allowed: the allowed modes, lower-case; "explicit" allows explicit padding.

    Returns:
        The lower-cased mode, or None for explicit padding.

    Raises:
        ValueError: a mode (or explicit padding) not allowed.
    """
    if isinstance(padding, str):
        lowered = padding.lower()
        if lowered not in allowed:
            raise ValueError(
                f"`padding` must be one of {', '.join(map(repr, allowed))}"
                f"{' or explicit (lo, hi) pairs' if 'explicit' in allowed else ''}, got {padding!r}."
            )
        return lowered
    if "explicit" not in allowed:
        raise ValueError(f"`padding` must be one of {', '.join(map(repr, allowed))}, got {padding!r}.")
    return None


def resolve(padding: Padding, allowed: Sequence[str], rank: int | None) -> str | Pairs:
    """A validated `padding`: its lower-cased mode, or the explicit `(lo, hi)` pairs.

    Args:
        padding: a padding string (any case), or ints or (lo, hi) pairs per axis.
        allowed: the allowed modes, as `mode`.
        rank: the number of spatial axes; None (not known yet): the checks that need it
            ("causal" is 1-D only, one pair per axis) wait for the call.

    Returns:
        The lower-cased mode, or one `(lo, hi)` pair per axis.

    Raises:
        ValueError: a mode not allowed, "causal" on other than 1 axis, or explicit
            padding of the wrong length.
        TypeError: explicit padding that is not ints or pairs.
    """
    kind = mode(padding, allowed)
    if kind is None:
        return as_pairs(padding, rank, "padding")
    if kind == "causal" and rank is not None and rank != 1:
        raise ValueError(f"`padding`='causal' is only defined for 1-D convolution, got {rank} spatial axes.")
    return kind


def effective_window(kernel: Sequence[int], dilation_rate: Sequence[int]) -> tuple[int, ...]:
    """Span of a dilated kernel: `(k - 1) * d + 1` per axis.

    Args:
        kernel: the kernel size per axis.
        dilation_rate: the dilation per axis.

    Returns:
        The effective window per axis.
    """
    return tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation_rate))


def static(sizes: Sequence[Any]) -> bool:
    """Whether every size is a plain int.

    Args:
        sizes: sizes (or padding widths), ints or symbolic (`jax.export`).

    Returns:
        True when none is symbolic.
    """
    return all(jax.core.is_constant_dim(n) for n in sizes)


def surely(test: Callable[[], Any]) -> bool:
    """A comparison of sizes that holds for sure.

    Args:
        test: a function comparing sizes, e.g. `lambda: n + lo + hi < w`.

    Returns:
        `test()` as a bool; False where symbolic sizes leave it undecided (a check
        left to run time).
    """
    try:
        return bool(test())
    except jax.errors.InconclusiveDimensionOperation:
        return False


def same_pair(size: int, window: int, stride: int) -> tuple[int, int]:
    """TensorFlow "same" padding for one axis (the extra cell goes at the end).

    Args:
        size: the input's size on the axis (an int or symbolic).
        window: the effective window.
        stride: the stride.

    Returns:
        `(lo, hi)`, with `hi - lo` 0 or 1.
    """
    out = -(-size // stride)
    total = jax.core.max_dim((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def forward_pairs(
    padding: Padding,
    sizes: Sequence[int | None],
    windows: Sequence[int],
    strides: Sequence[int],
    *,
    allowed: Sequence[str] = ("valid", "same"),
) -> Pairs:
    """Padding pairs of a strided window op (conv or pooling) over `sizes`.

    Args:
        padding: a mode of `allowed`, or explicit padding when "explicit" is allowed.
        sizes: the input's spatial sizes; a `None` size (unknown) is only allowed where
            the pair does not depend on it.
        windows: the effective windows.
        strides: the strides.
        allowed: the allowed modes ("valid", "same", "causal", "explicit").

    Returns:
        One `(lo, hi)` pair per axis.

    Raises:
        ValueError: a mode not allowed, or padding that does not fit the rank.
    """
    rank = len(windows)
    kind = resolve(padding, allowed, rank)
    if not isinstance(kind, str):
        return kind
    if kind == "valid":
        return ((0, 0),) * rank
    if kind == "causal":
        return ((windows[0] - 1, 0),)
    return tuple(
        (0, 0) if size is None else same_pair(size, w, s)
        for size, w, s in zip(sizes, windows, strides)
    )


def transpose_pairs(
    padding: Padding,
    windows: Sequence[int],
    strides: Sequence[int],
    output_padding: Sequence[int] | None,
) -> Pairs:
    """Padding of the stride-dilated input that gives Keras `ConvNDTranspose` sizes.

    The output size is `(size - 1) * stride + 2 - window + lo + hi`, i.e.
    "valid": `(size - 1) * stride + window + output_padding` (default output_padding
    `max(stride - window, 0)`); "same": `size * stride`, or with output_padding
    `(size - 1) * stride + window % 2 + output_padding`.

    Args:
        padding: "valid" or "same".
        windows: the effective windows.
        strides: the strides.
        output_padding: one int per axis, or None (Keras's default).

    Returns:
        One `(lo, hi)` pair per axis.

    Raises:
        ValueError: a mode other than "valid" or "same".
    """
    kind = mode(padding, ("valid", "same"))
    pairs = []
    for i, (w, s) in enumerate(zip(windows, strides)):
        extra = None if output_padding is None else output_padding[i]
        if kind == "valid":
            extra = max(w, s) - w if extra is None else extra
            lo, hi = w - 1, w - 1 + extra
        else:
            total = s + w - 2 if extra is None else w + w % 2 - 2 + extra
            lo = min(total // 2 + total % 2, w - 1)
            hi = total - lo
        pairs.append((lo, hi))
    return tuple(pairs)


def output_sizes(
    sizes: Sequence[int | None], windows: Sequence[int], strides: Sequence[int], pairs: Pairs
) -> tuple[int | None, ...]:
    """Output sizes of a strided window op: `floor((size + lo + hi - window) / stride) + 1`.

    At least 0 (as `lax` writes it, so symbolic sizes give `lax`'s expressions); a
    window that does not fit is refused before (`check_window_fits`).

    Args:
        sizes: the input's spatial sizes (None: unknown).
        windows: the effective windows.
        strides: the strides.
        pairs: the `(lo, hi)` padding per axis.

    Returns:
        The output size per axis, None where the input's is None.
    """
    return tuple(
        None if n is None else jax.core.max_dim((n + lo + hi - w) // s + 1, 0)
        for n, w, s, (lo, hi) in zip(sizes, windows, strides, pairs)
    )


def transpose_output_sizes(
    sizes: Sequence[int | None], windows: Sequence[int], strides: Sequence[int], pairs: Pairs
) -> tuple[int | None, ...]:
    """Output sizes of a transposed conv: the input is dilated by `stride`, then padded.

    Args:
        sizes: the input's spatial sizes (None: unknown).
        windows: the effective windows.
        strides: the strides.
        pairs: the `(lo, hi)` padding per axis (`transpose_pairs`).

    Returns:
        The output size per axis, None where the input's is None.
    """
    return tuple(
        None if n is None else (n - 1) * s + 1 + lo + hi - w + 1
        for n, w, s, (lo, hi) in zip(sizes, windows, strides, pairs)
    )


def check_window_fits(
    sizes: Sequence[int | None], windows: Sequence[int], pairs: Pairs, shape: Sequence[Any], what: str
) -> None:
    """Raise if a window is larger than the padded input on some axis.

    Args:
        sizes: the input's spatial sizes (None: unknown, not checked; symbolic: checked
            where `surely` decides it).
        windows: the effective windows.
        pairs: the `(lo, hi)` padding per axis.
        shape: the input's full shape, for the message.
        what: the window named in the message (e.g. "`pool_size`").

    Raises:
        ValueError: a window larger than the padded input, with the shapes.
    """
    for axis, (n, w, (lo, hi)) in enumerate(zip(sizes, windows, pairs)):
        if n is not None and surely(lambda: n + lo + hi < w):
            raise ValueError(
                f"{what} of size {tuple(windows)} does not fit the input of shape "
                f"{tuple(shape)}: spatial axis {axis} has {n} cells"
                f"{f' ({n + lo + hi} after padding)' if lo or hi else ''} but the window needs {w}."
            )
