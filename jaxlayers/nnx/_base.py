"""The NNX face of a layer definition (`jaxlayers.layers`): a Flax NNX module made from it.

`face(definition)` gives an `nnx.Module` whose constructor takes the definition's
`input_sizes` first (e.g. `in_channels`), then its Keras arguments, then `rngs=`
(layers with variables, and stochastic ones), checks them all, and creates the
variables `build` declares at once (`nnx.Param`, `nnx.BatchStat`, ...). Its call
checks the input against those sizes and runs the definition's `call`.
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import jax
from flax import nnx

from jaxlayers import _builder, _faces, _training
from jaxlayers import layers as definitions
from jaxlayers._args import check_bool
from jaxlayers.layers.layer import WeightedLayer, cast_floats
from jaxlayers.linen._base import check_single_input

# The NNX variable type of each collection a definition may declare.
VARIABLES: dict[str, type[nnx.Variable]] = {"params": nnx.Param, "batch_stats": nnx.BatchStat}


def variable_type(collection: str) -> type[nnx.Variable]:
    """The `nnx.Variable` subclass holding a collection's variables (made once for a new name).

    Args:
        collection: a linen collection name, e.g. "params" or "batch_stats".

    Returns:
        `nnx.Param` for "params", `nnx.BatchStat` for "batch_stats", else a subclass of
        `nnx.Variable` named after the collection.
    """
    if collection not in VARIABLES:
        name = "".join(part.title() for part in collection.split("_"))
        VARIABLES[collection] = type(name, (nnx.Variable,), {"__module__": __name__})
    return VARIABLES[collection]


def _tuples(value: Any) -> Any:
    """Lists (as JSON or users give them) as tuples, at every depth: NNX keeps static attributes."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _sizes(value: Any) -> Any:
    """An input size for comparison: an int as its 1-tuple (`LayerNormalization(5)` is built for (5,))."""
    return (value,) if isinstance(value, int) else value


class Layer(definitions.Layer, nnx.Module):
    """The base of every `jaxlayers.nnx` layer: an NNX module made from a `jaxlayers.layers` definition.

    Layers with variables take their input sizes first and `rngs=`; every argument is
    checked when the layer is made. Layers with a training flag switch with
    `model.train()` / `model.eval()`, `nnx.view`, the constructor, an enclosing
    `Graph(training=...)` or the call's keyword, which wins.
    """

    __face__ = True

    def __init__(self, *args: Any, **kwargs: Any):
        bound = type(self).__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        rngs = values.pop("rngs", None)
        for name, value in values.items():
            setattr(self, name, _tuples(value))
        self.check()
        declared = self.build(**{name: values[name] for name in self.input_sizes})
        self._variables = tuple(declared)
        param_dtype = getattr(self, "param_dtype", None)
        for name, weight in declared.items():
            value = None if weight is None else variable_type(weight.collection)(
                weight.init(name, rngs.params(), param_dtype))
            setattr(self, name, nnx.data(value) if value is None else value)
        if self.stochastic:
            self._stream(rngs)

    def _stream(self, rngs: nnx.Rngs | None) -> None:
        """A stochastic layer's own stream: from `seed`, else forked from `rngs`'s `rng_collection`."""
        if self.seed is not None and rngs is not None and not issubclass(type(self), WeightedLayer):
            raise ValueError(f"{type(self).__name__} takes `seed` (its own stream) or `rngs`, not both.")
        if self.seed is not None:
            self.rngs = nnx.Rngs(**{self.rng_collection: self.seed})[self.rng_collection]
        elif rngs is not None:
            self.rngs = rngs[self.rng_collection].fork()
        else:
            self.rngs = nnx.data(None)

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        if _builder.is_symbolic(inputs, kwargs):  # writing a Graph: `Conv2D(...)(Input(shape))`
            return _builder.record(self, inputs, kwargs)
        if self.single_input and inputs:
            check_single_input(self, inputs[0])
        called = kwargs.pop(self.mode, None) if self.mode else None
        rngs = kwargs.pop("rngs", None) if self.stochastic else None
        inputs, kwargs = cast_floats(inputs, self.dtype), {k: cast_floats(v, self.dtype) for k, v in kwargs.items()}
        sizes = self.sizes(*inputs)
        for name in self.input_sizes:
            if _sizes(sizes[name]) != _sizes(getattr(self, name)):
                shapes = [tuple(x.shape) for x in jax.tree.leaves(inputs) if hasattr(x, "shape")]
                raise ValueError(f"{type(self).__name__} was built for `{name}`={getattr(self, name)!r}, got an "
                                 f"input with {name}={sizes[name]!r} (shapes {shapes}).")
        weights = {name: None if getattr(self, name) is None else getattr(self, name)[...] for name in self._variables}
        if self.mode:
            weights["training"] = _training.is_training(self.mode, called, getattr(self, self.mode))
            if self.stochastic:
                weights["rng"] = lambda: self._key(rngs)
        out = self.call(*inputs, **weights, **kwargs)
        if not self.stateful:
            return out
        out, updates = out
        for name, value in updates.items():
            getattr(self, name).set_value(value)
        return out

    def _key(self, rngs: nnx.Rngs | nnx.RngStream | jax.Array | None) -> jax.Array:
        """The key of a stochastic layer's draw: the call's `rngs` (Rngs, stream or key), else its own stream."""
        rngs = self.rngs if rngs is None else rngs
        if rngs is None:
            raise ValueError(f"{type(self).__name__} in training mode ({self.mode}=False) needs random keys: build "
                             "it with `rngs=` or `seed=`, or call it with `rngs=`.")
        if isinstance(rngs, nnx.Rngs):
            return rngs[self.rng_collection]()
        return rngs() if isinstance(rngs, nnx.RngStream) else rngs


def _set_deterministic(self: Layer, deterministic: bool | None = None) -> None:
    """What `nnx.view(model, deterministic=...)` calls.

    Args:
        deterministic: the new mode; None keeps it.
    """
    if deterministic is not None:
        self.deterministic = check_bool(deterministic, "deterministic")


def _set_use_running_average(self: Layer, use_running_average: bool | None = None) -> None:
    """What `nnx.view(model, use_running_average=...)` calls.

    Args:
        use_running_average: the new mode; None keeps it.
    """
    if use_running_average is not None:
        self.use_running_average = check_bool(use_running_average, "use_running_average")


_SET_VIEW = {"deterministic": _set_deterministic, "use_running_average": _set_use_running_average}


def signature(definition: type[definitions.Layer]) -> inspect.Signature:
    """The NNX constructor's signature: `input_sizes`, the positional arguments, the keyword-only ones, `rngs`.

    Args:
        definition: a layer definition.

    Returns:
        The signature (without `self`).
    """
    P = inspect.Parameter
    fields = dataclasses.fields(definition)
    params = [P(name, P.POSITIONAL_OR_KEYWORD) for name in definition.input_sizes]
    for f in [f for f in fields if not f.kw_only] + [f for f in fields if f.kw_only]:
        default = P.empty if f.default is dataclasses.MISSING else f.default
        params.append(P(f.name, P.KEYWORD_ONLY if f.kw_only else P.POSITIONAL_OR_KEYWORD, default=default,
                        annotation=f.type))
    if issubclass(definition, WeightedLayer):
        params.append(P("rngs", P.KEYWORD_ONLY, annotation="nnx.Rngs"))
    elif definition.stochastic:
        params.append(P("rngs", P.KEYWORD_ONLY, default=None, annotation="nnx.Rngs | None"))
    return inspect.Signature(params)


def _document(doc: str | None, definition: type[definitions.Layer]) -> str | None:
    """The definition's docstring with the NNX-only arguments (`input_sizes` first, `rngs` last) in its Args."""
    lines = (doc or "").splitlines(keepends=True)
    header = next((i for i, line in enumerate(lines) if line.strip() == "Args:"), None)
    if header is None:
        return doc
    indent = len(lines[header]) - len(lines[header].lstrip())
    end = next((i for i in range(header + 1, len(lines))
                if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= indent), len(lines))
    last = max(i for i in range(header, end) if lines[i].strip())
    item = " " * (indent + 4)
    if issubclass(definition, WeightedLayer):
        lines.insert(last + 1, f"{item}rngs: the `params` stream draws the initial values.\n")
    elif definition.stochastic:
        lines.insert(last + 1, f"{item}rngs: an `nnx.Rngs` whose `rng_collection` stream is forked for the "
                               "layer's draws, or None (then `seed`, or the call's `rngs`).\n")
    lines[header + 1:header + 1] = [f"{item}{name}: {text}\n" for name, text in definition.input_sizes.items()]
    return "".join(lines)


_FACES: dict[type, type] = {definitions.Layer: Layer}


def face(definition: type[definitions.Layer]) -> type[Layer]:
    """The NNX module of a layer definition (made once, then the same class).

    Its base is the face of the definition's own base, so `isinstance(J.Conv2D(...), J.Conv)`.

    Args:
        definition: a `jaxlayers.layers.Layer` subclass.

    Returns:
        A `jaxlayers.nnx.Layer` subclass of the same name, in `jaxlayers.nnx`.
    """
    return _faces.make(definition, _FACES, _namespace)


def _namespace(definition: type[definitions.Layer]) -> dict[str, Any]:
    """An NNX face's class attributes: its documented Args, constructor signature and view switch."""
    namespace: dict[str, Any] = {"__doc__": _document(definition.__doc__, definition), "__module__": "jaxlayers.nnx",
                                 "__signature__": signature(definition)}
    if definition.mode:
        namespace["set_view"] = _SET_VIEW[definition.mode]
    return namespace
