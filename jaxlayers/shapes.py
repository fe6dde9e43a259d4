"""Output-shape arithmetic and receptive fields, without allocating anything.

Every function takes and returns full shapes `(batch, *spatial, channels)`; a
`None` batch (or spatial size) stays `None`. The sizes come from the same
padding rules (`jaxlayers.padding`) the ops use.
"""
from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import flax.linen as nn

from jaxlayers import padding as pad
from jaxlayers._args import IntOrSeq, as_tuple, layout, positive_int
from jaxlayers._args import dilation_rate as resolve_dilation
from jaxlayers.functional.conv import PADDINGS, output_padding_tuple

Shape = tuple[int | None, ...]


def _split(input_shape: Sequence[int | None], rank: int | None, name: str = "input_shape") -> tuple[Shape, int]:
    shape = tuple(None if d is None else int(d) for d in input_shape)
    if len(shape) < 3 or (rank is not None and len(shape) != rank + 2):
        expected = f"{rank + 2} dimensions {layout(rank)}" if rank else "(batch, *spatial, channels)"
        raise ValueError(f"`{name}` must have {expected}, got {shape}.")
    return shape, len(shape) - 2


def _rank_of(kernel_size: IntOrSeq, input_shape: Sequence[Any]) -> int:
    return len(input_shape) - 2 if isinstance(kernel_size, int) else len(kernel_size)


def conv_output_shape(
    input_shape: Sequence[int | None],
    filters: int,
    kernel_size: IntOrSeq,
    strides: IntOrSeq = 1,
    padding: pad.Padding = "valid",
    dilation_rate: IntOrSeq | None = None,
    *,
    dilation: IntOrSeq | None = None,
) -> Shape:
    """Shape of `functional.conv` / Keras `ConvND` on `input_shape`.

    Args:
        input_shape: (batch, *spatial, channels); None sizes allowed.
        filters: output channels.
        kernel_size: an int or one per spatial axis (a sequence also fixes the rank).
        strides: an int or one per spatial axis.
        padding: "valid" | "same" | "causal" (1-D) | ints or (lo, hi) pairs per axis.
        dilation_rate: an int or one per axis (default 1).
        dilation: the old alias of `dilation_rate` (give one of them).

    Returns:
        (batch, *out_spatial, filters), None where the input's size is None.

    Raises:
        ValueError: a bad argument, or a kernel larger than the (padded) input.
    """
    shape, rank = _split(input_shape, _rank_of(kernel_size, input_shape))
    kernel = as_tuple(kernel_size, rank, "kernel_size")
    strides = as_tuple(strides, rank, "strides")
    windows = pad.effective_window(kernel, resolve_dilation(dilation_rate, dilation, rank))
    sizes = shape[1:-1]
    pairs = pad.forward_pairs(padding, sizes, windows, strides, allowed=PADDINGS)
    pad.check_window_fits(sizes, windows, pairs, shape, f"`kernel_size` (dilated to {windows})")
    return (shape[0], *pad.output_sizes(sizes, windows, strides, pairs), positive_int(filters, "filters"))


def conv_transpose_output_shape(
    input_shape: Sequence[int | None],
    filters: int,
    kernel_size: IntOrSeq,
    strides: IntOrSeq = 1,
    padding: pad.Padding = "valid",
    output_padding: IntOrSeq | None = None,
    dilation_rate: IntOrSeq | None = None,
    *,
    dilation: IntOrSeq | None = None,
) -> Shape:
    """Shape of `functional.conv_transpose` / Keras `ConvNDTranspose` on `input_shape`.

    Args:
        input_shape: (batch, *spatial, channels); None sizes allowed.
        filters: output channels.
        kernel_size: an int or one per spatial axis (a sequence also fixes the rank).
        strides: an int or one per spatial axis.
        padding: "valid" or "same".
        output_padding: None, or an int or one per axis, each smaller than its stride.
        dilation_rate: an int or one per axis (default 1).
        dilation: the old alias of `dilation_rate` (give one of them).

    Returns:
        (batch, *out_spatial, filters), None where the input's size is None.

    Raises:
        ValueError: a bad argument.
    """
    shape, rank = _split(input_shape, _rank_of(kernel_size, input_shape))
    strides = as_tuple(strides, rank, "strides")
    windows = pad.effective_window(as_tuple(kernel_size, rank, "kernel_size"),
                                   resolve_dilation(dilation_rate, dilation, rank))
    pairs = pad.transpose_pairs(padding, windows, strides, output_padding_tuple(output_padding, strides))
    sizes = pad.transpose_output_sizes(shape[1:-1], windows, strides, pairs)
    return (shape[0], *sizes, positive_int(filters, "filters"))


def pool_output_shape(
    input_shape: Sequence[int | None],
    pool_size: IntOrSeq,
    strides: IntOrSeq | None = None,
    padding: pad.Padding = "valid",
) -> Shape:
    """Shape of `functional.max_pool` / `avg_pool` / Keras `MaxPoolingND` on `input_shape`.

    Args:
        input_shape: (batch, *spatial, channels); None sizes allowed.
        pool_size: the window, an int or one per spatial axis.
        strides: an int or one per spatial axis; None (default): `pool_size`.
        padding: "valid" or "same".

    Returns:
        (batch, *out_spatial, channels), None where the input's size is None.

    Raises:
        ValueError: a bad argument, or a window larger than the (padded) input.
    """
    shape, rank = _split(input_shape, None)
    window = as_tuple(pool_size, rank, "pool_size")
    strides = window if strides is None else as_tuple(strides, rank, "strides")
    sizes = shape[1:-1]
    pairs = pad.forward_pairs(padding, sizes, window, strides)
    pad.check_window_fits(sizes, window, pairs, shape, "`pool_size`")
    return (shape[0], *pad.output_sizes(sizes, window, strides, pairs), shape[-1])


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of the last layer's outputs, per spatial axis.

    Attributes:
        size: input cells one output cell sees.
        jump: input cells between the fields of neighbouring output cells (the product
            of the strides so far).
    """

    size: tuple[int, ...]
    jump: tuple[int, ...]


def receptive_field(layers: Iterable[Any]) -> ReceptiveField:
    """Receptive field of a stack of conv and pooling layers.

    Layers that keep the grid (Dense on the channel axis, activations, padding,
    cropping) pass through.

    Args:
        layers: a sequence, `flax.linen.Sequential` or `flax.nnx.Sequential` of
            `jaxlayers.linen` / `jaxlayers.nnx` modules, plain activation functions
            (skipped), or `(kernel_size, strides[, dilation_rate])` tuples.

    Returns:
        The field's `size` and `jump` per spatial axis.

    Raises:
        TypeError: layers with no finite field here (flatten, global pooling,
            upsampling, transposed conv) and modules whose layers are not known before
            they run (`@nn.compact`).
        ValueError: no conv or pooling layer, or a malformed tuple.
    """
    field: tuple[list[int], list[int]] | None = None
    for layer in _layers_of(layers):
        geometry = _window_geometry(layer)
        if geometry is None:
            continue
        kernel, strides, dilation = geometry
        if field is None:
            rank = next((len(v) for v in geometry if not isinstance(v, int)), 1)
            field = ([1] * rank, [1] * rank)
        size, jump = field
        rank = len(size)
        kernel, strides, dilation = (as_tuple(v, rank, n) for v, n in
                                     ((kernel, "kernel_size"), (strides, "strides"), (dilation, "dilation_rate")))
        for i in range(rank):
            size[i] += (kernel[i] - 1) * dilation[i] * jump[i]
            jump[i] *= strides[i]
    if field is None:
        raise ValueError("`layers` contains no convolution or pooling layer.")
    return ReceptiveField(*(tuple(v) for v in field))


_ACCEPTS = (
    "it takes a sequence, flax.linen.Sequential or flax.nnx.Sequential of jaxlayers conv and "
    "pooling layers (linen or NNX), grid-keeping layers (Dense, activations, padding, cropping), "
    "plain activation functions and (kernel_size, strides[, dilation_rate]) tuples"
)


def _layers_of(layers: Any) -> list[Any]:
    """The layers of a Sequential (linen or NNX) or a plain iterable."""
    inner = getattr(layers, "layers", None)
    if inner is not None:
        return list(inner)
    if _is_module(layers):
        if getattr(layers, "window_geometry", None) is not None or getattr(layers, "keeps_grid", False):
            return [layers]  # one jaxlayers layer
        raise TypeError(
            f"receptive_field cannot see the layers of {type(layers).__name__} (a module whose layers "
            f"are not known before it runs, e.g. @nn.compact): {_ACCEPTS}."
        )
    if not isinstance(layers, Iterable) or isinstance(layers, str):
        raise TypeError(f"receptive_field got {layers!r}: {_ACCEPTS}.")
    return list(layers)


def _is_module(layer: Any) -> bool:
    """A linen or NNX module (NNX is not imported for this)."""
    nnx = sys.modules.get("flax.nnx")
    return isinstance(layer, nn.Module) or (nnx is not None and isinstance(layer, nnx.Module))


def _window_geometry(layer: Any) -> tuple[Any, Any, Any] | None:
    """(kernel, strides, dilation) of a window layer; None for grid-keeping layers."""
    if isinstance(layer, tuple):
        if len(layer) not in (2, 3):
            raise ValueError(f"layer tuples must be (kernel_size, strides[, dilation_rate]), got {layer!r}.")
        return layer[0], layer[1], layer[2] if len(layer) == 3 else 1
    describe = getattr(layer, "window_geometry", None)
    if describe is not None:
        rank = getattr(layer, "rank", None)
        return describe() if rank is None else tuple(as_tuple(v, rank, n) for v, n in
                                                     zip(describe(), ("kernel_size", "strides", "dilation_rate")))
    if getattr(layer, "keeps_grid", False) or (callable(layer) and not _is_module(layer)):
        return None  # grid-keeping layers and plain activation functions
    raise TypeError(
        f"receptive_field cannot follow {type(layer).__name__} (no finite receptive field here): {_ACCEPTS}."
    )
