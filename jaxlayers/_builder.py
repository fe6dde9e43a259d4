"""Writing a `Graph` as a Keras functional model: `x = Input(shape); y = Conv2D(...)(x); Model(x, y)`.

Calling a jaxlayers layer (or a `Graph`) on symbolic `Tensor`s records the call instead
of running it; `wire` walks back from the outputs to the inputs and gives the `Graph`'s
`layers`, `edges`, `outputs` and `names` (Keras's layer names: the layer's own `name`,
else `conv2d`, `conv2d_1`, ...). Nothing is traced or allocated while a graph is written.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

from jaxlayers._args import _is_int
from jaxlayers.summary import snake_case

_ORDER = itertools.count()


@dataclasses.dataclass(frozen=True, eq=False)
class Tensor:
    """A symbolic tensor of a graph being written: a model input, or a layer's output.

    Attributes:
        shape: an input's shape, batch first (None: any size); None for a layer's output.
        name: an input's name; None for a layer's output.
        layer: the layer whose output this is; None for an input.
        source: what the layer was called on: a `Tensor`, or a tuple of them (a list, as
            merge layers take).
    """

    shape: tuple[int | None, ...] | None = None
    name: str | None = None
    layer: Any = None
    source: Tensor | tuple[Tensor, ...] | None = None
    order: int = dataclasses.field(default_factory=lambda: next(_ORDER), init=False, repr=False)


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


def is_symbolic(inputs: tuple[Any, ...]) -> bool:
    """Whether a layer's call is on symbolic tensors (one `Tensor`, or a list holding one)."""
    if not inputs:
        return False
    first = inputs[0]
    return isinstance(first, Tensor) or (isinstance(first, (list, tuple)) and any(isinstance(t, Tensor) for t in first))


def record(layer: Any, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    """`layer` called on symbolic tensors: the output `Tensor`.

    Raises:
        TypeError: other arguments than one Tensor or one list of Tensors (a graph's
            layers take nothing else: set flags as the layer's attributes).
    """
    name = type(layer).__name__
    if len(inputs) != 1 or kwargs:
        raise TypeError(f"{name} called on symbolic tensors takes one Tensor or one list of them, got "
                        f"{len(inputs)} positional and keyword arguments {sorted(kwargs)}: a Graph's layers take "
                        "their input alone (set flags such as `deterministic` as attributes).")
    (source,) = inputs
    if isinstance(source, (list, tuple)):
        if not all(isinstance(t, Tensor) for t in source):
            raise TypeError(f"{name} called on a list mixing symbolic Tensors and "
                            f"{sorted({type(t).__name__ for t in source if not isinstance(t, Tensor)})}: "
                            "a Graph's tensors are all symbolic (use `Input` for every input).")
        source = tuple(source)
    return Tensor(layer=layer, source=source)


@dataclasses.dataclass(frozen=True)
class Wiring:
    """A written graph as `Graph`'s arguments."""

    layers: tuple[Any, ...]
    edges: tuple[int | tuple[int, ...], ...]
    outputs: int | tuple[int, ...]
    num_inputs: int
    names: tuple[str, ...]


def wire(inputs: Tensor | Sequence[Tensor], outputs: Tensor | Sequence[Tensor]) -> Wiring:
    """The layers between `inputs` and `outputs`, in the order they were called.

    Args:
        inputs: the `Input` tensor, or a list of them (the Graph's inputs, in order).
        outputs: a tensor, or a list of them (then the Graph returns a tuple).

    Returns:
        The `Graph` arguments.

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
        if t.layer is None:
            if not any(t is i for i in ins):
                raise ValueError(f"`outputs` depend on an `Input` ({t.name or 'unnamed'}, shape {t.shape}) "
                                 "that is not among `inputs`.")
        elif id(t) not in nodes:
            nodes[id(t)] = t
            stack.extend(t.source if isinstance(t.source, tuple) else (t.source,))
    calls = sorted(nodes.values(), key=lambda t: t.order)
    layers = [t.layer for t in calls]
    if len({id(layer) for layer in layers}) != len(layers):
        twice = next(type(a).__name__ for a in layers if sum(b is a for b in layers) > 1)
        raise ValueError(f"a {twice} is called twice: a Graph's layers are not shared, make one layer per call.")
    ids = {id(t): j for j, t in enumerate(ins)} | {id(t): len(ins) + j for j, t in enumerate(calls)}

    def wire_of(t: Tensor | tuple[Tensor, ...]) -> int | tuple[int, ...]:
        return tuple(ids[id(s)] for s in t) if isinstance(t, tuple) else ids[id(t)]

    edges = tuple(wire_of(t.source) for t in calls)
    output = wire_of(outs[0]) if isinstance(outputs, Tensor) else tuple(ids[id(t)] for t in outs)
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
