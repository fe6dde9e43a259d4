"""`Graph`: layers wired as a directed acyclic graph (a Keras functional model) as one Flax module."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn

from jaxlayers import _builder
from jaxlayers._builder import Tensor
from jaxlayers._graph import check_graph, check_names, graph_inputs, run_graph


class Graph(nn.Module):
    """Layers run in order, each on the graph's inputs or earlier layers' outputs.

    E.g. a residual block on x:
    `Graph([Conv2D(8, 3, padding="same"), Conv2D(8, 3, padding="same"), Add()], edges=[0, 1, (0, 2)])`.

    `graph(*inputs, training=None)`: `training=True`/`False` puts every jaxlayers layer it
    runs, at any depth (nested Graphs, `nn.Sequential`, a user's module), in that mode:
    Dropout drops, BatchNormalization uses and updates the batch's statistics (as a Keras
    model's `training=`); a layer's own call flag still wins. None leaves them to an
    enclosing Graph's mode, else their attributes (inference by default).
    Returns the output tensor, or a tuple for several outputs.
    A Graph has no `dtype` of its own (a Keras functional model does not cast its
    inputs either): its layers carry theirs.

    Args:
        layers: modules (or functions), each after the layers it reads; named
            `layers_<i>` as in `nn.Sequential`.
        edges: per layer, the tensor it takes (an int) or the list it takes (a tuple of
            ints, as merge layers): ids `0 .. num_inputs - 1` are the graph's inputs and
            `num_inputs + i` the output of `layers[i]`; `Item(id, k)` (`jaxlayers._graph`) is
            output `k` of a layer giving several, and a `Call(args, keywords, constants)` a
            call with several tensors or keywords, as `from_keras` makes them.
        outputs: the id (or a tuple of ids) returned; None (default): the last layer's.
        num_inputs: how many inputs the graph takes.
        names: the layers' names (their variables' keys, e.g. Keras's layer names), one
            distinct str per layer; None: `layers_<i>`.
    """

    layers: Sequence[Callable[..., Any]]
    edges: Sequence[int | Sequence[int]]
    outputs: int | Sequence[int] | None = None
    num_inputs: int = 1
    names: Sequence[str] | None = None

    def keys(self) -> list[str]:
        """The layers' names: the keys of their variables.

        Returns:
            `names`, or `layers_<i>`.
        """
        names = check_names(self.names, len(self.layers))
        return list(names) if names else [f"layers_{i}" for i in range(len(self.layers))]

    def __call__(self, *inputs: Any, training: bool | None = None) -> Any:
        if _builder.is_symbolic(inputs):  # a Graph inside a Graph being written
            return _builder.record(self, inputs, {} if training is None else {"training": training})
        return self._run(*inputs, training=training)

    @nn.compact
    def _run(self, *inputs: Any, training: bool | None = None) -> Any:
        edges, outputs = check_graph(len(self.layers), self.edges, self.outputs, self.num_inputs)
        inputs = graph_inputs(inputs, self.num_inputs)
        layers = self.layers
        if self.names is not None:  # each module under its name (the fields' copies stay unused)
            layers = [layer.clone(parent=self, name=key) if isinstance(layer, nn.Module) else layer
                      for layer, key in zip(layers, self.keys())]
        return run_graph(layers, edges, outputs, inputs, training)


def Model(inputs: Tensor | Sequence[Tensor], outputs: Tensor | Sequence[Tensor]) -> Graph:  # noqa: N802
    """The `Graph` of the layers called between `inputs` and `outputs`, as `keras.Model(inputs, outputs)`.

    E.g. a residual block:
    `x = Input((32, 32, 8)); y = Conv2D(8, 3, padding="same")(x); model = Model(x, Add()([x, y]))`.
    The layers are named as Keras names them (their own `name`, else `conv2d`, `conv2d_1`,
    ...), which are their variables' keys and `summary`'s rows. Each layer is called once
    (a Graph's layers are not shared); a Graph may be called on tensors as a layer.
    Layers are called as Keras calls them: on several tensors (`MultiHeadAttention(...)(q, v)`,
    also by name), with tensor keywords (`initial_state=[h, c]`) and constant ones
    (`use_causal_mask=True`), and a layer giving several outputs unpacks
    (`seq, h, c = LSTM(..., return_state=True)(x)`): `Call` and `Item` edges.

    Args:
        inputs: the `Input` tensor, or a list of them (the Graph's inputs, in order).
        outputs: a tensor, or a list of them (then the Graph returns a tuple).

    Returns:
        The `Graph`: `model.init(key, *arrays)`, `model.apply(variables, *arrays)`.

    Raises:
        TypeError, ValueError: inputs that are not `Input`s, outputs that need other
            inputs, a layer called twice.
    """
    w = _builder.wire(inputs, outputs)
    return Graph(w.layers, w.edges, w.outputs, w.num_inputs, w.names)
