"""Parameter counts and a Keras-style summary table, computed with `jax.eval_shape`."""
from __future__ import annotations

import dataclasses
import math
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Shape = tuple[int | None, ...]


def count_params(variables: Any) -> int:
    """Number of scalars in a pytree of arrays (or shape structs), e.g. Flax variables.

    Args:
        variables: a pytree of arrays or `jax.ShapeDtypeStruct`s (e.g. linen's
            `variables`), or a Flax NNX module: then the scalars of all its variables but
            RNG state, parameters and batch statistics, as Keras's `count_params` (and
            linen's whole `variables`) count.

    Returns:
        The number of scalars.
    """
    nnx = _nnx_of(variables)
    if nnx is not None:
        variables = nnx.state(variables, nnx.Not(nnx.RngState))
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(variables))


@dataclasses.dataclass(frozen=True)
class Row:
    """One layer call: Keras-style name, class name, output shape and parameter count.

    Attributes:
        name: the module's own name, or Keras's generated one (`conv2d`, `conv2d_1`, ...).
        type: the module's class name.
        output_shape: the call's output shape (a tuple of shapes for several outputs),
            batch None when the summary's was.
        params: the scalars of the module's variables.
        path: the module's path in the model.
        connected_to: what the call took, as Keras's "Connected to" column writes it: the
            rows' `name[0][j]` (their j-th output) and the model's inputs
            `input_layer[0][0]`, `input_layer_1[0][0]`, ...
    """

    name: str
    type: str
    output_shape: Shape | tuple[Shape, ...]
    params: int
    path: tuple[str, ...]
    connected_to: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Summary:
    """Rows of leaf layers in call order; prints as a Keras-style table (`str(summary)`).

    Attributes:
        model_name: the model's class name.
        rows: one `Row` per leaf layer call, in call order.
        trainable_params: the scalars of linen's `params` (NNX's `nnx.Param`).
        non_trainable_params: the other scalars (e.g. BatchNormalization's moving statistics).
    """

    model_name: str
    rows: tuple[Row, ...]
    trainable_params: int
    non_trainable_params: int

    @property
    def total_params(self) -> int:
        """Trainable plus non-trainable parameters."""
        return self.trainable_params + self.non_trainable_params

    @property
    def is_chain(self) -> bool:
        """Whether each row takes just the previous row's output (the first, the model's one input):
        then, as for a Keras `Sequential`, the table has no "Connected to" column."""
        previous = [f"{self.rows[i - 1].name}[0][0]" if i else "input_layer[0][0]" for i in range(len(self.rows))]
        return all(r.connected_to in ((p,), ()) for r, p in zip(self.rows, previous))

    def __str__(self) -> str:
        connected = not self.is_chain
        cells = [(f"{r.name} ({r.type})", _format_shape(r.output_shape), f"{r.params:,}",
                  ", ".join(r.connected_to)) for r in self.rows]
        header = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        columns = 4 if connected else 3
        widths = [max(len(c[i]) for c in [header, *cells]) + 2 for i in range(columns)]
        width = sum(widths)

        def line(c: Sequence[str]) -> str:
            text = c[0].ljust(widths[0]) + c[1].ljust(widths[1]) + c[2].rjust(widths[2] - 2)
            return (text + "  " + c[3] if connected else text).rstrip()

        body = [line(c) for c in cells]
        return "\n".join([
            f'Model: "{self.model_name}"', "_" * width, line(header), "=" * width, *body, "=" * width,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            "_" * width,
        ])


def summary(model: nn.Module, input_shape: Sequence[int | None] | Sequence[Sequence[int | None]],
            dtype: Any = jnp.float32) -> Summary:
    """Summarise `model` called on inputs of `input_shape` (a `None` batch allowed).

    Nothing is allocated: `model.init` (for a linen module) or the call of a merged copy
    of an NNX module runs under `jax.eval_shape`. Rows are the leaf modules (those that
    call no other module) in call order, named by their variables' keys (Keras's
    generated `conv2d`, `conv2d_1`, ... for `nn.Sequential`'s `layers_<i>`); the table
    has Keras's "Connected to" column unless each row takes the previous one's output.

    Args:
        model: a linen or NNX module.
        input_shape: the input's shape, positive ints; a `None` batch (or size) is run
            as 1 and shown as None. A list of shapes for a model of several inputs
            (e.g. a two-input `Graph`).
        dtype: the inputs' dtype, or one per input.

    Returns:
        A `Summary`: print it for Keras's table. Trainable parameters are linen's
        `params` (NNX's `nnx.Param`); the rest (e.g. BatchNormalization's moving
        statistics) are non-trainable.

    Raises:
        ValueError: `input_shape` not positive ints and Nones (or a list of such
            shapes), `dtype` not one per input.
    """
    shapes = _input_shapes(input_shape)
    dtypes = list(dtype) if isinstance(dtype, (list, tuple)) else [dtype] * len(shapes)
    if len(dtypes) != len(shapes):
        raise ValueError(f"`dtype` must be one dtype or one per input ({len(shapes)}), got {dtype!r}.")
    unknown_batch = shapes[0][0] is None
    structs = [jax.ShapeDtypeStruct(tuple(1 if d is None else d for d in shape), dt)
               for shape, dt in zip(shapes, dtypes)]
    nnx = _nnx_of(model)
    if nnx is not None:
        return _nnx_summary(nnx, model, structs, unknown_batch)
    calls: list[tuple[nn.Module, Any, Any]] = []
    stack: list[list[int]] = []
    inputs: list[Any] = []

    def record(next_fun, args, kwargs, context):
        if context.method_name != "__call__":
            return next_fun(*args, **kwargs)
        stack.append([len(calls)])
        out = next_fun(*args, **kwargs)
        start = stack.pop()[0]
        if len(calls) == start and context.module is not None:
            calls.append((context.module, jax.tree.leaves((args, kwargs)), out))
        return out

    def init(*xs: jax.Array) -> Any:
        inputs.extend(xs)
        with nn.intercept_methods(record):
            key = jax.random.key(0)
            variables = model.init({"params": key, "dropout": key}, *xs)
        rows = _rows([(m, args, out) for m, args, out in calls], inputs, variables, unknown_batch)
        return variables, rows

    variables, rows = _eval_shape_with(init, structs)
    params = variables.get("params", {})
    total = count_params(variables)
    return Summary(type(model).__name__, rows, count_params(params), total - count_params(params))


def _input_shapes(input_shape: Any) -> list[Shape]:
    """One shape, or a list of them, checked: positive ints and Nones."""
    many = isinstance(input_shape, (list, tuple)) and input_shape and all(
        isinstance(s, (list, tuple)) for s in input_shape)
    shapes = [tuple(s) for s in input_shape] if many else [tuple(input_shape)]
    for shape in shapes:
        if not shape or any(d is not None and (not isinstance(d, int) or d < 1) for d in shape):
            raise ValueError(f"`input_shape` must be positive ints (a None batch allowed), or a list of such "
                             f"shapes for several inputs, got {input_shape}.")
    return shapes


def _eval_shape_with(fn: Any, structs: list[jax.ShapeDtypeStruct]) -> Any:
    """`fn(*structs)` under `jax.eval_shape`, with its Python-side results (the rows) kept."""
    kept: list[Any] = []

    def traced(*xs: jax.Array) -> Any:
        variables, rows = fn(*xs)
        kept.append(rows)
        return variables

    variables = jax.eval_shape(traced, *structs)
    return variables, kept[0]


def _connections(calls: list[tuple[Any, list[Any], Any]], inputs: list[Any], names: list[str]) -> list[tuple[str, ...]]:
    """Each call's inputs as Keras writes them: `name[0][j]` of the call that made it, or the model's input."""
    made: dict[int, str] = {id(x): "input_layer" + (f"_{i}" if i else "") + "[0][0]" for i, x in enumerate(inputs)}
    connected = []
    for (_, args, out), name in zip(calls, names):
        connected.append(tuple(dict.fromkeys(made[id(a)] for a in args if id(a) in made)))
        for j, leaf in enumerate(jax.tree.leaves(out)):
            made[id(leaf)] = f"{name}[0][{j}]"
    return connected


def _rows(calls: list[tuple[nn.Module, list[Any], Any]], inputs: list[Any], variables: Mapping[str, Any],
          unknown_batch: bool) -> tuple[Row, ...]:
    seen: dict[str, int] = {}
    paths = [tuple(m.path) if m.path else (m.name or type(m).__name__,) for m, _, _ in calls]
    names = [_row_name(type(m).__name__, path[-1], seen) for (m, _, _), path in zip(calls, paths)]
    rows = []
    for (module, _, out), path, name, connected in zip(calls, paths, names, _connections(calls, inputs, names)):
        shape = jax.tree.map(lambda a: tuple(a.shape), out)
        shape = _batch_none(shape) if unknown_batch else shape
        params = count_params([_subtree(c, path) for c in variables.values()])
        rows.append(Row(name, type(module).__name__, shape, params, path, connected))
    return tuple(rows)


def _row_name(kind: str, last: Any, seen: dict[str, int]) -> str:
    """The module's own name, or Keras's `conv2d`, `conv2d_1`, ... for generated names."""
    if isinstance(last, int) or re.fullmatch(rf"(layers|{re.escape(kind)})_\d+", str(last or "")):
        n = seen.get(kind, 0)
        seen[kind] = n + 1
        return snake_case(kind) + (f"_{n}" if n else "")
    return str(last)


def _subtree(tree: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            return {}
        tree = tree[key]
    return tree


def _batch_none(shape: Any) -> Any:
    if isinstance(shape, tuple) and all(isinstance(d, int) for d in shape):
        return (None, *shape[1:]) if shape else shape
    if isinstance(shape, (tuple, list)):
        return tuple(_batch_none(s) for s in shape)
    return shape


def snake_case(name: str) -> str:
    """Keras's layer naming: `Conv2DTranspose` -> `conv2d_transpose`.

    Args:
        name: a class name in CamelCase.

    Returns:
        The name in snake_case, as Keras names layers.
    """
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _format_shape(shape: Any) -> str:
    if isinstance(shape, tuple) and shape and not all(d is None or isinstance(d, int) for d in shape):
        return ", ".join(_format_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _nnx_of(obj: Any) -> Any:
    """`flax.nnx` if `obj` is an NNX module (never imports it otherwise), else None."""
    nnx = sys.modules.get("flax.nnx")
    return nnx if nnx is not None and isinstance(obj, nnx.Module) else None


def _nnx_summary(nnx: Any, model: Any, structs: list[jax.ShapeDtypeStruct], unknown_batch: bool) -> Summary:
    """`summary` of an NNX module: its leaf module calls, recorded on a merged copy.

    As `nnx.tabulate` does, the `__call__` of each module class in the graph is wrapped
    for the duration (and restored after) to record which modules run and their outputs.
    Layers of a `jaxlayers.nnx.Graph` with `names` are named by them.
    """
    graphdef, state = nnx.split(model)
    params = {path: count_params(module) for path, module in nnx.iter_modules(model)}  # Param and BatchStat
    classes = {type(module) for _, module in nnx.iter_modules(model)}
    calls: list[tuple[tuple[Any, ...], str, list[Any], Any]] = []
    paths: dict[int, tuple[Any, ...]] = {}
    named: dict[tuple[Any, ...], str] = {}
    for path, module in nnx.iter_modules(model):
        names = getattr(module, "names", None)
        if type(module).__name__ == "Graph" and names:
            named.update({(*path, "layers", i): name for i, name in enumerate(names)})

    def recording(call):
        def wrapper(self, *args, **kwargs):
            start = len(calls)
            out = call(self, *args, **kwargs)
            if len(calls) == start and id(self) in paths:
                calls.append((paths[id(self)], type(self).__name__, jax.tree.leaves((args, kwargs)), out))
            return out
        return wrapper

    def run(state: Any, *xs: jax.Array) -> Any:
        merged = nnx.merge(graphdef, state)
        paths.update({id(module): path for path, module in nnx.iter_modules(merged)})
        return merged(*xs), calls_rows(xs)

    def calls_rows(xs: tuple[jax.Array, ...]) -> tuple[Row, ...]:
        seen: dict[str, int] = {}
        names = [named.get(path) or _row_name(kind, path[-1] if path else kind, seen) for path, kind, _, _ in calls]
        connected = _connections([(None, args, out) for _, _, args, out in calls], list(xs), names)
        rows = []
        for (path, kind, _, out), name, links in zip(calls, names, connected):
            shape = jax.tree.map(lambda a: tuple(a.shape), out)
            shape = _batch_none(shape) if unknown_batch else shape
            rows.append(Row(name, kind, shape, params[path], tuple(str(p) for p in path), links))
        return tuple(rows)

    kept: list[Any] = []
    originals = {cls: cls.__dict__.get("__call__") for cls in classes}
    wrapped = {cls: recording(cls.__call__) for cls in classes}
    try:
        for cls in classes:
            cls.__call__ = wrapped[cls]
        jax.eval_shape(lambda *a: kept.append(run(*a)[1]), state, *structs)
    finally:
        for cls, original in originals.items():
            if original is None:
                del cls.__call__
            else:
                cls.__call__ = original
    trainable = count_params(nnx.state(model, nnx.Param))
    return Summary(type(model).__name__, kept[0], trainable, count_params(model) - trainable)
