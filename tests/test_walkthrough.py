"""`experiments.shapes` (the tutorial's shape walk-throughs) against Keras 3 and the tutorial.

Two independent expected sides:
- Keras 3 (JAX backend): the same layers built with the same arguments; shapes from
  symbolic calls (`keras.KerasTensor`), `compute_output_shape`, or calls on the
  tutorial's small sample; parameter counts from `layer.count_params()`.
- The tutorial notes' printed outputs (in /work/shared/seeds), typed in here by hand.

Nothing here computes an expected value with jaxlayers.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from experiments import shapes  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shape(t) -> tuple:
    return tuple(int(d) for d in t.shape)


def _symbolic(shape) -> keras.KerasTensor:
    return keras.KerasTensor(tuple(shape), dtype="float32")


def _sample_20x10() -> np.ndarray:
    """The tutorial's sample: np.arange(1.0, 201.0).reshape(-1, 20, 10, 1)."""
    return np.arange(1.0, 201.0, dtype=np.float32).reshape(-1, 20, 10, 1)


# --------------------------------------------------------------------- Keras oracles


def keras_boxes(units: list[int], squeeze: list[bool], batch: int = 64) -> dict[str, object]:
    """The tutorial's Dense chain on zeros((batch, 4, 2)), no bias, optional squeeze(axis=-1)."""
    x = np.zeros((batch, 4, 2), np.float32)
    expected: dict[str, object] = {}
    total = 0
    for step, (n, sq) in enumerate(zip(units, squeeze), start=1):
        expected[f"step {step} input"] = _shape(x)
        layer = keras.layers.Dense(units=n, use_bias=False)
        x = layer(x)
        if sq:
            x = keras.ops.squeeze(x, axis=-1)
        expected[f"step {step} output"] = _shape(x)
        expected[f"step {step} Dense weight shape"] = tuple(layer.weights[0].shape)
        total += layer.count_params()
    expected["total parameters"] = total
    return expected


def keras_big_picture() -> dict[str, object]:
    """The OOM example, without allocating the input: build + compute_output_shape only."""
    input_shape = (64, 1920, 1080, 3)
    conv = keras.layers.Conv2D(filters=16, kernel_size=(5, 5), strides=5, use_bias=False)
    conv.build(input_shape)
    conv_out = tuple(conv.compute_output_shape(input_shape))
    flat = tuple(keras.layers.Flatten().compute_output_shape(conv_out))
    dense = keras.layers.Dense(units=1, use_bias=False)
    dense.build(flat)
    return {
        "input image": input_shape,
        "Conv2D output": conv_out,
        "Conv2D parameters": conv.count_params(),
        "Flatten output": flat,
        "Dense output": tuple(dense.compute_output_shape(flat)),
        "Dense parameters": dense.count_params(),
    }


def keras_conv_300() -> dict[str, object]:
    x = _symbolic((64, 300, 300, 3))
    expected: dict[str, object] = {"input": _shape(x)}
    for padding in ("valid", "same"):
        conv = keras.layers.Conv2D(filters=16, kernel_size=(5, 5), strides=(1, 1), padding=padding)
        expected[f"Conv2D {padding} output"] = _shape(conv(x))
        expected[f"Conv2D {padding} parameters"] = conv.count_params()
    return expected


def keras_pool_300() -> dict[str, object]:
    x = _symbolic((64, 300, 300, 3))
    conv = keras.layers.Conv2D(filters=16, kernel_size=(5, 5), strides=(1, 1))
    conv_out = conv(x)
    pool = keras.layers.MaxPooling2D()
    pool_out = pool(conv_out)
    return {
        "input": _shape(x),
        "Conv2D output": _shape(conv_out),
        "Conv2D parameters": conv.count_params(),
        "MaxPooling2D output": _shape(pool_out),
        "MaxPooling2D parameters": pool.count_params(),
    }


def keras_conv_20x10(x: np.ndarray, strides: int, padding: str):
    conv = keras.layers.Conv2D(filters=1, kernel_size=(4, 4), strides=strides, padding=padding,
                               activation="linear")
    return conv, conv(x)


# ------------------------------------------------------------ jaxlayers vs Keras 3


def _assert_records_equal(records, expected: dict[str, object]) -> None:
    got = dict(records)
    assert len(got) == len(records), "duplicate labels"
    assert list(got) == list(expected), (list(got), list(expected))
    for label, value in expected.items():
        assert got[label] == value, (label, got[label], value)
        assert type(got[label]) is type(value), (label, got[label], value)


@pytest.mark.parametrize("fn, units, squeeze", [
    (shapes.boxes_1_1, [1, 1], [True, True]),
    (shapes.boxes_3_1_1, [3, 1, 1], [False, True, True]),
])
def test_boxes_match_keras(fn, units, squeeze):
    _assert_records_equal(fn(), keras_boxes(units, squeeze))


def test_big_picture_matches_keras():
    _assert_records_equal(shapes.big_picture(), keras_big_picture())


def test_conv_300_matches_keras():
    _assert_records_equal(shapes.conv_300(), keras_conv_300())


def test_pool_300_matches_keras():
    _assert_records_equal(shapes.pool_300(), keras_pool_300())


def test_strides_20x10_match_keras():
    x = _sample_20x10()
    expected: dict[str, object] = {"input": x.shape}
    params = set()
    for padding in ("same", "valid"):
        for s in (1, 2, 3, 4, 5):
            conv, out = keras_conv_20x10(x, s, padding)
            expected[f"Conv2D {padding} strides={s} output"] = _shape(out)
            params.add(conv.count_params())
    assert len(params) == 1
    expected["Conv2D parameters (any strides/padding)"] = params.pop()
    _assert_records_equal(shapes.strides_20x10(), expected)


# The tutorial's three pooling tables, written from the note (004): conv padding "same",
# MaxPooling2D(pool_size=(2, 2), strides, padding) on the conv output.
TUTORIAL_POOLING_TABLES = [
    ("pool same, pool strides 1", [(1, 1, "same"), (2, 1, "same")]),
    ("pool same, pool strides = conv strides", [(1, 1, "same"), (2, 2, "same"), (3, 3, "same")]),
    ("pool valid, pool strides 1", [(1, 1, "valid"), (2, 1, "valid"), (3, 1, "valid")]),
]


def test_pooling_20x10_matches_keras():
    x = _sample_20x10()
    expected: dict[str, object] = {}
    for title, rows in TUTORIAL_POOLING_TABLES:
        for conv_strides, pool_strides, pool_padding in rows:
            _, conv_out = keras_conv_20x10(x, conv_strides, "same")
            pool_out = keras.layers.MaxPooling2D(pool_size=(2, 2), strides=pool_strides,
                                                 padding=pool_padding)(conv_out)
            prefix = f"[{title}] conv strides={conv_strides}"
            expected[f"{prefix} Conv2D same output"] = _shape(conv_out)
            expected[f"{prefix} MaxPooling2D(2, strides={pool_strides}, {pool_padding}) output"] = _shape(pool_out)
    _assert_records_equal(shapes.pooling_20x10(), expected)


# ------------------------------------------------------- the tutorial's printed numbers


def test_tutorial_printed_numbers():
    """What the notes print (000/001/003 boxes and the OOM example, 002 the 300x300 ones)."""
    b1 = dict(shapes.boxes_1_1())
    assert b1["step 1 input"] == (64, 4, 2) and b1["step 1 output"] == (64, 4)
    assert b1["step 1 Dense weight shape"] == (2, 1)
    assert b1["step 2 input"] == (64, 4) and b1["step 2 output"] == (64,)
    assert b1["step 2 Dense weight shape"] == (4, 1)
    assert b1["total parameters"] == 6  # "총 6개 ... Parameter" (000)

    b2 = dict(shapes.boxes_3_1_1())
    assert [b2[f"step {i} {w}"] for i in (1, 2, 3) for w in ("input", "output", "Dense weight shape")] == [
        (64, 4, 2), (64, 4, 3), (2, 3), (64, 4, 3), (64, 4), (3, 1), (64, 4), (64,), (4, 1)]
    assert b2["total parameters"] == 13

    big = dict(shapes.big_picture())
    assert big["input image"] == (64, 1920, 1080, 3)
    assert big["Conv2D output"] == (64, 384, 216, 16)
    assert big["Conv2D parameters"] == 1200
    assert big["Flatten output"] == (64, 1327104)
    assert big["Dense output"] == (64, 1)
    assert big["Dense parameters"] == 1327104

    c300 = dict(shapes.conv_300())
    assert c300["Conv2D valid output"] == (64, 296, 296, 16)
    assert c300["Conv2D same output"] == (64, 300, 300, 16)
    assert c300["Conv2D valid parameters"] == c300["Conv2D same parameters"] == 1216
    p300 = dict(shapes.pool_300())
    assert p300["MaxPooling2D output"] == (64, 148, 148, 16)
    assert p300["MaxPooling2D parameters"] == 0


def test_tutorial_conv_comments_that_are_right():
    """004's conv shape comments for the (20, 10) sample: these agree with Keras."""
    got = dict(shapes.strides_20x10())
    tutorial = {
        ("same", 1): (1, 20, 10, 1), ("same", 2): (1, 10, 5, 1), ("same", 3): (1, 7, 4, 1),
        ("same", 4): (1, 5, 3, 1),
        ("valid", 1): (1, 17, 7, 1), ("valid", 2): (1, 9, 4, 1), ("valid", 3): (1, 6, 3, 1),
        ("valid", 4): (1, 5, 2, 1), ("valid", 5): (1, 4, 2, 1),
    }
    for (padding, s), shape in tutorial.items():
        assert got[f"Conv2D {padding} strides={s} output"] == shape, (padding, s)


# 004's pooling-section comments, (conv strides, pool strides, pool padding) -> (conv, pool) shape.
TUTORIAL_POOLING_COMMENTS = {
    (1, 1, "same"): ((1, 10, 4, 1), (1, 10, 4, 1)),
    (2, 1, "same"): ((1, 5, 2, 1), (1, 5, 2, 1)),
    (2, 2, "same"): ((1, 5, 2, 1), (1, 3, 1, 1)),
    (3, 3, "same"): ((1, 4, 2, 1), (1, 2, 1, 1)),
    (1, 1, "valid"): ((1, 10, 4, 1), (1, 9, 3, 1)),
    (2, 1, "valid"): ((1, 5, 2, 1), (1, 4, 1, 1)),
    (3, 1, "valid"): ((1, 4, 2, 1), (1, 3, 1, 1)),
}


def _pool_records_by_row() -> dict[tuple[int, int, str], tuple[tuple, tuple]]:
    recs = shapes.pooling_20x10()
    out = {}
    for (conv_label, conv_shape), (pool_label, pool_shape) in zip(recs[::2], recs[1::2]):
        assert "Conv2D" in conv_label and "MaxPooling2D" in pool_label
        conv_strides = int(conv_label.split("conv strides=")[1].split()[0])
        pool_strides = int(pool_label.split("strides=")[-1].split(",")[0])
        pool_padding = pool_label.split(", ")[-1].split(")")[0]
        out[(conv_strides, pool_strides, pool_padding)] = (conv_shape, pool_shape)
    return out


def test_tutorial_pooling_comments_were_for_a_10x4_input():
    """004's pooling comments are wrong for its (20, 10) sample; Keras gives them for (10, 4).

    So the program prints Keras's shapes for (20, 10), which all differ from the comments.
    """
    ours = _pool_records_by_row()
    assert set(ours) == set(TUTORIAL_POOLING_COMMENTS)
    x_10x4 = np.zeros((1, 10, 4, 1), np.float32)
    for (cs, ps, pp), (conv_c, pool_c) in TUTORIAL_POOLING_COMMENTS.items():
        _, conv_out = keras_conv_20x10(x_10x4, cs, "same")
        pool_out = keras.layers.MaxPooling2D(pool_size=(2, 2), strides=ps, padding=pp)(conv_out)
        assert (_shape(conv_out), _shape(pool_out)) == (conv_c, pool_c), (cs, ps, pp)
        assert ours[(cs, ps, pp)][0] != conv_c and ours[(cs, ps, pp)][1] != pool_c, (cs, ps, pp)


def test_walkthrough_inputs_are_the_tutorials():
    assert dict(shapes.strides_20x10())["input"] == _sample_20x10().shape == (1, 20, 10, 1)
    assert dict(shapes.conv_300())["input"] == dict(shapes.pool_300())["input"] == (64, 300, 300, 3)


# ------------------------------------------------------------------------- the program


# Runs the program, then reports the peak RSS of this process's own address space
# (VmHWM). ru_maxrss would not do: Linux carries it across fork+exec, so a child of a
# pytest worker that already holds gigabytes would report the worker's peak.
_PROGRAM = (
    "import runpy, sys\n"
    "runpy.run_module('experiments.shapes', run_name='__main__')\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
    "print(f'PEAK_KIB={hwm}', file=sys.stderr)\n"
)


def _run_program(timeout: float = 60.0) -> tuple[int, str, str, float, int]:
    """`python -m experiments.shapes` from the repo root: (rc, stdout, stderr, seconds, peak RSS bytes)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _PROGRAM], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - start
    peak = [line for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB=")]
    return proc.returncode, proc.stdout, proc.stderr, elapsed, int(peak[0].split("=")[1]) * 1024 if peak else -1


def test_main_runs_quickly_without_allocating():
    rc, out, err, elapsed, peak_bytes = _run_program()
    assert rc == 0, err
    assert elapsed < 20, elapsed
    assert "(64, 384, 216, 16)" in out
    assert "1,327,104" in out
    assert "1,200" in out and "1,216" in out and "(64, 148, 148, 16)" in out
    assert "(64, 296, 296, 16)" in out and "(64, 300, 300, 16)" in out
    assert "total parameters: 13" in out
    assert "step 1 input: (64, 4, 2)" in out
    # The 64x1920x1080x3 float32 input alone would be 1.59 GB; the program's peak RSS stays far below.
    assert 0 < peak_bytes < 1.0e9, peak_bytes
