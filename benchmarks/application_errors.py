"""Max errors and times of `tests/test_applications.py`'s checks, one architecture per call.

    python -m benchmarks.application_errors NAME   # prints one Markdown table row
"""
from __future__ import annotations

import sys
import time

import jax
import keras
import numpy as np

from jaxlayers.keras import from_keras, to_keras
from tests.test_applications import build, moving_statistics, ours


def error(got, want) -> float:
    got, want = np.asarray(got), np.asarray(want)
    return float(np.abs(got - want).max()) / max(float(np.abs(want).max()), 1e-6)


def measure(name: str) -> str:
    """The row: name, inference / to_keras / training / moving-statistics max errors, seconds."""
    start = time.perf_counter()
    model, x = build(name, np.random.default_rng(0))
    want = model.predict(x, verbose=0)
    module, variables = from_keras(model)
    inference = error(jax.jit(module.apply)(variables, x), want)
    back = to_keras(module, variables, (None, *x.shape[1:]))
    round_trip = error(back.predict(x, verbose=0), want)
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    module, variables = from_keras(model)
    out, updates = jax.jit(lambda v, x: module.apply(v, x, training=True, mutable=["batch_stats"]))(variables, x)
    training = error(out, model(x, training=True))
    expected, got = moving_statistics(model), ours(jax.device_get(updates.get("batch_stats", {})))
    assert set(got) == set(expected), f"{name}: moving statistics differ in names"
    stats = max((error(got[k], expected[k]) for k in expected), default=0.0)
    ok = inference <= 1e-4 and round_trip <= 1e-4 and training <= 1e-3 and stats <= 1e-3
    return (f"| {name} | {x.shape[1]} | {'pass' if ok else 'FAIL'} | {inference:.1e} | {round_trip:.1e} | "
            f"{training:.1e} | {stats:.1e} | {time.perf_counter() - start:.0f} |")


if __name__ == "__main__":
    print(measure(sys.argv[1]), flush=True)
