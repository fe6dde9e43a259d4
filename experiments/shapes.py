"""The tutorial's shape walk-throughs, reproduced with `jaxlayers.linen` and `jax.eval_shape`.

Run with ``python -m experiments.shapes``. Every walk-through is a function that
returns a list of ``(label, value)`` records, a value being a shape tuple or an
int; ``main()`` prints them in the tutorial's order. Nothing is allocated: each
layer's variables come from ``jax.eval_shape(module.init, ...)`` and its output
from ``jax.eval_shape(module.apply, ...)``, so the 64x1920x1080x3 example that ran
out of memory in the tutorial costs only shapes here.

The walk-throughs (tutorial notes, in Korean, written against TensorFlow/Keras):

- boxes: Dense(1) then Dense(1) on (64, 4, 2), and Dense(3), Dense(1), Dense(1)
  (13 parameters), all without bias, the trailing unit axis squeezed away;
- large image: Conv2D(16, 5, strides=5, no bias) on (64, 1920, 1080, 3), Flatten,
  Dense(1, no bias);
- 300x300: Conv2D(16, 5) valid and same, then MaxPooling2D();
- (20, 10): Conv2D(1, 4) on the (1, 20, 10, 1) sample under strides 1-5 with
  padding valid and same, then MaxPooling2D(2) after it. The tutorial's own shape
  comments in its pooling part were written for a (10, 4) input; the shapes here
  are what Keras 3 returns for the (20, 10) sample the code builds.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from jaxlayers import count_params
from jaxlayers import linen as L

Record = tuple[str, Any]
Shape = tuple[int, ...]

BOXES_BATCH = 64
BOXES = (BOXES_BATCH, 4, 2)
BIG_PICTURE = (64, 1920, 1080, 3)
PICTURE_300 = (64, 300, 300, 3)
SAMPLE_20x10 = (1, 20, 10, 1)  # np.arange(1.0, 201.0).reshape(-1, 20, 10, 1) in the tutorial
KERNEL_20x10 = 4
POOL_20x10 = 2
STRIDES_20x10 = (1, 2, 3, 4, 5)
PADDINGS_20x10 = ("same", "valid")  # the tutorial's order
# (conv strides, pool strides, pool padding), conv padding "same": the tutorial's three pooling tables.
POOLING_TABLES_20x10: tuple[tuple[str, tuple[tuple[int, int, str], ...]], ...] = (
    ("pool same, pool strides 1", ((1, 1, "same"), (2, 1, "same"))),
    ("pool same, pool strides = conv strides", ((1, 1, "same"), (2, 2, "same"), (3, 3, "same"))),
    ("pool valid, pool strides 1", ((1, 1, "valid"), (2, 1, "valid"), (3, 1, "valid"))),
)


def _spec(shape: Sequence[int]) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(tuple(shape), jnp.float32)


def layer_shapes(module: Any, x: jax.ShapeDtypeStruct) -> tuple[Any, jax.ShapeDtypeStruct]:
    """(variables, output) of `module` on `x`, as shape structs: nothing is allocated."""
    variables = jax.eval_shape(module.init, jax.random.key(0), x)
    out = jax.eval_shape(module.apply, variables, x)
    return variables, out


def _kernel_shape(variables: Any) -> Shape:
    return tuple(variables["params"]["kernel"].shape)


def _squeeze_last(x: jax.ShapeDtypeStruct) -> jax.ShapeDtypeStruct:
    """The tutorial's `tf.squeeze(out, axis=-1)`, on shapes."""
    return jax.eval_shape(lambda a: jnp.squeeze(a, axis=-1), x)


def _dense_steps(units: Sequence[int], squeeze: Sequence[bool]) -> list[Record]:
    records: list[Record] = []
    x = _spec(BOXES)
    total = 0
    for step, (n, sq) in enumerate(zip(units, squeeze), start=1):
        records.append((f"step {step} input", tuple(x.shape)))
        variables, x = layer_shapes(L.Dense(n, use_bias=False), x)
        if sq:
            x = _squeeze_last(x)
        records.append((f"step {step} output", tuple(x.shape)))
        records.append((f"step {step} Dense weight shape", _kernel_shape(variables)))
        total += count_params(variables)
    records.append(("total parameters", total))
    return records


def boxes_1_1() -> list[Record]:
    """(64, 4, 2) -> Dense(1) -> squeeze -> Dense(1) -> squeeze; no bias (tutorial <식1>)."""
    return _dense_steps((1, 1), (True, True))


def boxes_3_1_1() -> list[Record]:
    """(64, 4, 2) -> Dense(3) -> Dense(1) -> squeeze -> Dense(1) -> squeeze; no bias (<식2>)."""
    return _dense_steps((3, 1, 1), (False, True, True))


def big_picture() -> list[Record]:
    """Conv2D(16, 5, strides=5, no bias) -> Flatten -> Dense(1, no bias) on (64, 1920, 1080, 3)."""
    x = _spec(BIG_PICTURE)
    conv_vars, conv_out = layer_shapes(L.Conv2D(16, (5, 5), strides=5, use_bias=False), x)
    _, flat = layer_shapes(L.Flatten(), conv_out)
    dense_vars, dense_out = layer_shapes(L.Dense(1, use_bias=False), flat)
    return [
        ("input image", tuple(x.shape)),
        ("Conv2D output", tuple(conv_out.shape)),
        ("Conv2D parameters", count_params(conv_vars)),
        ("Flatten output", tuple(flat.shape)),
        ("Dense output", tuple(dense_out.shape)),
        ("Dense parameters", count_params(dense_vars)),
    ]


def conv_300() -> list[Record]:
    """Conv2D(16, 5) with bias on (64, 300, 300, 3), padding valid then same."""
    x = _spec(PICTURE_300)
    records: list[Record] = [("input", tuple(x.shape))]
    for padding in ("valid", "same"):
        variables, out = layer_shapes(L.Conv2D(16, (5, 5), strides=(1, 1), padding=padding), x)
        records.append((f"Conv2D {padding} output", tuple(out.shape)))
        records.append((f"Conv2D {padding} parameters", count_params(variables)))
    return records


def pool_300() -> list[Record]:
    """Conv2D(16, 5) then MaxPooling2D() (2x2, strides 2) on (64, 300, 300, 3)."""
    x = _spec(PICTURE_300)
    conv_vars, conv_out = layer_shapes(L.Conv2D(16, (5, 5), strides=(1, 1)), x)
    pool_vars, pool_out = layer_shapes(L.MaxPooling2D(), conv_out)
    return [
        ("input", tuple(x.shape)),
        ("Conv2D output", tuple(conv_out.shape)),
        ("Conv2D parameters", count_params(conv_vars)),
        ("MaxPooling2D output", tuple(pool_out.shape)),
        ("MaxPooling2D parameters", count_params(pool_vars)),
    ]


def _conv_20x10(strides: int, padding: str) -> tuple[Any, jax.ShapeDtypeStruct]:
    conv = L.Conv2D(1, (KERNEL_20x10, KERNEL_20x10), strides=strides, padding=padding)
    return layer_shapes(conv, _spec(SAMPLE_20x10))


def strides_20x10() -> list[Record]:
    """Conv2D(1, 4) on (1, 20, 10, 1): strides 1-5, padding same and valid."""
    records: list[Record] = [("input", SAMPLE_20x10)]
    for padding in PADDINGS_20x10:
        for s in STRIDES_20x10:
            _, out = _conv_20x10(s, padding)
            records.append((f"Conv2D {padding} strides={s} output", tuple(out.shape)))
    variables, _ = _conv_20x10(1, "valid")
    records.append(("Conv2D parameters (any strides/padding)", count_params(variables)))
    return records


def pooling_20x10() -> list[Record]:
    """Conv2D(1, 4, padding same) then MaxPooling2D(2, strides, padding): the tutorial's tables."""
    records: list[Record] = []
    for title, rows in POOLING_TABLES_20x10:
        for conv_strides, pool_strides, pool_padding in rows:
            _, conv_out = _conv_20x10(conv_strides, "same")
            pool = L.MaxPooling2D((POOL_20x10, POOL_20x10), strides=pool_strides, padding=pool_padding)
            _, pool_out = layer_shapes(pool, conv_out)
            prefix = f"[{title}] conv strides={conv_strides}"
            records.append((f"{prefix} Conv2D same output", tuple(conv_out.shape)))
            records.append((f"{prefix} MaxPooling2D({POOL_20x10}, strides={pool_strides}, {pool_padding}) output",
                            tuple(pool_out.shape)))
    return records


WALKTHROUGHS = (
    ("Boxes, Dense 1 then 1 (상자, <식1>)", boxes_1_1),
    ("Boxes, Dense 3, 1, 1 (상자, <식2>)", boxes_3_1_1),
    ("64x1920x1080x3 image: Conv2D(16, 5, strides=5) -> Flatten -> Dense(1), no bias (OOM in the tutorial)",
     big_picture),
    ("300x300: Conv2D(16, 5), valid and same", conv_300),
    ("300x300: Conv2D(16, 5) -> MaxPooling2D()", pool_300),
    ("(20, 10) sample: Conv2D(1, 4) under strides 1-5", strides_20x10),
    ("(20, 10) sample: Conv2D(1, 4, same) -> MaxPooling2D(2)", pooling_20x10),
)


def format_value(value: Any) -> str:
    """Shapes as Python prints them, counts with thousands separators."""
    if isinstance(value, int):
        return f"{value:,}"
    return str(tuple(value))


def records() -> dict[str, list[Record]]:
    """Every walk-through's records, keyed by its title."""
    return {title: fn() for title, fn in WALKTHROUGHS}


def main() -> None:
    for i, (title, recs) in enumerate(records().items()):
        if i:
            print()
        print(f"== {title}")
        for label, value in recs:
            print(f"{label}: {format_value(value)}")


if __name__ == "__main__":
    main()
