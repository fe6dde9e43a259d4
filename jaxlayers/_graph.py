"""What the linen and NNX `Graph` modules share: checking the wiring and running it.

Tensors are numbered: `0 .. num_inputs - 1` are the graph's inputs and `num_inputs + i`
is the output of layer `i`. Each layer takes one tensor (an int) or a list of them (a
tuple of ints, as merge layers take) and may only take inputs or earlier layers' outputs.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from jaxlayers import _training
from jaxlayers._args import _is_int

Wire = int | tuple[int, ...]


def check_graph(num_layers: int, edges: Sequence[Any], outputs: Any, num_inputs: int) -> tuple[tuple[Wire, ...], Wire]:
    """`(edges, outputs)` as ints and tuples of ints, checked; outputs=None means the last layer's."""
    if not _is_int(num_inputs) or num_inputs < 1:
        raise ValueError(f"`num_inputs` must be an int >= 1, got {num_inputs!r}.")
    if isinstance(edges, str) or not isinstance(edges, Sequence) or len(edges) != num_layers:
        raise ValueError(f"`edges` must give one entry per layer ({num_layers}), got {edges!r}.")

    def wire(value: Any, available: int, what: str) -> Wire:
        ids = (value,) if _is_int(value) else value
        if isinstance(ids, str) or not isinstance(ids, Sequence) or not ids or not all(map(_is_int, ids)):
            raise TypeError(f"{what} must be a tensor id (int) or a non-empty tuple of them, got {value!r}.")
        if any(not 0 <= j < available for j in ids):
            raise ValueError(f"{what} must name tensors 0..{available - 1} (the {num_inputs} input(s), then "
                             f"earlier layers' outputs), got {value!r}.")
        return int(value) if _is_int(value) else tuple(int(j) for j in ids)

    edges = tuple(wire(e, num_inputs + i, f"`edges[{i}]`") for i, e in enumerate(edges))
    if outputs is None:
        if not num_layers:
            raise ValueError("`outputs` must be given for a graph without layers.")
        outputs = num_inputs + num_layers - 1
    return edges, wire(outputs, num_inputs + num_layers, "`outputs`")


def check_names(names: Any, num_layers: int) -> tuple[str, ...] | None:
    """A Graph's `names`: None, or one distinct non-empty str per layer (Keras's layer names)."""
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence) or len(names) != num_layers:
        raise ValueError(f"`names` must be None or give one name per layer ({num_layers}), got {names!r}.")
    if not all(isinstance(n, str) and n and "/" not in n for n in names) or len(set(names)) != len(names):
        raise ValueError(f"`names` must be distinct non-empty strs without '/', got {names!r}.")
    return tuple(names)


def graph_inputs(inputs: tuple[Any, ...], num_inputs: int) -> tuple[Any, ...]:
    """A Graph's call arguments as its inputs: `graph(a, b)`, or one list `graph([a, b])` as Keras calls a model."""
    if len(inputs) == 1 and num_inputs > 1 and isinstance(inputs[0], (list, tuple)):
        inputs = tuple(inputs[0])
    if len(inputs) != num_inputs:
        raise ValueError(f"Graph takes {num_inputs} input(s) (`num_inputs`), got {len(inputs)}.")
    return inputs


def run_graph(layers: Sequence[Callable], edges: tuple[Wire, ...], outputs: Wire, inputs: Sequence[Any],
              training: bool | None) -> Any:
    """Call the layers in order on their inputs, in `training` mode (None: each layer's own, or an
    enclosing Graph's); the output tensor, or a tuple for several.

    Masks flow as Keras's from the layers that make them (`compute_mask`: Embedding with
    `mask_zero`, Masking, recurrent layers with `return_sequences`) to the next layer, given
    as `mask=` to those that take one (`takes_mask`: the recurrent layers)."""
    tensors, masks = list(inputs), [None] * len(inputs)
    with _training.mode(training):
        for layer, edge in zip(layers, edges):
            x = tensors[edge] if isinstance(edge, int) else [tensors[j] for j in edge]
            mask = masks[edge] if isinstance(edge, int) else None
            use = mask is not None and getattr(layer, "takes_mask", False)
            tensors.append(layer(x, mask=mask) if use else layer(x))
            masks.append(layer.compute_mask(x, mask) if hasattr(layer, "compute_mask") else None)
    return tensors[outputs] if isinstance(outputs, int) else tuple(tensors[j] for j in outputs)
