"""The reshape-based fast paths under explicit sharding (`jax.sharding.AxisType.Explicit`).

On a 4-device mesh ("data",) with `jax.set_mesh`, a batch-sharded input keeps its
sharding through block max/avg pooling, max_pool_with_indices/max_unpool, the sub-pixel
transposed conv, the depthwise shift sum, the few-input-channel tap sum and nearest
upsampling (the fast path still taken, checked on the lowered HLO), with the values and
gradients of the unsharded run; the depthwise and tap-sum kernel gradients (summed in
chunks or parts of the batch when unsharded) are the unsharded ones; an input sharded off
its batch axis (on channels here) takes the plain path, with the same numbers.

XLA_FLAGS must be set before JAX starts, so the checks run in one subprocess (this file
run as a script, forcing 4 host devices) and the tests read its report.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

DEVICES = 4
C = 4  # channels, sharded over the 4 devices in the off-batch case


def _cases() -> dict:
    import jax
    import jax.numpy as jnp

    import jaxlayers.functional as F

    rng = np.random.default_rng(0)
    k_t = jnp.asarray(rng.standard_normal((3, 3, 5, C)).astype(np.float32))
    k_t1 = jnp.asarray(rng.standard_normal((4, 3, C)).astype(np.float32))
    k_shift = jnp.asarray(rng.standard_normal((2, 2, C, 1)).astype(np.float32))
    k_dw = jnp.asarray(rng.standard_normal((3, 3, C, 2)).astype(np.float32))
    k_tap = jnp.asarray(rng.standard_normal((2, 2, C, 8)).astype(np.float32))  # 4 taps x 4 channels: the tap sum

    def depthwise_kernel_grad(x):  # the kernel gradient is a sum over the batch (in chunks when unsharded)
        return jax.grad(lambda k: jnp.sum(jnp.sin(F.depthwise_conv(x, k, padding="same"))))(k_dw)

    def tap_sum_kernel_grad(x):  # one matrix product over the batch and every output cell
        return jax.grad(lambda k: jnp.sum(jnp.sin(F.conv(x, k, strides=2, padding="same"))))(k_tap)
    pool = functools.partial
    # name -> (op, input shape, dtype, special input, HLO text the fast path has none of)
    return {
        "max_pool-2": (pool(F.max_pool, pool_size=2), (4, 9, 7, C), "float32", True, "reduce_window"),
        "max_pool-2-same": (pool(F.max_pool, pool_size=2, padding="same"), (8, 9, 7, C), "float32", True,
                            "reduce_window"),
        "max_pool-3x2-int32": (pool(F.max_pool, pool_size=(3, 2)), (4, 9, 8, C), "int32", True, "reduce_window"),
        "max_pool-2-bfloat16": (pool(F.max_pool, pool_size=2), (4, 8, 7, C), "bfloat16", True, "reduce_window"),
        "max_pool-3-2-same-overlapping": (pool(F.max_pool, pool_size=3, strides=2, padding="same"), (4, 9, 7, C),
                                          "float32", True, None),
        "avg_pool-2-same": (pool(F.avg_pool, pool_size=2, padding="same"), (4, 9, 7, C), "float32", True,
                            "reduce_window"),
        "max_pool1d-3": (pool(F.max_pool, pool_size=3), (4, 10, C), "float32", True, "reduce_window"),
        "max_pool_with_indices-2-same": (pool(F.max_pool_with_indices, pool_size=2, padding="same"), (4, 9, 7, C),
                                         "float32", True, "reduce_window"),
        "max_pool_with_indices-3-2-overlapping": (pool(F.max_pool_with_indices, pool_size=3, strides=2),
                                                  (4, 9, 7, C), "float32", True, None),
        "max_unpool-2-same": (lambda x: F.max_unpool(*F.max_pool_with_indices(x, 2, padding="same"), x.shape),
                              (4, 9, 7, C), "float32", True, "reduce_window"),
        "max_unpool-3-2-overlapping": (lambda x: F.max_unpool(*F.max_pool_with_indices(x, 3, 2), x.shape),
                                       (4, 9, 7, C), "float32", True, None),
        "conv_transpose-s2-same": (pool(F.conv_transpose, kernel=k_t, strides=2, padding="same"), (4, 9, 7, C),
                                   "float32", False, "lhs_dilation"),
        "conv_transpose-s3-valid": (pool(F.conv_transpose, kernel=k_t, strides=3), (8, 5, 4, C), "float32", False,
                                    "lhs_dilation"),
        "conv_transpose1d-s2": (pool(F.conv_transpose, kernel=k_t1, strides=2), (4, 9, C), "float32", False,
                                "lhs_dilation"),
        "conv-few-filters": (pool(F.conv, kernel=k_shift, padding="same"), (4, 9, 7, C), "float32", False, None),
        "conv-few-channels": (pool(F.conv, kernel=k_tap, strides=2, padding="same"), (4, 9, 7, C), "float32", True,
                              "convolution"),
        # 8 x 3 x 2 output cells summed per kernel entry: in float32 within the 1e-6 the values are compared at
        "conv-few-channels-kernel-grad": (tap_sum_kernel_grad, (8, 5, 4, C), "float32", False, "convolution"),
        "depthwise-s2-same": (pool(F.depthwise_conv, kernel=k_dw, strides=2, padding="same"), (4, 9, 7, C),
                              "float32", True, "feature_group_count"),
        "depthwise-kernel-grad": (depthwise_kernel_grad, (8, 9, 7, C), "float32", False, "feature_group_count"),
        "upsample-nearest": (pool(F.upsample, size=(2, 3)), (4, 9, 7, C), "float32", True, "gather"),
        "upsample-nearest-uint8": (pool(F.upsample, size=2), (4, 5, 7, C), "uint8", True, "gather"),
        "upsample-bilinear": (pool(F.upsample, size=2, method="bilinear"), (4, 5, 7, C), "float32", False, None),
    }


def _input(shape, dtype, special):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape)
    if special:  # ties, NaN and +-inf
        x = np.round(2 * x)
        x.flat[rng.choice(x.size, 4, replace=False)] = [np.nan, np.inf, -np.inf, np.nan]
    if np.issubdtype(dtype, np.integer):
        x = np.nan_to_num(x, posinf=100, neginf=0)
        x = np.abs(x) if dtype == "uint8" else x
    return x.astype(dtype)


def _report() -> dict:
    """Run in the subprocess: for each case and sharding, what matched."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import AxisType
    from jax.sharding import PartitionSpec as P

    from jaxlayers.functional import _depthwise_shift

    assert jax.device_count() == DEVICES
    _depthwise_shift.CHUNK_BYTES = 1  # unsharded, the kernel gradient is summed two images at a time
    mesh = jax.make_mesh((DEVICES,), ("data",), axis_types=(AxisType.Explicit,))

    def loss(fn, x):
        return sum(jnp.sum(jnp.sin(y.astype(jnp.float32))) for y in jax.tree.leaves(fn(x))
                   if jnp.issubdtype(y.dtype, jnp.floating))

    report = {}
    for name, (fn, shape, dtype, special, absent) in _cases().items():
        x = _input(shape, np.dtype(dtype) if dtype != "bfloat16" else jnp.bfloat16, special)
        floating = dtype != "int32" and dtype != "uint8"
        expected = jax.jit(fn)(x)
        grad = jax.jit(jax.grad(functools.partial(loss, fn))) if floating else None
        expected_grad = grad(x) if floating else None
        channels = P(*(None,) * (len(shape) - 1), "data")
        for where, spec in (("batch", P("data")), ("channels", channels)):  # off the batch: the plain path
            entry = {}
            try:
                with jax.set_mesh(mesh):
                    xs = jax.device_put(x, spec)
                    got = jax.jit(fn)(xs)
                    entry["specs"] = [str(jax.typeof(y).sharding.spec) for y in jax.tree.leaves(got)]
                    entry["values"] = all(
                        np.allclose(np.asarray(g, np.float64), np.asarray(e, np.float64), atol=1e-6, rtol=1e-6,
                                    equal_nan=True) and g.dtype == e.dtype
                        for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True))
                    if floating:
                        g = grad(xs)
                        entry["grad_spec"] = str(jax.typeof(g).sharding.spec)
                        diff = np.abs(np.asarray(g, np.float64) - np.asarray(expected_grad, np.float64))
                        entry["grad_error"] = float(np.nanmax(diff / (1 + np.abs(np.asarray(expected_grad, np.float64)))))
                        entry["grads"] = bool(np.allclose(np.asarray(g, np.float64),
                                                          np.asarray(expected_grad, np.float64),
                                                          atol=1e-5, rtol=1e-5, equal_nan=True))
                    if absent is not None:
                        entry["fast_path"] = absent not in jax.jit(fn).lower(xs).as_text()
            except Exception as error:  # noqa: BLE001 - reported to the test
                entry["error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
            report[f"{name}/{where}"] = entry
    return report


@pytest.fixture(scope="module")
def report() -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={DEVICES}",
           "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, __file__], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


NAMES = ["max_pool-2", "max_pool-2-same", "max_pool-3x2-int32", "max_pool-2-bfloat16", "max_pool-3-2-same-overlapping",
         "avg_pool-2-same", "max_pool1d-3", "max_pool_with_indices-2-same", "max_pool_with_indices-3-2-overlapping",
         "max_unpool-2-same", "max_unpool-3-2-overlapping", "conv_transpose-s2-same", "conv_transpose-s3-valid",
         "conv_transpose1d-s2", "conv-few-filters", "conv-few-channels", "depthwise-s2-same", "upsample-nearest",
         "upsample-nearest-uint8", "upsample-bilinear"]
REPLICATED = ["depthwise-kernel-grad", "conv-few-channels-kernel-grad"]  # results summed over the batch


@pytest.mark.parametrize("name", NAMES)
def test_batch_sharded_input_keeps_its_sharding_and_numbers(report, name):
    entry = report[f"{name}/batch"]
    assert "error" not in entry, entry.get("error")
    assert entry["values"]
    assert all(spec.startswith("P('data',") for spec in entry["specs"]), entry["specs"]
    if "grads" in entry:
        assert entry["grads"], entry["grad_error"]
        assert entry["grad_spec"].startswith("P('data',")
    if "fast_path" in entry:
        assert entry["fast_path"], "the fast path gave way"


# lax's own convolutions refuse a channel-sharded input without `out_sharding` (a
# depthwise conv sharded off its batch axis takes the lax path).
@pytest.mark.parametrize("name", [name for name in NAMES if not name.startswith(("conv", "depthwise"))])
def test_input_sharded_on_channels_gives_the_same_numbers(report, name):
    entry = report[f"{name}/channels"]
    assert "error" not in entry, entry.get("error")
    assert entry["values"]
    assert entry.get("grads", True), entry["grad_error"]


@pytest.mark.parametrize("name", REPLICATED)
def test_a_batch_sum_of_a_batch_sharded_input_gives_the_same_numbers(report, name):
    entry = report[f"{name}/batch"]
    assert "error" not in entry, entry.get("error")
    assert entry["values"]
    assert entry["grad_error"] < 1e-4  # a second derivative, summed in another order
    assert entry["fast_path"], "the fast path gave way"


def test_every_case_is_tested():
    assert sorted(NAMES + REPLICATED) == sorted(_cases())


if __name__ == "__main__":
    print(json.dumps(_report()))
