"""Writing a `Graph` as a Keras functional model: `x = Input(shape); y = Conv2D(...)(x); Model(x, y)`.

Calling a jaxlayers layer (or a `Graph`) on symbolic `Tensor`s records the call instead
of running it, as Keras calls it: several tensors (`MultiHeadAttention()(q, v)`, also by
name), tensor keywords (`initial_state=[h, c]`) and constant ones (`use_causal_mask=True`)
make a `jaxlayers._graph.Call` edge, by the rule `from_keras` follows; a layer giving
several outputs unpacks into `Item`s (`seq, h, c = LSTM(..., return_state=True)(x)`).
`wire` walks back from the outputs to the inputs and gives the `Graph`'s `layers`,
`edges`, `outputs` and `names` (Keras's layer names: the layer's own `name`, else
`conv2d`, `conv2d_1`, ...). Nothing is traced or allocated while a graph is written, but
to count the outputs of a layer giving several when they are unpacked.
"""
from __future__ import annotations

import dataclasses
import inspect
import itertools
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from jaxlayers._args import _is_int
from jaxlayers._graph import Arg, Call, Item, Ref, Wire, call_inputs, check_positional, sort_keywords
from jaxlayers.layers.layer import Layer as Definition
from jaxlayers.summary import snake_case

_ORDER = itertools.count()


@dataclasses.dataclass(frozen=True, eq=False)
class Tensor:
    """A symbolic tensor of a graph being written: a model input, or a layer's output.

    A layer giving several outputs (`return_state=True`, `return_attention_scores=True`)
    gives one Tensor for them all, which unpacks as Keras's list does:
    `seq, h, c = LSTM(8, return_sequences=True, return_state=True)(x)` (or `out[1]`,
    `out[1:]`). Counting them runs the layers up to it under `jax.eval_shape` (each
    `None` size of the inputs as 1); nothing else is traced while a graph is written.

    Attributes:
        shape: an input's shape, batch first (None: any size); None for a layer's output.
        name: an input's name; None for a layer's output.
        layer: the layer whose output this is; None for an input.
        call: what the layer was called on, a `jaxlayers._graph.Call` holding Tensors
            (or tuples of them, lists) in place of tensor ids; None for an input or an item.
        whole: for one output of a layer giving several, the Tensor of them all; else None.
        index: that output's position in `whole`; else None.
    """

    shape: tuple[int | None, ...] | None = None
    name: str | None = None
    layer: Any = None
    call: Call | None = None
    whole: Tensor | None = None
    index: int | None = None
    order: int = dataclasses.field(default_factory=lambda: next(_ORDER), init=False, repr=False)

    def __iter__(self) -> Iterator[Tensor]:
        return iter(_items(self))

    def __getitem__(self, index: int | slice) -> Tensor | tuple[Tensor, ...]:
        return _items(self)[index]


def Input(shape: Sequence[int | None], name: str | None = None) -> Tensor:  # noqa: N802  (Keras's name)
    """A graph's input, as Keras's `keras.Input(shape)`.

    Args:
        shape: the input's shape without the batch axis (None: any size), e.g. (28, 28, 1).
        name: a name for the input, or None.

    Returns:
        A symbolic `Tensor` of shape `(None, *shape)`: call layers on it, then `Model(inputs, outputs)`.

    Raises:
        TypeError: `shape` not a sequence of positive ints and Nones.
    """
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or not all(
            d is None or (_is_int(d) and d > 0) for d in shape):
        raise TypeError(f"`shape` must be a sequence of positive ints and Nones (no batch axis), got {shape!r}.")
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"`name` must be None or a non-empty str, got {name!r}.")
    return Tensor(shape=(None, *(None if d is None else int(d) for d in shape)), name=name)


def is_symbolic(inputs: tuple[Any, ...], kwargs: Mapping[str, Any] | None = None) -> bool:
    """Whether a layer's call is on symbolic tensors: a `Tensor` (or a list holding one) as an argument.

    Args:
        inputs: the call's positional arguments.
        kwargs: its keywords (`mha(query=q, value=v)`), or None.

    Returns:
        True to record the call.
    """
    values = (*inputs, *(kwargs or {}).values())
    return any(isinstance(v, Tensor) or (isinstance(v, (list, tuple)) and any(isinstance(t, Tensor) for t in v))
               for v in values)


def _what(layer: Any) -> str:
    name = getattr(layer, "name", None)
    return type(layer).__name__ + (f" {name!r}" if isinstance(name, str) and name else "")


def _tensors(value: Any, layer: Any, what: str) -> Tensor | tuple[Tensor, ...]:
    """A tensor argument: a Tensor, or a non-empty list of them (a tuple)."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(t, Tensor) for t in value):
        return tuple(value)
    if isinstance(value, (list, tuple)):
        raise TypeError(f"{type(layer).__name__} called on a list mixing symbolic Tensors and "
                        f"{sorted({type(t).__name__ for t in value if not isinstance(t, Tensor)})}: "
                        "a Graph's tensors are all symbolic (use `Input` for every input).")
    raise TypeError(f"{what} called on symbolic tensors takes Tensors (or lists of them) as its tensor arguments, "
                    f"got a {type(value).__name__}: a Graph's tensors are all symbolic (use `Input` for every input).")


def record(layer: Any, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    """`layer` called on symbolic tensors: the output `Tensor`.

    A jaxlayers layer is called as Keras calls it: its tensor arguments (its `sizes`'
    parameters: `query, value, key`; `inputs` of Attention's `[query, value]`) positionally
    or by name, then keywords (`initial_state=[h, c]`, `attention_mask=m`,
    `use_causal_mask=True`), sorted into a `Call` by `jaxlayers._graph.sort_keywords`, the
    rule `from_keras` follows. A Graph (or another module) takes one Tensor or one list.

    Args:
        layer: the layer called.
        inputs: its positional arguments.
        kwargs: its keywords.

    Returns:
        The output Tensor (several outputs: one Tensor that unpacks).

    Raises:
        TypeError: tensor arguments that are not Tensors or lists of them; a Graph called
            with more than one Tensor or list, or keywords.
        ValueError: arguments the layer's call does not bind, missing ones, the mode or rng
            as a keyword, a keyword the layer does not take, or a value that is neither a
            Tensor (or a list of them) nor a bool, number or string, naming the layer and
            the argument.
    """
    what = _what(layer)
    if not isinstance(layer, Definition):
        if len(inputs) != 1 or kwargs:
            raise TypeError(f"{type(layer).__name__} called on symbolic tensors takes one Tensor or one list of them, "
                            f"got {len(inputs)} positional and keyword arguments {sorted(kwargs)}: a Graph's layers "
                            "take their input alone (set flags such as `deterministic` as attributes).")
        return Tensor(layer=layer, call=Call((_tensors(inputs[0], layer, what),)))
    for name in kwargs:
        if name in ("training", "rng", "rngs", layer.mode):
            raise ValueError(f"{what} is called with keyword {name}={kwargs[name]!r}: a Graph's layers take their "
                             "mode from the Graph's call (`training=`), or from their attributes (`deterministic`, "
                             "`use_running_average`), and their random keys from its rngs.")
    names = call_inputs(layer)
    signature = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
                                   for n in names] + [inspect.Parameter("keywords", inspect.Parameter.VAR_KEYWORD)])
    try:
        bound = signature.bind(*inputs, **kwargs).arguments
    except TypeError as err:
        raise ValueError(f"{what} is called with arguments its call does not bind ({err}): it takes its tensor "
                         f"argument(s) {names} positionally or by name, then keywords.") from None
    keywords = bound.pop("keywords", {})
    positional = check_positional([bound.get(n) for n in names], names, what)
    tensor_keywords, constants = sort_keywords(layer, keywords, what, lambda t: isinstance(t, Tensor),
                                               subject="the layer")
    return Tensor(layer=layer, call=Call(tuple(_tensors(a, layer, what) for a in positional),
                                         tuple((k, _tensors(v, layer, what)) for k, v in tensor_keywords),
                                         tuple(constants)))


def _items(tensor: Tensor) -> tuple[Tensor, ...]:
    """The outputs of a layer giving several, one Tensor each (counted by evaluating the layers up to it)."""
    if tensor.layer is None or tensor.whole is not None:
        raise TypeError(f"{'an Input' if tensor.layer is None else 'one output of ' + _what(tensor.layer)} is one "
                        "tensor: only the output of a layer giving several (return_state=True, "
                        "return_attention_scores=True) unpacks.")
    structure = _output_structure(tensor)
    if not isinstance(structure, (list, tuple)):
        raise TypeError(f"{_what(tensor.layer)} gives one tensor here (no return_state=True or "
                        "return_attention_scores=True), which does not unpack: symbolic Tensors are not sliced.")
    return tuple(Tensor(layer=tensor.layer, whole=tensor, index=k) for k in range(len(structure)))


def _output_structure(tensor: Tensor) -> Any:
    """The shape structs of a layer's output, from the layers between it and its `Input`s under `jax.eval_shape`."""
    import jax
    import jax.numpy as jnp

    ins, stack, seen = [], [tensor], set()
    while stack:
        t = stack.pop()
        t = t.whole if t.whole is not None else t
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.layer is None:
            ins.append(t)
        else:
            stack.extend(_sources(t.call))
    ins.sort(key=lambda t: t.order)
    structs = [jax.ShapeDtypeStruct(tuple(1 if d is None else d for d in t.shape), jnp.float32) for t in ins]
    nnx = sys.modules.get("flax.nnx")
    try:
        if nnx is not None and isinstance(tensor.layer, nnx.Module):
            from jaxlayers.nnx import Model

            graphdef, state = nnx.split(Model(ins, tensor))
            return jax.eval_shape(lambda s, *xs: nnx.merge(graphdef, s)(*xs), state, *structs)
        from jaxlayers.linen import Model

        graph, key = Model(ins, tensor), jax.random.key(0)
        return jax.eval_shape(lambda *xs: graph.init_with_output({"params": key, "dropout": key}, *xs)[0], *structs)
    except Exception as err:  # noqa: BLE001  (any error of the layers, told with what was being counted)
        try:
            told = type(err)(f"counting the outputs of {_what(tensor.layer)} (run on inputs of shapes "
                             f"{[tuple(s.shape) for s in structs]}): {err}")
        except Exception:  # noqa: BLE001  (an error type that takes other arguments)
            raise err from None
        raise told from err


def _sources(call: Call) -> list[Tensor]:
    """The Tensors a recorded call reads."""
    return [t for a in (*call.args, *(v for _, v in call.keywords)) for t in (a if isinstance(a, tuple) else (a,))]


@dataclasses.dataclass(frozen=True)
class Wiring:
    """A written graph as `Graph`'s arguments."""

    layers: tuple[Any, ...]
    edges: tuple[Wire, ...]
    outputs: Arg
    num_inputs: int
    names: tuple[str, ...]


def wire(inputs: Tensor | Sequence[Tensor], outputs: Tensor | Sequence[Tensor]) -> Wiring:
    """The layers between `inputs` and `outputs`, in the order they were called.

    Args:
        inputs: the `Input` tensor, or a list of them (the Graph's inputs, in order).
        outputs: a tensor, or a list of them (then the Graph returns a tuple).

    Returns:
        The `Graph` arguments: each layer's edge a tensor id, a tuple of them, or a `Call`;
        one output of a layer giving several an `Item`.

    Raises:
        TypeError: inputs that are not `Input`s, outputs that are not Tensors.
        ValueError: an output that needs an input not among `inputs`, a layer called twice
            (a Graph's layers are not shared), an input repeated.
    """
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs) if isinstance(inputs, (list, tuple)) else []
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs) if isinstance(outputs, (list, tuple)) else []
    if not ins or not all(isinstance(t, Tensor) and t.layer is None for t in ins):
        raise TypeError(f"`inputs` must be an `Input` tensor or a non-empty list of them, got {inputs!r}.")
    if len({id(t) for t in ins}) != len(ins):
        raise ValueError("`inputs` repeats a tensor.")
    if not outs or not all(isinstance(t, Tensor) for t in outs):
        raise TypeError(f"`outputs` must be a Tensor or a non-empty list of them, got {outputs!r}.")

    nodes: dict[int, Tensor] = {}
    stack = list(outs)
    while stack:
        t = stack.pop()
        t = t.whole if t.whole is not None else t
        if t.layer is None:
            if not any(t is i for i in ins):
                raise ValueError(f"`outputs` depend on an `Input` ({t.name or 'unnamed'}, shape {t.shape}) "
                                 "that is not among `inputs`.")
        elif id(t) not in nodes:
            nodes[id(t)] = t
            stack.extend(_sources(t.call))
    calls = sorted(nodes.values(), key=lambda t: t.order)
    layers = [t.layer for t in calls]
    if len({id(layer) for layer in layers}) != len(layers):
        twice = next(type(a).__name__ for a in layers if sum(b is a for b in layers) > 1)
        raise ValueError(f"a {twice} is called twice: a Graph's layers are not shared, make one layer per call.")
    ids = {id(t): j for j, t in enumerate(ins)} | {id(t): len(ins) + j for j, t in enumerate(calls)}

    def ref(t: Tensor) -> Ref:
        return Item(ids[id(t.whole)], t.index) if t.whole is not None else ids[id(t)]

    def arg(a: Tensor | tuple[Tensor, ...]) -> Arg:
        return tuple(ref(t) for t in a) if isinstance(a, tuple) else ref(a)

    def edge(call: Call) -> Wire:
        args = tuple(arg(a) for a in call.args)
        if len(args) == 1 and not call.keywords and not call.constants:
            return args[0]
        return Call(args, tuple((k, arg(v)) for k, v in call.keywords), call.constants)

    edges = tuple(edge(t.call) for t in calls)
    output = ref(outs[0]) if isinstance(outputs, Tensor) else tuple(ref(t) for t in outs)
    return Wiring(tuple(layers), edges, output, len(ins), keras_names(layers))


def keras_names(layers: Sequence[Any]) -> tuple[str, ...]:
    """The layers' names: their own `name` where given, else Keras's `conv2d`, `conv2d_1`, ..."""
    own = [getattr(layer, "name", None) for layer in layers]
    own = [n if isinstance(n, str) and n else None for n in own]
    taken, counts, names = {n for n in own if n}, {}, []
    for layer, name in zip(layers, own):
        if name is None:
            base = snake_case(type(layer).__name__)
            while True:
                n = counts.get(base, 0)
                counts[base] = n + 1
                name = base + (f"_{n}" if n else "")
                if name not in taken:
                    break
            taken.add(name)
        names.append(name)
    return tuple(names)
