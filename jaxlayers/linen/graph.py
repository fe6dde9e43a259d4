"""`Graph`: layers wired as a directed acyclic graph (a Keras functional model) as one Flax module."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn

from jaxlayers._graph import check_graph, run_graph


class Graph(nn.Module):
    """Layers run in order, each on the graph's inputs or earlier layers' outputs.

    E.g. a residual block on x:
    `Graph([Conv2D(8, 3, padding="same"), Conv2D(8, 3, padding="same"), Add()], edges=[0, 1, (0, 2)])`.

    `graph(*inputs, training=None)`: `training=True`/`False` reaches the layers as
    `deterministic=not training` (Dropout) and `use_running_average=not training`
    (BatchNormalization); None leaves them to their own attributes (inference by default).
    Returns the output tensor, or a tuple for several outputs.
    A Graph has no `dtype` of its own (a Keras functional model does not cast its
    inputs either): its layers carry theirs.

    Args:
        layers: modules (or functions), each after the layers it reads; named
            `layers_<i>` as in `nn.Sequential`.
        edges: per layer, the tensor it takes (an int) or the list it takes (a tuple of
            ints, as merge layers): ids `0 .. num_inputs - 1` are the graph's inputs and
            `num_inputs + i` the output of `layers[i]`.
        outputs: the id (or a tuple of ids) returned; None (default): the last layer's.
        num_inputs: how many inputs the graph takes.
    """

    layers: Sequence[Callable[..., Any]]
    edges: Sequence[int | Sequence[int]]
    outputs: int | Sequence[int] | None = None
    num_inputs: int = 1

    def __call__(self, *inputs: Any, training: bool | None = None) -> Any:
        edges, outputs = check_graph(len(self.layers), self.edges, self.outputs, self.num_inputs)
        if len(inputs) != self.num_inputs:
            raise ValueError(f"Graph takes {self.num_inputs} input(s) (`num_inputs`), got {len(inputs)}.")
        return run_graph(self.layers, edges, outputs, inputs, training)
