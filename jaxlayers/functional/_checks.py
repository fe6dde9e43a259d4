"""Shape checks shared by the functional ops (static, before tracing reaches XLA)."""
from __future__ import annotations

from typing import Any

from jaxlayers._args import check_ndim, layout


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
