"""`Graph`: NNX layers wired as a directed acyclic graph (a Keras functional model) as one module."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flax import nnx

from jaxlayers._graph import check_graph, run_graph


class Graph(nnx.Module):
    """The NNX twin of `jaxlayers.linen.Graph`: layers run in order on the inputs or earlier outputs.

    `graph(*inputs, training=None)`: `training=True`/`False` reaches the layers as
    `deterministic=not training` and `use_running_average=not training`; None leaves them
    to their attributes (`model.train()`, `model.eval()`, `nnx.view`). Returns the output
    tensor, or a tuple for several outputs.
    A Graph has no `dtype` of its own (a Keras functional model does not cast its
    inputs either): its layers carry theirs.

    Args:
        layers: NNX modules (or functions), each after the layers it reads, kept in `layers`.
        edges: per layer, the tensor it takes (an int) or the list it takes (a tuple of
            ints): ids `0 .. num_inputs - 1` are the graph's inputs and `num_inputs + i`
            the output of `layers[i]`.
        outputs: the id (or a tuple of ids) returned; None (default): the last layer's.
        num_inputs: how many inputs the graph takes.

    Raises:
        ValueError, TypeError: wiring that names missing or later tensors.
    """

    def __init__(self, layers: Sequence[Callable[..., Any]], edges: Sequence[int | Sequence[int]],
                 outputs: int | Sequence[int] | None = None, num_inputs: int = 1):
        self.edges, self.outputs = check_graph(len(layers), edges, outputs, num_inputs)
        self.num_inputs = num_inputs
        self.layers = nnx.List(layers)

    def __call__(self, *inputs: Any, training: bool | None = None) -> Any:
        if len(inputs) != self.num_inputs:
            raise ValueError(f"Graph takes {self.num_inputs} input(s) (`num_inputs`), got {len(inputs)}.")
        return run_graph(list(self.layers), self.edges, self.outputs, inputs, training)
