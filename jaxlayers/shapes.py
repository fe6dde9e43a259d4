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
from jaxlayers._graph import check_graph
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

    Layers that keep the grid pass through: Dense on the channel axis, activations,
    Dropout, padding, cropping, BatchNormalization (elementwise at inference, on any
    axis) and LayerNormalization over the channel axis alone (one over spatial axes
    makes every output depend on all the cells along them, and is refused). Nested
    Sequentials are followed, and so is a `Graph` that is a chain (one input, each
    layer on the previous one's output, the last one's returned).

    Args:
        layers: a sequence, `flax.linen.Sequential` or `flax.nnx.Sequential` (nested
            ones too) of `jaxlayers.linen` / `jaxlayers.nnx` modules, plain activation
            functions (skipped), or `(kernel_size, strides[, dilation_rate])` tuples;
            or a chain `jaxlayers.linen.Graph` / `jaxlayers.nnx.Graph`.

    Returns:
        The field's `size` and `jump` per spatial axis.

    Raises:
        TypeError: layers with no finite field here (flatten, global pooling,
            upsampling, transposed conv, LayerNormalization over spatial axes), a `Graph`
            with branches or merges, and modules whose layers are not known before
            they run (`@nn.compact`).
        ValueError: no conv or pooling layer, or a malformed tuple.
    """
    stack = _layers_of(layers)
    geometries = [g for g in map(_window_geometry, stack) if g is not None]
    if not geometries:
        raise ValueError("`layers` contains no convolution or pooling layer.")
    rank = next((len(v) for v in geometries[0] if not isinstance(v, int)), 1)
    for layer in stack:
        _check_keeps_grid(layer, rank)
    size, jump = [1] * rank, [1] * rank
    for geometry in geometries:
        kernel, strides, dilation = (as_tuple(v, rank, n) for v, n in
                                     zip(geometry, ("kernel_size", "strides", "dilation_rate")))
        for i in range(rank):
            size[i] += (kernel[i] - 1) * dilation[i] * jump[i]
            jump[i] *= strides[i]
    return ReceptiveField(tuple(size), tuple(jump))


_ACCEPTS = (
    "it takes a sequence, flax.linen.Sequential or flax.nnx.Sequential of jaxlayers conv and "
    "pooling layers (linen or NNX), grid-keeping layers (Dense, activations, Dropout, padding, "
    "cropping, BatchNormalization, channel-axis LayerNormalization), plain activation functions and "
    "(kernel_size, strides[, dilation_rate]) tuples, or a jaxlayers Graph that is a chain"
)


def _layers_of(layers: Any) -> list[Any]:
    """The layers in order, nested Sequentials (linen or NNX) and chain Graphs flattened."""
    if _is_graph(layers):
        inner = _chain(layers)
    elif _is_sequential(layers):
        inner = list(layers.layers)
    elif _is_module(layers):
        if getattr(layers, "window_geometry", None) is not None or getattr(layers, "keeps_grid", False):
            return [layers]  # one jaxlayers layer
        raise TypeError(
            f"receptive_field cannot see the layers of {type(layers).__name__} (a module whose layers "
            f"are not known before it runs, e.g. @nn.compact): {_ACCEPTS}."
        )
    elif isinstance(layers, Iterable) and not isinstance(layers, str):
        inner = list(layers)
    else:
        raise TypeError(f"receptive_field got {layers!r}: {_ACCEPTS}.")
    return [leaf for layer in inner
            for leaf in (_layers_of(layer) if _is_graph(layer) or _is_sequential(layer) else [layer])]


def _loaded(module: str, name: str) -> tuple[type, ...]:
    """`module.name` if that module is loaded (nothing is imported for this), else nothing."""
    loaded = sys.modules.get(module)
    return (getattr(loaded, name),) if loaded is not None else ()


def _is_module(layer: Any) -> bool:
    """A linen or NNX module."""
    return isinstance(layer, (nn.Module, *_loaded("flax.nnx", "Module")))


def _is_sequential(layer: Any) -> bool:
    return isinstance(layer, (nn.Sequential, *_loaded("flax.nnx", "Sequential")))


def _is_graph(layer: Any) -> bool:
    return isinstance(layer, (*_loaded("jaxlayers.linen.graph", "Graph"), *_loaded("jaxlayers.nnx.graph", "Graph")))


def _chain(graph: Any) -> list[Any]:
    """The layers of a Graph that is a chain; any other wiring is refused."""
    layers = list(graph.layers)
    edges, outputs = check_graph(len(layers), graph.edges, graph.outputs, graph.num_inputs)
    if graph.num_inputs != 1 or edges != tuple(range(len(layers))) or outputs != len(layers):
        raise TypeError(
            f"receptive_field follows a Graph only when it is a chain (one input, each layer on the previous "
            f"layer's output, the last layer's output returned); this one has num_inputs={graph.num_inputs}, "
            f"edges={edges}, outputs={outputs}. Where paths branch and merge, the union of their fields depends on "
            f"how their padding aligns them, which is not computed here: pass the layers of one path as a list."
        )
    return layers


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


def _check_keeps_grid(layer: Any, rank: int) -> None:
    """Refuse a LayerNormalization whose axes are not just the channel axis of a `rank`-D grid."""
    normalized_axes = getattr(layer, "normalized_axes", None)
    if normalized_axes is None:
        return
    ndim = rank + 2
    axes = normalized_axes(ndim)
    if axes != (ndim - 1,):
        raise TypeError(
            f"receptive_field cannot follow {type(layer).__name__} with axis={layer.axis!r}: on a "
            f"{layout(rank)} input it normalises over axes {axes}, so every output depends on every input "
            f"cell along them; only a LayerNormalization over the channel axis alone (axis=-1) keeps the grid."
        )
