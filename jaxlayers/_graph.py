"""What the linen and NNX `Graph` modules share: checking the wiring and running it.

Tensors are numbered: `0 .. num_inputs - 1` are the graph's inputs and `num_inputs + i`
is the output of layer `i`. Each layer takes one tensor (an int) or a list of them (a
tuple of ints, as merge layers take) and may only take inputs or earlier layers' outputs.
A layer that returns several tensors (`return_state`, `return_attention_scores`) is read
one at a time through `Item(tensor, index)`, which may stand wherever an int does; a
layer called with more than one tensor argument, tensor keywords or constant keywords
(as Keras calls `MultiHeadAttention()(query, value, attention_mask=m,
use_causal_mask=True)` or `LSTM()(x, initial_state=[h, c])`) takes a `Call`.
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jaxlayers import _training
from jaxlayers._args import _is_int


@dataclasses.dataclass(frozen=True)
class Item:
    """Output `index` of tensor `tensor`, the tuple a layer returning several tensors gives.

    Attributes:
        tensor: the tensor id (an input, or a layer's output).
        index: the position in that layer's outputs (Keras's order: `(output, *states)`,
            `(output, scores)`).
    """

    tensor: int
    index: int


Ref = int | Item  # one tensor
Arg = Ref | tuple[Ref, ...]  # one tensor or a list of them


@dataclasses.dataclass(frozen=True)
class Call:
    """A layer's call with several arguments: `layer(*args, **keywords, **constants)`.

    Attributes:
        args: the positional arguments, each a tensor (`int` or `Item`) or a tuple of
            them (a list), e.g. `(query, value)`.
        keywords: the tensor keywords as `(name, tensor or tuple of tensors)` pairs, e.g.
            `(("initial_state", (5, 6)),)`.
        constants: the other keywords as `(name, value)` pairs, replayed on every call,
            e.g. `(("use_causal_mask", True),)`.
    """

    args: tuple[Arg, ...]
    keywords: tuple[tuple[str, Arg], ...] = ()
    constants: tuple[tuple[str, Any], ...] = ()


Wire = Arg | Call


def as_call(edge: Wire) -> Call:
    """Any edge as a `Call` (a plain one has its tensor or list as the one argument)."""
    return edge if isinstance(edge, Call) else Call((edge,))


def tensor_ids(edge: Wire) -> tuple[int, ...]:
    """The ids of the tensors an edge reads (an `Item`'s whole tensor), in order."""
    return tuple(r.tensor if isinstance(r, Item) else r for r in _refs(as_call(edge)))


def call_inputs(definition: Any) -> list[str]:
    """The names of a layer's tensor arguments, its `sizes`' parameters: `query, value, key`, `x`, `inputs`.

    Args:
        definition: a `jaxlayers.layers` definition (the class or a layer).

    Returns:
        The names, in order.
    """
    return [n for n in inspect.signature(definition.sizes).parameters if n != "self"]


def call_keywords(definition: Any) -> set[str]:
    """The keywords a layer's call takes besides its tensor arguments, its weights, its mode, its rng and its
    masks (which flow through the Graph): `initial_state`, `attention_mask`, `use_causal_mask`, ...

    Args:
        definition: a `jaxlayers.layers` definition (the class or a layer).

    Returns:
        The names.
    """
    return {n for n, p in inspect.signature(definition.call).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty
            } - {"training", "rng", "mask", *call_inputs(definition), *definition.argument_masks}


def check_positional(positional: list[Any], names: Sequence[str], what: str) -> list[Any]:
    """A call's tensor arguments in order (None: not given), the trailing missing ones dropped.

    Args:
        positional: the value of each of `names`, None where not given.
        names: the arguments' names, for the error.
        what: the layer, for errors.

    Returns:
        The given ones.

    Raises:
        ValueError: none given, or one missing before a given one.
    """
    positional = list(positional)
    while positional and positional[-1] is None:
        positional.pop()
    if not positional or any(a is None for a in positional):
        raise ValueError(f"{what} is called without its argument(s) {list(names)} in order.")
    return positional


def _leaves(value: Any) -> list[Any]:
    return [t for v in value for t in _leaves(v)] if isinstance(value, (list, tuple)) else [value]


def sort_keywords(definition: Any, bound: Mapping[str, Any], what: str, is_tensor: Callable[[Any], bool],
                  subject: str = "the converted layer") -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """A call's keywords (besides its tensor arguments) as a `Call`'s tensor keywords and constants.

    The one rule of `from_keras` and of a Graph written with `Input`/`Model`: a keyword the
    layer's call takes (`call_keywords`) is a tensor keyword when its value is a tensor or a
    list of them, a constant when a bool, number or string; None is left out (the default).

    Args:
        definition: the layer's `jaxlayers.layers` definition (the class or a layer).
        bound: keyword -> value.
        what: the layer, for errors.
        is_tensor: whether a value is a symbolic tensor.
        subject: the layer in the words of the unknown-keyword error.

    Returns:
        `(keywords, constants)`, lists of `(name, value)` pairs in the order of the layer's call.

    Raises:
        ValueError: a mask keyword (`query_mask=`), a keyword the layer does not take, a list
            mixing tensors and other values, or a value that is not a tensor, bool, number or
            string, naming the layer and the keyword.
    """
    takes = call_keywords(definition)
    order = list(inspect.signature(definition.call).parameters)
    keywords, constants = [], []
    for name, value in sorted(bound.items(), key=lambda item: order.index(item[0]) if item[0] in order else -1):
        if value is None:  # a default (`initial_state=None`)
            continue
        if name in definition.argument_masks:
            raise ValueError(f"{what} is called with {name}={value!r}; only the masks Keras attaches to its "
                             "arguments (Embedding(mask_zero=True), Masking) convert, not a given one.")
        if name not in takes:
            raise ValueError(f"{what} is called with keyword {name}={value!r}, which {subject} does not "
                             f"take; it takes {sorted(takes) or 'no keywords'} besides its input(s).")
        leaves = _leaves(value)
        if any(map(is_tensor, leaves)):
            if not (is_tensor(value) or (isinstance(value, (list, tuple)) and value and all(map(is_tensor, value)))):
                raise ValueError(f"{what} is called with keyword {name}={value!r}: only a tensor or a list of "
                                 "tensors converts.")
            keywords.append((name, value))
        elif isinstance(value, (bool, int, float, str)):
            constants.append((name, value))
        else:
            raise ValueError(f"{what} is called with keyword {name}={value!r}: only tensors, bools, numbers and "
                             "strings convert.")
    return keywords, constants


def pick(values: Sequence[Any], arg: Arg) -> Any:
    """The value of a tensor (or a list of values for a tuple) among the tensors so far.

    An `Item` of a layer that gives one value (a mask of a layer that masks only its
    first output) is that value at index 0 and None elsewhere.
    """
    if isinstance(arg, tuple):
        return [pick(values, a) for a in arg]
    if isinstance(arg, Item):
        value = values[arg.tensor]
        if isinstance(value, (list, tuple)):
            return value[arg.index]
        return value if arg.index == 0 else None
    return values[arg]


def records_mask(edge: Wire) -> bool:
    """Whether a layer called so reads the mask its model recorded (Keras's, for a call on one tensor and nothing
    else), not the one on the tensor at run time."""
    return not isinstance(edge, (Call, tuple))


def _first_mask(mask: Any) -> Any:
    """The mask of a first argument: a tensor's, or a list's (None when none of it is masked)."""
    return mask if not isinstance(mask, list) or any(m is not None for m in mask) else None


def _refs(call: Call) -> list[Ref]:
    """The tensors a call reads, as refs."""
    return [r for a in (*call.args, *(v for _, v in call.keywords)) for r in (a if isinstance(a, tuple) else (a,))]


def _clear(masks: list[Any], ref: Ref) -> None:
    """Set a tensor's mask (an `Item`'s, in its layer's list) to None."""
    if not isinstance(ref, Item):
        masks[ref] = None
    elif isinstance(masks[ref.tensor], (list, tuple)):
        masks[ref.tensor] = [None if i == ref.index else m for i, m in enumerate(masks[ref.tensor])]
    elif ref.index == 0:
        masks[ref.tensor] = None


def check_graph(num_layers: int, edges: Sequence[Any], outputs: Any, num_inputs: int) -> tuple[tuple[Wire, ...], Wire]:
    """`(edges, outputs)` as ints, `Item`s, tuples of them and `Call`s, checked; outputs=None means the last layer's."""
    if not _is_int(num_inputs) or num_inputs < 1:
        raise ValueError(f"`num_inputs` must be an int >= 1, got {num_inputs!r}.")
    if isinstance(edges, str) or not isinstance(edges, Sequence) or len(edges) != num_layers:
        raise ValueError(f"`edges` must give one entry per layer ({num_layers}), got {edges!r}.")

    def ref(value: Any, available: int, what: str, whole: Any) -> Ref:
        tensor = value.tensor if isinstance(value, Item) else value
        if not _is_int(tensor) or (isinstance(value, Item) and not (_is_int(value.index) and value.index >= 0)):
            raise TypeError(f"{what} must be a tensor id (int, or Item(id, index >= 0)) or a non-empty tuple of "
                            f"them, got {whole!r}.")
        if not 0 <= tensor < available:
            raise ValueError(f"{what} must name tensors 0..{available - 1} (the {num_inputs} input(s), then "
                             f"earlier layers' outputs), got {whole!r}.")
        return Item(int(tensor), int(value.index)) if isinstance(value, Item) else int(tensor)

    def arg(value: Any, available: int, what: str) -> Arg:
        if _is_int(value) or isinstance(value, Item):
            return ref(value, available, what, value)
        if isinstance(value, str) or not isinstance(value, Sequence) or not value:
            raise TypeError(f"{what} must be a tensor id (int, or Item(id, index >= 0)) or a non-empty tuple of "
                            f"them, got {value!r}.")
        return tuple(ref(v, available, what, value) for v in value)

    def wire(value: Any, available: int, what: str) -> Wire:
        if not isinstance(value, Call):
            return arg(value, available, what)
        if not isinstance(value.args, tuple) or not value.args:
            raise TypeError(f"{what}.args must be a non-empty tuple of tensors, got {value.args!r}.")
        for part in ("keywords", "constants"):
            pairs = getattr(value, part)
            if not isinstance(pairs, tuple) or not all(
                    isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and p[0] for p in pairs):
                raise TypeError(f"{what}.{part} must be a tuple of (name, value) pairs, got {pairs!r}.")
        return Call(tuple(arg(a, available, f"{what}.args") for a in value.args),
                    tuple((k, arg(v, available, f"{what}.keywords[{k!r}]")) for k, v in value.keywords),
                    value.constants)

    edges = tuple(wire(e, num_inputs + i, f"`edges[{i}]`") for i, e in enumerate(edges))
    if outputs is None:
        if not num_layers:
            raise ValueError("`outputs` must be given for a graph without layers.")
        outputs = num_inputs + num_layers - 1
    return edges, arg(outputs, num_inputs + num_layers, "`outputs`")


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

    Masks flow as Keras's: each layer's `compute_mask` gives its output's (Embedding with
    `mask_zero` and Masking make one, the layers that support masking pass theirs on,
    recurrent layers with `return_sequences`, attention layers the query's), given as
    `mask=` to the layers that take one (`takes_mask`: recurrent layers,
    GlobalAveragePooling1D, Softmax, Attention) called on one tensor argument (an RNN given
    `initial_state=` gets none, as in Keras): the mask of that argument (a list of masks
    for a list, as Attention's [query, value]); and as Keras's
    `<argument>_mask` (`argument_masks`: MultiHeadAttention's `query_mask`, `value_mask`,
    `key_mask`), the mask of each positional argument.

    Keras also keeps each tensor's mask on the tensor at run time, which every layer reads
    (`mask=`, `query_mask=`, the merges' operands) but one called on one tensor and nothing
    else, which reads the mask its model recorded when it was built; MultiHeadAttention
    clears its arguments' masks off them when it runs (`clears_masks`). A Graph does the
    same, in its layers' order: a second Transformer block's query (the first block's
    residual `Add`, of a tensor the first attention cleared) has no mask there."""
    tensors, masks, live = list(inputs), [None] * len(inputs), [None] * len(inputs)
    with _training.mode(training):
        for layer, edge in zip(layers, edges):
            call = as_call(edge)
            args = [pick(tensors, a) for a in call.args]
            keywords = {k: pick(tensors, v) for k, v in call.keywords} | dict(call.constants)
            recorded = [pick(masks, a) for a in call.args]  # as the model recorded them
            current = [pick(live, a) for a in call.args]  # on the tensors now
            first = _first_mask(recorded[0] if records_mask(edge) else current[0])
            given = first is not None and len(call.args) + len(call.keywords) == 1 and getattr(layer, "takes_mask", False)
            if given:
                keywords["mask"] = first
            for name, arg_mask in zip(getattr(layer, "argument_masks", ()), current):
                if arg_mask is not None:
                    keywords[name] = arg_mask
            tensors.append(layer(*args, **keywords))
            compute = getattr(layer, "compute_mask", lambda x, m: None)
            masks.append(compute(args[0], _first_mask(recorded[0])))
            live.append(compute(args[0], first if given else _first_mask(current[0])))
            if getattr(layer, "clears_masks", False):
                for ref in _refs(call):
                    _clear(live, ref)
    out = pick(tensors, outputs)
    return tuple(out) if isinstance(outputs, tuple) else out
