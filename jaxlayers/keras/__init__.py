"""Convert Keras 3 models to jaxlayers models (linen or NNX) and back.

- `from_keras(model_or_path, api="linen") -> (module, variables)` (linen) or `module`
  (NNX, `api="nnx"`): a Keras `Sequential` or functional model (or a `.keras` file) as a
  `jaxlayers.linen.Graph` (or `jaxlayers.nnx.Graph`) of jaxlayers layers named as in
  Keras (`layer.name`), holding the Keras weights under Keras's names
  (`variables["params"]["conv2d"]["kernel"]`, `variables["batch_stats"][...]
  ["moving_mean"]`; NNX: `module.layers[i].kernel`). `module.apply(variables, x)` (NNX:
  `module(x)`) equals `model.predict(x)`; training mode is `module.apply(variables, x,
  training=True, rngs={"dropout": key}, mutable=["batch_stats"])` (NNX:
  `module(x, training=True)`).
- `to_keras(module, variables, input_shape) -> keras model`: the reverse, for a `Graph`
  (a functional `keras.Model`, or a `keras.Sequential` when the graph is a chain), a
  `nn.Sequential` / `nnx.Sequential` or list of layers, or one layer; NNX modules carry
  their own variables (`variables` may be None). The result can be saved as `.keras`.

What converts (channels-last only): every layer of `jaxlayers.linen` that Keras has,
under each of Keras's names for it (`SUPPORTED`), plus `InputLayer` (dropped); nested
models (`Sequential` or functional, as nested Graphs); and the elementwise `keras.ops`
arithmetic that appears on symbolic tensors (`x + 3.0`, `inputs * x`, `ops.maximum`, ...:
`jaxlayers.layers.core.arithmetic.OPS`) as `Arithmetic` layers. Graphs may have several
inputs and outputs; each layer is called once, as Keras calls it: on several tensors
(`MultiHeadAttention()(query, value, key)`, positional or keywords), with tensor keywords
(`attention_mask=`, `initial_state=[h, c]`) and constant ones (`use_causal_mask=True`,
`return_attention_scores=True`) as a `jaxlayers._graph.Call` edge, its outputs read one by
one (`return_state`, the scores) as `Item`s; `training=False` is dropped and
`training=True` refused (Keras replays it only under a model called with training=None).
Keras's masks are not keywords: they flow through the Graph (into attention layers too,
as Keras's `query_mask`/`value_mask`/`key_mask` or `mask=[query_mask, value_mask]`). Shared layers, other operations,
subclassed models and any other layer are refused with a `ValueError` naming them. A
Keras argument jaxlayers lacks must have its default (e.g. `renorm=False`); regularizers
and constraints only matter to Keras's training and are not carried over. A layer's
dtype policy becomes the module's `dtype` (compute) and, for layers with weights,
`param_dtype` (variables), and back; float32 (Keras's default) is left as `dtype=None`,
which computes in the input's dtype.

Keras is an optional dependency: it is imported only when these functions run (with
`KERAS_BACKEND` defaulting to "jax"), so `import jaxlayers.keras` does not import it.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxlayers import linen as L
from jaxlayers._graph import Call, Item, Wire, as_call, check_graph, pick
from jaxlayers._graph import records_mask as _records_mask
from jaxlayers._graph import tensor_ids as _tensor_ids
from jaxlayers.keras import _convert
from jaxlayers.keras._calls import KerasCall as _Call
from jaxlayers.keras._calls import keras_mask as _keras_mask
from jaxlayers.keras._calls import layer_call as _layer_call
from jaxlayers.keras._calls import ref_of as _ref_of
from jaxlayers.keras._calls import training_keyword as _training_keyword
from jaxlayers.layers.core.arithmetic import OPS, Arithmetic

__all__ = ["from_keras", "supported", "to_keras"]

_COLLECTIONS = ("params", "batch_stats")
# keras.ops operation classes -> their function name, for the arithmetic that converts.
_KERAS_OPS = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Divide": "divide",
              "TrueDivide": "true_divide", "Power": "power", "Maximum": "maximum", "Minimum": "minimum",
              "Negative": "negative", "Absolute": "absolute", "Square": "square", "Sqrt": "sqrt"}


def supported() -> tuple[str, ...]:
    """The Keras layer classes `from_keras` converts (with `InputLayer`), by Keras's names.

    Returns:
        The class names, sorted.
    """
    return ("InputLayer", *sorted(_convert.by_keras_name()))


# ---------------------------------------------------------------------------- Keras -> jax


def from_keras(model_or_path: Any, *, api: str = "linen", axis_name: Hashable | None = None) -> Any:
    """A Keras 3 model (or `.keras` path) as a jaxlayers Graph with its weights.

    Weights and moving statistics are copied; the module's outputs equal Keras's
    `model.predict` and `jaxlayers.summary` gives the rows of `model.summary()`.

    Args:
        model_or_path: a built `keras.Sequential` or functional `keras.Model`, or the path
            of a `.keras` file: a directed acyclic graph of supported layers (`supported()`),
            nested models and `keras.ops` arithmetic, each layer called once.
        api: "linen" (a `jaxlayers.linen.Graph` and its variables) or "nnx" (a
            `jaxlayers.nnx.Graph` holding them).
        axis_name: the mapped axis (`shard_map`, `pmap`) over which every
            BatchNormalization averages its batch's statistics in training, as Flax's
            `BatchNorm(axis_name=)` and Keras's `synchronized=True` (which Keras has only on
            TensorFlow); None: each device's own batch.

    Returns:
        linen: `(module, variables)`, `variables` as `{"params": ..., "batch_stats": ...}`
        (the latter with BatchNormalization) for `module.apply(variables, x)`. NNX: the
        module.

    Raises:
        ValueError: an unsupported or shared layer or operation, a subclassed model, an
            unbuilt model or an unknown `api`, named.
        TypeError: not a Keras model or a path.
        ImportError: Keras 3 is not installed.
    """
    if api not in ("linen", "nnx"):
        raise ValueError(f"`api` must be 'linen' or 'nnx', got {api!r}.")
    keras = _convert.keras_module()
    model = model_or_path
    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(model, compile=False)
    calls, outputs, num_inputs = _walk(model, keras)
    if api == "nnx":
        return _nnx_graph(model, calls, outputs, num_inputs, keras, axis_name)
    module, variables = _linen_graph(model, calls, outputs, num_inputs, keras, axis_name)
    return module, {c: tree for c, tree in variables.items() if tree or c == "params"}


def _walk(model: Any, keras: Any) -> tuple[list[_Call], Wire, int]:
    """The model's calls in order, the output ids, the input count (ids: inputs, then calls' outputs)."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"from_keras expects a keras.Model or a .keras path, got {type(model).__name__}.")
    seen: set[int] = set()

    def kind_of(operation: Any) -> str:
        if isinstance(operation, keras.Model):
            return "model"
        return "layer" if isinstance(operation, keras.layers.Layer) else "op"

    def check_once(operation: Any) -> None:
        if id(operation) in seen:
            raise ValueError(f"Keras model {model.name!r} calls {operation.name!r} ({type(operation).__name__}) more "
                             "than once (shared weights); each layer must be called once.")
        seen.add(id(operation))

    if isinstance(model, keras.Sequential):
        calls = []
        for i, layer in enumerate(model.layers):
            if not layer.built:
                raise ValueError(f"Keras model {model.name!r} is not built (layer {layer.name!r} has no weights yet): "
                                 "give it a `keras.Input` or call it once first.")
            check_once(layer)
            node = layer._inbound_nodes[0] if layer._inbound_nodes else None  # its tensor, not the mask Keras adds
            calls.append(_Call(layer, kind_of(layer), i, node.arguments.args[0] if node else layer.input, layer.name))
        if not calls:
            raise ValueError(f"Keras model {model.name!r} has no layers to convert.")
        _check_masks(model, calls, 1)
        return calls, len(calls), 1
    if not hasattr(model, "_nodes_by_depth") or not model.inputs:
        raise ValueError(f"Keras model {model.name!r} of class {type(model).__name__} is subclassed; only "
                         "Sequential and functional models can be converted.")
    ids = {id(t): k for k, t in enumerate(model.inputs)}
    position = {id(op): k for k, op in enumerate(model.operations)}
    nodes = [node for depth in sorted(model._nodes_by_depth, reverse=True)
             for node in sorted(model._nodes_by_depth[depth], key=lambda n: position.get(id(n.operation), -1))]
    needed = _needed_nodes(model, keras)
    calls: list[_Call] = []
    for node in nodes:
        if id(node) not in needed:  # e.g. the ops computing a mask (Embedding's `not_equal`): Keras's own
            continue
        operation = node.operation
        if isinstance(operation, keras.layers.InputLayer):
            continue
        what = f"Keras model {model.name!r}: {operation.name!r} ({type(operation).__name__})"
        check_once(operation)
        kind = kind_of(operation)
        args = node.arguments.args
        if len(node.output_tensors) != 1 and kind != "layer":
            raise ValueError(f"{what} gives {len(node.output_tensors)} outputs; only one is supported.")
        if kind == "op":
            edge, operands = _operation(operation, args, node.arguments.kwargs, ids, what, keras)
            calls.append(_Call(operation, kind, edge, None, operation.name, operands))
        elif kind == "model":
            if len(args) != 1 or any(k not in ("training", "mask") for k in node.arguments.kwargs):
                raise ValueError(f"{what}, a nested model, is called with {len(args)} positional arguments and "
                                 f"keywords {sorted(node.arguments.kwargs)}; only one tensor (or a list of them) "
                                 "is supported.")
            _training_keyword(node.arguments.kwargs.get("training"), operation.call, what)
            calls.append(_Call(operation, kind, _ref_of(args[0], ids), args[0], operation.name))
        else:
            calls.append(_layer_call(operation, node, ids, what, keras))
        tensor = len(model.inputs) + len(calls) - 1
        outs = node.output_tensors
        ids.update({id(t): Item(tensor, k) for k, t in enumerate(outs)} if len(outs) > 1 else {id(outs[0]): tensor})
    if not calls:
        raise ValueError(f"Keras model {model.name!r} has no layers to convert.")
    _check_masks(model, calls, len(model.inputs))
    outputs = tuple(ids[id(t)] for t in model.outputs)
    return calls, outputs[0] if len(outputs) == 1 else outputs, len(model.inputs)


def _needed_nodes(model: Any, keras: Any) -> set[int]:
    """The ids of the nodes the model's outputs are computed from through the tensors layers are
    called on (positional and keyword; not `mask=`: masks are Keras's own, computed again)."""
    needed: set[int] = set()
    stack = list(model.outputs)
    while stack:
        tensor = stack.pop()
        operation, index, _ = tensor._keras_history
        node = operation._inbound_nodes[index]
        if id(node) not in needed:
            needed.add(id(node))
            given = (node.arguments.args, {k: v for k, v in node.arguments.kwargs.items() if k != "mask"})
            stack.extend(t for t in keras.tree.flatten(given) if isinstance(t, keras.KerasTensor))
    return needed


# Keras layers whose call reads its operands' masks off them (not given as `mask=`)
_OFF_TENSOR = frozenset({"Maximum", "Minimum", "Multiply"})
# Keras layers whose call gives back its input itself (at inference): one array, one mask attribute
_PASSTHROUGH = frozenset({"Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                          "GaussianNoise", "AlphaDropout", "Identity", "ActivityRegularization"})


def _check_masks(model: Any, calls: list[_Call], num_inputs: int) -> None:
    """Refuse a model whose Keras masks would not reach the same layers in the Graph.

    Keras attaches masks to tensors (Embedding(mask_zero=True), Masking) and passes them
    on through the layers that support masking; a jaxlayers Graph does the same by the
    layers' `compute_mask`. Every layer whose Keras call reads a mask (its `mask` argument;
    `Maximum`/`Minimum`/`Multiply`, which mask their operands) must take one in jaxlayers and get a
    mask exactly where Keras's gets one; a layer taking its arguments' masks
    (`argument_masks`: MultiHeadAttention's query, value and key) must get them on the
    same arguments; a nested model may not get one. At run time Keras's layers read the
    masks on the tensors, which MultiHeadAttention clears off its arguments when it runs,
    but for a call on one tensor and nothing else, which reads the mask its model recorded;
    a Graph does the same (`run_graph`), in its layers' order: a mask whose clearing Keras's
    order may put either side of its reading, or that Keras and the Graph read the two ways
    round after a clearing, is refused.
    """
    import inspect

    keras = _convert.keras_module()

    def keras_mask(tensor: Any) -> bool:
        return _keras_mask(tensor, keras) is not None

    def refuse(call: _Call, why: str) -> ValueError:
        return ValueError(f"Keras model {model.name!r}: {call.name!r} ({type(call.operation).__name__}) {why}")

    def is_mha(call: _Call) -> bool:
        return call.kind == "layer" and isinstance(call.operation, keras.layers.MultiHeadAttention)

    def passes_through(call: _Call) -> bool:  # Keras's call returns its input itself (at inference)
        name = type(call.operation).__name__
        return call.kind == "layer" and (name in _PASSTHROUGH or name == "Activation" and call.operation.get_config()[
            "activation"] == "linear") and isinstance(as_call(call.edge).args[0], int)

    # Keras also keeps each mask on its tensor at run time, which every layer reads but one whose node recorded
    # the mask it got (a call on one tensor and nothing else), and which every layer not given `mask=` passes its
    # own on from. MultiHeadAttention clears its arguments' masks off their arrays when it runs (a layer
    # returning its input passes on the array itself); a Graph off its arguments alone, in its layers' order
    # (`run_graph`). A mask read off a tensor is the Graph's as Keras's if every clearing that reached it ran
    # before in both orders and cleared this very tensor, or after in both (the clearing reads what this gives).
    array = list(range(num_inputs))  # tensor -> its array in Keras
    readers: dict[int, set[int]] = {}  # array -> the MultiHeadAttention calls clearing its mask
    cleared: dict[int, set[int]] = {}  # tensor -> the MultiHeadAttention calls given it
    with_mha = any(map(is_mha, calls))
    upstream: list[set[int]] = [set() for _ in range(num_inputs)]  # tensor -> the calls it comes from
    before: list[set[int]] = []  # call -> the calls before it
    for k, call in enumerate(calls):
        before.append(set().union(*(upstream[t] for t in _tensor_ids(call.edge))) if with_mha else set())
        upstream.append(before[-1] | {k} if with_mha else set())
        array.append(array[as_call(call.edge).args[0]] if passes_through(call) else num_inputs + k)
        if is_mha(call):
            for t in _tensor_ids(Call(as_call(call.edge).args)):
                readers.setdefault(array[t], set()).add(k)
                cleared.setdefault(t, set()).add(k)
    ours: list[Any] = [None] * num_inputs  # our mask of each tensor (a shape struct), or None
    # tensor -> the clearings its mask on it may or may not have had (doubt), or had at all (hit)
    doubt: list[set[int]] = [set() for _ in range(num_inputs)]
    hit: list[set[int]] = [set() for _ in range(num_inputs)]

    def reaching(t: int, k: int) -> set[int]:
        """The clearings of tensor t's array that may run before call k."""
        return {m for m in readers.get(array[t], ()) if m != k and k not in upstream[num_inputs + m]}

    def uncertain(t: int, k: int) -> set[int]:
        """The clearings that may, or may not, have cleared tensor t's mask on it when call k reads it."""
        return doubt[t] | {m for m in reaching(t, k) if not (m in before[k] and m in cleared.get(t, ()))}

    def check_read(call: _Call, k: int, tensors: Sequence[int], both_on_tensor: bool) -> None:
        """Refuse if the masks call k reads off these (masked) tensors may not be the Graph's: reading them off
        the tensors on both sides, a clearing Keras's order may run either side of; else, any clearing at all."""
        unsure = set().union(*((uncertain(t, k) if both_on_tensor else hit[t] | reaching(t, k)) for t in tensors))
        if unsure:
            raise refuse(call, f"reads a mask that {calls[min(unsure)].name!r} (MultiHeadAttention) clears off its "
                               "arguments when it runs, where Keras's order (or one array being two tensors) decides "
                               "whether it has by then, or reads the mask its model recorded where jaxlayers reads "
                               "the one on the tensor (or the other way round); jaxlayers follows neither.")

    for k, call in enumerate(calls):
        whole = as_call(call.edge)
        edge = whole.args[0] if isinstance(whole.args[0], tuple) else (whole.args[0],)
        layer = call.operation if call.kind == "layer" else None
        definition = None if layer is None else _convert.by_keras_name().get(type(layer).__name__)
        mine = [pick(ours, j) is not None for j in edge]
        first = [r.tensor if isinstance(r, Item) else r for r in edge]
        masked_first = [t for t, masked in zip(first, mine) if masked]
        if definition is not None and definition.argument_masks:  # each argument's, off the tensors
            check_read(call, k, [a.tensor if isinstance(a, Item) else a for a in whole.args
                                 if not isinstance(a, tuple) and pick(ours, a) is not None], True)
        elif definition is not None and definition.takes_mask and masked_first:  # `mask=` (a merge's: its operands')
            ours_recorded = _records_mask(call.edge)
            if ours_recorded != call.recorded_mask or not ours_recorded:
                check_read(call, k, masked_first, not ours_recorded and not call.recorded_mask)
        parameters = inspect.signature(layer.call).parameters if layer is not None else {}
        single = len(whole.args) + len(whole.keywords) == 1  # Keras gives `mask=` to one tensor argument only
        if definition is not None and definition.argument_masks:
            theirs = [keras_mask(t) if not isinstance(t, (list, tuple)) else any(map(keras_mask, t))
                      for t in call.positional]
            if theirs != [pick(ours, a) is not None for a in whole.args]:
                raise refuse(call, "gets the masks of its arguments (query, value, key) from Embedding(mask_zero="
                                   "True) or Masking other than Keras does, which jaxlayers does not carry.")
        else:
            others = [r for a in (*whole.args[1:], *(v for _, v in whole.keywords))
                      for r in (a if isinstance(a, tuple) else (a,))]
            if any(map(keras_mask, call.extra)) or any(pick(ours, r) is not None for r in others):
                raise refuse(call, "is called with a masked tensor besides its first argument (a value, key or "
                                   "state), which jaxlayers does not carry masks to.")
            theirs = [keras_mask(t) for t in (call.inputs if isinstance(call.inputs, (list, tuple))
                                              else [call.inputs])] if call.kind != "op" else [False] * len(edge)
            reads = single and layer is not None and ("mask" in parameters or type(layer).__name__ in _OFF_TENSOR)
            takes = single and definition is not None and definition.takes_mask
            consumes = reads and any(theirs) or takes and any(mine)
            if call.kind == "model" and any(theirs) or consumes and not (takes and reads and mine == theirs):
                raise refuse(call, "takes the mask of an Embedding(mask_zero=True) or Masking, which jaxlayers does "
                                   "not carry to it as Keras does (masks reach the recurrent layers, "
                                   "GlobalAveragePooling1D, Softmax and the attention layers, through layers that "
                                   "support masking and merges, not into nested models).")
        makes = definition is not None and definition.compute_mask is not _convert.definitions.Layer.compute_mask
        if definition is None or not (makes or any(mine)):  # no mask in, none made
            ours.append(None)
        else:
            kwargs = _convert.from_layer(layer, keras, f"Keras model {model.name!r}: {call.name!r}", None)[1]
            masks = pick(ours, edge[0]) if len(edge) == 1 else [pick(ours, j) for j in edge]
            ours.append(jax.eval_shape(L.face(definition)(**kwargs).compute_mask, _shapes(call.inputs), masks))
        # a layer given the mask its node recorded passes that on; any other the one on its input
        if ours[-1] is not None and not call.recorded_mask:
            doubt.append(set().union(*(uncertain(t, k) for t in first)))
            hit.append(set().union(*(hit[t] | reaching(t, k) for t in first)))
        else:
            doubt.append(set())
            hit.append(set())


def _operation(operation: Any, args: Sequence[Any], kwargs: Mapping[str, Any], ids: Mapping[int, int], what: str,
               keras: Any) -> tuple[Wire, tuple]:
    """A keras.ops node's tensor ids and constants, for `Arithmetic`."""
    op = _KERAS_OPS.get(type(operation).__name__)
    if op is None or kwargs or len(args) != OPS[op]:
        raise _convert.unsupported(f"{what}, an operation (keras.ops on symbolic tensors),", type(operation).__name__,
                                   "; only elementwise arithmetic converts (or use the matching layer, e.g. "
                                   "keras.layers.Add)")
    tensors, operands = [], []
    for arg in args:
        if isinstance(arg, keras.KerasTensor):
            tensors.append(ids[id(arg)])
            operands.append(None)
        elif isinstance(arg, (int, float, np.number)) and not isinstance(arg, bool):
            operands.append(float(arg) if isinstance(arg, (float, np.floating)) else int(arg))
        else:
            raise _convert.unsupported(f"{what}, an operation on {type(arg).__name__} {arg!r},",
                                       type(operation).__name__, "; only tensors and Python numbers convert")
    return tuple(tensors), tuple(operands)


def _shapes(inputs: Any) -> Any:
    """Shape structs (batch 1) of a call's Keras input tensors (a list for merges)."""
    if isinstance(inputs, (list, tuple)):
        return [_shapes(t) for t in inputs]
    return jax.ShapeDtypeStruct(tuple(1 if d is None else d for d in inputs.shape), jnp.dtype(inputs.dtype))


def _layer(call: _Call, keras: Any, axis_name: Any, model: Any) -> tuple[type, dict[str, Any], dict, dict]:
    """(definition, kwargs, sizes, weights by collection) of a layer or operation call."""
    if call.kind == "op":
        return Arithmetic, {"op": _KERAS_OPS[type(call.operation).__name__], "operands": call.operands}, {}, {}
    what = f"Keras model {model.name!r}: {call.name!r}"
    definition, kwargs = _convert.from_layer(call.operation, keras, what, axis_name)
    sizes = _convert.sizes_of(definition, kwargs, tuple(_shapes(a) for a in call.positional))
    return definition, kwargs, sizes, _convert.weights_of(call.operation, definition, kwargs, sizes,
                                                          f"{what} of class {type(call.operation).__name__}")


def _linen_graph(model: Any, calls: list[_Call], outputs: Wire, num_inputs: int, keras: Any,
                 axis_name: Any) -> tuple[L.Graph, dict[str, Any]]:
    modules, variables = [], {c: {} for c in _COLLECTIONS}
    for call in calls:
        if call.kind == "model":
            module, weights = _linen_graph(call.operation, *_walk(call.operation, keras), keras, axis_name)
        else:
            definition, kwargs, _, weights = _layer(call, keras, axis_name, model)
            module = L.face(definition)(**kwargs)
        modules.append(module)
        for collection, tree in weights.items():
            if tree:
                variables.setdefault(collection, {})[call.name] = tree
    if outputs == num_inputs + len(calls) - 1:
        outputs = None  # the default: the last layer's output
    return L.Graph(tuple(modules), tuple(c.edge for c in calls), outputs, num_inputs,
                   names=tuple(c.name for c in calls)), variables


def _nnx_graph(model: Any, calls: list[_Call], outputs: Wire, num_inputs: int, keras: Any, axis_name: Any) -> Any:
    from flax import nnx

    from jaxlayers import nnx as J

    modules = []
    for call in calls:
        if call.kind == "model":
            modules.append(_nnx_graph(call.operation, *_walk(call.operation, keras), keras, axis_name))
            continue
        definition, kwargs, sizes, weights = _layer(call, keras, axis_name, model)
        cls = J.face(definition)
        args = {**{n: sizes[n] for n in definition.input_sizes}, **kwargs}
        if issubclass(definition, _convert.definitions.WeightedLayer):
            module = nnx.eval_shape(lambda cls=cls, args=args: cls(**args, rngs=nnx.Rngs(0)))  # no random inits
            for tree in weights.values():
                for name, value in tree.items():
                    getattr(module, name).set_value(value)
        else:
            module = cls(**args, **({"rngs": nnx.Rngs(0)} if definition.stochastic and kwargs.get("seed") is None
                                    else {}))
        modules.append(module)
    if outputs == num_inputs + len(calls) - 1:
        outputs = None
    return J.Graph(modules, tuple(c.edge for c in calls), outputs, num_inputs, names=tuple(c.name for c in calls))


# ---------------------------------------------------------------------------- jax -> Keras


def _is_nnx(module: Any) -> bool:
    nnx = sys.modules.get("flax.nnx")
    return nnx is not None and isinstance(module, nnx.Module)


def to_keras(module: Any, variables: Any = None, input_shape: Sequence[Any] | None = None, *,
             name: str | None = None) -> Any:
    """A Keras model equal to jaxlayers layers, with their weights and moving statistics.

    Args:
        module: a `jaxlayers.linen.Graph` or `jaxlayers.nnx.Graph` (a functional
            `keras.Model`; a `keras.Sequential` when it is a chain; nested Graphs become
            nested models), a `flax.linen.Sequential` or `flax.nnx.Sequential` (nested ones
            are flattened), a list of layers and activation functions, or one layer.
        variables: linen: what `module.init` gave (`params`, and `batch_stats` with
            BatchNormalization; for a list, laid out as for `nn.Sequential`:
            `{"params": {"layers_<i>": ...}}`). NNX: None (the module's own), or an
            `nnx.State` of it to use instead.
        input_shape: (batch, *features) with the batch (None or an int) dropped in
            Keras's `Input`; one per input for a `Graph` with several.
        name: the Keras model's name (None: Keras's default).

    Returns:
        A `keras.Sequential` or functional `keras.Model` with the weights set; it can be
        saved as `.keras`.

    Raises:
        ValueError: layers without a Keras equivalent (e.g. `MaxPoolingWithIndices`,
            bed-of-nails upsampling, explicit integer padding), variables that do not
            match the layers, or no `input_shape`.
        TypeError: linen `variables` that are not a mapping, or a layer that is neither a
            module nor a function.
        ImportError: Keras 3 is not installed.
    """
    keras = _convert.keras_module()
    if input_shape is None:
        raise ValueError("`input_shape` must be given: (batch, *features), one per input of a Graph with several.")
    if _is_nnx(module):
        from flax import nnx

        if variables is not None:
            if not isinstance(variables, nnx.State):
                raise TypeError(f"`variables` of an NNX module must be None or an nnx.State of it, got "
                                f"{type(variables).__name__}.")
            module = nnx.merge(nnx.graphdef(module), variables)
        plan = _nnx_plan(module)
    else:
        if not isinstance(variables, Mapping):
            raise TypeError(f"`variables` must be a mapping like {{'params': ...}}, got {type(variables).__name__}.")
        extra = [k for k in variables if k not in _COLLECTIONS]
        if extra:
            raise ValueError(f"to_keras carries {list(_COLLECTIONS)}; the variables also hold {extra}.")
        plan = _linen_plan(module, {c: variables.get(c, {}) for c in _COLLECTIONS})
    num_inputs = plan[3]
    shapes = [tuple(s) for s in input_shape] if num_inputs > 1 else [tuple(input_shape)]
    if len(shapes) != num_inputs or not all(shapes):
        raise ValueError(f"`input_shape` must give one shape per graph input ({num_inputs}), got {input_shape!r}.")
    return _keras_model(plan, shapes, keras, name)


# A plan: (layers, edges, outputs, num_inputs, names), each layer (module, variables or None, sub-plan or None).
_Plan = tuple[list[tuple[Any, Any, Any]], tuple[Wire, ...], Wire, int, Sequence[str | None]]


def _child(trees: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {c: tree.get(key, {}) for c, tree in trees.items()}


def _linen_plan(module: Any, trees: Mapping[str, Any]) -> _Plan:
    if isinstance(module, L.Graph):
        keys = module.keys()
        layers = [(layer, _child(trees, key), _linen_plan(layer, _child(trees, key)) if isinstance(layer, L.Graph)
                   else None) for layer, key in zip(module.layers, keys)]
        edges, outputs = check_graph(len(layers), module.edges, module.outputs, module.num_inputs)
        return layers, edges, outputs, module.num_inputs, keys if module.names else [None] * len(keys)

    def flatten(module: Any, trees: Mapping[str, Any]) -> list[tuple[Any, Any, Any]]:
        if isinstance(module, (nn.Sequential, list, tuple)):
            inner = module.layers if isinstance(module, nn.Sequential) else module
            return [leaf for i, layer in enumerate(inner) for leaf in flatten(layer, _child(trees, f"layers_{i}"))]
        return [(module, dict(trees), _linen_plan(module, trees) if isinstance(module, L.Graph) else None)]

    layers = flatten(module, trees)
    return layers, tuple(range(len(layers))), len(layers), 1, [None] * len(layers)


def _nnx_plan(module: Any) -> _Plan:
    from flax import nnx

    from jaxlayers import nnx as J

    if isinstance(module, J.Graph):
        layers = [(layer, None, _nnx_plan(layer) if isinstance(layer, J.Graph) else None) for layer in module.layers]
        names = list(module.names) if module.names else [None] * len(layers)
        return layers, module.edges, module.outputs, module.num_inputs, names

    def flatten(module: Any) -> list[Any]:
        if isinstance(module, (nnx.Sequential, list, tuple)):
            return [leaf for layer in (module.layers if isinstance(module, nnx.Sequential) else module)
                    for leaf in flatten(layer)]
        return [(module, None, _nnx_plan(module) if isinstance(module, J.Graph) else None)]

    layers = flatten(module)
    return layers, tuple(range(len(layers))), len(layers), 1, [None] * len(layers)


def _output_shape(layer: Any, variables: Any, args: Sequence[Any], keywords: Mapping[str, Any],
                  constants: Mapping[str, Any]) -> Any:
    """The output shape structs of a layer (linen, NNX or a function) called on shape structs."""
    if isinstance(layer, nn.Module):
        v = {c: t for c, t in variables.items() if t}
        return jax.eval_shape(lambda v, a, k: layer.apply(v, *a, **k, **constants), v, args, keywords)
    return jax.eval_shape(lambda a, k: layer(*a, **k, **constants), args, keywords)


def _keras_model(plan: _Plan, shapes: list[tuple], keras: Any, name: str | None) -> Any:
    layers, edges, outputs, num_inputs, names = plan
    tensors = [jax.ShapeDtypeStruct(tuple(1 if d is None else d for d in s), jnp.float32) for s in shapes]
    built = []
    for (layer, variables, sub), edge, key in zip(layers, edges, names):
        call = as_call(edge)
        args = [pick(tensors, a) for a in call.args]
        keywords = {k: pick(tensors, v) for k, v in call.keywords}
        x = args[0]
        first = x[0] if isinstance(x, list) else x
        if sub is not None:
            sub_shapes = [tuple(t.shape) for t in x] if sub[3] > 1 else [tuple(first.shape)]
            built.append(_keras_model(sub, [(None, *s[1:]) for s in sub_shapes], keras, key))
        elif isinstance(layer, Arithmetic):
            built.append(("op", layer))
        elif not isinstance(layer, _convert.definitions.Layer) and callable(layer) and not isinstance(
                layer, nn.Module) and not _is_nnx(layer):
            built.append(keras.layers.Activation(_convert.activation_for_keras(layer, f"function {layer!r}")))
        elif isinstance(layer, _convert.definitions.Layer):
            built.append(_convert.to_layer(layer, first.ndim - 2, keras, key))
        else:
            raise TypeError(f"to_keras expects jaxlayers layers or activation functions, got {layer!r}.")
        tensors.append(_output_shape(layer, variables, args, keywords, dict(call.constants)))
    inputs = [keras.Input(s[1:]) for s in shapes]
    chain = edges == tuple(range(len(layers))) and outputs == len(layers) and num_inputs == 1
    if chain and not any(isinstance(b, tuple) for b in built):
        model = keras.Sequential([inputs[0], *built], name=name)
    else:
        symbolic = list(inputs)
        for b, edge in zip(built, edges):
            call = as_call(edge)
            arg = pick(symbolic, call.args[0])
            if isinstance(b, tuple):
                filled = iter(arg if isinstance(arg, list) else [arg])
                symbolic.append(getattr(keras.ops, b[1].op)(*(next(filled) if v is None else v
                                                               for v in b[1].operands)))
            else:
                symbolic.append(b(*(pick(symbolic, a) for a in call.args),
                                  **{k: pick(symbolic, v) for k, v in call.keywords}, **dict(call.constants)))
        out = pick(symbolic, outputs)
        model = keras.Model(inputs[0] if num_inputs == 1 else inputs, out, name=name)
    for b, (layer, variables, sub) in zip(built, layers):
        if sub is None and not isinstance(b, tuple) and b.weights:
            _set_weights(b, layer, variables)
    return model


def _set_weights(keras_layer: Any, layer: Any, variables: Mapping[str, Any] | None) -> None:
    names = _convert.keras_weight_names(_convert.definition_of(layer), keras_layer)
    if variables is None:  # NNX: the layer holds them
        values = {n: getattr(layer, n, None) for n in names}
        values = {n: None if v is None else v[...] for n, v in values.items()}
    else:
        values = {n: value for tree in variables.values() for n, value in tree.items()}
    missing = [n for n in names if values.get(n) is None]
    if missing:
        raise ValueError(f"jaxlayers module {getattr(layer, 'name', None) or type(layer).__name__!r} has no "
                         f"variables {missing} for Keras layer {keras_layer.name!r}.")
    keras_layer.set_weights([np.asarray(values[n]) for n in names])
    if hasattr(keras_layer, "finalize_state"):  # Normalization's statistics (set_weights leaves them stale)
        keras_layer.finalize_state()
