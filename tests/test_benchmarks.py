"""`python -m benchmarks.run --smoke` keeps working: every contender appears, the tables print.

No timing is asserted: speed targets are checked by hand on a quiet machine
(benchmarks/RESULTS.md). Torch contenders are expected only when torch is installed.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HAS_TORCH = importlib.util.find_spec("torch") is not None

LAYER_CONTENDERS = {
    "conv": {"jaxlayers", "flax nn.Conv", "keras.ops.conv", "torch F.conv2d"},
    "conv_few": {"jaxlayers", "flax nn.Conv", "keras.ops.conv", "torch F.conv2d"},
    "conv_t1": {"jaxlayers", "flax nn.ConvTranspose", "keras.ops.conv_transpose", "torch F.conv_transpose2d"},
    "conv_t2": {"jaxlayers", "flax nn.ConvTranspose", "keras.ops.conv_transpose", "torch F.conv_transpose2d"},
    "max_pool": {"jaxlayers", "flax nn.max_pool", "keras.ops.max_pool", "torch F.max_pool2d"},
    "avg_pool": {"jaxlayers", "flax nn.avg_pool", "keras.ops.average_pool", "torch F.avg_pool2d"},
    "nearest": {"jaxlayers", "jax.image.resize", "keras.ops.repeat", "torch F.interpolate"},
    "bed_of_nails": {"jaxlayers", "jnp .at[::2,::2].set"},
    "unpool": {"jaxlayers", "torch max_pool2d+max_unpool2d"},
}
TRAINING_CONTENDERS = {
    "jaxlayers (experiments.train)", "jaxlayers (plain loop)", "flax built-ins (plain loop)",
    "keras fit (jax, spe=1)", "keras fit (jax, spe=50)", "keras fit (torch)", "torch eager",
    # CPU only (the smoke run is on CPU): the XLA option's share of the margin
    "jaxlayers (XLA default fusions)", "keras fit (jax, spe=1, dots-only fusions)",
}


def _expected(names: set[str]) -> set[str]:
    return {n for n in names if HAS_TORCH or "torch" not in n}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("KERAS_BACKEND", None)  # benchmarks.run picks the JAX backend itself
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--smoke", "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text()), proc.stdout


def test_json_describes_machine_and_versions(smoke):
    result, _ = smoke
    assert result["machine"]["cores"] >= 1 and result["machine"]["cpu"]
    for lib in ("jax", "jaxlib", "flax", "keras"):
        assert result["versions"][lib]
    assert result["matmul_peak"]["peak_flops"] > 0


def test_every_layer_contender_ran(smoke):
    result, _ = smoke
    seen = {}
    for record in result["layers"]:
        seen.setdefault(record["op"], set()).update(record["results"])
        for name, stats in record["results"].items():
            assert stats["error"] is None, (record["op"], record["mode"], name, stats["error"])
            assert 0 < stats["min"] <= stats["median"] <= stats["max"]
            if name == "jaxlayers":
                assert stats["jaxlayers_speedup"] == pytest.approx(1.0)
    for op, names in LAYER_CONTENDERS.items():
        assert _expected(names) <= seen[op], op


def test_every_training_contender_ran(smoke):
    result, _ = smoke
    for record in result["training"]:
        assert _expected(TRAINING_CONTENDERS) <= set(record["results"])
        for name in _expected(TRAINING_CONTENDERS):
            stats = record["results"][name]
            assert stats["error"] is None, (name, stats["error"])
            assert stats["images_per_second"] > 0
        assert record["flops_per_image"]["analytic"] > 0


def test_tables_print(smoke):
    _, stdout = smoke
    assert "Layers" in stdout and "Training" in stdout and "Roofline" in stdout
    assert "jl speedup" in stdout and "keras fit (jax, spe=50)" in stdout
