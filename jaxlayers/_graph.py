"""What the linen and NNX `Graph` modules share: checking the wiring and running it.

Tensors are numbered: `0 .. num_inputs - 1` are the graph's inputs and `num_inputs + i`
is the output of layer `i`. Each layer takes one tensor (an int) or a list of them (a
tuple of ints, as merge layers take) and may only take inputs or earlier layers' outputs.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

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


def mode_kwargs(layer: Callable, training: bool | None) -> dict[str, bool]:
    """What `training` means to `layer`: `deterministic` (Dropout), `use_running_average` (BatchNormalization)."""
    if training is None:
        return {}
    try:
        params = inspect.signature(layer).parameters
    except (TypeError, ValueError):
        return {}
    flags = {"deterministic": not training, "use_running_average": not training}
    return {name: value for name, value in flags.items() if name in params}


def run_graph(layers: Sequence[Callable], edges: tuple[Wire, ...], outputs: Wire, inputs: Sequence[Any],
              training: bool | None) -> Any:
    """Call the layers in order on their inputs; the output tensor, or a tuple for several."""
    tensors = list(inputs)
    for layer, edge in zip(layers, edges):
        arg = tensors[edge] if isinstance(edge, int) else [tensors[j] for j in edge]
        tensors.append(layer(arg, **mode_kwargs(layer, training)))
    return tensors[outputs] if isinstance(outputs, int) else tuple(tensors[j] for j in outputs)
