"""How a Keras layer is called in a functional graph, as a jaxlayers Graph edge.

Keras records each call's arguments (`node.arguments`); `layer_call` binds them by the
Keras layer's `call` signature: the definition's inputs (the parameters of its `sizes`,
e.g. `query, value, key`) become positional tensors, other tensors tensor keywords
(`attention_mask=`, `initial_state=[h, c]`) and other values constant keywords
(`use_causal_mask=True`), all as a `jaxlayers._graph.Call` (a plain tensor or list when
there is nothing else). `training=False` is dropped; `mask=` must be the input's own
Keras mask and `query_mask=`-like keywords are refused (masks flow through the Graph).
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from jaxlayers._graph import Call, Ref, Wire, call_inputs, check_positional, sort_keywords
from jaxlayers.keras import _convert


class KerasCall:
    """One call in a Keras graph: a layer, a nested model or an operation, the tensor ids it takes.

    Attributes:
        operation: the Keras layer, model or operation.
        kind: "layer", "model" or "op".
        edge: its Graph edge.
        inputs: the Keras tensor (or list) of its first argument.
        name: its Keras name.
        operands: for "op", the constants, None where a tensor goes.
        positional: the Keras tensors (or lists) of each positional argument.
        extra: the Keras tensors it takes besides its first argument.
        recorded_mask: whether its node holds the mask Keras gave it (a call on one tensor and
            nothing else, which reads that mask, not the one on the tensor at run time).
    """

    def __init__(self, operation: Any, kind: str, edge: Wire, inputs: Any, name: str, operands: tuple = (),
                 positional: tuple = (), extra: tuple = (), recorded_mask: bool = False):
        self.operation, self.kind, self.edge, self.inputs, self.name = operation, kind, edge, inputs, name
        self.operands, self.positional, self.extra = operands, positional or (inputs,), extra
        self.recorded_mask = recorded_mask


def ref_of(arg: Any, ids: Mapping[int, Ref]) -> Any:
    """The tensor id (or tuple of them, for a list) of a Keras call's argument.

    Args:
        arg: a Keras tensor or a list of them.
        ids: Keras tensor `id()` -> its Graph tensor (an int or an `Item`).

    Returns:
        The id, or a tuple of ids.
    """
    return tuple(ids[id(t)] for t in arg) if isinstance(arg, (list, tuple)) else ids[id(arg)]


def training_keyword(value: Any, call: Any, what: str) -> None:
    """Refuse a `training=True` given in a Keras call (kept by Keras only when its model is called with training=None).

    A value equal to the call's own default converts: Keras records it in the node without the
    user asking (`Resizing.call(inputs, training=True)`), and `predict` overrides it.

    Args:
        value: the call's `training`.
        call: the Keras layer's (or model's) `call`, whose default is looked up.
        what: the layer, for errors.

    Raises:
        ValueError: anything but None, False or the call's default.
    """
    parameter = inspect.signature(call).parameters.get("training")
    if value not in (None, False) and (parameter is None or value is not parameter.default):
        raise ValueError(f"{what} is called with training={value!r}; only training=False or None converts (Keras "
                         "replays training=True only when the model itself is called with training=None, which a "
                         "jaxlayers Graph has no twin of: call the Graph with training=True instead).")


def layer_call(layer: Any, node: Any, ids: Mapping[int, Ref], what: str, keras: Any) -> KerasCall:
    """A Keras layer's call as a `KerasCall`, its edge bound as the module docstring says.

    Args:
        layer: the Keras layer.
        node: its Keras node (the call).
        ids: Keras tensor `id()` -> its Graph tensor.
        what: the layer, for errors.
        keras: the Keras module.

    Returns:
        The call.

    Raises:
        ValueError: `training=True`, a `mask=` not the input's own, arguments out of order, a
            keyword the converted layer does not take or a value that is not a tensor, bool,
            number or string, named.
    """

    definition = _convert.by_keras_name().get(type(layer).__name__)
    if definition is None and len(node.arguments.args) == 1:  # refused later, by `_convert.from_layer`
        (arg,) = node.arguments.args
        return KerasCall(layer, "layer", ref_of(arg, ids), arg, layer.name)
    if definition is None:
        raise _convert.unsupported(what, type(layer).__name__)
    kwargs = dict(node.arguments.kwargs)
    training_keyword(kwargs.pop("training", None), layer.call, what)
    given_mask = kwargs.pop("mask", None)
    signature = inspect.signature(layer.call)
    try:
        bound = signature.bind(*node.arguments.args, **kwargs).arguments
    except TypeError as err:
        raise ValueError(f"{what} is called with arguments its Keras call does not bind: {err}.") from None
    for name, p in signature.parameters.items():
        if p.kind == p.VAR_KEYWORD and name in bound:
            bound.update(bound.pop(name))
        elif p.kind == p.VAR_POSITIONAL and bound.get(name):
            raise ValueError(f"{what} is called with {len(bound[name])} extra positional arguments; they do not "
                             "convert.")
    inputs = call_inputs(definition)
    keras_names = [n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    positional = check_positional([bound.pop(n, None) for n in keras_names[:len(inputs)]], keras_names[:len(inputs)],
                                  what)
    keywords, constants = sort_keywords(definition, bound, what, lambda t: isinstance(t, keras.KerasTensor))
    extra = [t for a in (*positional[1:], *(v for _, v in keywords)) for t in keras.tree.flatten(a)]
    keywords = [(name, ref_of(value, ids)) for name, value in keywords]
    first = positional[0]
    if given_mask is not None and not _own_mask(given_mask, first, keras):
        raise ValueError(f"{what} is called with a mask= other than its input's own Keras mask; only the masks "
                         "Keras attaches to tensors (Embedding(mask_zero=True), Masking) convert.")
    if given_mask is not None and (keywords or len(positional) > 1):
        raise ValueError(f"{what} is called with mask= beside other tensor arguments; Keras's masks convert only "
                         "where Keras attaches them itself (a call on one tensor argument).")
    args = tuple(ref_of(a, ids) for a in positional)
    edge = args[0] if len(args) == 1 and not keywords and not constants else Call(args, tuple(keywords),
                                                                                 tuple(constants))
    return KerasCall(layer, "layer", edge, first, layer.name, positional=tuple(positional), extra=tuple(extra),
                     recorded_mask="mask" in node.arguments.kwargs)


def keras_mask(tensor: Any, keras: Any) -> Any:
    """The mask Keras attached to a symbolic tensor.

    Args:
        tensor: a Keras tensor.
        keras: the Keras module.

    Returns:
        The mask (a Keras tensor), or None.
    """
    mask = getattr(tensor, "_keras_mask", None)
    if mask is None and hasattr(keras.backend, "get_keras_mask"):
        mask = keras.backend.get_keras_mask(tensor)
    return mask


def _own_mask(given: Any, first: Any, keras: Any) -> bool:
    """Whether a call's `mask=` is Keras's own: one per mask the input carries, each that mask or made
    by Keras's mask ops (a loaded `.keras` model's graph holds them), not by a layer or an input."""
    own = [m for m in keras.tree.flatten(keras.tree.map_structure(lambda t: keras_mask(t, keras), first))
           if m is not None]
    given = [m for m in keras.tree.flatten(given) if m is not None]
    return len(given) == len(own) and all(
        any(g is m for m in own) or not isinstance(g._keras_history[0], keras.layers.Layer) for g in given)
