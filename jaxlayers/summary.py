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
    """

    name: str
    type: str
    output_shape: Shape | tuple[Shape, ...]
    params: int
    path: tuple[str, ...]


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

    def __str__(self) -> str:
        cells = [(f"{r.name} ({r.type})", _format_shape(r.output_shape), f"{r.params:,}") for r in self.rows]
        header = ("Layer (type)", "Output Shape", "Param #")
        widths = [max(len(c[i]) for c in [header, *cells]) + 2 for i in range(3)]
        width = sum(widths)

        def line(c: Sequence[str]) -> str:
            return (c[0].ljust(widths[0]) + c[1].ljust(widths[1]) + c[2].rjust(widths[2] - 2)).rstrip()

        body = [line(c) for c in cells]
        return "\n".join([
            f'Model: "{self.model_name}"', "_" * width, line(header), "=" * width, *body, "=" * width,
            f"Total params: {self.total_params:,}",
            f"Trainable params: {self.trainable_params:,}",
            f"Non-trainable params: {self.non_trainable_params:,}",
            "_" * width,
        ])


def summary(model: nn.Module, input_shape: Sequence[int | None], dtype: Any = jnp.float32) -> Summary:
    """Summarise `model` called on an input of `input_shape` (a `None` batch allowed).

    Nothing is allocated: `model.init` (for a linen module) or the call of a merged copy
    of an NNX module runs under `jax.eval_shape`. Rows are the leaf modules (those that
    call no other module) in call order.

    Args:
        model: a linen or NNX module taking one array.
        input_shape: the input's shape, positive ints; a `None` batch (or size) is run
            as 1 and shown as None.
        dtype: the input's dtype.

    Returns:
        A `Summary`: print it for Keras's table. Trainable parameters are linen's
        `params` (NNX's `nnx.Param`); the rest (e.g. BatchNormalization's moving
        statistics) are non-trainable.

    Raises:
        ValueError: `input_shape` not positive ints and Nones.
    """
    input_shape = tuple(input_shape)
    if not input_shape or any(d is not None and (not isinstance(d, int) or d < 1) for d in input_shape):
        raise ValueError(f"`input_shape` must be positive ints (a None batch allowed), got {input_shape}.")
    unknown_batch = input_shape[0] is None
    concrete = tuple(1 if d is None else d for d in input_shape)
    nnx = _nnx_of(model)
    if nnx is not None:
        return _nnx_summary(nnx, model, concrete, dtype, unknown_batch)
    calls: list[tuple[nn.Module, Any]] = []
    stack: list[list[int]] = []

    def record(next_fun, args, kwargs, context):
        if context.method_name != "__call__":
            return next_fun(*args, **kwargs)
        stack.append([len(calls)])
        out = next_fun(*args, **kwargs)
        start = stack.pop()[0]
        if len(calls) == start and context.module is not None:
            calls.append((context.module, jax.tree.map(lambda a: tuple(a.shape), out)))
        return out

    def init() -> Any:
        with nn.intercept_methods(record):
            key = jax.random.key(0)
            return model.init({"params": key, "dropout": key}, jnp.zeros(concrete, dtype))

    variables = jax.eval_shape(init)
    params = variables.get("params", {})
    rows = _rows(calls, variables, unknown_batch)
    total = count_params(variables)
    return Summary(type(model).__name__, rows, count_params(params), total - count_params(params))


def _rows(calls: list[tuple[nn.Module, Any]], variables: Mapping[str, Any], unknown_batch: bool) -> tuple[Row, ...]:
    seen: dict[str, int] = {}
    rows = []
    for module, out in calls:
        kind = type(module).__name__
        path = tuple(module.path) if module.path else (module.name or kind,)
        name = _row_name(kind, path[-1], seen)
        shape = _batch_none(out) if unknown_batch else out
        rows.append(Row(name, kind, shape, count_params([_subtree(c, path) for c in variables.values()]), path))
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


def _nnx_summary(nnx: Any, model: Any, concrete: Shape, dtype: Any, unknown_batch: bool) -> Summary:
    """`summary` of an NNX module: its leaf module calls, recorded on a merged copy.

    As `nnx.tabulate` does, the `__call__` of each module class in the graph is wrapped
    for the duration (and restored after) to record which modules run and their outputs.
    """
    graphdef, state = nnx.split(model)
    params = {path: count_params(module) for path, module in nnx.iter_modules(model)}  # Param and BatchStat
    classes = {type(module) for _, module in nnx.iter_modules(model)}
    calls: list[tuple[tuple[Any, ...], str, Any]] = []
    paths: dict[int, tuple[Any, ...]] = {}

    def recording(call):
        def wrapper(self, *args, **kwargs):
            start = len(calls)
            out = call(self, *args, **kwargs)
            if len(calls) == start and id(self) in paths:
                calls.append((paths[id(self)], type(self).__name__, jax.tree.map(lambda a: tuple(a.shape), out)))
            return out
        return wrapper

    def run(state: Any, x: jax.Array) -> Any:
        merged = nnx.merge(graphdef, state)
        paths.update({id(module): path for path, module in nnx.iter_modules(merged)})
        return merged(x)

    originals = {cls: cls.__dict__.get("__call__") for cls in classes}
    wrapped = {cls: recording(cls.__call__) for cls in classes}
    try:
        for cls in classes:
            cls.__call__ = wrapped[cls]
        jax.eval_shape(run, state, jax.ShapeDtypeStruct(concrete, dtype))
    finally:
        for cls, original in originals.items():
            if original is None:
                del cls.__call__
            else:
                cls.__call__ = original

    seen: dict[str, int] = {}
    rows = []
    for path, kind, out in calls:
        name = _row_name(kind, path[-1] if path else kind, seen)
        shape = _batch_none(out) if unknown_batch else out
        rows.append(Row(name, kind, shape, params[path], tuple(str(p) for p in path)))
    trainable = count_params(nnx.state(model, nnx.Param))
    return Summary(type(model).__name__, tuple(rows), trainable, count_params(model) - trainable)
