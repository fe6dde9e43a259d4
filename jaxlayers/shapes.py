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
from jaxlayers._graph import check_graph, tensor_ids
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
    """Receptive field of a stack or graph of conv and pooling layers.

    Layers that keep the grid pass through: Dense on the channel axis, activations,
    Dropout, padding, cropping, BatchNormalization (elementwise at inference, on any
    axis), elementwise merges, and LayerNormalization and Concatenate on the channel
    axis alone (one over spatial axes makes every output depend on all the cells along
    them, and is refused). Nested Sequentials and Graphs are followed; through a
    `Graph`'s branches and merges the field is the largest over the paths (size and
    jump, per axis), and over its outputs when it has several.

    Args:
        layers: a sequence, `flax.linen.Sequential` or `flax.nnx.Sequential` (nested
            ones too) of `jaxlayers.linen` / `jaxlayers.nnx` modules, plain activation
            functions (skipped), or `(kernel_size, strides[, dilation_rate])` tuples;
            or a `jaxlayers.linen.Graph` / `jaxlayers.nnx.Graph`.

    Returns:
        The field's `size` and `jump` per spatial axis.

    Raises:
        TypeError: layers with no finite field here (flatten, global pooling,
            upsampling, transposed conv, LayerNormalization over spatial axes), and
            modules whose layers are not known before they run (`@nn.compact`).
        ValueError: no conv or pooling layer, or a malformed tuple.
    """
    leaves = _leaves(layers)
    geometries = [g for g in map(_window_geometry, leaves) if g is not None]
    if not geometries:
        raise ValueError("`layers` contains no convolution or pooling layer.")
    rank = next((len(v) for v in geometries[0] if not isinstance(v, int)), 1)
    for layer in leaves:
        _check_keeps_grid(layer, rank)
    size, jump = _field(layers, ((1,) * rank, (1,) * rank), rank)
    return ReceptiveField(size, jump)


_ACCEPTS = (
    "it takes a sequence, flax.linen.Sequential or flax.nnx.Sequential of jaxlayers conv and "
    "pooling layers (linen or NNX), grid-keeping layers (Dense, activations, Dropout, padding, "
    "cropping, BatchNormalization, merges, channel-axis LayerNormalization), plain activation "
    "functions and (kernel_size, strides[, dilation_rate]) tuples, or a jaxlayers Graph"
)

Field = tuple[tuple[int, ...], tuple[int, ...]]


def _children(layers: Any) -> list[Any] | None:
    """The layers inside a Graph, Sequential or sequence; None for one layer."""
    if _is_graph(layers):
        return list(layers.layers)
    if _is_sequential(layers):
        return list(layers.layers)
    if isinstance(layers, _loaded("jaxlayers.layers.layer", "Layer")):
        return None  # one jaxlayers layer
    if _is_module(layers):
        raise TypeError(
            f"receptive_field cannot see the layers of {type(layers).__name__} (a module whose layers "
            f"are not known before it runs, e.g. @nn.compact): {_ACCEPTS}."
        )
    if _is_geometry(layers) or (callable(layers) and not isinstance(layers, Iterable)):
        return None
    if isinstance(layers, Iterable) and not isinstance(layers, str):
        return list(layers)
    raise TypeError(f"receptive_field got {layers!r}: {_ACCEPTS}.")


def _is_geometry(layer: Any) -> bool:
    """A `(kernel_size, strides[, dilation_rate])` tuple: ints or tuples of ints."""
    return isinstance(layer, tuple) and all(
        isinstance(v, int) or (isinstance(v, tuple) and all(isinstance(i, int) for i in v)) for v in layer)


def _leaves(layers: Any) -> list[Any]:
    """Every layer, nested Sequentials and Graphs (all their layers, whatever the wiring) flattened."""
    children = _children(layers)
    return [layers] if children is None else [leaf for child in children for leaf in _leaves(child)]


def _field(layers: Any, field: Field, rank: int) -> Field:
    """The field after `layers`, of their input's `field`."""
    if _is_graph(layers):
        return _graph_field(layers, field, rank)
    children = _children(layers)
    if children is not None:
        for child in children:
            field = _field(child, field, rank)
        return field
    geometry = _window_geometry(layers)
    if geometry is None:
        return field
    kernel, strides, dilation = (as_tuple(v, rank, n) for v, n in
                                 zip(geometry, ("kernel_size", "strides", "dilation_rate")))
    size, jump = field
    return (tuple(s + (k - 1) * d * j for s, k, d, j in zip(size, kernel, dilation, jump)),
            tuple(j * t for j, t in zip(jump, strides)))


def _widest(fields: Sequence[Field]) -> Field:
    """The largest size and jump per axis over the paths that meet (the growth rule is monotone in both)."""
    return (tuple(map(max, *(f[0] for f in fields))) if len(fields) > 1 else fields[0][0],
            tuple(map(max, *(f[1] for f in fields))) if len(fields) > 1 else fields[0][1])


def _graph_field(graph: Any, field: Field, rank: int) -> Field:
    """A Graph's field: each tensor's is the widest over the paths that reach it."""
    layers = list(graph.layers)
    edges, outputs = check_graph(len(layers), graph.edges, graph.outputs, graph.num_inputs)
    fields = [field] * graph.num_inputs
    for layer, edge in zip(layers, edges):
        fields.append(_field(layer, _widest([fields[i] for i in tensor_ids(edge)]),
                             rank))
    return _widest([fields[i] for i in tensor_ids(outputs)])


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
    """Refuse a layer that mixes cells along a spatial axis (LayerNormalization, Concatenate on one)."""
    mixed_axes = getattr(layer, "mixed_axes", None)
    if mixed_axes is None:
        return
    ndim = rank + 2
    axes = mixed_axes(ndim)
    if not set(axes) <= {ndim - 1}:
        raise TypeError(
            f"receptive_field cannot follow {type(layer).__name__} with axis={layer.axis!r}: on a "
            f"{layout(rank)} input it mixes cells along axes {axes}, so every output depends on every input "
            f"cell along them; only a {type(layer).__name__} over the channel axis alone (axis=-1) keeps the grid."
        )
