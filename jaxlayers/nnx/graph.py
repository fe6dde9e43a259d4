"""`Graph`: NNX layers wired as a directed acyclic graph (a Keras functional model) as one module."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flax import nnx

from jaxlayers import _builder
from jaxlayers._builder import Tensor
from jaxlayers._graph import check_graph, check_names, graph_inputs, run_graph


class Graph(nnx.Module):
    """The NNX twin of `jaxlayers.linen.Graph`: layers run in order on the inputs or earlier outputs.

    `graph(*inputs, training=None)`: `training=True`/`False` puts every jaxlayers layer it
    runs, at any depth (nested Graphs, `nnx.Sequential`, a user's module), in that mode
    (as a Keras model's `training=`); a layer's own call flag still wins. None leaves them
    to an enclosing Graph's mode, else their attributes (`model.train()`, `model.eval()`,
    `nnx.view`). Returns the output
    tensor, or a tuple for several outputs.
    A Graph has no `dtype` of its own (a Keras functional model does not cast its
    inputs either): its layers carry theirs.

    Args:
        layers: NNX modules (or functions), each after the layers it reads, kept in `layers`.
        edges: per layer, the tensor it takes (an int) or the list it takes (a tuple of
            ints): ids `0 .. num_inputs - 1` are the graph's inputs and `num_inputs + i`
            the output of `layers[i]`; `Item(id, k)` (`jaxlayers._graph`) is output `k` of a
            layer giving several, and a `Call(args, keywords, constants)` a call with several
            tensors or keywords, as `from_keras` makes them.
        outputs: the id (or a tuple of ids) returned; None (default): the last layer's.
        num_inputs: how many inputs the graph takes.
        names: the layers' names (e.g. Keras's layer names, for `summary` and `to_keras`),
            one distinct str per layer; None: `layers_<i>`.

    Raises:
        ValueError, TypeError: wiring that names missing or later tensors.
    """

    def __init__(self, layers: Sequence[Callable[..., Any]], edges: Sequence[int | Sequence[int]],
                 outputs: int | Sequence[int] | None = None, num_inputs: int = 1,
                 names: Sequence[str] | None = None):
        self.edges, self.outputs = check_graph(len(layers), edges, outputs, num_inputs)
        self.num_inputs = num_inputs
        self.names = check_names(names, len(layers))
        self.layers = nnx.List(layers)

    def __call__(self, *inputs: Any, training: bool | None = None) -> Any:
        if _builder.is_symbolic(inputs):  # a Graph inside a Graph being written
            return _builder.record(self, inputs, {} if training is None else {"training": training})
        inputs = graph_inputs(inputs, self.num_inputs)
        return run_graph(list(self.layers), self.edges, self.outputs, inputs, training)


def Model(inputs: Tensor | Sequence[Tensor], outputs: Tensor | Sequence[Tensor]) -> Graph:  # noqa: N802
    """The NNX `Graph` of the layers called between `inputs` and `outputs`, as `keras.Model(inputs, outputs)`.

    E.g. `x = Input((32, 32, 8)); y = Conv2D(8, 8, 3, padding="same", rngs=rngs)(x);
    model = Model(x, Add()([x, y]))`. The layers are named as Keras names them (`conv2d`,
    `conv2d_1`, ...: `model.names`, `summary`'s rows). Each layer is called once (a
    Graph's layers are not shared); a Graph may be called on tensors as a layer.
    Layers are called as Keras calls them: on several tensors (`MultiHeadAttention(...)(q, v)`,
    also by name), with tensor keywords (`initial_state=[h, c]`) and constant ones
    (`use_causal_mask=True`), and a layer giving several outputs unpacks
    (`seq, h, c = LSTM(..., return_state=True)(x)`): `Call` and `Item` edges.

    Args:
        inputs: the `Input` tensor, or a list of them (the Graph's inputs, in order).
        outputs: a tensor, or a list of them (then the Graph returns a tuple).

    Returns:
        The `Graph`, called on arrays as `model(*arrays)`.

    Raises:
        TypeError, ValueError: inputs that are not `Input`s, outputs that need other
            inputs, a layer called twice.
    """
    w = _builder.wire(inputs, outputs)
    return Graph(w.layers, w.edges, w.outputs, w.num_inputs, w.names)
